//! Experiment 4: the mislabeled-adversarial experiment (Ilyas et al., 2019).
//!
//! Train N1 on the training set. Make a targeted L2 PGD adversarial example t_i of every
//! training image x_i toward the wrong class (y_i + 1) mod C. Train a fresh N2 only on the
//! pairs (t_i, (y_i + 1) mod C): every label it sees is wrong to a human eye. Then classify the
//! clean test set with N2. If N2 is far above chance, the perturbations carry features of the
//! target class that generalise (Ilyas et al.'s non-robust features); the Dimpled Manifold
//! Model explains the same result by N1's boundary running close to the manifold, so that
//! crossing it off the manifold encodes the target's side of N1's boundary.
//!
//! N2 trains without the random-shift augmentation (shifting t_i would move its perturbation
//! off the pixels N1 keyed it to) and from its own initial weights (seed + 1).

use super::report::{Cell, Chart, ChartKind, Report, Table};
use super::{Experiment, Progress, accuracy, check_batch, correct_count, train_step, training_run};
use crate::ml::attack::{AttackConfig, BatchPgd, Goal};
use crate::ml::batch::DeviceSplit;
use crate::ml::model::{Classifier, ImageShape};
use crate::ml::read_f32;
use crate::ml::train::{TrainConfig, Trainer};
use burn::prelude::*;

/// Settings of the mislabeled-adversarial experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct MislabeledConfig {
    /// N1's training run; N2's is the same without augmentation and with seed + 1.
    pub train: TrainConfig,
    /// The targeted L2 attack that makes t_i (every step taken; no random start).
    pub attack: AttackConfig,
    /// Training images attacked together: one unit of work.
    pub batch: usize,
}

impl Default for MislabeledConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            attack: AttackConfig {
                eps: 2.5,
                step_size: 0.1,
                steps: 50,
                ..AttackConfig::default()
            },
            batch: 500,
        }
    }
}

impl MislabeledConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        self.train.validate()?;
        BatchPgd::new(self.attack.clone())?;
        check_batch("the batch", self.batch, (1, 4096))
    }

    /// N2's training run.
    pub fn relabeled_train(&self) -> TrainConfig {
        TrainConfig {
            max_shift: 0,
            seed: self.train.seed.wrapping_add(1),
            ..self.train.clone()
        }
    }
}

/// Everything the mislabeled-adversarial experiment found.
#[derive(Clone, Debug, PartialEq)]
pub struct MislabeledOutcome {
    pub config: MislabeledConfig,
    pub classes: usize,
    /// Training images, each attacked once.
    pub training_images: usize,
    /// N1's accuracy on the clean test split.
    pub n1_accuracy: f64,
    /// t_i that N1 classifies as their target.
    pub reached_target: usize,
    /// Mean and largest ||t_i − x_i||₂.
    pub mean_l2: f64,
    pub max_l2: f32,
    /// N2's accuracy on its own training set under the wrong labels.
    pub n2_fit: f64,
    /// N2's accuracy on the clean test split (true labels).
    pub n2_accuracy: f64,
    /// Share of clean test images N2 puts in class (y + 1) mod C, the shift it was taught.
    pub n2_shifted: f64,
    /// Test images.
    pub test_images: usize,
}

impl MislabeledOutcome {
    /// 1 / C.
    pub fn chance(&self) -> f64 {
        1.0 / self.classes as f64
    }

    /// The tables and charts.
    pub fn report(&self) -> Report {
        let c = &self.config;
        let mut report = Report::new("mislabeled", "The mislabeled-adversarial experiment");
        report.setting("N1", training_run(&c.train));
        report.setting(
            "t_i",
            format!(
                "targeted L2 PGD toward (y + 1) mod {}, radius {}, {} steps of {}",
                self.classes, c.attack.eps, c.attack.steps, c.attack.step_size
            ),
        );
        report.setting("training images", self.training_images);
        report.setting("test images", self.test_images);
        let mut table = Table::new(
            "headline",
            "N2 learns from wrong labels",
            &["quantity", "value"],
        );
        let rows = [
            ("N1 test accuracy", Cell::percent(self.n1_accuracy)),
            (
                "t_i that N1 classifies as their target",
                Cell::text(format!(
                    "{} of {} ({:.1}%)",
                    self.reached_target,
                    self.training_images,
                    100.0 * self.reached_target as f64 / self.training_images.max(1) as f64
                )),
            ),
            ("mean ||t_i − x_i||₂", Cell::number(self.mean_l2, 3)),
            (
                "largest ||t_i − x_i||₂",
                Cell::number(f64::from(self.max_l2), 3),
            ),
            (
                "N2 accuracy on its training set (wrong labels)",
                Cell::percent(self.n2_fit),
            ),
            (
                "N2 test accuracy (clean images, true labels)",
                Cell::percent(self.n2_accuracy),
            ),
            (
                "N2 test predictions equal to (y + 1) mod C",
                Cell::percent(self.n2_shifted),
            ),
            ("chance", Cell::percent(self.chance())),
        ];
        for (what, value) in rows {
            table.push(vec![Cell::text(what), value]);
        }
        report.tables.push(table);
        let mut chart = Chart::new(
            "accuracy",
            "Clean test accuracy",
            ChartKind::Bars,
            "classifier",
            "accuracy",
        );
        chart.categories = vec!["N1".into(), "N2".into(), "chance".into()];
        report.charts.push(chart.with(
            "clean test accuracy",
            vec![
                (0.0, self.n1_accuracy),
                (1.0, self.n2_accuracy),
                (2.0, self.chance()),
            ],
        ));
        report.notes = vec![
            "N2 never sees a correctly labelled image: each t_i carries the label (y + 1) mod C."
                .into(),
            "N2 trains without shift augmentation and from other initial weights (seed + 1)."
                .into(),
        ];
        report
    }
}

/// The mislabeled-adversarial experiment. Units of work: N1's training steps, one batch of
/// attacked training images, N2's training steps, the evaluation.
pub struct MislabeledExperiment {
    train: DeviceSplit,
    test: DeviceSplit,
    shape: ImageShape,
    config: MislabeledConfig,
    attack: BatchPgd,
    device: Device,
    /// (y + 1) mod C for every training image.
    targets: Tensor<1, Int>,
    trainer: Option<Trainer>,
    n1: Option<Classifier>,
    adversarial: Vec<Tensor<2>>,
    attacked: usize,
    reached: usize,
    sum_l2: f64,
    max_l2: f32,
    n2: Option<Classifier>,
    outcome: Option<MislabeledOutcome>,
}

impl MislabeledExperiment {
    /// Checks the settings; `train` and `test` live on `device`.
    pub fn new(
        train: DeviceSplit,
        test: DeviceSplit,
        shape: ImageShape,
        config: MislabeledConfig,
        device: &Device,
    ) -> Result<Self, String> {
        config.validate()?;
        if train.is_empty() || test.is_empty() {
            return Err("the experiment needs training and test images".into());
        }
        let targets = train
            .labels
            .clone()
            .add_scalar(1)
            .remainder_scalar(shape.classes as i64);
        Ok(Self {
            attack: BatchPgd::new(config.attack.clone())?,
            targets,
            train,
            test,
            shape,
            config,
            device: device.clone(),
            trainer: None,
            n1: None,
            adversarial: Vec::new(),
            attacked: 0,
            reached: 0,
            sum_l2: 0.0,
            max_l2: 0.0,
            n2: None,
            outcome: None,
        })
    }

    fn steps(&self, config: &TrainConfig) -> usize {
        self.train.len().div_ceil(config.batch_size) * config.epochs
    }

    async fn attack_batch(&mut self) -> Result<(), String> {
        let n1 = self.n1.as_ref().expect("N1 is trained");
        let start = self.attacked;
        let size = self.config.batch.min(self.train.len() - start);
        let (x, _) = self.train.range(start, size);
        let targets = self.targets.clone().narrow(0, start, size);
        let t = self
            .attack
            .perturb(n1, x.clone(), targets.clone(), Goal::Targeted);
        let norms = (t.clone() - x).square().sum_dim(1).sqrt();
        let reached = read_f32(correct_count(n1, t.clone(), targets)).await?[0];
        let stats = read_f32(Tensor::cat(vec![norms.clone().sum(), norms.max()], 0)).await?;
        self.reached += reached as usize;
        self.sum_l2 += f64::from(stats[0]);
        self.max_l2 = self.max_l2.max(stats[1]);
        self.adversarial.push(t);
        self.attacked += size;
        Ok(())
    }

    async fn evaluate(&mut self) -> Result<(), String> {
        let (n1, n2) = (
            self.n1.as_ref().expect("trained"),
            self.n2.as_ref().expect("trained"),
        );
        let shifted = DeviceSplit {
            images: self.test.images.clone(),
            labels: self
                .test
                .labels
                .clone()
                .add_scalar(1)
                .remainder_scalar(self.shape.classes as i64),
        };
        let relabeled = relabeled(&self.adversarial, &self.targets);
        self.outcome = Some(MislabeledOutcome {
            config: self.config.clone(),
            classes: self.shape.classes,
            training_images: self.train.len(),
            n1_accuracy: accuracy(n1, &self.test).await?,
            reached_target: self.reached,
            mean_l2: self.sum_l2 / self.train.len() as f64,
            max_l2: self.max_l2,
            n2_fit: accuracy(n2, &relabeled).await?,
            n2_accuracy: accuracy(n2, &self.test).await?,
            n2_shifted: accuracy(n2, &shifted).await?,
            test_images: self.test.len(),
        });
        Ok(())
    }

    async fn unit(&mut self) -> Result<(), String> {
        if self.n1.is_none() {
            let train = &self.train;
            self.n1 = train_step(
                &mut self.trainer,
                &self.config.train,
                self.shape,
                || train.clone(),
                &self.device,
                |t| {
                    t.step();
                },
            );
        } else if self.attacked < self.train.len() {
            self.attack_batch().await?;
        } else if self.n2.is_none() {
            let (adversarial, targets) = (&self.adversarial, &self.targets);
            self.n2 = train_step(
                &mut self.trainer,
                &self.config.relabeled_train(),
                self.shape,
                || relabeled(adversarial, targets),
                &self.device,
                |t| {
                    t.step();
                },
            );
        } else {
            self.evaluate().await?;
        }
        Ok(())
    }
}

/// N2's training set: the t_i under their targets.
fn relabeled(adversarial: &[Tensor<2>], targets: &Tensor<1, Int>) -> DeviceSplit {
    DeviceSplit {
        images: Tensor::cat(adversarial.to_vec(), 0),
        labels: targets.clone(),
    }
}

impl Experiment for MislabeledExperiment {
    type Outcome = MislabeledOutcome;

    fn progress(&self) -> Progress {
        let (n1_steps, n2_steps) = (
            self.steps(&self.config.train),
            self.steps(&self.config.relabeled_train()),
        );
        let batches = self.train.len().div_ceil(self.config.batch);
        let training = self.trainer.as_ref().map_or(0, Trainer::steps_done);
        let (stage, done) = if self.n1.is_none() {
            ("training N1", training)
        } else if self.attacked < self.train.len() {
            (
                "making adversarial examples",
                n1_steps + self.attacked.div_ceil(self.config.batch),
            )
        } else if self.n2.is_none() {
            ("training N2 on them", n1_steps + batches + training)
        } else if self.outcome.is_none() {
            ("evaluating", n1_steps + batches + n2_steps)
        } else {
            ("done", n1_steps + batches + n2_steps + 1)
        };
        Progress {
            stage,
            done,
            total: n1_steps + batches + n2_steps + 1,
        }
    }

    async fn advance(&mut self, units: usize) -> Result<(), String> {
        for _ in 0..units {
            if self.outcome.is_some() {
                break;
            }
            self.unit().await?;
        }
        Ok(())
    }

    fn finish(self) -> Result<MislabeledOutcome, String> {
        self.outcome
            .ok_or_else(|| "the mislabeled-adversarial experiment has work left".into())
    }
}
