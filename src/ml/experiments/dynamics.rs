//! Experiment 2: clinging and dimpling on natural images, over classifier training.
//!
//! The Dimpled Manifold Model says training first makes the decision boundary cling to the
//! image manifold (fast), then dimples it around the training points (slow). On MNIST that is
//! visible through two quantities, measured at checkpoints of a classifier's training on a
//! fixed set of test images (the probes):
//!
//! - the share of the input gradient ∇ₓ loss lying in the tangent space,
//!   ||Proj_T(g)|| / ||g||, against the same share for a random subspace of the same dimension
//!   (about √(k/n)): a boundary parallel to the manifold has a gradient orthogonal to it, so
//!   this share falls while the boundary clings;
//! - the distance to the boundary along on- and off-manifold directions: the norms to flip of
//!   PGD restricted to the tangent space and to its complement (and plain and random, for
//!   reference), over the probes the classifier gets right at that checkpoint.
//!
//! Checkpoints: before the first step, a few points inside the first epoch (at 1/2^e, …,
//! 1/4, 1/2 of it), then the end of every epoch. The autoencoder is trained beforehand and the
//! tangent spaces are computed once.

use super::norms::NormsConfig;
use super::report::{Cell, Chart, ChartKind, Report, Table};
use super::stats::Summary;
use super::{
    AttackKind, AttackSuite, Experiment, FlipOutcome, FlipSummary, Images, PGD_STEPS_PER_UNIT,
    Progress, accuracy, check_batch, correctly_classified, outside_shares, started,
    tangent_and_control, training_run,
};
use crate::ml::attack::{AttackConfig, Norm};
use crate::ml::autoencoder::Autoencoder;
use crate::ml::batch::DeviceSplit;
use crate::ml::manifold::{TangentBasis, on_manifold_fraction, random_share};
use crate::ml::model::{Classifier, ImageShape};
use crate::ml::read_f32;
use crate::ml::rng::Rng;
use crate::ml::train::{TrainConfig, Trainer, average_decay};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Settings of the training-dynamics experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicsConfig {
    /// The classifier's training run.
    pub train: TrainConfig,
    /// The L2 attack that measures distances; it stops at the first flip.
    pub attack: AttackConfig,
    /// Probes attacked together: one unit of work.
    pub batch: usize,
    /// Checkpoints inside the first epoch, at 1/2^early, …, 1/4, 1/2 of it.
    pub early: usize,
    /// Seed of the random subspaces.
    pub seed: u64,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            attack: AttackConfig {
                step_size: 0.04,
                steps: 250,
                ..NormsConfig::default().attack
            },
            batch: 8,
            early: 3,
            seed: 1,
        }
    }
}

impl DynamicsConfig {
    /// Allowed checkpoints inside the first epoch.
    pub const EARLY: (usize, usize) = (0, 10);

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        self.train.validate()?;
        self.attack.validate()?;
        if self.attack.norm != Norm::L2 || self.attack.target.is_some() {
            return Err("distances are measured with the untargeted L2 attack".into());
        }
        check_batch("the batch", self.batch, NormsConfig::BATCH)?;
        let (lo, hi) = Self::EARLY;
        if !(lo..=hi).contains(&self.early) {
            return Err(format!(
                "early checkpoints must be between {lo} and {hi}, not {}",
                self.early
            ));
        }
        Ok(())
    }

    /// The optimiser step counts at which to measure, for `steps_per_epoch` steps an epoch.
    pub fn checkpoints(&self, steps_per_epoch: usize) -> Vec<usize> {
        let mut steps = vec![0];
        steps.extend((1..=self.early).rev().map(|e| steps_per_epoch >> e));
        steps.extend((1..=self.train.epochs).map(|e| e * steps_per_epoch));
        steps.dedup();
        steps
    }
}

/// The measurements at one checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Optimiser steps taken.
    pub step: usize,
    /// Steps as epochs.
    pub epoch: f64,
    /// Accuracy on the whole test split.
    pub test_accuracy: f64,
    /// ||Proj_T(g)|| / ||g|| of the input gradients g of the probes.
    pub tangent_fraction: Option<Summary>,
    /// The same in each probe's random subspace.
    pub random_fraction: Option<Summary>,
    /// Norms to flip over the probes classified correctly, in [`AttackKind::ALL`] order.
    pub attacks: [FlipSummary; 4],
}

/// Everything the training-dynamics experiment found.
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicsOutcome {
    pub config: DynamicsConfig,
    pub pixels: usize,
    pub latent: usize,
    pub probes: usize,
    /// Each probe's tangent rank (k unless its decoder Jacobian was rank-deficient).
    pub ranks: Vec<usize>,
    pub checkpoints: Vec<Checkpoint>,
}

/// The median norm to flip over every attacked probe, a failure counting as ∞, as a cell.
fn median_with_failures(summary: &FlipSummary) -> Cell {
    Cell::number(summary.with_failures.map(|q| q.median), 3)
}

impl DynamicsOutcome {
    /// √(k / n) with each probe's tangent rank for k: what a gradient's share in a random
    /// subspace of the tangent space's dimension would be.
    pub fn random_expectation(&self) -> f64 {
        random_share(self.ranks.iter().copied(), self.pixels, self.latent)
    }

    /// The tables and charts.
    pub fn report(&self) -> Report {
        let c = &self.config;
        let mut report = Report::new(
            "dynamics",
            "Training dynamics: clinging and dimpling on natural images",
        );
        report.setting("classifier", training_run(&c.train));
        report.setting("probes", self.probes);
        report.setting(
            "attack",
            format!(
                "untargeted L2 PGD, radius {}, step {}, {} steps, stopping at the first flip",
                c.attack.eps, c.attack.step_size, c.attack.steps
            ),
        );
        report.setting("k", self.latent);
        let expected = self.random_expectation();
        let mut table = Table::new(
            "checkpoints",
            "Per checkpoint: share of the input gradient in a subspace (mean over probes) and median L2 norm to flip (over the probes correct then, a failure counting as ∞)",
            &[
                "epoch",
                "step",
                "test accuracy",
                "∇ in tangent",
                "∇ in random",
                "√(k/n)",
                "probes correct",
                "plain",
                "on",
                "off",
                "random",
                "flipped plain/on/off/random",
                "outside subspace on/off/random",
            ],
        );
        for p in &self.checkpoints {
            let [plain, on, off, random] = &p.attacks;
            table.push(vec![
                Cell::number(p.epoch, 3),
                Cell::count(p.step),
                Cell::percent(p.test_accuracy),
                Cell::number(p.tangent_fraction.map(|s| s.mean), 3),
                Cell::number(p.random_fraction.map(|s| s.mean), 3),
                Cell::number(expected, 3),
                Cell::count(plain.attacked),
                median_with_failures(plain),
                median_with_failures(on),
                median_with_failures(off),
                median_with_failures(random),
                Cell::text(format!(
                    "{}/{}/{}/{}",
                    plain.flipped, on.flipped, off.flipped, random.flipped
                )),
                Cell::text(outside_shares(&p.attacks)),
            ]);
        }
        report.tables.push(table);
        let line = |f: &dyn Fn(&Checkpoint) -> Option<f64>| -> Vec<(f64, f64)> {
            self.checkpoints
                .iter()
                .filter_map(|p| f(p).map(|y| (p.epoch, y)))
                .collect()
        };
        report.charts.push(
            Chart::new(
                "gradient-fractions",
                "Share of the input gradient in the tangent space",
                ChartKind::Line,
                "epoch",
                "||Proj(∇)|| / ||∇||",
            )
            .with(
                "tangent space",
                line(&|p| p.tangent_fraction.map(|s| s.mean)),
            )
            .with(
                "random k-subspace",
                line(&|p| p.random_fraction.map(|s| s.mean)),
            )
            .with("√(k/n)", line(&|_| Some(expected))),
        );
        let mut distances = Chart::new(
            "distances",
            "Median L2 distance to the boundary along each subspace (failures as ∞)",
            ChartKind::Line,
            "epoch",
            "median L2 norm to flip",
        );
        for kind in AttackKind::ALL {
            distances = distances.with(
                kind.label(),
                line(&|p| {
                    p.attacks[kind as usize]
                        .with_failures
                        .map(|q| q.median)
                        .filter(|m| m.is_finite())
                }),
            );
        }
        report.charts.push(distances);
        report.charts.push(
            Chart::new(
                "accuracy",
                "Test accuracy",
                ChartKind::Line,
                "epoch",
                "accuracy (%)",
            )
            .with("test", line(&|p| Some(100.0 * p.test_accuracy))),
        );
        report.notes = vec![
            "Distances are medians over the probes the classifier gets right at that checkpoint, an attack that did not flip within the radius counting as ∞ (so the median is ∞ once half of them fail, and the chart leaves that point out); 'flipped' counts the attacks that flipped.".into(),
            "The Dimpled Manifold Model predicts clinging: a boundary lying along the manifold has a gradient orthogonal to it, so the tangent share falls towards or below √(k/n).".into(),
        ];
        if c.train.ema_decay > 0.0 {
            // How far the average trails the weights after t steps.
            let trail = |t: usize| {
                let decay = average_decay(c.train.ema_decay, t);
                decay / (1.0 - decay)
            };
            report.notes.push(format!(
                "Each checkpoint measures the classifier the page evaluates, the moving average of its weights (decay min({}, (1 + t) / (10 + t)) after t steps), which trails the weights by about decay / (1 − decay) steps: {:.0} at step 23, {:.0} at step 94, {:.0} at step 1,000. Weight averaging 0 measures the weights themselves.",
                c.train.ema_decay,
                trail(23),
                trail(94),
                trail(1000)
            ));
        }
        report
    }
}

/// A measurement in progress.
struct Measuring {
    model: Classifier,
    step: usize,
    test_accuracy: f64,
    tangent: Vec<f32>,
    random: Vec<f32>,
    /// Positions of the probes the model gets right.
    attackable: Vec<usize>,
    outcomes: Vec<[FlipOutcome; 4]>,
    /// The batch under attack between units of work: its positions and its attacks so far.
    underway: Option<(Vec<usize>, AttackSuite)>,
}

/// The training-dynamics experiment. Units of work: one tangent space per probe, then
/// training steps, and at each checkpoint one unit for the gradients and accuracy and, per
/// batch of attacked probes, one per [`PGD_STEPS_PER_UNIT`] steps of their attacks.
pub struct DynamicsExperiment {
    autoencoder: Autoencoder,
    train: DeviceSplit,
    test: DeviceSplit,
    probes: Images,
    shape: ImageShape,
    config: DynamicsConfig,
    device: Device,
    rng: Rng,
    bases: Vec<(TangentBasis, TangentBasis)>,
    trainer: Option<Trainer>,
    steps_per_epoch: usize,
    checkpoints: Vec<usize>,
    measuring: Option<Measuring>,
    done: Vec<Checkpoint>,
}

impl DynamicsExperiment {
    /// Checks the settings. `train` and `test` live on `device`; `probes` are the images
    /// measured at every checkpoint.
    pub fn new(
        autoencoder: Autoencoder,
        train: DeviceSplit,
        test: DeviceSplit,
        probes: Images,
        shape: ImageShape,
        config: DynamicsConfig,
        device: &Device,
    ) -> Result<Self, String> {
        config.validate()?;
        if train.is_empty() || test.is_empty() || probes.is_empty() {
            return Err("the experiment needs training images, test images and probes".into());
        }
        if probes.n != autoencoder.pixels() || probes.n != shape.pixels() {
            return Err("the probes, the autoencoder and the image shape differ in size".into());
        }
        let steps_per_epoch = train.len().div_ceil(config.train.batch_size);
        Ok(Self {
            rng: Rng::new(config.seed),
            checkpoints: config.checkpoints(steps_per_epoch),
            autoencoder,
            train,
            test,
            probes,
            shape,
            config,
            device: device.clone(),
            bases: Vec::new(),
            trainer: None,
            steps_per_epoch,
            measuring: None,
            done: Vec::new(),
        })
    }

    /// Units of one checkpoint's measurement.
    fn units_per_checkpoint(&self) -> usize {
        1 + self.probes.len().div_ceil(self.config.batch)
    }

    async fn start_measuring(&mut self) -> Result<(), String> {
        let trainer = self.trainer.as_ref().expect("training has started");
        let model = trainer.model();
        let step = trainer.steps_done();
        let (images, labels) = self.probes.tensors(&self.device);
        let gradients = read_f32(input_gradients(&model, images, labels)).await?;
        let (mut tangent, mut random) = (Vec::new(), Vec::new());
        for (g, (t, r)) in gradients.chunks(self.probes.n).zip(&self.bases) {
            tangent.push(on_manifold_fraction(t, g));
            random.push(on_manifold_fraction(r, g));
        }
        let test_accuracy = accuracy(&model, &self.test).await?;
        let (attackable, _) = correctly_classified(&model, &self.probes, &self.device).await?;
        self.measuring = Some(Measuring {
            model,
            step,
            test_accuracy,
            tangent,
            random,
            attackable,
            outcomes: Vec::new(),
            underway: None,
        });
        Ok(())
    }

    /// [`PGD_STEPS_PER_UNIT`] steps of the attacks on the measurement's next batch; records
    /// them after their last step, and completes the measurement after the last batch.
    async fn measure_batch(&mut self) -> Result<(), String> {
        let m = self
            .measuring
            .as_mut()
            .expect("a measurement is in progress");
        let (probes, all_bases) = (&self.probes, &self.bases);
        let jobs = |positions: &[usize]| -> Vec<(&[f32], u8)> {
            positions
                .iter()
                .map(|&p| (probes.image(p), probes.labels[p]))
                .collect()
        };
        let bases = |positions: &[usize]| -> Vec<(TangentBasis, TangentBasis)> {
            positions.iter().map(|&p| all_bases[p].clone()).collect()
        };
        let (positions, mut suite) = match m.underway.take() {
            Some(underway) => underway,
            None => {
                let start = m.outcomes.len();
                let end = (start + self.config.batch).min(m.attackable.len());
                let positions = m.attackable[start..end].to_vec();
                let suite = AttackSuite::start(
                    &m.model,
                    &jobs(&positions),
                    &bases(&positions),
                    &self.config.attack,
                    &self.device,
                )?;
                (positions, suite)
            }
        };
        suite.advance(PGD_STEPS_PER_UNIT).await?;
        if !suite.is_done() {
            m.underway = Some((positions, suite));
            return Ok(());
        }
        let outcomes = suite.finish(&jobs(&positions), &bases(&positions)).await?;
        m.outcomes.extend(outcomes);
        if m.outcomes.len() == m.attackable.len() {
            let m = self.measuring.take().expect("checked above");
            self.done.push(Checkpoint {
                step: m.step,
                epoch: m.step as f64 / self.steps_per_epoch as f64,
                test_accuracy: m.test_accuracy,
                tangent_fraction: Summary::of_f32(&m.tangent),
                random_fraction: Summary::of_f32(&m.random),
                attacks: std::array::from_fn(|k| FlipSummary::of(m.outcomes.iter().map(|o| &o[k]))),
            });
        }
        Ok(())
    }

    /// One unit of work.
    async fn unit(&mut self) -> Result<(), String> {
        if self.bases.len() < self.probes.len() {
            let x = self.probes.image(self.bases.len());
            let bases = tangent_and_control(&self.autoencoder, x, &mut self.rng, &self.device);
            self.bases.push(bases.await?);
            return Ok(());
        }
        let train = &self.train;
        let trainer = started(
            &mut self.trainer,
            &self.config.train,
            self.shape,
            || train.clone(),
            &self.device,
        );
        if self.measuring.is_some() {
            return self.measure_batch().await;
        }
        let next = self.checkpoints[self.done.len()];
        if trainer.steps_done() < next {
            trainer.step();
            return Ok(());
        }
        self.start_measuring().await?;
        if self
            .measuring
            .as_ref()
            .is_some_and(|m| m.attackable.is_empty())
        {
            self.measure_batch().await?;
        }
        Ok(())
    }
}

impl Experiment for DynamicsExperiment {
    type Outcome = DynamicsOutcome;

    fn progress(&self) -> Progress {
        let per = self.units_per_checkpoint();
        let steps = self.trainer.as_ref().map_or(0, Trainer::steps_done);
        let measured = match &self.measuring {
            Some(m) => 1 + m.outcomes.len().div_ceil(self.config.batch),
            None => 0,
        };
        let total_steps = self.steps_per_epoch * self.config.train.epochs;
        let done = self.bases.len() + steps + self.done.len() * per + measured;
        let total = self.probes.len() + total_steps + self.checkpoints.len() * per;
        let stage = if self.bases.len() < self.probes.len() {
            "tangent spaces"
        } else if self.done.len() == self.checkpoints.len() {
            "done"
        } else if self.measuring.is_some() || steps >= self.checkpoints[self.done.len()] {
            "measuring"
        } else {
            "training the classifier"
        };
        Progress {
            stage,
            // A checkpoint with few correct probes has fewer batches than budgeted.
            done: if stage == "done" { total } else { done },
            total,
        }
    }

    async fn advance(&mut self, units: usize) -> Result<(), String> {
        for _ in 0..units {
            if self.done.len() == self.checkpoints.len() {
                break;
            }
            self.unit().await?;
        }
        Ok(())
    }

    fn finish(self) -> Result<DynamicsOutcome, String> {
        if self.done.len() < self.checkpoints.len() {
            return Err("the training-dynamics experiment has work left".into());
        }
        Ok(DynamicsOutcome {
            pixels: self.probes.n,
            latent: self.autoencoder.latent(),
            probes: self.probes.len(),
            ranks: self.bases.iter().map(|(tangent, _)| tangent.rank).collect(),
            checkpoints: self.done,
            config: self.config,
        })
    }
}

/// ∇ₓ of each row's cross-entropy at `images` (`[batch, n]`) for `labels`: row i is image i's
/// input gradient.
pub fn input_gradients(
    classifier: &Classifier,
    images: Tensor<2>,
    labels: Tensor<1, Int>,
) -> Tensor<2> {
    let model = classifier.valid();
    let [b, _] = images.dims();
    let input = images.without_autodiff().autodiff().require_grad();
    // The sum of the per-row losses: row i of its gradient is row i's own.
    let loss = log_softmax(model.forward(input.clone()), 1)
        .gather(1, labels.reshape([b, 1]).autodiff())
        .sum()
        .neg();
    input
        .grad(&loss.backward())
        .expect("the input is a leaf that requires a gradient")
}
