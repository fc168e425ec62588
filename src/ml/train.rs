//! Training a classifier as a loop the caller drives one step at a time.
//!
//! The page calls [`Trainer::step`] once per animation-friendly slice of work, reads the
//! returned metrics back asynchronously, and yields to the browser in between; a native
//! program calls it in a plain loop. Nothing here waits on the device: every result is a
//! tensor until the caller reads it.

use super::batch::{DeviceSplit, translate};
use super::model::{Classifier, ClassifierKind, ImageShape, count_correct, cross_entropy};
use super::rng::Rng;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// Settings of one training run, with their allowed ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub model: ClassifierKind,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ClassifierKind::Mlp,
            epochs: 10,
            batch_size: 128,
            learning_rate: 1e-3,
            seed: 1,
        }
    }
}

impl TrainConfig {
    /// Allowed epochs.
    pub const EPOCHS: (usize, usize) = (1, 200);
    /// Allowed batch sizes.
    pub const BATCH_SIZE: (usize, usize) = (1, 4096);
    /// Allowed learning rates (Adam).
    pub const LEARNING_RATE: (f64, f64) = (1e-6, 1.0);

    /// Checks every setting against its range; the message names the setting and the range.
    pub fn validate(&self) -> Result<(), String> {
        let (lo, hi) = Self::EPOCHS;
        if !(lo..=hi).contains(&self.epochs) {
            return Err(format!(
                "epochs must be between {lo} and {hi}, not {}",
                self.epochs
            ));
        }
        let (lo, hi) = Self::BATCH_SIZE;
        if !(lo..=hi).contains(&self.batch_size) {
            return Err(format!(
                "batch size must be between {lo} and {hi}, not {}",
                self.batch_size
            ));
        }
        let (lo, hi) = Self::LEARNING_RATE;
        if !(self.learning_rate >= lo && self.learning_rate <= hi) {
            return Err(format!(
                "learning rate must be between {lo} and {hi}, not {}",
                self.learning_rate
            ));
        }
        Ok(())
    }
}

/// What one optimiser step did. `metrics` holds `[loss, correct]` for the batch and is
/// still on the device.
pub struct StepOutput {
    /// Epoch of this step, from 0.
    pub epoch: usize,
    /// Step within the epoch, from 0.
    pub step: usize,
    /// Images in this step's batch.
    pub examples: usize,
    /// `[mean loss, number correct]` of the batch, before the update.
    pub metrics: Tensor<1>,
}

/// A classifier being trained with Adam on mini-batches of a device-resident split.
pub struct Trainer {
    config: TrainConfig,
    model: Classifier,
    optim: ModuleOptimizer,
    train: DeviceSplit,
    rng: Rng,
    aug_rng: Rng,
    shape: ImageShape,
    order: Vec<usize>,
    epoch: usize,
    cursor: usize,
}

impl Trainer {
    /// Starts a run: seeds the device, builds a fresh classifier on the autodiff twin of
    /// `device` and shuffles the first epoch. `train` lives on `device`.
    pub fn new(
        config: TrainConfig,
        shape: ImageShape,
        train: &DeviceSplit,
        device: &Device,
    ) -> Self {
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = Classifier::new(config.model, shape, &device);
        let train = train.clone();
        let mut rng = Rng::new(config.seed);
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let aug_rng = Rng::new(config.seed ^ 0xA5A5_5A5A_1234_5678);
        Self {
            optim: {
                let wd = envf("DIMPLE_WD", 0.0);
                if wd > 0.0 {
                    burn::optim::AdamWConfig::new()
                        .with_weight_decay(wd as f32)
                        .init()
                } else {
                    AdamConfig::new().init()
                }
            },
            config,
            model,
            train,
            rng,
            aug_rng,
            shape,
            order,
            epoch: 0,
            cursor: 0,
        }
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Optimiser steps in one epoch (the last batch may be smaller).
    pub fn steps_per_epoch(&self) -> usize {
        self.order.len().div_ceil(self.config.batch_size)
    }

    /// Optimiser steps in the whole run.
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch() * self.config.epochs
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.epoch * self.steps_per_epoch() + self.cursor.div_ceil(self.config.batch_size)
    }

    /// The current epoch (from 0); equals `config.epochs` when the run is over.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Whether every epoch has been trained.
    pub fn is_done(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// Whether the last step completed an epoch.
    pub fn at_epoch_start(&self) -> bool {
        self.cursor == 0
    }

    /// One Adam step on the next mini-batch. Panics if the run is over.
    pub fn step(&mut self) -> StepOutput {
        assert!(!self.is_done(), "training run is over");
        let (epoch, step) = (self.epoch, self.cursor / self.config.batch_size);
        let end = (self.cursor + self.config.batch_size).min(self.order.len());
        let (images, labels) = self.train.gather(&self.order[self.cursor..end]);
        let shift = envf("DIMPLE_SHIFT", 0.0) as i32;
        let images = if shift > 0 {
            let n = (2 * shift + 1) as usize;
            let shifts: Vec<(i32, i32)> = (self.cursor..end)
                .map(|_| {
                    (
                        self.aug_rng.below(n) as i32 - shift,
                        self.aug_rng.below(n) as i32 - shift,
                    )
                })
                .collect();
            translate(images, &shifts, self.shape.height, self.shape.width)
        } else {
            images
        };
        let t = self.steps_done() as f64 / self.total_steps() as f64;
        let minf = envf("DIMPLE_MIN", 0.0);
        let lr = self.config.learning_rate
            * match std::env::var("DIMPLE_SCHED").as_deref() {
                Ok("cos") => minf + (1.0 - minf) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
                Ok("lin") => minf + (1.0 - minf) * (1.0 - t),
                Ok("step") => {
                    if t < 0.5 {
                        1.0
                    } else if t < 0.75 {
                        0.1
                    } else {
                        0.01
                    }
                }
                _ => 1.0,
            };
        let logits = self.model.forward(images.autodiff());
        let correct = count_correct(logits.clone().detach(), labels.clone());
        let loss = cross_entropy(logits, labels);
        let metrics = Tensor::cat(vec![loss.clone().detach(), correct], 0).without_autodiff();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);

        let examples = end - self.cursor;
        self.cursor = end;
        if self.cursor == self.order.len() {
            self.cursor = 0;
            self.epoch += 1;
            self.rng.shuffle(&mut self.order);
        }
        StepOutput {
            epoch,
            step,
            examples,
            metrics,
        }
    }

    /// The classifier as trained so far, without autodiff, for evaluation and attacks.
    pub fn model(&self) -> Classifier {
        self.model.valid()
    }
}

fn envf(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `[summed loss, number correct]` of `model` on `images`, `labels`, still on the device.
/// Evaluate a large split in chunks (see [`DeviceSplit::range`]) to keep each call short.
pub fn evaluate(model: &Classifier, images: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [count, _] = images.dims();
    let logits = model.forward(images);
    let correct = count_correct(logits.clone(), labels.clone());
    let loss = cross_entropy(logits, labels).mul_scalar(count as f32);
    Tensor::cat(vec![loss, correct], 0)
}
