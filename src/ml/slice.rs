//! The classifier's decision on a 2-D plane through an image, and along lines through it.
//!
//! The plane through x spanned by two directions u and v (for the paper's picture the
//! on-manifold part Proj_M(d) and the off-manifold part d − Proj_M(d) of an attack d) is
//! parametrised by an orthonormal pair (e1, e2) from [`plane_basis`], so its axes are in L2
//! units: grid cell (i, j) is the image x + a_i e1 + b_j e2, at L2 distance √(a_i² + b_j²)
//! from x. The dimple shows as a boundary that is near along the off-manifold axis and far
//! along the on-manifold one; [`margin_profile`] reads that as two crossing distances.
//!
//! The whole grid is one batched forward pass, or a few for a slow classifier ([`slice_rows`]
//! evaluates it a few rows at a time). Pixels are not clipped to [0, 1] unless
//! [`SliceSpec::clip`] asks for it: clipping bends the plane at the box's faces, and then a
//! cell no longer lies at the stated distance from x.

use super::model::Classifier;
use super::read_f32;
use super::toy::lerp;
use burn::prelude::*;
use std::ops::Range;

/// An orthonormal pair (e1, e2) spanning the same plane as (u, v), by Gram-Schmidt:
/// e1 = u/||u||, e2 = (v − (v·e1) e1)/||…||. An error when u is (nearly) zero or v is (nearly)
/// parallel to u, since then there is no plane.
pub fn plane_basis(u: &[f32], v: &[f32]) -> Result<(Vec<f32>, Vec<f32>), String> {
    if u.len() != v.len() || u.is_empty() {
        return Err(format!(
            "the two directions differ in size ({} and {})",
            u.len(),
            v.len()
        ));
    }
    let norm = |w: &[f32]| w.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
    let nu = norm(u);
    if nu < 1e-8 {
        return Err("the first direction is zero".into());
    }
    let e1: Vec<f32> = u.iter().map(|a| (f64::from(*a) / nu) as f32).collect();
    let dot: f64 = v
        .iter()
        .zip(&e1)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum();
    let w: Vec<f64> = v
        .iter()
        .zip(&e1)
        .map(|(a, b)| f64::from(*a) - dot * f64::from(*b))
        .collect();
    let nw = w.iter().map(|a| a * a).sum::<f64>().sqrt();
    if nw < 1e-6 * norm(v).max(1e-8) || nw < 1e-8 {
        return Err(
            "the two directions are parallel (or the second is zero): they span no plane".into(),
        );
    }
    Ok((e1, w.iter().map(|a| (a / nw) as f32).collect()))
}

/// Where on the plane to look.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceSpec {
    /// Range of the coefficient a along e1, in L2 units.
    pub range1: (f32, f32),
    /// Range of the coefficient b along e2, in L2 units.
    pub range2: (f32, f32),
    /// Samples per axis (the grid has resolution² cells).
    pub resolution: usize,
    /// Clip every image to the pixel box [0, 1] before classifying it.
    pub clip: bool,
}

impl SliceSpec {
    /// Coefficient a_i along e1 of column i.
    pub fn a(&self, i: usize) -> f32 {
        lerp(self.range1, i, self.resolution)
    }

    /// Coefficient b_j along e2 of row j.
    pub fn b(&self, j: usize) -> f32 {
        lerp(self.range2, j, self.resolution)
    }
}

/// The resolution² images of the slice, concatenated: cell (i, j) (i along e1, j along e2) is
/// x + a_i e1 + b_j e2 at index j · resolution + i, clipped if `spec.clip`.
pub fn slice_images(x: &[f32], e1: &[f32], e2: &[f32], spec: &SliceSpec) -> Vec<f32> {
    slice_row_images(x, e1, e2, spec, 0..spec.resolution)
}

/// The images of the rows `rows` of the slice (the cells (i, j) with j in `rows`), in
/// [`slice_images`]' order: the slice a few rows at a time.
pub fn slice_row_images(
    x: &[f32],
    e1: &[f32],
    e2: &[f32],
    spec: &SliceSpec,
    rows: Range<usize>,
) -> Vec<f32> {
    let r = spec.resolution;
    let mut out = Vec::with_capacity(rows.len() * r * x.len());
    for j in rows {
        let b = spec.b(j);
        for i in 0..r {
            let a = spec.a(i);
            out.extend(x.iter().zip(e1).zip(e2).map(|((p, u), v)| {
                let q = p + a * u + b * v;
                if spec.clip { q.clamp(0.0, 1.0) } else { q }
            }));
        }
    }
    out
}

/// The classifier's decision over a slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// Predicted class of each cell, in [`slice_images`]' order.
    pub classes: Vec<u8>,
    /// Logit of `true_class` minus the best other logit at each cell: negative where the
    /// classifier no longer says `true_class`.
    pub margins: Vec<f32>,
}

/// The decision at each of the rows of `images` (`n` values each) as (class, margin of
/// `true_class`), in one batched forward pass.
async fn decide(
    classifier: &Classifier,
    images: Vec<f32>,
    n: usize,
    true_class: u8,
    device: &Device,
) -> Result<Slice, String> {
    if n == 0 || !images.len().is_multiple_of(n) {
        return Err(format!(
            "{} values are not whole images of {n} pixels",
            images.len()
        ));
    }
    let count = images.len() / n;
    let device = device.clone().without_autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(images, [count, n]), &device);
    let logits = read_f32(classifier.valid().forward(x)).await?;
    let classes = logits.len() / count.max(1);
    let t = usize::from(true_class);
    if t >= classes {
        return Err(format!(
            "class {true_class} is not one of the {classes} classes"
        ));
    }
    let mut slice = Slice {
        classes: Vec::with_capacity(count),
        margins: Vec::with_capacity(count),
    };
    for row in logits.chunks(classes) {
        let best = (0..classes)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0);
        let other = (0..classes)
            .filter(|&k| k != t)
            .map(|k| row[k])
            .fold(f32::NEG_INFINITY, f32::max);
        slice.classes.push(best as u8);
        slice.margins.push(row[t] - other);
    }
    Ok(slice)
}

/// The classifier's decision on the plane through `x` spanned by the orthonormal `e1`, `e2`
/// (see [`plane_basis`]) over `spec`: resolution² images in one batched forward pass.
/// Margins are of `true_class` (usually the class of x).
pub async fn slice_grid(
    classifier: &Classifier,
    x: &[f32],
    e1: &[f32],
    e2: &[f32],
    spec: &SliceSpec,
    true_class: u8,
    device: &Device,
) -> Result<Slice, String> {
    slice_rows(
        classifier,
        x,
        e1,
        e2,
        spec,
        0..spec.resolution,
        true_class,
        device,
    )
    .await
}

/// The decision on the rows `rows` of the slice (cells j · resolution + i for j in `rows`),
/// in one batched forward pass: [`slice_grid`] in pieces, so that a slow classifier can be
/// evaluated a few rows at a time with other work in between. The pieces over consecutive
/// rows, concatenated, are the whole slice.
#[allow(
    clippy::too_many_arguments,
    reason = "slice_grid's settings and the rows"
)]
pub async fn slice_rows(
    classifier: &Classifier,
    x: &[f32],
    e1: &[f32],
    e2: &[f32],
    spec: &SliceSpec,
    rows: Range<usize>,
    true_class: u8,
    device: &Device,
) -> Result<Slice, String> {
    if e1.len() != x.len() || e2.len() != x.len() {
        return Err("the image and the plane's directions differ in size".into());
    }
    if rows.is_empty() || rows.end > spec.resolution {
        return Err(format!(
            "rows {}..{} are not a piece of a slice with {} rows",
            rows.start, rows.end, spec.resolution
        ));
    }
    decide(
        classifier,
        slice_row_images(x, e1, e2, spec, rows),
        x.len(),
        true_class,
        device,
    )
    .await
}

/// The margin along the line x + t e for `samples` values of t evenly over `range`.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub t: Vec<f32>,
    /// Logit of the true class minus the best other, at each t.
    pub margins: Vec<f32>,
    /// [`crossing`] of the margins: where the decision first changes.
    pub crossing: Option<f32>,
}

/// The 1-D margin profile along the unit direction `e` through `x` (one batched forward pass;
/// clipped to [0, 1] if `clip`).
#[allow(
    clippy::too_many_arguments,
    reason = "each is one setting of the profile"
)]
pub async fn margin_profile(
    classifier: &Classifier,
    x: &[f32],
    e: &[f32],
    range: (f32, f32),
    samples: usize,
    clip: bool,
    true_class: u8,
    device: &Device,
) -> Result<Profile, String> {
    let t: Vec<f32> = (0..samples).map(|i| lerp(range, i, samples)).collect();
    let margins = line_margins(classifier, x, e, &t, clip, true_class, device).await?;
    let crossing = crossing(&t, &margins);
    Ok(Profile {
        t,
        margins,
        crossing,
    })
}

/// The margin of `true_class` at x + t e for each of the values `t`, in one batched forward
/// pass (clipped to [0, 1] if `clip`): a profile at chosen points, so that a slow classifier
/// can evaluate one a few points at a time.
pub async fn line_margins(
    classifier: &Classifier,
    x: &[f32],
    e: &[f32],
    t: &[f32],
    clip: bool,
    true_class: u8,
    device: &Device,
) -> Result<Vec<f32>, String> {
    if e.len() != x.len() {
        return Err("the image and the direction differ in size".into());
    }
    if t.is_empty() {
        return Err("a profile needs at least one point".into());
    }
    let images: Vec<f32> = t
        .iter()
        .flat_map(|&s| {
            x.iter().zip(e).map(move |(p, u)| {
                let q = p + s * u;
                if clip { q.clamp(0.0, 1.0) } else { q }
            })
        })
        .collect();
    Ok(decide(classifier, images, x.len(), true_class, device)
        .await?
        .margins)
}

/// The first sign change of `margins` (sampled at the increasing `t`) going outwards from
/// t = 0 on either side, linearly interpolated; the one nearer to 0 when both sides change.
/// `None` if the sign never changes.
pub fn crossing(t: &[f32], margins: &[f32]) -> Option<f32> {
    let mut best: Option<f32> = None;
    for k in 0..t
        .len()
        .saturating_sub(1)
        .min(margins.len().saturating_sub(1))
    {
        let (m0, m1) = (margins[k], margins[k + 1]);
        if (m0 > 0.0) == (m1 > 0.0) {
            continue;
        }
        let s = t[k] + (t[k + 1] - t[k]) * m0 / (m0 - m1);
        if best.is_none_or(|b| s.abs() < b.abs()) {
            best = Some(s);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_is_the_interpolated_sign_change_nearest_zero() {
        let t = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
        assert_eq!(crossing(&t, &[-1.0, 1.0, 2.0, 1.0, -3.0, -4.0]), Some(1.25));
        assert_eq!(crossing(&t, &[1.0; 6]), None);
        assert_eq!(crossing(&t, &[-1.0, 3.0, 2.0, 2.0, 2.0, -1.0]), Some(-1.75));
    }
}
