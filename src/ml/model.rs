//! The classifiers Dimple trains on images: an MLP (784-256-256-10 by default) and a small CNN.
//!
//! Both take a batch of flattened images `[batch, height × width]` with pixels in [0, 1] and
//! return logits `[batch, classes]`, so attacks and plots treat them alike. Each first
//! standardises its input with the MNIST pixel statistics ([`PIXEL_MEAN`], [`PIXEL_STD`]), a
//! fixed affine map inside the model, so callers always work in pixel space. They are plain
//! burn modules: built on any `Device` (Flex on the CPU, wgpu in the browser), trained on its
//! autodiff twin.

use super::dataset::Dataset;
use super::dense;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use std::fmt;
use std::str::FromStr;

/// Which classifier architecture to train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClassifierKind {
    /// Multi-layer perceptron: input, two hidden ReLU layers of 256, output.
    #[default]
    Mlp,
    /// Two 5×5 convolutions (8 and 16 channels, each ReLU and 2×2 max-pool), a hidden layer of
    /// 64, output.
    Cnn,
}

impl ClassifierKind {
    /// Every kind, in the order the page lists them.
    pub const ALL: [ClassifierKind; 2] = [ClassifierKind::Mlp, ClassifierKind::Cnn];

    /// Short name used in URLs and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Cnn => "cnn",
        }
    }

    /// Name shown to a visitor.
    pub fn label(self) -> &'static str {
        match self {
            Self::Mlp => "MLP 784-256-256-10",
            Self::Cnn => "Small CNN (conv 8, conv 16, 64)",
        }
    }
}

impl fmt::Display for ClassifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for ClassifierKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.id() == s)
            .ok_or_else(|| format!("unknown model {s:?} (expected mlp or cnn)"))
    }
}

/// Mean pixel value (in [0, 1]) of the MNIST training images.
pub const PIXEL_MEAN: f32 = 0.1307;
/// Standard deviation of the pixel values (in [0, 1]) of the MNIST training images.
pub const PIXEL_STD: f32 = 0.3081;

/// Shape of the images a classifier reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
    pub classes: usize,
}

impl ImageShape {
    /// The MNIST shape: 28 × 28 grey pixels, ten classes.
    pub const MNIST: ImageShape = ImageShape {
        height: 28,
        width: 28,
        classes: 10,
    };

    /// The shape of `dataset`'s images and its number of classes.
    pub fn of(dataset: &Dataset) -> Self {
        Self {
            height: dataset.height,
            width: dataset.width,
            classes: dataset.classes(),
        }
    }

    /// Pixels per image (the input dimension n).
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }
}

/// Multi-layer perceptron with two hidden ReLU layers.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden1: Linear,
    hidden2: Linear,
    output: Linear,
}

impl Mlp {
    /// Width of each hidden layer.
    pub const HIDDEN: usize = 256;

    fn new(shape: ImageShape, device: &Device) -> Self {
        Self {
            hidden1: LinearConfig::new(shape.pixels(), Self::HIDDEN).init(device),
            hidden2: LinearConfig::new(Self::HIDDEN, Self::HIDDEN).init(device),
            output: LinearConfig::new(Self::HIDDEN, shape.classes).init(device),
        }
    }

    fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let x = relu(dense::forward(&self.hidden1, images));
        let x = relu(dense::forward(&self.hidden2, x));
        dense::forward(&self.output, x)
    }
}

/// A small LeNet-style convolutional network.
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
    height: usize,
    width: usize,
}

impl Cnn {
    fn new(shape: ImageShape, device: &Device) -> Self {
        let same = PaddingConfig2d::Explicit(2, 2, 2, 2);
        let flat = 16 * (shape.height / 4) * (shape.width / 4);
        Self {
            conv1: Conv2dConfig::new([1, 8], [5, 5])
                .with_padding(same.clone())
                .init(device),
            conv2: Conv2dConfig::new([8, 16], [5, 5])
                .with_padding(same)
                .init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            hidden: LinearConfig::new(flat, 64).init(device),
            output: LinearConfig::new(64, shape.classes).init(device),
            height: shape.height,
            width: shape.width,
        }
    }

    fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let [batch, _] = images.dims();
        let x = images.reshape([batch, 1, self.height, self.width]);
        let x = self.pool.forward(relu(self.conv1.forward(x)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        let x = x.flatten::<2>(1, 3);
        dense::forward(&self.output, relu(dense::forward(&self.hidden, x)))
    }
}

/// An image classifier of either kind.
#[derive(Module, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a handful exist at a time; boxing would complicate the derived Module impl"
)]
pub enum Classifier {
    Mlp(Mlp),
    Cnn(Cnn),
}

impl Classifier {
    /// A freshly initialised classifier on `device`. Its weights are drawn lazily from the
    /// device's random generator: seed the device first for a reproducible model.
    pub fn new(kind: ClassifierKind, shape: ImageShape, device: &Device) -> Self {
        match kind {
            ClassifierKind::Mlp => Self::Mlp(Mlp::new(shape, device)),
            ClassifierKind::Cnn => Self::Cnn(Cnn::new(shape, device)),
        }
    }

    /// Which architecture this is.
    pub fn kind(&self) -> ClassifierKind {
        match self {
            Self::Mlp(_) => ClassifierKind::Mlp,
            Self::Cnn(_) => ClassifierKind::Cnn,
        }
    }

    /// Logits `[batch, classes]` for flattened images `[batch, pixels]` with values in [0, 1].
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let images = standardize(images);
        match self {
            Self::Mlp(m) => m.forward(images),
            Self::Cnn(m) => m.forward(images),
        }
    }

    /// Class probabilities `[batch, classes]`.
    pub fn probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        softmax(self.forward(images), 1)
    }
}

/// `(pixels - PIXEL_MEAN) / PIXEL_STD`: inputs of roughly zero mean and unit variance, which
/// makes the first layer learn faster than raw [0, 1] pixels do.
pub fn standardize(pixels: Tensor<2>) -> Tensor<2> {
    pixels.sub_scalar(PIXEL_MEAN).div_scalar(PIXEL_STD)
}

/// Mean softmax cross-entropy of `logits` `[batch, classes]` against integer `labels` `[batch]`:
/// `-mean_i log softmax(logits_i)[labels_i]`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let log_p = burn::tensor::activation::log_softmax(logits, 1);
    let [batch, _] = log_p.dims();
    let picked = log_p.gather(1, labels.reshape([batch, 1]));
    picked.mean().neg()
}

/// Number of rows of `logits` whose arg-max equals the label, as a one-element float tensor
/// (stays on the device until read).
pub fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    logits
        .argmax(1)
        .equal(labels.reshape([batch, 1]))
        .float()
        .sum()
}
