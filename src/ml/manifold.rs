//! The tangent space of the image manifold at an image, and projections onto it.
//!
//! The manifold is the decoder's image D(R^k) (see [`super::autoencoder`]). Its tangent space
//! at x is spanned by the columns of the decoder Jacobian J = dD/dz at z = E(x), an n × k
//! matrix; those columns are far from orthogonal, so they are orthonormalised by a pivoted
//! Householder QR into Q, and Proj_M(v) = Q (Q^T v). The Jacobian is computed on the device in
//! forward mode ([`Autoencoder::decoder_jacobian`]); the QR and the projections are small
//! (n × k) and run on the host in f64. A random k-dimensional subspace, the control a critic
//! asks for, has the same type.

use super::autoencoder::Autoencoder;
use super::read_f32;
use super::rng::Rng;
use burn::prelude::*;

/// A column whose residual norm is at most this fraction of the largest Jacobian column is
/// treated as linearly dependent on the columns already chosen. f32 Jacobians carry relative
/// errors near 1e-6, so anything below 1e-4 is noise, not a direction.
pub const RANK_TOLERANCE: f64 = 1e-4;

/// An orthonormal basis of a subspace of pixel space: the tangent space of the manifold at an
/// image, or a random subspace of the same dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct TangentBasis {
    /// Column-major `n × rank`: basis vector `j` is `q[j * n..(j + 1) * n]`, itself an image.
    pub q: Vec<f32>,
    /// Dimension of pixel space.
    pub n: usize,
    /// Number of spanning vectors given (the latent dimension, for a tangent space).
    pub k: usize,
    /// Dimension of the span: `k` less the directions dropped as linearly dependent.
    pub rank: usize,
    /// `|R_jj| / |R_00|` of the pivoted QR for `j < rank`, non-increasing: how much of each
    /// successive direction is new. Values far below 1 mean the spanning vectors were nearly
    /// dependent.
    pub diag_ratios: Vec<f32>,
}

impl TangentBasis {
    /// Basis vector `j` (an image of `n` pixels).
    pub fn column(&self, j: usize) -> &[f32] {
        &self.q[j * self.n..(j + 1) * self.n]
    }
}

/// The tangent space at image `x` (`n` pixels in [0, 1]) of the manifold modelled by
/// `autoencoder`: the decoder Jacobian at E(x), read back and orthonormalised. Works on every
/// backend (the read is asynchronous); natively, drive it with any executor.
pub async fn tangent_basis(
    autoencoder: &Autoencoder,
    x: &[f32],
    device: &Device,
) -> Result<TangentBasis, String> {
    let n = autoencoder.pixels();
    if x.len() != n {
        return Err(format!(
            "the image has {} pixels, the autoencoder expects {n}",
            x.len()
        ));
    }
    let device = &device.clone().without_autodiff();
    let model = autoencoder.valid();
    let image = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, n]), device);
    let jacobian = model.decoder_jacobian(model.encode(image));
    Ok(orthonormalise(
        &read_f32(jacobian).await?,
        n,
        autoencoder.latent(),
    ))
}

/// Orthonormalises the `k` columns of `a` (row-major `n × k`, as read back from a `[n, k]`
/// tensor) by Householder QR with column pivoting, in f64.
///
/// At each step the remaining column with the largest residual norm is reflected into place,
/// so the basis starts with the strongest direction. Once that largest residual is at most
/// [`RANK_TOLERANCE`] times the largest column norm, the rest are dependent and dropped: the
/// basis has `rank` columns and spans the columns of `a` to that tolerance.
pub fn orthonormalise(a: &[f32], n: usize, k: usize) -> TangentBasis {
    assert_eq!(a.len(), n * k, "a must hold n × k values");
    // Column-major working copy: column c is cols[c * n..(c + 1) * n].
    let mut cols = vec![0f64; n * k];
    for i in 0..n {
        for c in 0..k {
            cols[c * n + i] = f64::from(a[i * k + c]);
        }
    }
    let residual = |cols: &[f64], c: usize, from: usize| -> f64 {
        cols[c * n + from..(c + 1) * n]
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
    };
    let scale = (0..k).map(|c| residual(&cols, c, 0)).fold(0.0, f64::max);
    let mut reflectors: Vec<Vec<f64>> = Vec::new();
    let mut diag = Vec::new();
    for j in 0..k.min(n) {
        let (p, norm) = (j..k)
            .map(|c| (c, residual(&cols, c, j)))
            .fold(
                (j, -1.0),
                |best, cand| if cand.1 > best.1 { cand } else { best },
            );
        if scale == 0.0 || norm <= RANK_TOLERANCE * scale {
            break;
        }
        for i in 0..n {
            cols.swap(j * n + i, p * n + i);
        }
        // H = I - 2 v v^T / (v^T v) maps x = cols[j][j..] to alpha e_1, |alpha| = ||x||;
        // alpha takes the sign opposite to x_0 so that v_0 = x_0 - alpha does not cancel.
        let x = &cols[j * n + j..(j + 1) * n];
        let alpha = if x[0] >= 0.0 { -norm } else { norm };
        let mut v = x.to_vec();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|e| e * e).sum();
        for c in j..k {
            let col = &mut cols[c * n + j..(c + 1) * n];
            let f = 2.0 * dot64(&v, col) / vv;
            col.iter_mut().zip(&v).for_each(|(e, vi)| *e -= f * vi);
        }
        diag.push(norm);
        reflectors.push(v);
    }
    let rank = reflectors.len();
    // Q = H_0 H_1 ... H_{rank-1} [I_rank; 0]: apply the reflections to e_t in reverse order.
    let mut q = vec![0f32; n * rank];
    for t in 0..rank {
        let mut e = vec![0f64; n];
        e[t] = 1.0;
        for (s, v) in reflectors.iter().enumerate().rev() {
            let tail = &mut e[s..];
            let f = 2.0 * dot64(v, tail) / dot64(v, v);
            tail.iter_mut().zip(v).for_each(|(e, vi)| *e -= f * vi);
        }
        for (dst, src) in q[t * n..(t + 1) * n].iter_mut().zip(&e) {
            *dst = *src as f32;
        }
    }
    TangentBasis {
        q,
        n,
        k,
        rank,
        diag_ratios: diag.iter().map(|d| (d / diag[0]) as f32).collect(),
    }
}

/// An orthonormal basis of a uniformly random k-dimensional subspace of R^n: the control. A
/// fixed vector keeps about sqrt(k / n) of its norm in it (0.143 for n = 784, k = 16).
pub fn random_subspace(n: usize, k: usize, rng: &mut Rng) -> TangentBasis {
    // The span of k independent standard Gaussian vectors is uniformly distributed.
    let gaussian: Vec<f32> = (0..n * k).map(|_| standard_normal(rng) as f32).collect();
    orthonormalise(&gaussian, n, k)
}

/// The mean over `ranks` of sqrt(rank / n): the share of a fixed vector's norm a random
/// subspace of each basis's dimension keeps, on average (sqrt(k / n) while every Jacobian has
/// full rank k); sqrt(k / n) itself without a basis.
pub fn random_share(ranks: impl IntoIterator<Item = usize>, n: usize, k: usize) -> f64 {
    let (sum, count) = ranks.into_iter().fold((0.0, 0usize), |(sum, count), rank| {
        (sum + (rank as f64 / n as f64).sqrt(), count + 1)
    });
    if count > 0 {
        sum / count as f64
    } else {
        (k as f64 / n as f64).sqrt()
    }
}

/// Proj_M(v) = Q (Q^T v): the part of `v` in the subspace.
pub fn project_on_manifold(basis: &TangentBasis, v: &[f32]) -> Vec<f32> {
    let coefficients = coefficients(basis, v);
    (0..basis.n)
        .map(|i| {
            coefficients
                .iter()
                .enumerate()
                .map(|(j, c)| c * f64::from(basis.q[j * basis.n + i]))
                .sum::<f64>() as f32
        })
        .collect()
}

/// v - Proj_M(v): the part of `v` orthogonal to the subspace.
pub fn off_manifold(basis: &TangentBasis, v: &[f32]) -> Vec<f32> {
    v.iter()
        .zip(project_on_manifold(basis, v))
        .map(|(a, b)| a - b)
        .collect()
}

/// ||Proj_M(v)|| / ||v||, the share of v's norm that lies in the subspace (0 for v = 0).
pub fn on_manifold_fraction(basis: &TangentBasis, v: &[f32]) -> f32 {
    let norm = l2_norm(v);
    if norm == 0.0 {
        return 0.0;
    }
    let inside = coefficients(basis, v)
        .iter()
        .map(|c| c * c)
        .sum::<f64>()
        .sqrt();
    (inside / f64::from(norm)).min(1.0) as f32
}

/// Euclidean norm, accumulated in f64.
pub fn l2_norm(v: &[f32]) -> f32 {
    v.iter()
        .map(|&e| f64::from(e) * f64::from(e))
        .sum::<f64>()
        .sqrt() as f32
}

/// Q^T v.
fn coefficients(basis: &TangentBasis, v: &[f32]) -> Vec<f64> {
    assert_eq!(
        v.len(),
        basis.n,
        "the vector and the basis differ in length"
    );
    (0..basis.rank)
        .map(|j| {
            basis
                .column(j)
                .iter()
                .zip(v)
                .map(|(&q, &e)| f64::from(q) * f64::from(e))
                .sum()
        })
        .collect()
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A standard normal draw (Box-Muller).
pub(crate) fn standard_normal(rng: &mut Rng) -> f64 {
    // 53 random bits in (0, 1], so the logarithm is finite.
    let u1 = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::autoencoder::AutoencoderKind;
    use crate::ml::model::ImageShape;
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::{DType, FloatDType};

    fn random_vector(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| standard_normal(rng) as f32).collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    /// Largest |(Q^T Q - I)_ij|.
    fn orthonormality_error(basis: &TangentBasis) -> f64 {
        let mut worst: f64 = 0.0;
        for i in 0..basis.rank {
            for j in 0..basis.rank {
                let target = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((dot(basis.column(i), basis.column(j)) - target).abs());
            }
        }
        worst
    }

    /// Largest |v - Proj(v)| over the columns v of row-major `a` (n × k): how far the
    /// columns stick out of the basis's span.
    fn span_error(basis: &TangentBasis, a: &[f32]) -> f32 {
        let (n, k) = (basis.n, basis.k);
        (0..k)
            .map(|c| {
                let column: Vec<f32> = (0..n).map(|i| a[i * k + c]).collect();
                l2_norm(&off_manifold(basis, &column))
            })
            .fold(0.0, f32::max)
    }

    #[test]
    fn qr_gives_an_orthonormal_basis_of_the_columns() {
        let mut rng = Rng::new(3);
        let (n, k) = (50, 6);
        // Columns of very different scales and far from orthogonal.
        let base = random_vector(n, &mut rng);
        let a: Vec<f32> = (0..n * k)
            .map(|idx| {
                let (i, c) = (idx / k, idx % k);
                (c as f32 + 1.0) * base[i] + 0.3 * standard_normal(&mut rng) as f32
            })
            .collect();
        let basis = orthonormalise(&a, n, k);
        assert_eq!((basis.n, basis.k, basis.rank), (n, k, k));
        assert!(orthonormality_error(&basis) < 1e-6);
        assert!(span_error(&basis, &a) < 1e-4, "{}", span_error(&basis, &a));
        assert_eq!(basis.diag_ratios[0], 1.0);
        assert!(basis.diag_ratios.windows(2).all(|w| w[1] <= w[0]));
        assert!(basis.diag_ratios[k - 1] < 0.5, "{:?}", basis.diag_ratios);
    }

    #[test]
    fn qr_drops_dependent_columns_and_reports_the_rank() {
        let mut rng = Rng::new(4);
        let (n, k) = (40, 5);
        let u = random_vector(n, &mut rng);
        let v = random_vector(n, &mut rng);
        // Columns: u, v, u + v, 2u, 0: rank 2.
        let columns = [
            u.clone(),
            v.clone(),
            u.iter().zip(&v).map(|(a, b)| a + b).collect(),
            u.iter().map(|a| 2.0 * a).collect(),
            vec![0.0; n],
        ];
        let a: Vec<f32> = (0..n * k).map(|idx| columns[idx % k][idx / k]).collect();
        let basis = orthonormalise(&a, n, k);
        assert_eq!(basis.rank, 2);
        assert_eq!(basis.q.len(), n * 2);
        assert_eq!(basis.diag_ratios.len(), 2);
        assert!(orthonormality_error(&basis) < 1e-6);
        assert!(span_error(&basis, &a) < 1e-4);

        let zero = orthonormalise(&vec![0.0; n * k], n, k);
        assert_eq!(zero.rank, 0);
        assert_eq!(on_manifold_fraction(&zero, &u), 0.0);
    }

    #[test]
    fn projection_is_symmetric_idempotent_and_splits_vectors_orthogonally() {
        let mut rng = Rng::new(5);
        let basis = random_subspace(100, 7, &mut rng);
        for _ in 0..10 {
            let u = random_vector(100, &mut rng);
            let v = random_vector(100, &mut rng);
            let pv = project_on_manifold(&basis, &v);
            let ppv = project_on_manifold(&basis, &pv);
            assert!(pv.iter().zip(&ppv).all(|(a, b)| (a - b).abs() < 1e-5));
            let pu = project_on_manifold(&basis, &u);
            assert!((dot(&pu, &v) - dot(&u, &pv)).abs() < 1e-4);
            let off = off_manifold(&basis, &v);
            assert!(
                pv.iter()
                    .zip(&off)
                    .zip(&v)
                    .all(|((a, b), c)| (a + b - c).abs() < 1e-5)
            );
            assert!(dot(&pv, &off).abs() < 1e-4);
            let fraction = on_manifold_fraction(&basis, &v);
            assert!((fraction - l2_norm(&pv) / l2_norm(&v)).abs() < 1e-5);
        }
        // A basis vector lies wholly inside; the projection keeps it.
        assert!((on_manifold_fraction(&basis, basis.column(3)) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_random_subspace_keeps_about_sqrt_k_over_n_of_a_vector() {
        let (n, k) = (784, 16);
        let mut rng = Rng::new(6);
        let basis = random_subspace(n, k, &mut rng);
        assert_eq!(basis.rank, k);
        assert!(orthonormality_error(&basis) < 1e-6);
        let trials = 200;
        let mean = (0..trials)
            .map(|_| on_manifold_fraction(&basis, &random_vector(n, &mut rng)))
            .sum::<f32>()
            / trials as f32;
        let expected = (k as f32 / n as f32).sqrt();
        assert!((mean - expected).abs() < 0.01, "{mean} vs {expected}");
        assert_ne!(basis, random_subspace(n, k, &mut Rng::new(7)));
        assert_eq!(
            random_subspace(n, k, &mut Rng::new(7)),
            random_subspace(n, k, &mut Rng::new(7))
        );
    }

    #[test]
    fn the_random_share_follows_each_basis_rank_not_the_latent_k() {
        // Two tangent spaces of a k = 16 autoencoder, one of them rank-deficient (rank 4).
        let (n, ranks) = (784, [16, 4]);
        let mut rng = Rng::new(8);
        let bases: Vec<TangentBasis> = ranks
            .iter()
            .map(|&r| random_subspace(n, r, &mut rng))
            .collect();
        let trials = 200;
        let mean = bases
            .iter()
            .flat_map(|basis| {
                (0..trials)
                    .map(|_| on_manifold_fraction(basis, &random_vector(n, &mut rng)))
                    .collect::<Vec<_>>()
            })
            .sum::<f32>() as f64
            / (trials * bases.len()) as f64;
        let share = random_share(bases.iter().map(|b| b.rank), n, 16);
        assert!((mean - share).abs() < 0.01, "{mean} vs {share}");
        let full = (16.0f64 / n as f64).sqrt();
        assert!((mean - full).abs() > 0.02, "{mean} vs √(k/n) = {full}");
        assert_eq!(random_share([16, 16], n, 16), full);
        assert_eq!(random_share([], n, 16), full);
    }

    /// Casts every float parameter to f64.
    struct ToF64;

    impl ModuleMapper for ToF64 {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.cast(FloatDType::F64))
        }
    }

    /// Column j of the Jacobian by central differences (D(z + h e_j) - D(z - h e_j)) / 2h,
    /// for every j, with the decoder in f64 (`ae64`).
    fn finite_difference_columns(ae64: &Autoencoder, z: &[f32], h: f64) -> Vec<Vec<f64>> {
        let k = z.len();
        let mut rows = Vec::with_capacity(2 * k * k);
        for j in 0..k {
            for sign in [1.0, -1.0] {
                let mut shifted: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
                shifted[j] += sign * h;
                rows.extend(shifted);
            }
        }
        let batch = Tensor::<2>::from_data(
            TensorData::new(rows, [2 * k, k]),
            (&Device::flex(), DType::F64),
        );
        let decoded = ae64.decode(batch).try_into_vec_as::<f64>().unwrap();
        let n = ae64.pixels();
        (0..k)
            .map(|j| {
                (0..n)
                    .map(|i| (decoded[2 * j * n + i] - decoded[(2 * j + 1) * n + i]) / (2.0 * h))
                    .collect()
            })
            .collect()
    }

    /// The decoder Jacobian by reverse mode, the way burn's autodiff offers it: one backward
    /// pass gives one vector-Jacobian product `u^T J`, and the n rows of J are `e_i^T J`. They
    /// are batched: `z` is copied into n rows of one leaf `Z` (`[n, k]`), decoded to
    /// `Y = D(Z)` (`[n, n]`, row r depends only on row r of Z) and `sum_i Y[i, i]` is
    /// differentiated, so row i of dZ is row i of J. An independent check on forward mode.
    fn reverse_mode_jacobian(decoder: &Autoencoder, z: Tensor<2>) -> Tensor<2> {
        let n = decoder.pixels();
        let autodiff = z.device().autodiff();
        let copies = z.repeat_dim(0, n).autodiff().require_grad();
        let decoded = decoder.decode(copies.clone());
        let index = Tensor::<1, Int>::arange(0..n as i64, &autodiff).reshape([n, 1]);
        let grads = decoded.gather(1, index).sum().backward();
        copies.grad(&grads).unwrap()
    }

    /// A random latent code of dimension `k` as a `[1, k]` tensor, and its values.
    fn random_code(k: usize, seed: u64, device: &Device) -> (Tensor<2>, Vec<f32>) {
        let mut rng = Rng::new(seed);
        let z: Vec<f32> = (0..k).map(|_| standard_normal(&mut rng) as f32).collect();
        let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [1, k]), device);
        (zt, z)
    }

    #[test]
    fn forward_and_reverse_mode_jacobians_agree() {
        let device = Device::flex();
        for kind in AutoencoderKind::ALL {
            for (k, seed) in [(3, 11), (16, 12)] {
                let ae = Autoencoder::new(kind, k, ImageShape::MNIST, &device).unwrap();
                let (z, _) = random_code(k, seed, &device);
                let forward = ae.decoder_jacobian(z.clone());
                assert_eq!(forward.dims(), [784, k]);
                let forward = forward.try_into_vec_as::<f32>().unwrap();
                let reverse = reverse_mode_jacobian(&ae.valid(), z)
                    .try_into_vec_as::<f32>()
                    .unwrap();
                let scale = reverse.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(scale > 1e-4, "{kind}: the Jacobian vanishes");
                let worst = forward
                    .iter()
                    .zip(&reverse)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    worst < 1e-5 * scale,
                    "{kind}, k = {k}: off by {worst} of {scale}"
                );
            }
        }
    }

    #[test]
    fn forward_mode_jacobian_matches_central_differences() {
        let device = Device::flex();
        let k = 8;
        for kind in AutoencoderKind::ALL {
            let ae = Autoencoder::new(kind, k, ImageShape::MNIST, &device).unwrap();
            let (zt, z) = random_code(k, 8, &device);
            let exact = ae.decoder_jacobian(zt).try_into_vec_as::<f32>().unwrap();
            assert_eq!(exact.len(), 784 * k);
            // In f64 a step of 1e-7 leaves rounding errors near 1e-9 and almost never straddles
            // a ReLU kink (where central differences are wrong); two step sizes make a kink at
            // both vanishingly unlikely.
            let ae64 = ae.map(&mut ToF64);
            let coarse = finite_difference_columns(&ae64, &z, 1e-7);
            let fine = finite_difference_columns(&ae64, &z, 3e-8);
            for j in 0..k {
                let column: Vec<f64> = (0..784).map(|i| f64::from(exact[i * k + j])).collect();
                let norm = column.iter().map(|v| v * v).sum::<f64>().sqrt();
                assert!(norm > 1e-4, "{kind}: column {j} vanishes");
                let gap = |fd: &[f64]| {
                    fd.iter()
                        .zip(&column)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>()
                        .sqrt()
                        / norm
                };
                let gap = gap(&coarse[j]).min(gap(&fine[j]));
                assert!(gap < 1e-4, "{kind}: column {j} is off by {gap}");
            }
        }
    }

    #[test]
    fn tied_latent_dimensions_lower_the_rank_by_one() {
        let device = Device::flex();
        for kind in AutoencoderKind::ALL {
            let ae = Autoencoder::new(kind, 5, ImageShape::MNIST, &device).unwrap();
            let x: Vec<f32> = (0..784).map(|i| ((i * 37) % 100) as f32 / 100.0).collect();
            let free = pollster::block_on(tangent_basis(&ae, &x, &device)).unwrap();
            assert_eq!((free.k, free.rank), (5, 5), "{kind}");
            let tied = ae.tie_latents(1, 3);
            let basis = pollster::block_on(tangent_basis(&tied, &x, &device)).unwrap();
            assert_eq!((basis.k, basis.rank), (5, 4), "{kind}");
            assert!(orthonormality_error(&basis) < 1e-6);
        }
    }
}
