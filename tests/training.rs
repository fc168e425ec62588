//! Native checks of the training code on the real MNIST bundle: the default recipe learns,
//! autodiff gradients match finite differences, and a seed fixes a run.
//!
//! Run with `cargo test --release` (a debug build trains far more slowly).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use dimple::ml::batch::DeviceSplit;
use dimple::ml::dataset::Dataset;
use dimple::ml::model::{Classifier, ClassifierKind, ImageShape, cross_entropy};
use dimple::ml::rng::Rng;
use dimple::ml::train::{TrainConfig, Trainer, evaluate};
use std::sync::{Mutex, MutexGuard};

/// Burn's CPU backend draws every random number (weight initialisation, dropout) from one
/// process-wide generator, and the test harness runs tests on parallel threads: a test that
/// seeds it holds this lock until it has drawn everything it needs.
static DEVICE_RNG: Mutex<()> = Mutex::new(());

fn lock_device_rng() -> MutexGuard<'static, ()> {
    DEVICE_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bundle() -> Dataset {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/static/data/mnist-bundle.dmpl.zlib"
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Dataset::decode_packed(&bytes).expect("the bundle decodes")
}

fn shape_of(dataset: &Dataset) -> ImageShape {
    ImageShape {
        height: dataset.height,
        width: dataset.width,
        classes: dataset.classes(),
    }
}

/// Test accuracy in [0, 1] of `model` on `test`.
fn accuracy(model: &Classifier, test: &DeviceSplit) -> f64 {
    let (images, labels) = test.range(0, test.len());
    let [_, correct] = evaluate(model, images, labels)
        .try_into_vec_as::<f32>()
        .unwrap()[..]
    else {
        panic!("evaluate returns [loss, correct]");
    };
    f64::from(correct) / test.len() as f64
}

/// One epoch of the default MLP, both as a one-epoch run (whose learning rate anneals to zero
/// within the epoch) and as the first epoch of the default ten-epoch run (still at nearly the
/// peak rate), reaches 90% on the bundle's test digits.
#[test]
fn one_epoch_of_the_default_mlp_reaches_90_percent() {
    let _rng = lock_device_rng();
    let dataset = bundle();
    let device = Device::flex();
    let train = DeviceSplit::upload(&dataset, &dataset.train, &device);
    let test = DeviceSplit::upload(&dataset, &dataset.test, &device);
    let default = TrainConfig::default();
    assert_eq!(default.model, ClassifierKind::Mlp);
    for config in [
        TrainConfig {
            epochs: 1,
            ..default.clone()
        },
        default,
    ] {
        let epochs = config.epochs;
        let mut trainer = Trainer::new(config, shape_of(&dataset), &train, &device);
        while trainer.epoch() == 0 {
            trainer.step();
        }
        let accuracy = accuracy(&trainer.model(), &test);
        assert!(
            accuracy >= 0.90,
            "epoch 1 of {epochs}: test accuracy {:.2}% < 90%",
            100.0 * accuracy
        );
    }
}

// ---- Gradient check ----------------------------------------------------------------------

/// Every float parameter of a module, in visiting order: id, number of elements and the
/// gradient of the loss with respect to it.
struct CollectGrads<'a> {
    grads: &'a burn::tensor::Gradients,
    params: Vec<(ParamId, usize, Vec<f32>)>,
}

impl ModuleVisitor for CollectGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let grad = param
            .grad(self.grads)
            .expect("every parameter gets a gradient");
        let grad = grad.try_into_vec_as::<f32>().unwrap();
        self.params
            .push((param.id, param.shape().num_elements(), grad));
    }
}

/// Casts every float parameter to f64.
struct ToF64;

impl ModuleMapper for ToF64 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|tensor| tensor.cast(FloatDType::F64))
    }
}

/// Adds `delta` to element `index` (row-major) of the f64 parameter `id`.
struct Nudge {
    id: ParamId,
    index: usize,
    delta: f64,
}

impl ModuleMapper for Nudge {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.id != self.id {
            return param;
        }
        let (index, delta) = (self.index, self.delta);
        param.map(|tensor| {
            let (shape, device) = (tensor.shape(), tensor.device());
            let mut values = tensor.try_into_vec_as::<f64>().unwrap();
            values[index] += delta;
            Tensor::from_data(TensorData::new(values, shape), (&device, DType::F64))
        })
    }
}

/// `‖a − b‖ / max(‖a‖, ‖b‖)`: the relative error of one gradient against another.
fn relative_error(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let diff = norm(&mut a.iter().zip(b).map(|(&x, &y)| f64::from(x) - y));
    let scale = norm(&mut a.iter().map(|&x| f64::from(x))).max(norm(&mut b.iter().copied()));
    diff / scale
}

/// The autodiff gradient (in f32, as training computes it) of the cross-entropy loss of a
/// freshly initialised MLP with respect to its input images and to a sample of its weights and
/// biases agrees with central finite differences.
///
/// The finite differences are taken on an f64 copy of the same network, because in f32 they
/// cannot be made accurate enough to test anything. The network is piecewise linear, and a
/// step `h` that carries one of its 512 ReLU pre-activations across zero bends the difference
/// quotient, an error that grows like `h` (measured here: 4e-2 relative at h = 1e-2, 9e-3 at
/// h = 3e-4); below that the rounding error of an f32 loss near ln 4, about 1e-7 / h, takes
/// over (3e-2 at h = 1e-4, 1e-1 at h = 3e-5). In f64 with h = 1e-6 the rounding error is near
/// 1e-16 / 1e-6 = 1e-10, the truncation error of the smooth parts near h² = 1e-12, and a kink
/// within reach of the step is unlikely (the trend above puts its effect near 1e-6). What is
/// left is the f32 rounding of the autodiff gradient itself, a few ulps (ε ≈ 1.2e-7) per
/// operation: measured 2.3e-7 for the inputs and 1.7e-7 for the weights, unchanged for h from
/// 1e-4 to 1e-7. The bound, 1e-5, leaves a factor 40 for other CPUs' summation orders and sits
/// far below the error of a genuinely wrong gradient (here: the one for other labels, above
/// 100%); the test checks that the bound rejects that one, so the comparison can fail.
#[test]
fn autodiff_gradients_match_finite_differences() {
    const H: f64 = 1e-6;
    const TOLERANCE: f64 = 1e-5;
    let shape = ImageShape {
        height: 5,
        width: 5,
        classes: 4,
    };
    let batch = 3;
    let pixels = shape.pixels();
    let plain = Device::flex();
    let autodiff = plain.clone().autodiff();

    let _rng = lock_device_rng();
    autodiff.seed(7);
    let model = Classifier::new(ClassifierKind::Mlp, shape, &autodiff);
    let mut rng = Rng::new(7);
    let images: Vec<f32> = (0..batch * pixels).map(|_| rng.unit_f32()).collect();
    let labels: Vec<i64> = vec![0, 3, 1];
    let wrong_labels: Vec<i64> = vec![2, 0, 3];
    let labels_on = |labels: &[i64], device: &Device| {
        Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [batch]), device)
    };

    // Autodiff: one backward pass gives the gradient for the images and for every parameter.
    let autodiff_grads = |labels: &[i64]| {
        let x = TensorData::new(images.clone(), [batch, pixels]);
        let x = Tensor::<2>::from_data(x, &autodiff).require_grad();
        let loss = cross_entropy(model.forward(x.clone()), labels_on(labels, &autodiff));
        let grads = loss.backward();
        let dx = x.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
        let mut collect = CollectGrads {
            grads: &grads,
            params: Vec::new(),
        };
        model.visit(&mut collect);
        (dx, collect.params)
    };
    let (dx, params) = autodiff_grads(&labels);
    let (dx_wrong, params_wrong) = autodiff_grads(&wrong_labels);

    // Central finite differences on an f64 copy of the same weights.
    let reference = model.valid().map(&mut ToF64);
    let images: Vec<f64> = images.iter().map(|&p| f64::from(p)).collect();
    let loss_of = |model: &Classifier, values: Vec<f64>| -> f64 {
        let x = Tensor::<2>::from_data(
            TensorData::new(values, [batch, pixels]),
            (&plain, DType::F64),
        );
        cross_entropy(model.forward(x), labels_on(&labels, &plain)).into_scalar::<f64>()
    };
    let central = |plus: f64, minus: f64| (plus - minus) / (2.0 * H);

    let fd_dx: Vec<f64> = (0..images.len())
        .map(|i| {
            let mut up = images.clone();
            up[i] += H;
            let mut down = images.clone();
            down[i] -= H;
            central(loss_of(&reference, up), loss_of(&reference, down))
        })
        .collect();

    // Four elements of each of the six weight and bias tensors.
    let (mut ad_w, mut ad_w_wrong, mut fd_w) = (Vec::new(), Vec::new(), Vec::new());
    assert_eq!(params.len(), 6, "three layers, each a weight and a bias");
    for ((id, len, grad), (_, _, grad_wrong)) in params.iter().zip(&params_wrong) {
        for _ in 0..4 {
            let index = rng.below(*len);
            let nudged = |delta| {
                reference.clone().map(&mut Nudge {
                    id: *id,
                    index,
                    delta,
                })
            };
            fd_w.push(central(
                loss_of(&nudged(H), images.clone()),
                loss_of(&nudged(-H), images.clone()),
            ));
            ad_w.push(grad[index]);
            ad_w_wrong.push(grad_wrong[index]);
        }
    }

    let input_error = relative_error(&dx, &fd_dx);
    let weight_error = relative_error(&ad_w, &fd_w);
    assert!(
        input_error < TOLERANCE,
        "input gradient: relative error {input_error:.2e}"
    );
    assert!(
        weight_error < TOLERANCE,
        "weight gradient: relative error {weight_error:.2e}"
    );
    assert!(
        dx.iter().any(|&g| g.abs() > 1e-3),
        "input gradient is all zero"
    );
    // The check has teeth: the gradients for other labels are rejected.
    let input_wrong = relative_error(&dx_wrong, &fd_dx);
    let weight_wrong = relative_error(&ad_w_wrong, &fd_w);
    assert!(
        input_wrong > 1e4 * TOLERANCE,
        "wrong input gradient passes: {input_wrong:.2e}"
    );
    assert!(
        weight_wrong > 1e4 * TOLERANCE,
        "wrong weight gradient passes: {weight_wrong:.2e}"
    );
}

// ---- Determinism -------------------------------------------------------------------------

/// The bundle's first 640 training images on the CPU backend, with their shape.
fn first_640() -> (ImageShape, DeviceSplit, Device) {
    let dataset = bundle();
    let count = 640;
    let device = Device::flex();
    let train = DeviceSplit::from_parts(
        &dataset.train.pixels[..count * dataset.image_len()],
        &dataset.train.labels[..count],
        dataset.image_len(),
        &device,
    );
    (shape_of(&dataset), train, device)
}

/// The batch losses of the first `steps` steps of a default run of `kind` with `seed` on the
/// first 640 training images.
fn first_losses(kind: ClassifierKind, seed: u64, steps: usize) -> Vec<f32> {
    let (shape, train, device) = first_640();
    let config = TrainConfig {
        model: kind,
        seed,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, shape, &train, &device);
    (0..steps)
        .map(|_| trainer.step().metrics.try_into_vec_as::<f32>().unwrap()[0])
        .collect()
}

#[test]
fn a_seed_fixes_the_run_and_another_seed_changes_it() {
    let _rng = lock_device_rng();
    for kind in ClassifierKind::ALL {
        let first = first_losses(kind, 1, 4);
        let again = first_losses(kind, 1, 4);
        let other = first_losses(kind, 2, 4);
        assert!(first.iter().all(|l| l.is_finite()), "{kind}: {first:?}");
        assert_eq!(first, again, "{kind}: seed 1 twice");
        assert!(
            first.iter().zip(&other).all(|(a, b)| a != b),
            "{kind}: seeds 1 and 2: {first:?} {other:?}"
        );
    }
}

// ---- Steps in parts ----------------------------------------------------------------------

/// Every float weight of `model`, in the order the module visits them.
fn weights(model: &Classifier) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().into_data().iter::<f32>());
        }
    }
    let mut all = Collect(Vec::new());
    model.visit(&mut all);
    all.0
}

/// `steps` steps of a CNN run with batch 96 on the first 640 training images, each step in
/// parts of at most `rows` images (`None`: [`Trainer::step`]); the steps' [loss, correct] and
/// the weights after them.
fn in_parts(rows: Option<usize>, steps: usize) -> (Vec<[f32; 2]>, Vec<f32>) {
    let (shape, train, device) = first_640();
    let config = TrainConfig {
        model: ClassifierKind::Cnn,
        batch_size: 96,
        ema_decay: 0.0,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, shape, &train, &device);
    let mut metrics = Vec::new();
    for step in 0..steps {
        let out = match rows {
            None => trainer.step(),
            Some(rows) => {
                let mut calls = 1;
                let out = loop {
                    if let Some(out) = trainer.step_part(rows) {
                        break out;
                    }
                    calls += 1;
                    assert_eq!(trainer.steps_done(), step + 1, "a step counts once");
                };
                assert_eq!(calls, 96usize.div_ceil(rows.min(96)), "one call a part");
                out
            }
        };
        assert_eq!(out.examples, 96);
        let m = out.metrics.try_into_vec_as::<f32>().unwrap();
        metrics.push([m[0], m[1]]);
    }
    (metrics, weights(&trainer.model()))
}

/// Natively a step of 64 rows or more takes its batch's two halves side by side, each on its
/// own replica of the model (its own autodiff graph) on rayon's threads: the same step as the
/// two halves taken one after the other, to the bit, losses, counts and weights.
#[test]
fn a_data_parallel_step_is_the_step_in_two_halves() {
    let _rng = lock_device_rng();
    let (whole, weights_whole) = in_parts(None, 3);
    let (halves, weights_halves) = in_parts(Some(48), 3);
    assert_eq!(halves, whole);
    assert_eq!(weights_halves, weights_whole);
    // The comparison can fail: thirds add the gradient up in another order.
    let (_, thirds) = in_parts(Some(32), 3);
    assert_ne!(thirds, weights_whole);
}

/// A step in parts is the step: with one part to the bit; in parts of 24, 16 or 40 rows (the
/// last part of 40 smaller) the same losses, counts and weights up to the
/// order of the float sums. The parts' loss weights are checked by the losses themselves:
/// Adam would hide a gradient scaled by a constant, the loss would not.
#[test]
fn a_step_in_parts_is_the_same_step() {
    let _rng = lock_device_rng();
    let (whole, weights_whole) = in_parts(None, 3);
    let (one, weights_one) = in_parts(Some(96), 3);
    assert_eq!(one, whole, "one part");
    assert_eq!(weights_one, weights_whole, "one part");
    for rows in [24, 16, 40] {
        let (parts, weights_parts) = in_parts(Some(rows), 3);
        for (p, w) in parts.iter().zip(&whole) {
            assert!(
                (p[0] - w[0]).abs() <= 1e-5 * w[0].abs(),
                "{rows} rows: loss {p:?} vs {w:?}"
            );
            assert_eq!(p[1], w[1], "{rows} rows: correct");
        }
        let worst = weights_parts
            .iter()
            .zip(&weights_whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{rows} rows: weights differ by {worst}");
    }
    // The comparison can fail: another batch's step gives other weights.
    let (_, later) = in_parts(None, 4);
    assert!(later != weights_whole);
}
