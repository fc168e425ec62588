//! Adversarial perturbations by projected gradient descent (PGD), plain or restricted to a
//! subspace, and the four views of an adversarial example.
//!
//! PGD repeats: take the input gradient of the cross-entropy, turn it into a step (L2: along
//! the gradient, of length `step_size`; L∞: its sign times `step_size`), add it to the
//! perturbation d, project d back onto the eps-ball and clip x + d to the pixel box [0, 1].
//! Untargeted attacks ascend the loss of the true label; targeted ones descend the loss of the
//! target. A restricted attack projects each gradient onto a subspace (the tangent space, its
//! complement, or a random control) before normalising it: the norm at which it first flips
//! the class approximates the distance to the decision boundary within that subspace. Every
//! iterate is recorded so a page can scrub through the attack.
//!
//! The whole loop runs on the device and is read back once at the end, so it costs no
//! round trips on WebGPU; attacks on several images (or several variants of one) share each
//! forward and backward pass through [`pgd_batch`].

use super::manifold::{
    TangentBasis, l2_norm, off_manifold, on_manifold_fraction, project_on_manifold, standard_normal,
};
use super::model::Classifier;
use super::read_f32;
use super::rng::Rng;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// The norm that measures a perturbation, and so the shape of its ball and of each step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Norm {
    /// Euclidean length, in pixel units (pixels in [0, 1]).
    #[default]
    L2,
    /// Largest change of any one pixel.
    Linf,
}

/// Which part of pixel space a restricted attack may move in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subspace {
    /// Inside the basis's span (on the manifold, for a tangent basis).
    On,
    /// Orthogonal to the basis's span (off the manifold).
    Off,
}

/// A restricted attack's subspace: the span of `basis` or its orthogonal complement.
#[derive(Clone, Copy, Debug)]
pub struct Restriction<'a> {
    pub basis: &'a TangentBasis,
    pub subspace: Subspace,
}

impl Restriction<'_> {
    /// The part of `v` inside the allowed subspace.
    pub fn project(&self, v: &[f32]) -> Vec<f32> {
        match self.subspace {
            Subspace::On => project_on_manifold(self.basis, v),
            Subspace::Off => off_manifold(self.basis, v),
        }
    }

    /// ||v - project(v)|| / ||v||: the share of v's norm outside the allowed subspace.
    pub fn outside_fraction(&self, v: &[f32]) -> f32 {
        let norm = l2_norm(v);
        if norm == 0.0 {
            return 0.0;
        }
        match self.subspace {
            Subspace::On => l2_norm(&off_manifold(self.basis, v)) / norm,
            Subspace::Off => on_manifold_fraction(self.basis, v),
        }
    }
}

/// Settings of one PGD attack, with their allowed ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackConfig {
    pub norm: Norm,
    /// Radius of the ball the perturbation stays in.
    pub eps: f32,
    /// Length (L2) or per-pixel size (L∞) of each step.
    pub step_size: f32,
    pub steps: usize,
    /// Start from a random point of the ball (a uniform direction at a uniform radius for L2,
    /// uniform pixels for L∞) instead of from x.
    pub random_start: bool,
    /// Class to reach; `None` attacks the true label.
    pub target: Option<u8>,
    /// Seed of the random start.
    pub seed: u64,
}

impl Default for AttackConfig {
    fn default() -> Self {
        Self {
            norm: Norm::L2,
            eps: 2.0,
            step_size: 0.05,
            steps: 40,
            random_start: false,
            target: None,
            seed: 1,
        }
    }
}

impl AttackConfig {
    /// Allowed numbers of steps.
    pub const STEPS: (usize, usize) = (1, 1000);

    /// Step length of the restricted attacks' search under an L∞ attack, whose step size is a
    /// per-pixel size and not a length.
    pub const RESTRICTED_L2_STEP: f32 = 0.05;

    /// The restricted attacks' search for the boundary that goes with this attack: L2 steps
    /// (the sign of a projected gradient would leave the subspace) up to `radius`, from x
    /// itself, since a random start would add its own displacement to the norm at the first
    /// flip. Steps, target and seed are this attack's.
    pub fn restricted_search(&self, radius: f32) -> Self {
        Self {
            norm: Norm::L2,
            eps: radius,
            step_size: match self.norm {
                Norm::L2 => self.step_size,
                Norm::Linf => Self::RESTRICTED_L2_STEP,
            },
            random_start: false,
            ..self.clone()
        }
    }

    /// Checks every setting; the message names the setting and what it must be.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(format!(
                "eps must be a positive number, not {}",
                super::shown(self.eps)
            ));
        }
        if self.norm == Norm::Linf && self.eps > 1.0 {
            return Err(format!(
                "an L∞ eps above 1 (the whole pixel range) means nothing, not {}",
                super::shown(self.eps)
            ));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(format!(
                "the step size must be a positive number, not {}",
                super::shown(self.step_size)
            ));
        }
        let (lo, hi) = Self::STEPS;
        if !(lo..=hi).contains(&self.steps) {
            return Err(format!(
                "steps must be between {lo} and {hi}, not {}",
                self.steps
            ));
        }
        Ok(())
    }
}

/// One recorded iterate of an attack.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackStep {
    /// d: the attacked image is x + d (already inside the ball and the pixel box).
    pub perturbation: Vec<f32>,
    /// The classifier's class probabilities at x + d.
    pub probabilities: Vec<f32>,
    /// Its arg-max.
    pub predicted: u8,
    /// Cross-entropy of the attacked class at x + d: the true label's for an untargeted attack
    /// (PGD raises it), the target's for a targeted one (PGD lowers it).
    pub loss: f32,
}

/// What an attack found.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackResult {
    /// The final perturbation d.
    pub perturbation: Vec<f32>,
    /// Every iterate from the start (index 0: x itself, or the random start) to the final one.
    pub path: Vec<AttackStep>,
    /// Index in `path` of the first iterate classified as the target (targeted) or as anything
    /// but the label (untargeted).
    pub flipped_at: Option<usize>,
    /// Class and probability of the final iterate.
    pub predicted: u8,
    pub confidence: f32,
    /// Norms of the final perturbation.
    pub l2: f32,
    pub linf: f32,
    /// For a restricted attack, the share of the final perturbation's norm outside its
    /// subspace: what clipping to the pixel box moved out of it. `None` when unrestricted.
    pub outside_fraction: Option<f32>,
}

/// One image to attack in a batch.
#[derive(Clone, Copy, Debug)]
pub struct AttackJob<'a> {
    /// The clean image x, `n` pixels in [0, 1].
    pub image: &'a [f32],
    /// Its true label.
    pub label: u8,
    /// The subspace each step is restricted to, if any.
    pub restriction: Option<Restriction<'a>>,
}

/// PGD on one image; see [`pgd_batch`].
pub async fn pgd(
    classifier: &Classifier,
    image: &[f32],
    label: u8,
    config: &AttackConfig,
    restriction: Option<Restriction<'_>>,
    stop_at_first_flip: bool,
    device: &Device,
) -> Result<AttackResult, String> {
    let job = AttackJob {
        image,
        label,
        restriction,
    };
    let mut results = pgd_batch(classifier, &[job], config, stop_at_first_flip, device).await?;
    Ok(results.remove(0))
}

/// PGD on several images at once, one result per job: each the attack it would get alone (up
/// to float rounding; every job's random start uses `config.seed`).
///
/// All `config.steps` steps are taken; with `stop_at_first_flip` each result ends at its
/// first flipped iterate (PGD's iterates do not depend on later ones, so this equals stopping
/// there). Restricted attacks need the L2 norm: the sign of a projected gradient (an L∞ step)
/// is no longer in the subspace. The recorded path holds (steps + 1) × jobs images. To run
/// the steps in chunks (and let a page breathe in between), use [`PgdRun`].
pub async fn pgd_batch(
    classifier: &Classifier,
    jobs: &[AttackJob<'_>],
    config: &AttackConfig,
    stop_at_first_flip: bool,
    device: &Device,
) -> Result<Vec<AttackResult>, String> {
    PgdRun::new(classifier, jobs, config, stop_at_first_flip, device)?
        .finish(jobs)
        .await
}

/// A [`pgd_batch`] attack that can stop after any step and continue later: [`advance`]
/// takes some of its steps, [`finish`] takes the rest and reads the results back. However
/// the steps are split, the results are bit-identical to one uninterrupted run. Between
/// chunks the perturbations and the recorded iterates stay on the device.
///
/// [`advance`]: PgdRun::advance
/// [`finish`]: PgdRun::finish
pub struct PgdRun {
    /// Number of jobs, which [`PgdRun::finish`] is handed again.
    batch: usize,
    config: AttackConfig,
    stop_at_first_flip: bool,
    /// Steps taken so far.
    taken: usize,
    /// `None` for an empty batch (boxed: a run waits between calls inside other state).
    state: Option<Box<PgdState>>,
}

/// The device side of a [`PgdRun`].
struct PgdState {
    model: Classifier,
    /// The clean images, `[batch, n]`.
    x: Tensor<2>,
    /// The current perturbations, `[batch, n]`.
    d: Tensor<2>,
    subspace: Option<DeviceSubspace>,
    /// Each row's attacked class, `[batch, 1]`, on the autodiff device.
    index: Tensor<2, Int>,
    /// 1 ascends the attacked class's loss, -1 descends it towards a target.
    direction: f32,
    classes: usize,
    attacked: Vec<u8>,
    /// The perturbation and the logits before each step taken.
    iterates: Vec<Tensor<2>>,
    logits: Vec<Tensor<2>>,
}

impl PgdRun {
    /// Checks the arguments (as [`pgd_batch`] does) and places the attack's start on the
    /// device; no step is taken yet.
    pub fn new(
        classifier: &Classifier,
        jobs: &[AttackJob<'_>],
        config: &AttackConfig,
        stop_at_first_flip: bool,
        device: &Device,
    ) -> Result<Self, String> {
        config.validate()?;
        let mut run = Self {
            batch: jobs.len(),
            config: config.clone(),
            stop_at_first_flip,
            taken: 0,
            state: None,
        };
        let Some(first) = jobs.first() else {
            return Ok(run);
        };
        let (b, n) = (jobs.len(), first.image.len());
        for job in jobs {
            if job.image.len() != n {
                return Err("every image of a batch needs the same number of pixels".into());
            }
            if let Some(r) = job.restriction {
                if r.basis.n != n {
                    return Err(format!(
                        "the subspace lives in {} dimensions, the image has {n} pixels",
                        r.basis.n
                    ));
                }
                if config.norm != Norm::L2 {
                    return Err("restricted attacks use the L2 norm".into());
                }
            }
        }
        let device = &device.clone().without_autodiff();
        let model = classifier.valid();
        let x = Tensor::<2>::from_data(
            TensorData::new(flatten(jobs.iter().map(|j| j.image)), [b, n]),
            device,
        );
        let classes = model.forward(x.clone().narrow(0, 0, 1)).dims()[1];
        for class in jobs.iter().map(|j| j.label).chain(config.target) {
            if usize::from(class) >= classes {
                return Err(format!(
                    "class {class} does not exist (the classifier has {classes})"
                ));
            }
        }
        let attacked: Vec<u8> = jobs
            .iter()
            .map(|j| config.target.unwrap_or(j.label))
            .collect();
        let d =
            Tensor::<2>::from_data(TensorData::new(random_starts(jobs, config), [b, n]), device);
        let index: Vec<i64> = attacked.iter().map(|&c| i64::from(c)).collect();
        let index =
            Tensor::<2, Int>::from_data(TensorData::new(index, [b, 1]), &device.clone().autodiff());
        run.state = Some(Box::new(PgdState {
            model,
            x,
            d,
            subspace: DeviceSubspace::new(jobs, device),
            index,
            direction: if config.target.is_some() { -1.0 } else { 1.0 },
            classes,
            attacked,
            iterates: Vec::with_capacity(config.steps + 1),
            logits: Vec::with_capacity(config.steps + 1),
        }));
        Ok(run)
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> usize {
        self.taken
    }

    /// Steps the attack takes in all (`config.steps`).
    pub fn steps(&self) -> usize {
        self.config.steps
    }

    /// Whether every step has been taken.
    pub fn is_done(&self) -> bool {
        self.taken >= self.config.steps
    }

    /// Takes up to `steps` more steps (fewer if the attack ends first). Nothing is read
    /// back: on a GPU the work is only queued.
    pub async fn advance(&mut self, steps: usize) -> Result<(), String> {
        let steps = steps.min(self.config.steps - self.taken);
        if let Some(state) = &mut self.state {
            for _ in 0..steps {
                state.step(&self.config);
            }
        }
        self.taken += steps;
        Ok(())
    }

    /// Takes the remaining steps and reads every job's result back; `jobs` are the jobs the
    /// run was started with (the run keeps only their images on the device, so that it can be
    /// kept between calls without borrowing them).
    pub async fn finish(mut self, jobs: &[AttackJob<'_>]) -> Result<Vec<AttackResult>, String> {
        if jobs.len() != self.batch {
            return Err(format!(
                "the attack was started with {} jobs and finished with {}",
                self.batch,
                jobs.len()
            ));
        }
        self.advance(self.config.steps).await?;
        let Some(state) = self.state else {
            return Ok(Vec::new());
        };
        let PgdState {
            model,
            x,
            d,
            classes,
            attacked,
            mut iterates,
            mut logits,
            ..
        } = *state;
        let [b, n] = d.dims();
        logits.push(model.forward(x + d.clone()));
        iterates.push(d);
        let steps = iterates.len();
        let iterates = read_f32(Tensor::stack::<3>(iterates, 0)).await?;
        let logits = read_f32(Tensor::stack::<3>(logits, 0)).await?;
        Ok(jobs
            .iter()
            .enumerate()
            .map(|(row, job)| {
                let path: Vec<AttackStep> = (0..steps)
                    .map(|t| {
                        let at = (t * b + row) * n;
                        let scores = &logits[(t * b + row) * classes..(t * b + row + 1) * classes];
                        record(&iterates[at..at + n], scores, attacked[row])
                    })
                    .collect();
                finish(path, job, &self.config, self.stop_at_first_flip)
            })
            .collect())
    }
}

impl PgdState {
    /// One PGD step, recording the iterate it starts from.
    fn step(&mut self, config: &AttackConfig) {
        let input = (self.x.clone() + self.d.clone()).autodiff().require_grad();
        let out = self.model.forward(input.clone());
        self.logits.push(out.clone().without_autodiff());
        self.iterates.push(self.d.clone());
        // Sum of per-image losses: row i of the gradient is image i's own.
        let loss = log_softmax(out, 1)
            .gather(1, self.index.clone())
            .sum()
            .neg();
        let grad = input
            .grad(&loss.backward())
            .expect("the attacked input is a leaf that requires a gradient")
            .mul_scalar(self.direction);
        self.d = pgd_update(
            &self.x,
            self.d.clone(),
            grad,
            self.subspace.as_ref(),
            config,
        );
    }
}

/// One PGD update of the perturbations `d` of `x` along the ascent gradient `grad`: the step
/// (see [`step_direction`]), then back into the eps-ball and the pixel box.
fn pgd_update(
    x: &Tensor<2>,
    d: Tensor<2>,
    grad: Tensor<2>,
    subspace: Option<&DeviceSubspace>,
    config: &AttackConfig,
) -> Tensor<2> {
    let step = step_direction(grad, subspace, config.norm, config.step_size);
    let d = project_to_ball(d + step, config.norm, config.eps);
    clip_to_box(x, d)
}

/// What a [`BatchPgd`] attack aims at, for each row's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Leave the class (the true label): ascend its loss.
    Untargeted,
    /// Reach the class (a target): descend its loss.
    Targeted,
}

/// Unrestricted PGD over a whole batch that never leaves the device: no iterate is recorded
/// and nothing is read back, so it suits adversarial training and attacking a whole training
/// set. Each row may have its own class to leave or reach. The attack starts at x and takes
/// every step (it does not stop at a flip). Its steps are those of [`pgd_batch`].
#[derive(Clone, Debug, PartialEq)]
pub struct BatchPgd {
    config: AttackConfig,
}

impl BatchPgd {
    /// Checks `config`; the classes come with each batch, so `config.target` must be `None`,
    /// and the attack starts at x, so `config.random_start` must be off.
    pub fn new(config: AttackConfig) -> Result<Self, String> {
        config.validate()?;
        if config.target.is_some() {
            return Err("a batch attack takes its targets per row, not from the config".into());
        }
        if config.random_start {
            return Err("a batch attack starts at x (no random start)".into());
        }
        Ok(Self { config })
    }

    /// The attack's settings.
    pub fn config(&self) -> &AttackConfig {
        &self.config
    }

    /// The adversarial images x + d for the rows of `images` (`[batch, n]`, pixels in
    /// [0, 1]), each attacking its class in `classes` (`[batch]`) as `goal` says.
    pub fn perturb(
        &self,
        classifier: &Classifier,
        images: Tensor<2>,
        classes: Tensor<1, Int>,
        goal: Goal,
    ) -> Tensor<2> {
        let model = classifier.valid();
        let x = images.without_autodiff();
        let [b, _] = x.dims();
        let index = classes.reshape([b, 1]).autodiff();
        let direction = match goal {
            Goal::Untargeted => 1.0,
            Goal::Targeted => -1.0,
        };
        let mut d = x.zeros_like();
        for _ in 0..self.config.steps {
            let input = (x.clone() + d.clone()).autodiff().require_grad();
            let loss = log_softmax(model.forward(input.clone()), 1)
                .gather(1, index.clone())
                .sum()
                .neg();
            let grad = input
                .grad(&loss.backward())
                .expect("the attacked input is a leaf that requires a gradient")
                .mul_scalar(direction);
            d = pgd_update(&x, d, grad, None, &self.config);
        }
        x + d
    }
}

/// The rows' images concatenated.
fn flatten<'a>(rows: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    rows.flat_map(|r| r.iter().copied()).collect()
}

/// Each job's starting perturbation, inside its ball, its subspace and the pixel box.
fn random_starts(jobs: &[AttackJob<'_>], config: &AttackConfig) -> Vec<f32> {
    let mut starts = Vec::new();
    for job in jobs {
        let n = job.image.len();
        let mut rng = Rng::new(config.seed);
        if !config.random_start {
            starts.extend(std::iter::repeat_n(0.0, n));
            continue;
        }
        let d: Vec<f32> = match config.norm {
            Norm::Linf => (0..n)
                .map(|_| (2.0 * rng.unit_f32() - 1.0) * config.eps)
                .collect(),
            Norm::L2 => {
                let noise: Vec<f32> = (0..n).map(|_| standard_normal(&mut rng) as f32).collect();
                let noise = match job.restriction {
                    Some(r) => r.project(&noise),
                    None => noise,
                };
                let norm = l2_norm(&noise).max(f32::MIN_POSITIVE);
                let radius = config.eps * rng.unit_f32();
                noise.iter().map(|v| v * radius / norm).collect()
            }
        };
        starts.extend(
            d.iter()
                .zip(job.image)
                .map(|(d, x)| (x + d).clamp(0.0, 1.0) - x),
        );
    }
    starts
}

/// One iterate as seen on the host, with the attacked class's cross-entropy -log p.
fn record(perturbation: &[f32], logits: &[f32], attacked: u8) -> AttackStep {
    let log_p = log_probabilities(logits);
    let probabilities: Vec<f32> = log_p.iter().map(|l| l.exp() as f32).collect();
    AttackStep {
        perturbation: perturbation.to_vec(),
        predicted: arg_max(&probabilities),
        loss: -log_p[usize::from(attacked)] as f32,
        probabilities,
    }
}

/// log softmax in f64: `l_c - max - ln sum_j exp(l_j - max)`, so that no exponential
/// overflows and a tiny probability keeps its logarithm.
fn log_probabilities(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let shifted: Vec<f64> = logits.iter().map(|&l| f64::from(l - max)).collect();
    let log_total = shifted.iter().map(|l| l.exp()).sum::<f64>().ln();
    shifted.iter().map(|l| l - log_total).collect()
}

fn arg_max(values: &[f32]) -> u8 {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0 as u8
}

fn finish(
    mut path: Vec<AttackStep>,
    job: &AttackJob<'_>,
    config: &AttackConfig,
    stop_at_first_flip: bool,
) -> AttackResult {
    let flipped_at = path.iter().position(|s| match config.target {
        Some(target) => s.predicted == target,
        None => s.predicted != job.label,
    });
    if let (true, Some(t)) = (stop_at_first_flip, flipped_at) {
        path.truncate(t + 1);
    }
    let last = path.last().expect("a path has at least its start");
    let perturbation = last.perturbation.clone();
    AttackResult {
        predicted: last.predicted,
        confidence: last.probabilities[usize::from(last.predicted)],
        l2: l2_norm(&perturbation),
        linf: perturbation.iter().fold(0.0, |m, v| v.abs().max(m)),
        outside_fraction: job.restriction.map(|r| r.outside_fraction(&perturbation)),
        flipped_at,
        path,
        perturbation,
    }
}

/// The rows' subspaces on the device: bases zero-padded to one width, and which rows keep
/// the span (1) or its complement (0). An unrestricted row has a zero basis and keeps the
/// complement, which is everything.
struct DeviceSubspace {
    /// `[batch, n, width]`.
    q: Tensor<3>,
    /// `[batch, 1]`.
    on: Tensor<2>,
}

impl DeviceSubspace {
    /// `None` when no job is restricted.
    fn new(jobs: &[AttackJob<'_>], device: &Device) -> Option<Self> {
        let width = jobs
            .iter()
            .filter_map(|j| j.restriction.map(|r| r.basis.rank))
            .max()?
            .max(1);
        let n = jobs[0].image.len();
        let mut q = vec![0f32; jobs.len() * n * width];
        let mut on = vec![0f32; jobs.len()];
        for (row, job) in jobs.iter().enumerate() {
            let Some(r) = job.restriction else { continue };
            on[row] = f32::from(r.subspace == Subspace::On);
            for j in 0..r.basis.rank {
                for (i, &v) in r.basis.column(j).iter().enumerate() {
                    q[(row * n + i) * width + j] = v;
                }
            }
        }
        let b = jobs.len();
        Some(Self {
            q: Tensor::from_data(TensorData::new(q, [b, n, width]), device),
            on: Tensor::from_data(TensorData::new(on, [b, 1]), device),
        })
    }

    /// Each row of `grad` projected onto its row's allowed subspace.
    fn restrict(&self, grad: Tensor<2>) -> Tensor<2> {
        let [b, n] = grad.dims();
        // Q (Q^T g) as [b, 1, n] · [b, n, w] · [b, w, n].
        let inside = grad
            .clone()
            .reshape([b, 1, n])
            .matmul(self.q.clone())
            .matmul(self.q.clone().swap_dims(1, 2))
            .reshape([b, n]);
        let outside = grad - inside.clone();
        inside * self.on.clone() + outside * self.on.clone().neg().add_scalar(1.0)
    }
}

/// The step PGD adds to d for the (ascent) gradient `grad` (`[batch, n]`): restricted to each
/// row's subspace first, then `step_size · g / ||g||` (L2) or `step_size · sign(g)` (L∞). A
/// zero gradient gives a zero step.
fn step_direction(
    grad: Tensor<2>,
    subspace: Option<&DeviceSubspace>,
    norm: Norm,
    step_size: f32,
) -> Tensor<2> {
    let grad = match subspace {
        Some(s) => s.restrict(grad),
        None => grad,
    };
    match norm {
        Norm::L2 => {
            let length = grad.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
            grad.div(length).mul_scalar(step_size)
        }
        Norm::Linf => grad.sign().mul_scalar(step_size),
    }
}

/// The nearest point of the eps-ball to each row of `d`: rescaled to length eps if longer
/// (L2), clamped to [-eps, eps] per pixel (L∞).
fn project_to_ball(d: Tensor<2>, norm: Norm, eps: f32) -> Tensor<2> {
    match norm {
        Norm::L2 => {
            let length = d.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
            let scale = length.recip().mul_scalar(eps).clamp_max(1.0);
            d * scale
        }
        Norm::Linf => d.clamp(-eps, eps),
    }
}

/// d changed so that x + d lies in the pixel box [0, 1].
fn clip_to_box(x: &Tensor<2>, d: Tensor<2>) -> Tensor<2> {
    (x.clone() + d).clamp(0.0, 1.0) - x.clone()
}

/// The classifier's verdict on one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub probabilities: Vec<f32>,
    pub predicted: u8,
    pub confidence: f32,
}

/// The classifier's verdicts on `images`, concatenated rows of `n` pixels each.
pub async fn classify(
    classifier: &Classifier,
    images: &[f32],
    n: usize,
    device: &Device,
) -> Result<Vec<Prediction>, String> {
    if n == 0 || !images.len().is_multiple_of(n) {
        return Err(format!(
            "{} values are not whole images of {n} pixels",
            images.len()
        ));
    }
    let count = images.len() / n;
    let device = &device.clone().without_autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(images.to_vec(), [count, n]), device);
    let logits = read_f32(classifier.valid().forward(x)).await?;
    let classes = logits.len() / count.max(1);
    Ok(logits
        .chunks(classes)
        .map(|scores| {
            let probabilities: Vec<f32> = log_probabilities(scores)
                .iter()
                .map(|l| l.exp() as f32)
                .collect();
            let predicted = arg_max(&probabilities);
            Prediction {
                confidence: probabilities[usize::from(predicted)],
                predicted,
                probabilities,
            }
        })
        .collect())
}

/// The four images of the paper's argument, in this order: x, the adversarial example x + d,
/// its on-manifold projection x + Proj_M(d) and its off-manifold projection
/// x + (d - Proj_M(d)).
#[derive(Clone, Debug, PartialEq)]
pub struct FourViews {
    /// The images, not clipped: a projection of d may leave the pixel box; clip to draw.
    pub images: [Vec<f32>; 4],
    pub predictions: [Prediction; 4],
    /// ||Proj_M(d)|| / ||d||.
    pub on_manifold_fraction: f32,
}

/// The four views of the perturbation `d` of `x` at the tangent space `basis`, each with the
/// classifier's verdict.
pub async fn four_views(
    classifier: &Classifier,
    basis: &TangentBasis,
    x: &[f32],
    d: &[f32],
    device: &Device,
) -> Result<FourViews, String> {
    let n = x.len();
    if d.len() != n || basis.n != n {
        return Err("the image, the perturbation and the basis differ in size".into());
    }
    let plus = |v: &[f32]| -> Vec<f32> { x.iter().zip(v).map(|(a, b)| a + b).collect() };
    let images = [
        x.to_vec(),
        plus(d),
        plus(&project_on_manifold(basis, d)),
        plus(&off_manifold(basis, d)),
    ];
    let predictions = classify(
        classifier,
        &flatten(images.iter().map(Vec::as_slice)),
        n,
        device,
    )
    .await?;
    let predictions: [Prediction; 4] = predictions
        .try_into()
        .map_err(|_| "expected four predictions".to_string())?;
    Ok(FourViews {
        images,
        predictions,
        on_manifold_fraction: on_manifold_fraction(basis, d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::manifold::random_subspace;

    fn tensor(rows: &[Vec<f32>], device: &Device) -> Tensor<2> {
        let n = rows[0].len();
        Tensor::from_data(
            TensorData::new(flatten(rows.iter().map(Vec::as_slice)), [rows.len(), n]),
            device,
        )
    }

    fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
        let [_, n] = t.dims();
        t.try_into_vec_as::<f32>()
            .unwrap()
            .chunks(n)
            .map(<[f32]>::to_vec)
            .collect()
    }

    #[test]
    fn restricted_search_starts_at_x_with_l2_steps() {
        let plain = AttackConfig::default();
        // The default attack at its own radius is its own search: one batch for all four.
        assert_eq!(plain.restricted_search(plain.eps), plain);
        let search = plain.restricted_search(6.0);
        assert_eq!((search.norm, search.eps), (Norm::L2, 6.0));
        assert_eq!(search.step_size, plain.step_size);
        for norm in [Norm::L2, Norm::Linf] {
            let attack = AttackConfig {
                norm,
                eps: 0.1,
                step_size: 0.01,
                steps: 77,
                random_start: true,
                target: Some(3),
                seed: 9,
            };
            let search = attack.restricted_search(6.0);
            assert!(
                !search.random_start,
                "a random start would add to the norm at the flip"
            );
            assert_eq!((search.norm, search.eps), (Norm::L2, 6.0));
            assert_eq!((search.steps, search.target, search.seed), (77, Some(3), 9));
            let step = if norm == Norm::L2 {
                0.01
            } else {
                AttackConfig::RESTRICTED_L2_STEP
            };
            assert_eq!(search.step_size, step);
            assert_ne!(search, attack);
        }
    }

    #[test]
    fn config_ranges_are_enforced() {
        assert!(AttackConfig::default().validate().is_ok());
        let bad = [
            AttackConfig {
                eps: 0.0,
                ..Default::default()
            },
            AttackConfig {
                eps: f32::NAN,
                ..Default::default()
            },
            AttackConfig {
                norm: Norm::Linf,
                eps: 1.5,
                ..Default::default()
            },
            AttackConfig {
                step_size: -0.1,
                ..Default::default()
            },
            AttackConfig {
                steps: 0,
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }

    #[test]
    fn restricted_steps_stay_in_their_subspace() {
        let device = Device::flex();
        let mut rng = Rng::new(11);
        let n = 60;
        let basis = random_subspace(n, 5, &mut rng);
        let narrow = random_subspace(n, 3, &mut rng);
        let image = vec![0.5; n];
        let jobs = [
            AttackJob {
                image: &image,
                label: 0,
                restriction: Some(Restriction {
                    basis: &basis,
                    subspace: Subspace::On,
                }),
            },
            AttackJob {
                image: &image,
                label: 0,
                restriction: Some(Restriction {
                    basis: &basis,
                    subspace: Subspace::Off,
                }),
            },
            AttackJob {
                image: &image,
                label: 0,
                restriction: None,
            },
            AttackJob {
                image: &image,
                label: 0,
                restriction: Some(Restriction {
                    basis: &narrow,
                    subspace: Subspace::On,
                }),
            },
        ];
        let subspace = DeviceSubspace::new(&jobs, &device).unwrap();
        let grads: Vec<Vec<f32>> = (0..4)
            .map(|_| (0..n).map(|_| standard_normal(&mut rng) as f32).collect())
            .collect();
        let steps = rows(step_direction(
            tensor(&grads, &device),
            Some(&subspace),
            Norm::L2,
            0.3,
        ));
        for (step, job) in steps.iter().zip(&jobs) {
            assert!(
                (l2_norm(step) - 0.3).abs() < 1e-5,
                "L2 steps have the step size"
            );
            if let Some(r) = job.restriction {
                assert!(r.outside_fraction(step) < 1e-3, "{:?}", r.subspace);
            }
        }
        // The unrestricted row follows the raw gradient; the on and off rows split it.
        let cosine = |a: &[f32], b: &[f32]| {
            a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (l2_norm(a) * l2_norm(b))
        };
        assert!(cosine(&steps[2], &grads[2]) > 0.9999);
        let on = project_on_manifold(&basis, &grads[0]);
        assert!(cosine(&steps[0], &on) > 0.9999);
        let off = off_manifold(&basis, &grads[1]);
        assert!(cosine(&steps[1], &off) > 0.9999);

        let linf = rows(step_direction(
            tensor(&grads, &device),
            None,
            Norm::Linf,
            0.1,
        ));
        assert!(linf.iter().flatten().all(|v| (v.abs() - 0.1).abs() < 1e-7));
        let zero = rows(step_direction(
            tensor(&[vec![0.0; n]], &device),
            None,
            Norm::L2,
            0.3,
        ));
        assert!(zero[0].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn ball_projection_and_box_clipping() {
        let device = Device::flex();
        let d = vec![vec![3.0, 4.0, 0.0], vec![0.3, -0.4, 0.0], vec![0.0; 3]];
        let l2 = rows(project_to_ball(tensor(&d, &device), Norm::L2, 1.0));
        assert!((l2_norm(&l2[0]) - 1.0).abs() < 1e-6);
        assert!((l2[0][0] - 0.6).abs() < 1e-6, "rescaled, not clipped");
        assert_eq!(l2[1], d[1], "inside the ball: unchanged");
        assert_eq!(l2[2], d[2]);
        let linf = rows(project_to_ball(tensor(&d, &device), Norm::Linf, 0.35));
        assert_eq!(linf[0], vec![0.35, 0.35, 0.0]);
        assert_eq!(linf[1], vec![0.3, -0.35, 0.0]);

        let x = tensor(&[vec![0.0, 0.5, 1.0]], &device);
        let clipped = rows(clip_to_box(&x, tensor(&[vec![-0.2, 0.7, 0.3]], &device)));
        assert_eq!(clipped[0], vec![0.0, 0.5, 0.0]);
    }
}
