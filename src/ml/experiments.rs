//! The experiments lab: the paper's quantitative claims measured over many images, as
//! experiments a page or a terminal can drive a little at a time.
//!
//! - [`norms`]: the norm to flip per subspace (plain, on-manifold, off-manifold, random
//!   k-subspace) over N test images, beside the public reproduction's figures.
//! - [`dynamics`]: clinging and dimpling over classifier training, through the share of the
//!   input gradient in the tangent space and the on/off-manifold distance to the boundary.
//! - [`advtrain`]: adversarial training beside standard training: accuracy, robust accuracy
//!   and the flipping norms per subspace.
//! - [`mislabeled`]: Ilyas et al.'s experiment: a network trained only on targeted adversarial
//!   examples under their wrong labels still classifies clean images.
//! - [`detect`]: whether the autoencoder's reconstruction error detects attacks, and whether
//!   classifying D(E(x + d)) undoes them.
//!
//! Each experiment is an object implementing [`Experiment`]: [`Experiment::advance`] does a
//! few units of work (a training step, a batch of attacked images) and returns, so a page can
//! show [`Experiment::progress`], yield to the browser between calls and cancel by dropping
//! the object; [`run`] drives one to the end. The outcome is plain data with a
//! [`report::Report`] of tables and charts that the page, the command line and the README
//! share. Everything is deterministic given the settings and their seed. The clock is the
//! caller's: this code runs in the browser too, where `std::time` does not.
//!
//! Experiments that train models seed burn's device random generator, which is process-wide
//! on the CPU backend: run one such experiment at a time in a process.

pub mod advtrain;
pub mod detect;
pub mod dynamics;
pub mod mislabeled;
pub mod norms;
pub mod report;
pub mod stats;

use super::attack::{
    AttackConfig, AttackJob, AttackResult, PgdRun, Restriction, Subspace, classify,
};
use super::autoencoder::Autoencoder;
use super::batch::DeviceSplit;
use super::dataset::{Dataset, Split};
use super::manifold::{TangentBasis, random_subspace, tangent_basis};
use super::model::{Classifier, ImageShape};
use super::read_f32;
use super::rng::Rng;
use super::train::{TrainConfig, Trainer, evaluate};
use burn::prelude::*;
use stats::{Quartiles, Summary};
use std::future::Future;

/// How far an experiment has got, in steps of different cost (a training step, a batch of
/// attacked images). A unit of work ([`Experiment::advance`]) may be a part of a step, so
/// that no unit holds a page for long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What the next unit of work does ("training the classifier", "attacking", ...), or
    /// "done".
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

impl Progress {
    /// Share of the work done, in [0, 1].
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

/// An experiment that runs a few units of work at a time.
pub trait Experiment {
    /// What the finished experiment hands back.
    type Outcome;

    /// Where the experiment stands; its stage is that of the next unit of work.
    fn progress(&self) -> Progress;

    /// Whether every unit of work is done.
    fn is_done(&self) -> bool {
        let p = self.progress();
        p.done >= p.total
    }

    /// Does up to `units` units of work (fewer at the end). However the work is split into
    /// calls, the outcome is the same.
    fn advance(&mut self, units: usize) -> impl Future<Output = Result<(), String>>;

    /// The outcome; an error if work is left.
    fn finish(self) -> Result<Self::Outcome, String>;
}

/// Drives `experiment` to the end in one go (the command line's and the tests' way).
pub async fn run<E: Experiment>(mut experiment: E) -> Result<E::Outcome, String> {
    while !experiment.is_done() {
        experiment.advance(usize::MAX).await?;
    }
    experiment.finish()
}

/// Images on the host with their labels: `len()` rows of `n` pixels in [0, 1], each with its
/// index in the split it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub pixels: Vec<f32>,
    pub labels: Vec<u8>,
    /// Index of each image in its split.
    pub indices: Vec<usize>,
    /// Pixels per image.
    pub n: usize,
}

impl Images {
    /// `count` images of `split` drawn without replacement by `seed` (all of them when
    /// `count` is larger), in the split's order.
    pub fn sample(dataset: &Dataset, split: &Split, count: usize, seed: u64) -> Self {
        let mut order: Vec<usize> = (0..split.len()).collect();
        Rng::new(seed).shuffle(&mut order);
        order.truncate(count);
        order.sort_unstable();
        Self::at(dataset, split, &order)
    }

    /// The images of `split` at `indices`.
    pub fn at(dataset: &Dataset, split: &Split, indices: &[usize]) -> Self {
        let pixels = indices
            .iter()
            .flat_map(|&i| {
                dataset
                    .image(split, i)
                    .iter()
                    .map(|&p| f32::from(p) / 255.0)
            })
            .collect();
        Self {
            pixels,
            labels: indices.iter().map(|&i| split.labels[i]).collect(),
            indices: indices.to_vec(),
            n: dataset.image_len(),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * self.n..(i + 1) * self.n]
    }

    /// Checks that the images have the pixels `autoencoder` expects.
    pub fn check_fit(&self, autoencoder: &Autoencoder) -> Result<(), String> {
        if self.n != autoencoder.pixels() {
            return Err(format!(
                "the images have {} pixels, the autoencoder expects {}",
                self.n,
                autoencoder.pixels()
            ));
        }
        Ok(())
    }

    /// The images `[len, n]` and labels `[len]` on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let labels: Vec<i64> = self.labels.iter().map(|&l| i64::from(l)).collect();
        (
            Tensor::from_data(
                TensorData::new(self.pixels.clone(), [self.len(), self.n]),
                device,
            ),
            Tensor::from_data(TensorData::new(labels, [self.len()]), device),
        )
    }
}

/// An image left out because the classifier got it wrong before any attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Index in its split.
    pub index: usize,
    pub label: u8,
    pub predicted: u8,
}

/// Sorts `images` by `classifier`'s verdict before any attack: the positions of those it gets
/// right, the ones an experiment attacks, and the others as [`Skipped`].
pub(crate) async fn correctly_classified(
    classifier: &Classifier,
    images: &Images,
    device: &Device,
) -> Result<(Vec<usize>, Vec<Skipped>), String> {
    let verdicts = classify(classifier, &images.pixels, images.n, device).await?;
    let (mut attackable, mut skipped) = (Vec::new(), Vec::new());
    for (i, v) in verdicts.iter().enumerate() {
        let label = images.labels[i];
        if v.predicted == label {
            attackable.push(i);
        } else {
            skipped.push(Skipped {
                index: images.indices[i],
                label,
                predicted: v.predicted,
            });
        }
    }
    Ok((attackable, skipped))
}

/// Where an experiment over `images` images stands when its units of work are: classifying
/// every image (one), then one per batch of attacked images. `attackable` holds the positions
/// of the images to attack (`None` until classified), `attacked` counts those done.
pub(crate) fn attack_progress(
    images: usize,
    attackable: Option<&[usize]>,
    attacked: usize,
) -> Progress {
    let total = 1 + images;
    match attackable {
        None => Progress {
            stage: "classifying",
            done: 0,
            total,
        },
        Some(attackable) => Progress {
            stage: if attacked < attackable.len() {
                "attacking"
            } else {
                "done"
            },
            // Each skipped image counts as done.
            done: total - (attackable.len() - attacked),
            total,
        },
    }
}

/// The positions of the next batch of up to `batch` images to attack once the first
/// `attacked` of `attackable` are done; `None` when all are.
pub(crate) fn next_batch(
    attackable: &[usize],
    attacked: usize,
    batch: usize,
) -> Option<Vec<usize>> {
    (attacked < attackable.len())
        .then(|| attackable[attacked..(attacked + batch).min(attackable.len())].to_vec())
}

/// Checks that `batch` (`what` names it in the message) is between `lo` and `hi` images.
pub(crate) fn check_batch(
    what: &str,
    batch: usize,
    (lo, hi): (usize, usize),
) -> Result<(), String> {
    if !(lo..=hi).contains(&batch) {
        return Err(format!(
            "{what} must be between {lo} and {hi} images, not {batch}"
        ));
    }
    Ok(())
}

/// The four attacks whose norms to flip the experiments compare, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttackKind {
    /// Unrestricted PGD.
    Plain,
    /// PGD restricted to the tangent space of the manifold.
    OnManifold,
    /// PGD restricted to the tangent space's orthogonal complement.
    OffManifold,
    /// PGD restricted to a random subspace of the tangent space's dimension: the control.
    RandomSubspace,
}

impl AttackKind {
    /// Every kind, in table order.
    pub const ALL: [AttackKind; 4] = [
        AttackKind::Plain,
        AttackKind::OnManifold,
        AttackKind::OffManifold,
        AttackKind::RandomSubspace,
    ];

    /// Short name for files and columns.
    pub fn id(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::OnManifold => "on",
            Self::OffManifold => "off",
            Self::RandomSubspace => "random",
        }
    }

    /// Name shown to a reader.
    pub fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain PGD",
            Self::OnManifold => "on-manifold restricted",
            Self::OffManifold => "off-manifold restricted",
            Self::RandomSubspace => "random k-subspace restricted",
        }
    }
}

/// How one attack on one image ended.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipOutcome {
    /// Whether the class changed within the radius.
    pub flipped: bool,
    /// Steps to the first flip, or every step when it did not flip.
    pub steps: usize,
    /// ||d||₂ at the first flip, or of the final d when it did not flip.
    pub l2: f32,
    /// The class of x + d.
    pub predicted: u8,
    /// For a restricted attack, the share of ||d|| outside its subspace (clipping to the pixel
    /// box moves it out).
    pub outside_fraction: Option<f32>,
    /// d itself.
    pub perturbation: Vec<f32>,
}

impl FlipOutcome {
    fn of(result: AttackResult, steps: usize) -> Self {
        Self {
            flipped: result.flipped_at.is_some(),
            steps: result.flipped_at.unwrap_or(steps),
            l2: result.l2,
            predicted: result.predicted,
            outside_fraction: result.outside_fraction,
            perturbation: result.perturbation,
        }
    }
}

/// The tangent space at image `x` and its control, a random subspace of the same dimension
/// drawn from `rng`: one image's bases for an [`AttackSuite`].
pub(crate) async fn tangent_and_control(
    autoencoder: &Autoencoder,
    x: &[f32],
    rng: &mut Rng,
    device: &Device,
) -> Result<(TangentBasis, TangentBasis), String> {
    let tangent = tangent_basis(autoencoder, x, device).await?;
    let random = random_subspace(x.len(), tangent.rank, rng);
    Ok((tangent, random))
}

/// PGD steps an experiment takes in one unit of work while it attacks a batch: short enough
/// that a unit on the page's CPU backend stays well under a frame budget's few tens of
/// milliseconds for a batch of one image.
pub(crate) const PGD_STEPS_PER_UNIT: usize = 10;

/// The four attacks of [`AttackKind::ALL`] on each of a batch of images, each restricted
/// attack stopping at its first flip, in one batched PGD that can be advanced a few steps at a
/// time: `bases[i]` is image i's tangent basis and its random control. However the steps are
/// split, the outcomes are the same ([`PgdRun`] is bit-identical however it is chunked).
pub(crate) struct AttackSuite {
    run: PgdRun,
    steps: usize,
}

/// The PGD jobs of [`AttackSuite`]: per image, plain, on, off and random, in
/// [`AttackKind::ALL`] order.
fn suite_jobs<'a>(
    images: &[(&'a [f32], u8)],
    bases: &'a [(TangentBasis, TangentBasis)],
) -> Vec<AttackJob<'a>> {
    let mut jobs = Vec::with_capacity(4 * images.len());
    for (&(image, label), (tangent, random)) in images.iter().zip(bases) {
        let restricted = |basis, subspace| Some(Restriction { basis, subspace });
        for restriction in [
            None,
            restricted(tangent, Subspace::On),
            restricted(tangent, Subspace::Off),
            restricted(random, Subspace::On),
        ] {
            jobs.push(AttackJob {
                image,
                label,
                restriction,
            });
        }
    }
    jobs
}

impl AttackSuite {
    /// Places the attacks of `images` (image, label) with their `bases` on the device.
    pub(crate) fn start(
        classifier: &Classifier,
        images: &[(&[f32], u8)],
        bases: &[(TangentBasis, TangentBasis)],
        config: &AttackConfig,
        device: &Device,
    ) -> Result<Self, String> {
        let jobs = suite_jobs(images, bases);
        Ok(Self {
            run: PgdRun::new(classifier, &jobs, config, true, device)?,
            steps: config.steps,
        })
    }

    /// Whether every PGD step has been taken.
    pub(crate) fn is_done(&self) -> bool {
        self.run.is_done()
    }

    /// Takes up to `steps` more PGD steps.
    pub(crate) async fn advance(&mut self, steps: usize) -> Result<(), String> {
        self.run.advance(steps).await
    }

    /// Takes the remaining steps and returns each image's outcomes in [`AttackKind::ALL`]
    /// order; `images` and `bases` are those the suite was started with.
    pub(crate) async fn finish(
        self,
        images: &[(&[f32], u8)],
        bases: &[(TangentBasis, TangentBasis)],
    ) -> Result<Vec<[FlipOutcome; 4]>, String> {
        let jobs = suite_jobs(images, bases);
        let mut results = self
            .run
            .finish(&jobs)
            .await?
            .into_iter()
            .map(|r| FlipOutcome::of(r, self.steps));
        Ok((0..images.len())
            .map(|_| std::array::from_fn(|_| results.next().expect("four results per image")))
            .collect())
    }
}

/// The norms to flip of one attack over many images; failures are counted, not dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipSummary {
    /// Images attacked.
    pub attacked: usize,
    /// Attacks that flipped the class within the radius.
    pub flipped: usize,
    /// The norms at the first flip, over the flipped images only.
    pub norms: Option<Summary>,
    /// Quartiles over every attacked image, a failure counting as +∞ (beyond the radius).
    pub with_failures: Option<Quartiles>,
    /// For a restricted attack, the mean share of its perturbations' norm outside its
    /// subspace (clipping to the pixel box moves it out); `None` for the plain attack.
    pub outside: Option<f64>,
}

impl FlipSummary {
    /// The summary of `outcomes`.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a FlipOutcome>) -> Self {
        let (mut flipped, mut censored, mut outside) = (Vec::new(), Vec::new(), Vec::new());
        for o in outcomes {
            outside.extend(o.outside_fraction.map(f64::from));
            if o.flipped {
                flipped.push(f64::from(o.l2));
            }
            censored.push(if o.flipped {
                f64::from(o.l2)
            } else {
                f64::INFINITY
            });
        }
        Self {
            attacked: censored.len(),
            flipped: flipped.len(),
            norms: Summary::of(&flipped),
            with_failures: Quartiles::of(&censored),
            outside: (!outside.is_empty())
                .then(|| outside.iter().sum::<f64>() / outside.len() as f64),
        }
    }

    /// Share of attacks that flipped; `None` when nothing was attacked.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attacked > 0).then(|| self.flipped as f64 / self.attacked as f64)
    }
}

/// The restricted attacks' shares outside their subspace, "on/off/random" in whole per cent
/// ("–" where none was measured), from summaries in [`AttackKind::ALL`] order.
pub(crate) fn outside_shares(summaries: &[FlipSummary; 4]) -> String {
    summaries[1..]
        .iter()
        .map(|s| {
            s.outside
                .map_or("–".into(), |o| format!("{:.0}%", 100.0 * o))
        })
        .collect::<Vec<String>>()
        .join("/")
}

/// Number of correct rows, as a one-element float tensor still on the device.
pub(crate) fn correct_count(
    classifier: &Classifier,
    images: Tensor<2>,
    labels: Tensor<1, Int>,
) -> Tensor<1> {
    super::model::count_correct(classifier.forward(images), labels)
}

/// The training run `config` in a few words, for a report's settings: the model, epochs,
/// batch size, learning rate and seed.
pub(crate) fn training_run(config: &TrainConfig) -> String {
    format!(
        "{}, {} epochs, batch {}, lr {}, seed {}",
        config.model.label(),
        config.epochs,
        config.batch_size,
        config.learning_rate,
        config.seed
    )
}

/// `classifier`'s accuracy on `split`, evaluated 1,000 images at a time to keep each call
/// short.
pub(crate) async fn accuracy(classifier: &Classifier, split: &DeviceSplit) -> Result<f64, String> {
    let (mut correct, chunk) = (0.0, 1000);
    for start in (0..split.len()).step_by(chunk) {
        let (images, labels) = split.range(start, chunk.min(split.len() - start));
        correct += f64::from(read_f32(evaluate(classifier, images, labels)).await?[1]);
    }
    Ok(correct / split.len() as f64)
}

/// The training run in `run`, started from `config` on `data()` if it has not started yet.
/// An experiment starts it right before its first step, not earlier: the model's initial
/// weights are drawn lazily from the device's generator that [`Trainer::new`] seeds.
pub(crate) fn started<'a>(
    run: &'a mut Option<Trainer>,
    config: &TrainConfig,
    shape: ImageShape,
    data: impl FnOnce() -> DeviceSplit,
    device: &Device,
) -> &'a mut Trainer {
    run.get_or_insert_with(|| Trainer::new(config.clone(), shape, &data(), device))
}

/// One step of the training run in `run` (see [`started`]), taken by `step`; when that
/// ends the run, the trained classifier, leaving `run` empty for the next one.
pub(crate) fn train_step(
    run: &mut Option<Trainer>,
    config: &TrainConfig,
    shape: ImageShape,
    data: impl FnOnce() -> DeviceSplit,
    device: &Device,
    step: impl FnOnce(&mut Trainer),
) -> Option<Classifier> {
    let trainer = started(run, config, shape, data, device);
    step(trainer);
    trainer
        .is_done()
        .then(|| run.take().expect("training").model())
}
