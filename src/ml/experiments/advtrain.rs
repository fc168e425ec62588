//! Experiment 3: adversarial training beside standard training.
//!
//! Two classifiers are trained with the same recipe, seed, initial weights and batch order:
//! one on the training images, one on L2 PGD adversarial examples of them, made against its
//! own current weights at every step (Madry et al.). Then both are compared: accuracy on the
//! clean test split, robust accuracy (still correct after an L2 PGD attack) at several radii,
//! and the norms to flip per subspace of the norms experiment. The Dimpled Manifold Model
//! reads the trade-off this way: adversarial training deepens the dimples, pushing the
//! boundary away along the off-manifold directions, at some cost in clean accuracy.

use super::norms::{NormsConfig, NormsExperiment, NormsOutcome};
use super::report::{Cell, Chart, ChartKind, Report, Table};
use super::{
    AttackKind, Experiment, Images, Progress, accuracy, check_batch, correct_count, outside_shares,
    train_step, training_run,
};
use crate::ml::attack::{AttackConfig, BatchPgd, Goal, Norm};
use crate::ml::autoencoder::Autoencoder;
use crate::ml::batch::DeviceSplit;
use crate::ml::model::{Classifier, ImageShape};
use crate::ml::read_f32;
use crate::ml::train::{TrainConfig, Trainer};
use burn::prelude::*;

/// Settings of the adversarial-training experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct AdvTrainConfig {
    /// Both classifiers' training run.
    pub train: TrainConfig,
    /// The training-time adversary: L2 PGD from x, every step taken (no target, no random
    /// start).
    pub adversary: AttackConfig,
    /// Radii of the robust accuracy (besides 0, no attack).
    pub eval_eps: Vec<f32>,
    /// Steps of the evaluation attack; its step is 2.5 eps / steps.
    pub eval_steps: usize,
    /// Images attacked together in the robust evaluation: one unit of work.
    pub eval_batch: usize,
    /// The norms experiment run on both classifiers.
    pub norms: NormsConfig,
}

impl AdvTrainConfig {
    /// The default adversary's radius.
    pub const DEFAULT_EPS: f32 = 1.5;

    /// The training-time adversary for radius `eps`: 7 steps of 2.5 eps / 7.
    pub fn adversary(eps: f32) -> AttackConfig {
        let steps = 7;
        AttackConfig {
            norm: Norm::L2,
            eps,
            step_size: 2.5 * eps / steps as f32,
            steps,
            random_start: false,
            target: None,
            seed: 1,
        }
    }

    /// The evaluation attack at radius `eps`.
    pub fn evaluation(&self, eps: f32) -> AttackConfig {
        AttackConfig {
            eps,
            step_size: 2.5 * eps / self.eval_steps as f32,
            steps: self.eval_steps,
            ..Self::adversary(eps)
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        self.train.validate()?;
        BatchPgd::new(self.adversary.clone())?;
        if self.eval_eps.is_empty() {
            return Err("give at least one radius for the robust accuracy".into());
        }
        for &eps in &self.eval_eps {
            BatchPgd::new(self.evaluation(eps)).map_err(|e| format!("evaluation radius: {e}"))?;
        }
        check_batch("the evaluation batch", self.eval_batch, (1, 4096))?;
        self.norms.validate()
    }
}

impl Default for AdvTrainConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            adversary: Self::adversary(Self::DEFAULT_EPS),
            eval_eps: vec![0.5, 1.0, 1.5, 2.0, 2.5],
            eval_steps: 40,
            eval_batch: 250,
            norms: NormsConfig::default(),
        }
    }
}

/// Accuracy under attack at one radius.
#[derive(Clone, Debug, PartialEq)]
pub struct RobustAccuracy {
    /// The radius; 0 means no attack.
    pub eps: f32,
    pub images: usize,
    /// Images still classified correctly after the attack (an image misclassified to begin
    /// with counts as not robust).
    pub correct: usize,
    /// Largest ||x_adv − x||₂ the attack produced.
    pub max_l2: f32,
}

impl RobustAccuracy {
    /// correct / images.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.images.max(1) as f64
    }
}

/// What one of the two classifiers measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelResult {
    /// "standard" or "adversarial".
    pub name: &'static str,
    /// Accuracy on the whole test split.
    pub clean_accuracy: f64,
    /// At radius 0 and at each [`AdvTrainConfig::eval_eps`].
    pub robust: Vec<RobustAccuracy>,
    pub norms: NormsOutcome,
}

/// Everything the adversarial-training experiment found.
#[derive(Clone, Debug, PartialEq)]
pub struct AdvTrainOutcome {
    pub config: AdvTrainConfig,
    /// The standard classifier, then the adversarially trained one.
    pub models: [ModelResult; 2],
}

impl AdvTrainOutcome {
    /// The tables and charts.
    pub fn report(&self) -> Report {
        let c = &self.config;
        let mut report = Report::new(
            "advtrain",
            "Adversarial training: robustness, accuracy and the dimples",
        );
        report.setting("classifiers", training_run(&c.train));
        report.setting(
            "training adversary",
            format!(
                "L2 PGD, radius {}, {} steps of {:.3}",
                c.adversary.eps, c.adversary.steps, c.adversary.step_size
            ),
        );
        report.setting(
            "robust accuracy",
            format!(
                "L2 PGD, {} steps of 2.5 eps / {}, on {} test images",
                c.eval_steps, c.eval_steps, self.models[0].robust[0].images
            ),
        );
        report.setting(
            "norms",
            format!("{} test images", self.models[0].norms.considered),
        );

        let mut columns = vec!["model".to_string(), "clean (test split)".to_string()];
        columns.extend(
            self.models[0]
                .robust
                .iter()
                .map(|r| format!("eps {}", r.eps)),
        );
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        let mut accuracy = Table::new("accuracy", "Accuracy, clean and under L2 PGD", &columns);
        for m in &self.models {
            let mut row = vec![Cell::text(m.name), Cell::percent(m.clean_accuracy)];
            row.extend(m.robust.iter().map(|r| Cell::percent(r.accuracy())));
            accuracy.push(row);
        }

        let mut norms = Table::new(
            "norms",
            "Median L2 norm to flip per subspace (failures as ∞) and median ratio to plain",
            &[
                "model",
                "plain",
                "on",
                "off",
                "random",
                "on/plain",
                "off/plain",
                "flipped plain/on/off/random",
                "outside subspace on/off/random",
            ],
        );
        let medians = |m: &ModelResult| -> [Option<f64>; 4] {
            AttackKind::ALL.map(|k| m.norms.summary(k).with_failures.map(|q| q.median))
        };
        for m in &self.models {
            let ratio = |k| m.norms.ratio_to_plain(k).0.map(|q| q.median);
            let flipped = AttackKind::ALL.map(|k| m.norms.summary(k).flipped.to_string());
            let mut row = vec![Cell::text(m.name)];
            row.extend(medians(m).map(|v| Cell::number(v, 3)));
            row.push(Cell::number(ratio(AttackKind::OnManifold), 2));
            row.push(Cell::number(ratio(AttackKind::OffManifold), 2));
            row.push(Cell::text(flipped.join("/")));
            row.push(Cell::text(outside_shares(
                &AttackKind::ALL.map(|k| m.norms.summary(k)),
            )));
            norms.push(row);
        }
        let (standard, adversarial) = (medians(&self.models[0]), medians(&self.models[1]));
        let mut row = vec![Cell::text("adversarial / standard")];
        row.extend(
            (0..4).map(|k| Cell::number(standard[k].zip(adversarial[k]).map(|(s, a)| a / s), 2)),
        );
        row.extend([Cell::Missing, Cell::Missing, Cell::Missing, Cell::Missing]);
        norms.push(row);
        report.tables.extend([accuracy, norms]);

        let mut robust = Chart::new(
            "robust-accuracy",
            "Accuracy under L2 PGD",
            ChartKind::Line,
            "L2 radius eps",
            "accuracy (%)",
        );
        let mut bars = Chart::new(
            "norms",
            "Median L2 norm to flip per subspace",
            ChartKind::Bars,
            "attack",
            "median L2 norm to flip",
        );
        bars.categories = AttackKind::ALL.iter().map(|k| k.label().into()).collect();
        for m in &self.models {
            robust = robust.with(
                m.name,
                m.robust
                    .iter()
                    .map(|r| (f64::from(r.eps), 100.0 * r.accuracy()))
                    .collect(),
            );
            bars = bars.with(
                m.name,
                medians(m)
                    .iter()
                    .enumerate()
                    // +∞ (half the attacks or more failed) stays: the chart marks it.
                    .filter_map(|(i, v)| v.filter(|v| !v.is_nan()).map(|v| (i as f64, v)))
                    .collect(),
            );
        }
        report.charts.extend([robust, bars]);
        report.notes = vec![
            "Both classifiers share the recipe, the seed, the initial weights and the batch order; the adversarial one trains only on PGD examples made against its current weights.".into(),
            "Robust accuracy counts an image misclassified before any attack as not robust; eps 0 is the accuracy on the same images without attack.".into(),
        ];
        report
    }
}

/// The adversarial-training experiment. Units of work: training steps of each classifier, its
/// clean accuracy, one batch per radius of the robust accuracy, and the units of its norms
/// experiment.
pub struct AdvTrainExperiment {
    autoencoder: Autoencoder,
    train: DeviceSplit,
    test: DeviceSplit,
    robust_images: (Tensor<2>, Tensor<1, Int>),
    probes: Images,
    shape: ImageShape,
    config: AdvTrainConfig,
    adversary: BatchPgd,
    device: Device,
    trainer: Option<Trainer>,
    models: Vec<Classifier>,
    clean: Vec<f64>,
    /// Model-major, radius-minor, radius 0 first.
    robust: Vec<RobustAccuracy>,
    /// Robust-accuracy batches done.
    robust_units: usize,
    norms_run: Option<NormsExperiment>,
    norms: Vec<NormsOutcome>,
}

impl AdvTrainExperiment {
    /// Checks the settings. `train` and `test` live on `device`; `robust_images` are attacked
    /// for the robust accuracy, `probes` for the norms to flip.
    #[allow(
        clippy::too_many_arguments,
        reason = "the models, data and settings of one experiment"
    )]
    pub fn new(
        autoencoder: Autoencoder,
        train: DeviceSplit,
        test: DeviceSplit,
        robust_images: &Images,
        probes: Images,
        shape: ImageShape,
        config: AdvTrainConfig,
        device: &Device,
    ) -> Result<Self, String> {
        config.validate()?;
        if train.is_empty() || test.is_empty() || robust_images.is_empty() {
            return Err("the experiment needs training, test and evaluation images".into());
        }
        let radii: Vec<f32> = std::iter::once(0.0)
            .chain(config.eval_eps.iter().copied())
            .collect();
        let robust = (0..2)
            .flat_map(|_| {
                radii.iter().map(|&eps| RobustAccuracy {
                    eps,
                    images: robust_images.len(),
                    correct: 0,
                    max_l2: 0.0,
                })
            })
            .collect();
        Ok(Self {
            adversary: BatchPgd::new(config.adversary.clone())?,
            robust_images: robust_images.tensors(device),
            autoencoder,
            train,
            test,
            probes,
            shape,
            config,
            device: device.clone(),
            trainer: None,
            models: Vec::new(),
            clean: Vec::new(),
            robust,
            robust_units: 0,
            norms_run: None,
            norms: Vec::new(),
        })
    }

    fn steps_per_model(&self) -> usize {
        self.train.len().div_ceil(self.config.train.batch_size) * self.config.train.epochs
    }

    fn batches_per_radius(&self) -> usize {
        self.robust_images.1.dims()[0].div_ceil(self.config.eval_batch)
    }

    fn total_robust_units(&self) -> usize {
        self.robust.len() * self.batches_per_radius()
    }

    async fn robust_batch(&mut self) -> Result<(), String> {
        let per_radius = self.batches_per_radius();
        let entry = self.robust_units / per_radius;
        let batch = self.robust_units % per_radius;
        let radii = self.robust.len() / 2;
        let model = &self.models[entry / radii];
        let eps = self.robust[entry].eps;
        let count = self.robust_images.1.dims()[0];
        let start = batch * self.config.eval_batch;
        let size = self.config.eval_batch.min(count - start);
        let x = self.robust_images.0.clone().narrow(0, start, size);
        let labels = self.robust_images.1.clone().narrow(0, start, size);
        let attacked = if eps > 0.0 {
            BatchPgd::new(self.config.evaluation(eps))?.perturb(
                model,
                x.clone(),
                labels.clone(),
                Goal::Untargeted,
            )
        } else {
            x.clone()
        };
        let max_l2 = (attacked.clone() - x).square().sum_dim(1).sqrt().max();
        let correct = read_f32(correct_count(&model.valid(), attacked, labels)).await?[0];
        let max_l2 = read_f32(max_l2).await?[0];
        let r = &mut self.robust[entry];
        r.correct += correct as usize;
        r.max_l2 = r.max_l2.max(max_l2);
        self.robust_units += 1;
        Ok(())
    }

    async fn unit(&mut self) -> Result<(), String> {
        if self.models.len() < 2 {
            let (train, adversary) = (&self.train, &self.adversary);
            let adversarial = self.models.len() == 1;
            let trained = train_step(
                &mut self.trainer,
                &self.config.train,
                self.shape,
                || train.clone(),
                &self.device,
                |trainer| {
                    if adversarial {
                        trainer.step_with(|model, images, labels| {
                            adversary.perturb(model, images, labels, Goal::Untargeted)
                        });
                    } else {
                        trainer.step();
                    }
                },
            );
            self.models.extend(trained);
            return Ok(());
        }
        if self.clean.len() < 2 {
            let clean = accuracy(&self.models[self.clean.len()], &self.test).await?;
            self.clean.push(clean);
            return Ok(());
        }
        if self.robust_units < self.total_robust_units() {
            return self.robust_batch().await;
        }
        if self.norms_run.is_none() {
            self.norms_run = Some(NormsExperiment::new(
                self.models[self.norms.len()].clone(),
                self.autoencoder.clone(),
                self.probes.clone(),
                self.config.norms.clone(),
                &self.device,
            )?);
        }
        let run = self.norms_run.as_mut().expect("set above");
        run.advance(1).await?;
        if run.is_done() {
            let run = self.norms_run.take().expect("running");
            self.norms.push(run.finish()?);
        }
        Ok(())
    }
}

impl Experiment for AdvTrainExperiment {
    type Outcome = AdvTrainOutcome;

    fn progress(&self) -> Progress {
        let steps = self.steps_per_model();
        let norms_total = 1 + self.probes.len();
        let trained =
            self.models.len() * steps + self.trainer.as_ref().map_or(0, Trainer::steps_done);
        let norms_done = self.norms.len() * norms_total
            + self.norms_run.as_ref().map_or(0, |r| r.progress().done);
        let done = trained + self.clean.len() + self.robust_units + norms_done;
        let total = 2 * steps + 2 + self.total_robust_units() + 2 * norms_total;
        let stage = if self.models.is_empty() {
            "training the standard classifier"
        } else if self.models.len() == 1 {
            "adversarial training"
        } else if self.clean.len() < 2 {
            "clean accuracy"
        } else if self.robust_units < self.total_robust_units() {
            "robust accuracy"
        } else if self.norms.is_empty() {
            "norms to flip, standard classifier"
        } else if self.norms.len() == 1 {
            "norms to flip, adversarial classifier"
        } else {
            "done"
        };
        Progress { stage, done, total }
    }

    async fn advance(&mut self, units: usize) -> Result<(), String> {
        for _ in 0..units {
            if self.norms.len() == 2 {
                break;
            }
            self.unit().await?;
        }
        Ok(())
    }

    fn finish(self) -> Result<AdvTrainOutcome, String> {
        if self.norms.len() < 2 {
            return Err("the adversarial-training experiment has work left".into());
        }
        let radii = self.robust.len() / 2;
        let mut robust = self.robust.chunks(radii).map(<[RobustAccuracy]>::to_vec);
        let mut norms = self.norms.into_iter();
        let mut result = |name, clean| ModelResult {
            name,
            clean_accuracy: clean,
            robust: robust.next().expect("two models"),
            norms: norms.next().expect("two models"),
        };
        let standard = result("standard", self.clean[0]);
        let adversarial = result("adversarial", self.clean[1]);
        Ok(AdvTrainOutcome {
            config: self.config,
            models: [standard, adversarial],
        })
    }
}
