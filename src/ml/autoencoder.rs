//! The autoencoder that stands in for the image manifold: an encoder E: R^n -> R^k and a
//! decoder D: R^k -> R^n trained to reconstruct the same images the classifier sees.
//!
//! The decoder's image D(R^k) is the model of the data manifold; its Jacobian at E(x) spans
//! the tangent space used by [`super::manifold`]. Training is a loop the caller drives one
//! step at a time, like the classifier's [`super::train::Trainer`]: nothing here waits on the
//! device. This module does not know about classifiers or attacks.

use super::adam::Adam;
use super::batch::{DeviceSplit, EpochCursor};
use super::dense;
use super::model::ImageShape;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use std::fmt;
use std::str::FromStr;

/// Which autoencoder architecture models the manifold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AutoencoderKind {
    /// Two stride-2 3×3 convolutions (16, 32 channels) and a linear layer to the latent code;
    /// the decoder mirrors it with transposed convolutions.
    #[default]
    Conv,
    /// Fully connected n-256-k-256-n.
    Mlp,
}

impl AutoencoderKind {
    /// Every kind, in the order the page lists them.
    pub const ALL: [AutoencoderKind; 2] = [AutoencoderKind::Conv, AutoencoderKind::Mlp];

    /// Short name used in URLs and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Self::Conv => "conv",
            Self::Mlp => "mlp",
        }
    }

    /// Name shown to a visitor.
    pub fn label(self) -> &'static str {
        match self {
            Self::Conv => "Conv autoencoder (16, 32 channels)",
            Self::Mlp => "MLP autoencoder (256 hidden)",
        }
    }
}

impl fmt::Display for AutoencoderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for AutoencoderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.id() == s)
            .ok_or_else(|| format!("unknown autoencoder {s:?} (expected conv or mlp)"))
    }
}

/// Settings of one autoencoder training run, with their allowed ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoencoderConfig {
    pub kind: AutoencoderKind,
    /// Latent dimension k: the dimension of the modelled manifold.
    pub latent: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        Self {
            kind: AutoencoderKind::Conv,
            latent: 16,
            epochs: 5,
            batch_size: 32,
            learning_rate: 5e-3,
            seed: 1,
        }
    }
}

impl AutoencoderConfig {
    /// Allowed latent dimensions.
    pub const LATENT: (usize, usize) = (2, 64);
    /// Allowed epochs.
    pub const EPOCHS: (usize, usize) = (1, 200);
    /// Allowed batch sizes.
    pub const BATCH_SIZE: (usize, usize) = (1, 4096);
    /// Allowed learning rates (Adam).
    pub const LEARNING_RATE: (f64, f64) = (1e-6, 1.0);

    /// Checks every setting against its range; the message names the setting and the range.
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |name: &str, (lo, hi): (usize, usize), v: usize| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between {lo} and {hi}, not {v}"))
            }
        };
        in_range("latent dimension", Self::LATENT, self.latent)?;
        in_range("epochs", Self::EPOCHS, self.epochs)?;
        in_range("batch size", Self::BATCH_SIZE, self.batch_size)?;
        let (lo, hi) = Self::LEARNING_RATE;
        if !(self.learning_rate >= lo && self.learning_rate <= hi) {
            return Err(format!(
                "learning rate must be between {lo} and {hi}, not {}",
                super::shown(self.learning_rate)
            ));
        }
        Ok(())
    }
}

/// Width of the MLP autoencoder's hidden layers.
const MLP_HIDDEN: usize = 256;
/// Channels of the conv autoencoder's two feature maps.
const CONV_CHANNELS: [usize; 2] = [16, 32];

/// Fully connected autoencoder n-256-k-256-n.
#[derive(Module, Debug)]
pub struct MlpAutoencoder {
    enc1: Linear,
    enc2: Linear,
    dec1: Linear,
    dec2: Linear,
}

impl MlpAutoencoder {
    fn new(latent: usize, pixels: usize, device: &Device) -> Self {
        Self {
            enc1: LinearConfig::new(pixels, MLP_HIDDEN).init(device),
            enc2: LinearConfig::new(MLP_HIDDEN, latent).init(device),
            dec1: LinearConfig::new(latent, MLP_HIDDEN).init(device),
            dec2: LinearConfig::new(MLP_HIDDEN, pixels).init(device),
        }
    }

    fn encode(&self, images: Tensor<2>) -> Tensor<2> {
        dense::forward(&self.enc2, relu(dense::forward(&self.enc1, images)))
    }

    /// The decoder up to its sigmoid, once for decoding and forward-mode differentiation.
    fn decode_logits(&self, z: Dual<2>) -> Dual<2> {
        z.linear(&self.dec1).relu().linear(&self.dec2)
    }
}

/// Convolutional autoencoder: two stride-2 convolutions down to a quarter of the resolution,
/// a linear map to and from the latent code, two stride-2 transposed convolutions back up.
#[derive(Module, Debug)]
pub struct ConvAutoencoder {
    enc1: Conv2d,
    enc2: Conv2d,
    enc_fc: Linear,
    dec_fc: Linear,
    dec1: ConvTranspose2d,
    dec2: ConvTranspose2d,
    height: usize,
    width: usize,
}

impl ConvAutoencoder {
    fn new(latent: usize, shape: ImageShape, device: &Device) -> Self {
        let [c1, c2] = CONV_CHANNELS;
        let pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
        let flat = c2 * (shape.height / 4) * (shape.width / 4);
        // A 3×3 transposed convolution with stride 2, padding 1 and output padding 1 doubles
        // the size exactly: (s - 1)·2 - 2 + 3 + 1 = 2s.
        let up = |channels| {
            ConvTranspose2dConfig::new(channels, [3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_padding_out([1, 1])
                .init(device)
        };
        Self {
            enc1: Conv2dConfig::new([1, c1], [3, 3])
                .with_stride([2, 2])
                .with_padding(pad.clone())
                .init(device),
            enc2: Conv2dConfig::new([c1, c2], [3, 3])
                .with_stride([2, 2])
                .with_padding(pad)
                .init(device),
            enc_fc: LinearConfig::new(flat, latent).init(device),
            dec_fc: LinearConfig::new(latent, flat).init(device),
            dec1: up([c2, c1]),
            dec2: up([c1, 1]),
            height: shape.height,
            width: shape.width,
        }
    }

    fn encode(&self, images: Tensor<2>) -> Tensor<2> {
        let [batch, _] = images.dims();
        let x = images.reshape([batch, 1, self.height, self.width]);
        let x = relu(self.enc1.forward(x));
        let x = relu(self.enc2.forward(x));
        dense::forward(&self.enc_fc, x.flatten::<2>(1, 3))
    }

    /// The decoder up to its sigmoid, once for decoding and forward-mode differentiation.
    fn decode_logits(&self, z: Dual<2>) -> Dual<2> {
        z.linear(&self.dec_fc)
            .relu()
            .unflatten([CONV_CHANNELS[1], self.height / 4, self.width / 4])
            .transposed_conv(&self.dec1)
            .relu()
            .transposed_conv(&self.dec2)
            .flatten()
    }
}

/// A decoder's activations with, for forward-mode differentiation, tangents carried alongside:
/// `value` is the batch being decoded and `tangents`, where present, the directional
/// derivatives of a value of batch 1 (one row per direction). Each layer maps the value as the
/// layer does and the tangents by its derivative at the value, so each decoder writes its
/// layer sequence once, and decoding without tangents runs exactly the layers.
struct Dual<const D: usize> {
    value: Tensor<D>,
    tangents: Option<Tensor<D>>,
}

impl<const D: usize> Dual<D> {
    /// ReLU, and its derivative on the tangents: each keeps the entries where the
    /// pre-activation is > 0, as burn's ReLU gradient does.
    fn relu(self) -> Self {
        let tangents = self
            .tangents
            .map(|t| t * self.value.clone().greater_elem(0.0).float());
        Self {
            value: relu(self.value),
            tangents,
        }
    }
}

impl Dual<2> {
    /// A value without tangents: plain decoding.
    fn plain(value: Tensor<2>) -> Self {
        Self {
            value,
            tangents: None,
        }
    }

    /// An affine layer; the tangents get its linear part, `t W` without the bias.
    fn linear(self, layer: &Linear) -> Self {
        Self {
            tangents: self.tangents.map(|t| dense::matmul(t, layer.weight.val())),
            value: dense::forward(layer, self.value),
        }
    }

    /// Rows to feature maps of shape `map` (channels, height, width), each batch its own.
    fn unflatten(self, map: [usize; 3]) -> Dual<4> {
        let to_maps = |x: Tensor<2>| {
            let [batch, _] = x.dims();
            x.reshape([batch, map[0], map[1], map[2]])
        };
        Dual {
            tangents: self.tangents.map(to_maps),
            value: to_maps(self.value),
        }
    }
}

impl Dual<4> {
    /// A transposed convolution; the tangents get its linear part (the layer without its bias).
    fn transposed_conv(self, layer: &ConvTranspose2d) -> Self {
        let linear_part = |t| {
            ConvTranspose2d {
                bias: None,
                ..layer.clone()
            }
            .forward(t)
        };
        Self {
            tangents: self.tangents.map(linear_part),
            value: layer.forward(self.value),
        }
    }

    /// Feature maps back to rows.
    fn flatten(self) -> Dual<2> {
        Dual {
            tangents: self.tangents.map(|t| t.flatten::<2>(1, 3)),
            value: self.value.flatten::<2>(1, 3),
        }
    }
}

/// An autoencoder of either kind. Images are flattened `[batch, height × width]` with pixels
/// in [0, 1]; latent codes are `[batch, k]`.
// A model is a few handles to device tensors and there is one at a time; derive(Module)
// cannot box a variant.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Autoencoder {
    Conv(ConvAutoencoder),
    Mlp(MlpAutoencoder),
}

impl Autoencoder {
    /// A freshly initialised autoencoder on `device`, with latent dimension `latent`. Weights
    /// are drawn lazily from the device's random generator: seed the device first for a
    /// reproducible model. The conv kind needs a height and width divisible by 4.
    pub fn new(
        kind: AutoencoderKind,
        latent: usize,
        shape: ImageShape,
        device: &Device,
    ) -> Result<Self, String> {
        match kind {
            AutoencoderKind::Conv
                if !shape.height.is_multiple_of(4) || !shape.width.is_multiple_of(4) =>
            {
                Err(format!(
                    "the conv autoencoder needs a height and width divisible by 4, not {}×{}",
                    shape.height, shape.width
                ))
            }
            AutoencoderKind::Conv => Ok(Self::Conv(ConvAutoencoder::new(latent, shape, device))),
            AutoencoderKind::Mlp => Ok(Self::Mlp(MlpAutoencoder::new(
                latent,
                shape.pixels(),
                device,
            ))),
        }
    }

    /// Which architecture this is.
    pub fn kind(&self) -> AutoencoderKind {
        match self {
            Self::Conv(_) => AutoencoderKind::Conv,
            Self::Mlp(_) => AutoencoderKind::Mlp,
        }
    }

    /// Latent dimension k.
    pub fn latent(&self) -> usize {
        match self {
            Self::Conv(m) => m.enc_fc.weight.lazy_shape()[1],
            Self::Mlp(m) => m.enc2.weight.lazy_shape()[1],
        }
    }

    /// Pixels per image (the input dimension n).
    pub fn pixels(&self) -> usize {
        match self {
            Self::Conv(m) => m.height * m.width,
            Self::Mlp(m) => m.dec2.weight.lazy_shape()[1],
        }
    }

    /// E: images `[batch, n]` to latent codes `[batch, k]`.
    pub fn encode(&self, images: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Conv(m) => m.encode(images),
            Self::Mlp(m) => m.encode(images),
        }
    }

    /// D: latent codes `[batch, k]` to images `[batch, n]` in (0, 1) (sigmoid output).
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode_logits(Dual::plain(z)).value)
    }

    /// D(E(x)).
    pub fn reconstruct(&self, images: Tensor<2>) -> Tensor<2> {
        self.decode(self.encode(images))
    }

    fn decode_logits(&self, z: Dual<2>) -> Dual<2> {
        match self {
            Self::Conv(m) => m.decode_logits(z),
            Self::Mlp(m) => m.decode_logits(z),
        }
    }

    /// The decoder Jacobian J = dD/dz at the latent code `z` (`[1, k]`), as a `[n, k]` tensor:
    /// `J[i, j] = dD(z)_i / dz_j`. Exact, by forward-mode differentiation: the k unit
    /// directions e_j travel through the decoder beside z as one batch of tangents, each layer
    /// applying its linear part to them and each activation its derivative at z. That is a
    /// decode of a batch of k; reverse mode would need a backward pass of a batch of n (one
    /// vector-Jacobian product per pixel), some fifty times the work for k = 16 on MNIST.
    /// Needs no autodiff: pass a model from [`Module::valid`].
    pub fn decoder_jacobian(&self, z: Tensor<2>) -> Tensor<2> {
        let [rows, k] = z.dims();
        assert_eq!(rows, 1, "the Jacobian is taken at one latent code");
        let directions = Tensor::<2>::eye(k, &z.device());
        let Dual {
            value: logits,
            tangents,
        } = self.decode_logits(Dual {
            value: z,
            tangents: Some(directions),
        });
        let tangents = tangents.expect("the decoder carries the tangents through");
        // d sigmoid(l) = sigmoid(l) (1 - sigmoid(l)) dl, row by row: `tangents` is J^T.
        let y = sigmoid(logits);
        let slope = y.clone() * (y.neg() + 1.0);
        (tangents * slope).transpose()
    }

    /// Ties latent dimension `b` to `a` in the decoder (its first layer reads both through
    /// the same weights), so the decoder Jacobian has two equal columns.
    #[cfg(test)]
    pub(crate) fn tie_latents(self, a: usize, b: usize) -> Self {
        use burn::module::Param;
        let tie = |layer: Linear| {
            let w = layer.weight.val();
            let row = w.clone().narrow(0, a, 1);
            let w = w.slice_assign(s![b..b + 1], row);
            Linear {
                weight: Param::from_tensor(w),
                bias: layer.bias,
            }
        };
        match self {
            Self::Conv(m) => Self::Conv(ConvAutoencoder {
                dec_fc: tie(m.dec_fc),
                ..m
            }),
            Self::Mlp(m) => Self::Mlp(MlpAutoencoder {
                dec1: tie(m.dec1),
                ..m
            }),
        }
    }
}

/// Mean squared reconstruction error per pixel, `mean (D(E(x)) - x)^2`, as a one-element
/// tensor: the training loss.
pub fn reconstruction_loss(model: &Autoencoder, images: Tensor<2>) -> Tensor<1> {
    (model.reconstruct(images.clone()) - images).square().mean()
}

/// Summed per-image mean squared error of `model` on `images`, as a one-element tensor still on
/// the device: divide by the number of images for the mean. Evaluate a large split in chunks
/// (see [`DeviceSplit::range`]) and add the sums.
pub fn reconstruction_error(model: &Autoencoder, images: Tensor<2>) -> Tensor<1> {
    let [count, _] = images.dims();
    reconstruction_loss(model, images).mul_scalar(count as f32)
}

/// What one optimiser step did.
pub struct AutoencoderStep {
    /// Epoch of this step, from 0.
    pub epoch: usize,
    /// Step within the epoch, from 0.
    pub step: usize,
    /// Images in this step's batch.
    pub examples: usize,
    /// `[mean squared error per pixel]` of the batch before the update, still on the device.
    pub metrics: Tensor<1>,
}

/// An autoencoder being trained with Adam on mini-batches of a device-resident split.
pub struct AutoencoderTrainer {
    config: AutoencoderConfig,
    model: Autoencoder,
    optim: Adam,
    train: DeviceSplit,
    batches: EpochCursor,
}

impl AutoencoderTrainer {
    /// Starts a run: checks the config, seeds the device, builds a fresh autoencoder on the
    /// autodiff twin of `device` and shuffles the first epoch. `train` lives on `device`;
    /// only its images are used.
    pub fn new(
        config: AutoencoderConfig,
        shape: ImageShape,
        train: &DeviceSplit,
        device: &Device,
    ) -> Result<Self, String> {
        config.validate()?;
        if train.is_empty() {
            return Err("the training split has no images".into());
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = Autoencoder::new(config.kind, config.latent, shape, &device)?;
        Ok(Self {
            optim: Adam::new(&device),
            batches: EpochCursor::new(train.len(), config.batch_size, config.epochs, config.seed),
            config,
            model,
            train: train.clone(),
        })
    }

    /// The run's settings.
    pub fn config(&self) -> &AutoencoderConfig {
        &self.config
    }

    /// Where the run stands: epochs, steps, whether it is done.
    pub fn batches(&self) -> &EpochCursor {
        &self.batches
    }

    /// Optimiser steps in one epoch (the last batch may be smaller).
    pub fn steps_per_epoch(&self) -> usize {
        self.batches.steps_per_epoch()
    }

    /// Optimiser steps in the whole run.
    pub fn total_steps(&self) -> usize {
        self.batches.total_steps()
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.batches.steps_done()
    }

    /// The current epoch (from 0); equals `config.epochs` when the run is over.
    pub fn epoch(&self) -> usize {
        self.batches.epoch()
    }

    /// Whether every epoch has been trained.
    pub fn is_done(&self) -> bool {
        self.batches.is_done()
    }

    /// Whether the last step completed an epoch.
    pub fn at_epoch_start(&self) -> bool {
        self.batches.at_epoch_start()
    }

    /// One Adam step on the next mini-batch. Panics if the run is over.
    pub fn step(&mut self) -> AutoencoderStep {
        let batch = self.batches.next_batch();
        let (images, _) = self.train.gather(&batch.indices);
        let loss = reconstruction_loss(&self.model, images.autodiff());
        let metrics = loss.clone().detach().without_autodiff();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self
            .optim
            .step(self.config.learning_rate, self.model.clone(), grads);
        AutoencoderStep {
            epoch: batch.epoch,
            step: batch.step,
            examples: batch.indices.len(),
            metrics,
        }
    }

    /// The autoencoder as trained so far, without autodiff, for the manifold and plots.
    pub fn model(&self) -> Autoencoder {
        self.model.valid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_ranges_are_enforced() {
        assert!(AutoencoderConfig::default().validate().is_ok());
        for bad in [
            AutoencoderConfig {
                latent: 1,
                ..Default::default()
            },
            AutoencoderConfig {
                latent: 65,
                ..Default::default()
            },
            AutoencoderConfig {
                epochs: 0,
                ..Default::default()
            },
            AutoencoderConfig {
                batch_size: 0,
                ..Default::default()
            },
            AutoencoderConfig {
                learning_rate: f64::NAN,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!("mlp".parse(), Ok(AutoencoderKind::Mlp));
        assert!("pca".parse::<AutoencoderKind>().is_err());
    }

    #[test]
    fn shapes_round_trip_and_outputs_are_pixels() {
        let device = Device::flex();
        for kind in AutoencoderKind::ALL {
            let ae = Autoencoder::new(kind, 5, ImageShape::MNIST, &device).unwrap();
            assert_eq!(ae.latent(), 5);
            let x = Tensor::<2>::random([3, 784], burn::tensor::Distribution::Default, &device);
            let z = ae.encode(x.clone());
            assert_eq!(z.dims(), [3, 5]);
            let y = ae.reconstruct(x).try_into_vec_as::<f32>().unwrap();
            assert_eq!(y.len(), 3 * 784);
            assert!(y.iter().all(|&p| (0.0..=1.0).contains(&p)), "{kind}");
        }
        let odd = ImageShape {
            height: 30,
            width: 30,
            classes: 2,
        };
        assert!(Autoencoder::new(AutoencoderKind::Conv, 4, odd, &device).is_err());
    }
}
