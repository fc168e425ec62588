//! The floor of the code a page needs to train the reference MLP with burn: burn's layers,
//! loss and Adam on Flex (and, with feature `webgpu`, on burn's WebGPU backend), two exported
//! functions, nothing else. What this module weighs gzipped is what no page built on burn can
//! go below; `make bench` sets it beside tfjs's library (bench/README.md).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;
use wasm_bindgen::prelude::*;

/// Mean and standard deviation of the MNIST pixels in [0, 1], as in Dimple's model.
const PIXEL_MEAN: f32 = 0.1307;
const PIXEL_STD: f32 = 0.3081;
/// Pixels in an MNIST image.
const IMAGE_LEN: usize = 784;

/// The reference MLP, 784-256-256-10 with ReLU.
#[derive(Module, Debug)]
struct Mlp {
    hidden1: Linear,
    hidden2: Linear,
    output: Linear,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self {
            hidden1: LinearConfig::new(IMAGE_LEN, 256).init(device),
            hidden2: LinearConfig::new(256, 256).init(device),
            output: LinearConfig::new(256, 10).init(device),
        }
    }

    fn forward(&self, pixels: Tensor<2>) -> Tensor<2> {
        let x = pixels.sub_scalar(PIXEL_MEAN).div_scalar(PIXEL_STD);
        let x = relu(self.hidden1.forward(x));
        let x = relu(self.hidden2.forward(x));
        self.output.forward(x)
    }
}

/// Trains the reference MLP on `device` for `steps` steps of `batch` images taken in turn from
/// `pixels` (784 bytes an image) and `labels`, Adam 1e-3, and returns the loss of every step,
/// each read back from the device.
async fn train_on(
    device: Device,
    pixels: &[u8],
    labels: &[u8],
    batch: usize,
    steps: usize,
) -> Result<Vec<f32>, String> {
    let count = labels.len();
    if count == 0 || pixels.len() != count * IMAGE_LEN {
        return Err(format!(
            "{} pixels for {count} images of {IMAGE_LEN}",
            pixels.len()
        ));
    }
    let pixels: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let images = Tensor::<2>::from_data(TensorData::new(pixels, [count, IMAGE_LEN]), &device);
    let labels: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [count]), &device);
    let mut model = Mlp::new(&device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let rows: Vec<i64> = (0..batch)
            .map(|i| ((step * batch + i) % count) as i64)
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [batch]), &device);
        let logits = model.forward(images.clone().select(0, rows.clone()));
        let loss = loss_fn.forward(logits, targets.clone().select(0, rows));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let loss = loss.into_data_async().await.map_err(|e| format!("{e:?}"))?;
        losses.push(loss.try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?[0]);
    }
    Ok(losses)
}

/// [`train_on`] burn's CPU backend (Flex).
#[wasm_bindgen]
pub async fn train(
    pixels: Vec<u8>,
    labels: Vec<u8>,
    batch: usize,
    steps: usize,
) -> Result<Vec<f32>, String> {
    train_on(Device::flex().autodiff(), &pixels, &labels, batch, steps).await
}

/// [`train_on`] burn's WebGPU backend, on the browser's adapter.
#[cfg(feature = "webgpu")]
#[wasm_bindgen]
pub async fn train_webgpu(
    pixels: Vec<u8>,
    labels: Vec<u8>,
    batch: usize,
    steps: usize,
) -> Result<Vec<f32>, String> {
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("{e}"))?;
    train_on(device.autodiff(), &pixels, &labels, batch, steps).await
}
