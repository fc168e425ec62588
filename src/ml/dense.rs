//! The product of a dense (fully connected) layer, y = x W + b, as a backend extension: each
//! backend multiplies with the kernel that suits it, and the gradients, x^T dy and dy W^T, go
//! through the same kernel.
//!
//! burn's own matmul takes one kernel per backend. On a software WebGPU adapter (SwiftShader)
//! its default, cubek's tiled `SimpleUnit`, was measured at half the speed of the plain one
//! thread per output kernel for every matrix product of the reference MLP (bench/README.md),
//! so the page asks for that kernel there ([`prefer_naive_matmul`]); everywhere else the layers
//! run burn's own product and [`Linear::forward`].

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// The matrix product of a dense layer, by backend.
#[backend_extension(Flex, Cube: cfg(feature = "webgpu"), Autodiff)]
pub trait DenseOps: Backend {
    /// `lhs [m, k] × rhs [k, n]`.
    fn dense_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl DenseOps for Flex {
    fn dense_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(lhs, rhs)
    }
}

static NAIVE: AtomicBool = AtomicBool::new(false);

/// Sends the dense layers' products through [`DenseOps`] from now on, where the WebGPU backend
/// takes the plain kernel (`true`), or back to burn's own product (`false`, the start).
pub fn prefer_naive_matmul(naive: bool) {
    NAIVE.store(naive, Ordering::Relaxed);
}

/// Whether [`prefer_naive_matmul`] asked for the plain kernel.
fn naive_matmul() -> bool {
    NAIVE.load(Ordering::Relaxed)
}

impl<B: Backend + DenseOps, C: CheckpointStrategy> DenseOps for Autodiff<B, C> {
    fn dense_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DenseMatmul;

        impl<B: Backend + DenseOps> Backward<B, 2> for DenseMatmul {
            // The operands each gradient needs: rhs for lhs's, lhs for rhs's.
            type State = (
                Option<B::FloatTensorPrimitive>,
                Option<B::FloatTensorPrimitive>,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (lhs, rhs) = ops.state;
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |grad| B::dense_matmul(grad, B::float_transpose(rhs.expect("rhs kept"))),
                    |grad| B::dense_matmul(B::float_transpose(lhs.expect("lhs kept")), grad),
                );
            }
        }

        let (lhs_tracked, rhs_tracked) = (lhs.is_tracked(), rhs.is_tracked());
        let nodes = [lhs.node(), rhs.node()];
        let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
        match DenseMatmul.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (
                    rhs_tracked.then(|| lhs.clone()),
                    lhs_tracked.then(|| rhs.clone()),
                );
                prep.finish(state, B::dense_matmul(lhs, rhs))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dense_matmul(lhs, rhs)),
        }
    }
}

/// `lhs [m, k] × rhs [k, n]` through [`DenseOps`].
pub fn product(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as DenseOps>::dense_matmul(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

/// x W + b with the product through [`DenseOps`].
fn affine(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    let y = product(x, layer.weight.val());
    match &layer.bias {
        Some(bias) => y + bias.val().unsqueeze::<2>(),
        None => y,
    }
}

/// `lhs × rhs` for a dense layer's weights: through [`DenseOps`] where a backend asked for its
/// own kernel ([`prefer_naive_matmul`]), else burn's product.
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    if naive_matmul() {
        product(lhs, rhs)
    } else {
        lhs.matmul(rhs)
    }
}

/// The dense layer `layer` on rows `x [batch, d_input]`, x W + b: [`Linear::forward`] itself,
/// or, where a backend asked for its own kernel, the same sum with the product through
/// [`DenseOps`]. (Through the extension the layer is three autodiff steps instead of burn's
/// one: 4% slower on the page's CPU backend, where burn's product is the one it would take.)
pub fn forward(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    if naive_matmul() {
        affine(layer, x)
    } else {
        layer.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    fn close(a: Tensor<2>, b: Tensor<2>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn a_dense_layer_and_its_gradients_match_burns_linear() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let layer = LinearConfig::new(7, 5).init(&device);
        let x = Tensor::<2>::random([4, 7], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let target = Tensor::<2>::random([4, 5], Distribution::Normal(0.0, 1.0), &device);

        let ours = affine(&layer, x.clone());
        let theirs = layer.forward(x.clone());
        assert!(close(ours.clone().inner(), theirs.clone().inner()) < 1e-5);

        let loss = |y: Tensor<2>| (y * target.clone()).sum();
        let (g_ours, g_theirs) = (loss(ours).backward(), loss(theirs).backward());
        for (what, a, b) in [
            ("input", x.grad(&g_ours), x.grad(&g_theirs)),
            (
                "weight",
                layer.weight.val().grad(&g_ours),
                layer.weight.val().grad(&g_theirs),
            ),
        ] {
            let (a, b) = (a.expect(what), b.expect(what));
            assert!(
                b.clone().abs().max().into_scalar::<f32>() > 0.1,
                "{what}: a gradient to compare"
            );
            assert!(close(a, b) < 1e-5, "{what}");
        }
        let bias = layer.bias.as_ref().unwrap().val();
        let (a, b) = (bias.grad(&g_ours).unwrap(), bias.grad(&g_theirs).unwrap());
        assert!((a - b).abs().max().into_scalar::<f32>() < 1e-5, "bias");
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        // f(W) = sum(x W ∘ t): df/dW_ij against (f(W + h e_ij) - f(W - h e_ij)) / 2h.
        let device = Device::flex().autodiff();
        device.seed(4);
        let x = Tensor::<2>::random([3, 4], Distribution::Normal(0.0, 1.0), &device);
        let t = Tensor::<2>::random([3, 2], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<2>::random([4, 2], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let f = |w: Tensor<2>| (product(x.clone(), w) * t.clone()).sum();
        let grad = w
            .grad(&f(w.clone()).backward())
            .unwrap()
            .to_data()
            .try_to_vec::<f32>()
            .unwrap();
        let plain = w.clone().inner().to_data().try_to_vec::<f32>().unwrap();
        let h = 1e-2f32;
        for (i, g) in grad.iter().enumerate() {
            let nudged = |by: f32| {
                let mut v = plain.clone();
                v[i] += by;
                let w = Tensor::<2>::from_data(TensorData::new(v, [4, 2]), &device);
                f(w).into_scalar::<f32>()
            };
            let numeric = (nudged(h) - nudged(-h)) / (2.0 * h);
            assert!((g - numeric).abs() < 1e-3, "W[{i}]: {g} vs {numeric}");
        }
    }
}
