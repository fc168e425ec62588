//! Experiment 4: the mislabeled-adversarial experiment (Ilyas et al., 2019).
//!
//! Train N1 on the training set. Make a targeted L2 PGD adversarial example t_i of every
//! training image x_i toward the wrong class (y_i + 1) mod C. Train a fresh N2 only on the
//! pairs (t_i, (y_i + 1) mod C) whose t_i N1 classifies as its target, as Ilyas et al. make
//! sure each one is: every label N2 sees is wrong to a human eye. Then classify the clean test
//! set with N2.
//!
//! The baseline is not chance. A network that learned only what a human sees in t_i (the
//! digit's shape, under the name of the next class) answers (y + 1) mod C on a clean image and
//! scores 0% on the true labels. Accuracy above 0%, and the true class picked more often than
//! 1 / (C − 1) among N2's answers other than (y + 1) mod C, come from the perturbations: they
//! carry features of the target class that generalise (Ilyas et al.'s non-robust features).
//! The Dimpled Manifold Model explains the same result by N1's boundary running close to the
//! manifold, so that crossing it off the manifold encodes the target's side of N1's boundary.
//!
//! N2 trains without the random-shift augmentation (shifting t_i would move its perturbation
//! off the pixels N1 keyed it to) and from its own initial weights (seed + 1).

use super::report::{Cell, Chart, ChartKind, Report, Table};
use super::{Experiment, Progress, accuracy, check_batch, train_step, training_run};
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
    /// t_i that N1 classifies as their target: N2's training set.
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

    /// Of N2's clean test predictions other than (y + 1) mod C, the share that is the true
    /// class; `None` when every prediction is (y + 1) mod C.
    pub fn true_among_other(&self) -> Option<f64> {
        let other = 1.0 - self.n2_shifted;
        (other > 1e-9).then(|| (self.n2_accuracy / other).min(1.0))
    }

    /// 1 / (C − 1): the share of the true class among N2's other answers if they carried
    /// nothing of it.
    pub fn chance_among_other(&self) -> f64 {
        1.0 / (self.classes as f64 - 1.0)
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
                "t_i that N1 classifies as their target (N2's training set)",
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
            (
                "N2 test accuracy if it learned only what a human sees",
                Cell::percent(0.0),
            ),
            ("chance", Cell::percent(self.chance())),
            (
                "the true class among N2's other predictions",
                self.true_among_other()
                    .map_or(Cell::text("–"), Cell::percent),
            ),
            (
                "the same if those carried nothing of it, 1 / (C − 1)",
                Cell::percent(self.chance_among_other()),
            ),
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
            "accuracy (%)",
        );
        chart.categories = vec!["N1".into(), "N2".into(), "chance".into()];
        report.charts.push(chart.with(
            "clean test accuracy",
            vec![
                (0.0, 100.0 * self.n1_accuracy),
                (1.0, 100.0 * self.n2_accuracy),
                (2.0, 100.0 * self.chance()),
            ],
        ));
        report.notes = vec![
            "N2 never sees a correctly labelled image: each t_i carries the label (y + 1) mod C."
                .into(),
            "N2 trains only on the t_i that N1 classifies as their target; the others, which N1 still \
             reads as their own class, would mostly teach it the shapes under shifted names."
                .into(),
            "A network that learned only what a human sees in t_i would answer (y + 1) mod C on a \
             clean image: 0% on the true labels, not chance. Accuracy above 0%, and the true class \
             above 1 / (C − 1) among N2's other answers, come from the perturbations."
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
    /// The t_i that reached their targets, and those targets, batch by batch.
    adversarial: Vec<Tensor<2>>,
    adversarial_targets: Vec<Tensor<1, Int>>,
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
            adversarial_targets: Vec::new(),
            attacked: 0,
            reached: 0,
            sum_l2: 0.0,
            max_l2: 0.0,
            n2: None,
            outcome: None,
        })
    }

    /// Training steps of `config` on `images` images.
    fn steps(config: &TrainConfig, images: usize) -> usize {
        images.div_ceil(config.batch_size) * config.epochs
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
        let hits = n1
            .forward(t.clone())
            .argmax(1)
            .reshape([size])
            .equal(targets.clone())
            .float();
        let stats = read_f32(Tensor::cat(vec![norms.clone().sum(), norms.max(), hits], 0)).await?;
        self.sum_l2 += f64::from(stats[0]);
        self.max_l2 = self.max_l2.max(stats[1]);
        let reached: Vec<i64> = (0..size)
            .filter(|&i| stats[2 + i] > 0.5)
            .map(|i| i as i64)
            .collect();
        self.reached += reached.len();
        if !reached.is_empty() {
            let rows = Tensor::<1, Int>::from_data(
                TensorData::new(reached.clone(), [reached.len()]),
                &self.device,
            );
            self.adversarial.push(t.select(0, rows.clone()));
            self.adversarial_targets.push(targets.select(0, rows));
        }
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
        let relabeled = relabeled(&self.adversarial, &self.adversarial_targets);
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
            if self.reached == 0 {
                return Err(format!(
                    "no t_i reached its target class within radius {}: N2 would have nothing to \
                     learn from; raise the radius or the steps",
                    self.config.attack.eps
                ));
            }
            let (adversarial, targets) = (&self.adversarial, &self.adversarial_targets);
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

/// N2's training set: the t_i that reached their targets, under those targets.
fn relabeled(adversarial: &[Tensor<2>], targets: &[Tensor<1, Int>]) -> DeviceSplit {
    DeviceSplit {
        images: Tensor::cat(adversarial.to_vec(), 0),
        labels: Tensor::cat(targets.to_vec(), 0),
    }
}

impl Experiment for MislabeledExperiment {
    type Outcome = MislabeledOutcome;

    fn progress(&self) -> Progress {
        // The bar counts N2's steps as if every t_i had reached its target, its total being
        // fixed from the start; N2's steps on the t_i that did are scaled to that count.
        let images = self.train.len();
        let (n1_steps, n2_steps) = (
            Self::steps(&self.config.train, images),
            Self::steps(&self.config.relabeled_train(), images),
        );
        let n2_actual = Self::steps(&self.config.relabeled_train(), self.reached).max(1);
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
            (
                "training N2 on them",
                n1_steps + batches + training * n2_steps / n2_actual,
            )
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
