//! Experiment 5: can the autoencoder catch attacks?
//!
//! If adversarial perturbations point off the manifold, an autoencoder trained on natural
//! images should reconstruct x + d worse than x (its output lies on the manifold), and
//! D(E(x + d)) should drop the off-manifold part and with it the attack. For each originally
//! correct image x this experiment makes the plain L2 PGD perturbation d that first flips the
//! class, splits it at the tangent space into Proj(d) and d − Proj(d), and measures the
//! reconstruction error mean (D(E(v)) − v)² of the four views v (x, x + d, x + Proj(d),
//! x + d − Proj(d)), the ROC AUC of that error as a detector against clean images, and the
//! classifier's accuracy on each view and on its reconstruction D(E(v)).
//!
//! The attack does not know about the autoencoder: an adaptive attacker would attack D ∘ E
//! and the classifier together, so accuracy on D(E(x + d)) is an upper bound on what the
//! defence achieves.
//!
//! The control: x + d stops at the first flip, right at the boundary, so almost any change
//! may bring the label back. Each view v is therefore also classified after a change in a
//! random direction of the same length as the reconstruction's, ||D(E(v)) − v||, clipped to
//! the pixel box. The autoencoder purifies only by as much as it beats that.

use super::norms::{NormsConfig, histogram_points};
use super::report::{Cell, Chart, ChartKind, Report, Table};
use super::stats::{Histogram, Summary, roc_auc, roc_curve};
use super::{
    Experiment, Images, PGD_STEPS_PER_UNIT, Progress, attack_progress, check_batch,
    correctly_classified, next_batch,
};
use crate::ml::attack::{AttackConfig, AttackJob, Norm, PgdRun};
use crate::ml::autoencoder::Autoencoder;
use crate::ml::manifold::{
    TangentBasis, off_manifold, project_on_manifold, standard_normal, tangent_basis,
};
use crate::ml::model::Classifier;
use crate::ml::read_f32;
use crate::ml::rng::Rng;
use burn::prelude::*;

/// Mixed into the attack's seed for the control's random directions, so that they are not the
/// random start's.
const CONTROL_STREAM: u64 = 0x636f_6e74_726f_6c00;

/// The four views of an attacked image whose reconstruction error is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// x.
    Clean,
    /// x + d.
    Adversarial,
    /// x + Proj(d).
    OnProjected,
    /// x + (d − Proj(d)).
    OffProjected,
}

impl View {
    /// Every view, in table order.
    pub const ALL: [View; 4] = [
        View::Clean,
        View::Adversarial,
        View::OnProjected,
        View::OffProjected,
    ];

    /// Name shown to a reader.
    pub fn label(self) -> &'static str {
        match self {
            Self::Clean => "clean x",
            Self::Adversarial => "adversarial x + d",
            Self::OnProjected => "on-manifold x + Proj(d)",
            Self::OffProjected => "off-manifold x + d − Proj(d)",
        }
    }

    /// Short name for columns.
    pub fn id(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Adversarial => "adversarial",
            Self::OnProjected => "on",
            Self::OffProjected => "off",
        }
    }
}

/// Settings of the detection experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectConfig {
    /// The plain L2 attack; it stops at its first flip.
    pub attack: AttackConfig,
    /// Images attacked together: one unit of work.
    pub batch: usize,
    /// Histogram bins.
    pub bins: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            attack: NormsConfig::default().attack,
            batch: 8,
            bins: 25,
        }
    }
}

impl DetectConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        self.attack.validate()?;
        if self.attack.norm != Norm::L2 || self.attack.target.is_some() {
            return Err("the detection experiment uses the untargeted L2 attack".into());
        }
        check_batch("the batch", self.batch, NormsConfig::BATCH)?;
        if self.bins == 0 {
            return Err("a histogram needs at least one bin".into());
        }
        Ok(())
    }
}

/// One attacked image.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectRecord {
    /// Index in the test split.
    pub index: usize,
    pub label: u8,
    /// Whether the attack flipped the class within the radius.
    pub flipped: bool,
    /// ||d||₂.
    pub l2: f32,
    /// Reconstruction error (mean squared, per pixel) of each view, in [`View::ALL`] order.
    pub errors: [f32; 4],
    /// The classifier's class for each view.
    pub predicted: [u8; 4],
    /// The classifier's class for each view's reconstruction D(E(v)).
    pub reconstructed: [u8; 4],
    /// The classifier's class for each view after a random change as long as the
    /// reconstruction's, clip(v + r) with ||r|| = ||D(E(v)) − v||: the control.
    pub randomized: [u8; 4],
    /// The perturbation d.
    pub perturbation: Vec<f32>,
}

/// Everything the detection experiment found.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectOutcome {
    pub config: DetectConfig,
    /// Images considered.
    pub considered: usize,
    /// Images skipped because the classifier got them wrong before any attack.
    pub skipped: usize,
    pub records: Vec<DetectRecord>,
}

impl DetectOutcome {
    /// The records of view `view`'s population: every attacked image for the clean view, the
    /// images whose attack flipped the class for the others.
    fn population(&self, view: View) -> impl Iterator<Item = &DetectRecord> {
        self.records
            .iter()
            .filter(move |r| view == View::Clean || r.flipped)
    }

    /// Reconstruction errors of `view` over its population.
    pub fn errors(&self, view: View) -> Vec<f64> {
        self.population(view)
            .map(|r| f64::from(r.errors[view as usize]))
            .collect()
    }

    /// ROC AUC of the reconstruction error as a detector of `view` against clean images.
    pub fn auc(&self, view: View) -> Option<f64> {
        roc_auc(&self.errors(view), &self.errors(View::Clean))
    }

    /// The classifier's accuracy on `view`, on its reconstruction and on the control (a random
    /// change as long as the reconstruction's), over its population.
    pub fn accuracies(&self, view: View) -> (Option<f64>, Option<f64>, Option<f64>) {
        let records: Vec<&DetectRecord> = self.population(view).collect();
        let share = |hit: &dyn Fn(&DetectRecord) -> bool| {
            (!records.is_empty())
                .then(|| records.iter().filter(|r| hit(r)).count() as f64 / records.len() as f64)
        };
        let v = view as usize;
        (
            share(&|r| r.predicted[v] == r.label),
            share(&|r| r.reconstructed[v] == r.label),
            share(&|r| r.randomized[v] == r.label),
        )
    }

    /// The tables and charts.
    pub fn report(&self) -> Report {
        let attack = &self.config.attack;
        let mut report = Report::new("detect", "Can the autoencoder catch attacks?");
        report.setting("images", self.considered);
        report.setting(
            "attack",
            format!(
                "untargeted L2 PGD, radius {}, step {}, {} steps, stopping at the first flip",
                attack.eps, attack.step_size, attack.steps
            ),
        );
        let mut errors = Table::new(
            "errors",
            "Reconstruction error mean (D(E(v)) − v)² per pixel, and its ROC AUC as a detector against clean images",
            &[
                "input v",
                "images",
                "mean",
                "q1",
                "median",
                "q3",
                "ROC AUC vs clean",
            ],
        );
        for view in View::ALL {
            let s = Summary::of(&self.errors(view));
            errors.push(vec![
                Cell::text(view.label()),
                Cell::count(s.map_or(0, |s| s.count)),
                Cell::number(s.map(|s| s.mean), 5),
                Cell::number(s.map(|s| s.q1), 5),
                Cell::number(s.map(|s| s.median), 5),
                Cell::number(s.map(|s| s.q3), 5),
                if view == View::Clean {
                    Cell::Missing
                } else {
                    Cell::number(self.auc(view), 3)
                },
            ]);
        }
        let mut accuracy = Table::new(
            "purification",
            "Accuracy on each input, on its reconstruction D(E(v)), and after a random change as large",
            &[
                "input v",
                "images",
                "classifier(v)",
                "classifier(D(E(v)))",
                "control: classifier(v + r), ||r|| = ||D(E(v)) − v||",
            ],
        );
        for view in View::ALL {
            let (plain, purified, control) = self.accuracies(view);
            accuracy.push(vec![
                Cell::text(view.label()),
                Cell::count(self.population(view).count()),
                Cell::percent(plain),
                Cell::percent(purified),
                Cell::percent(control),
            ]);
        }
        let flipped = self.records.iter().filter(|r| r.flipped).count();
        let mut counts = Table::new("counts", "Images", &["images", "count"]);
        for (what, count) in [
            ("considered", self.considered),
            ("skipped: misclassified before any attack", self.skipped),
            ("attacked", self.records.len()),
            ("attack flipped the class", flipped),
            ("attack failed", self.records.len() - flipped),
        ] {
            counts.push(vec![Cell::text(what), Cell::count(count)]);
        }
        report
            .tables
            .extend([errors, accuracy, counts, self.image_table()]);
        report.charts.extend(self.charts());
        report.notes = vec![
            format!(
                "{} of {} images were skipped because the classifier misclassified them before any attack; \
                 {} attacks failed to flip within radius {} and are left out of the adversarial and projected rows.",
                self.skipped,
                self.considered,
                self.records.len() - flipped,
                attack.eps
            ),
            "The attack does not know about the autoencoder; an adaptive attack on the classifier \
             behind D ∘ E would lower the accuracy on D(E(x + d))."
                .into(),
            "x + d stops at the first flip, at the boundary, so a small change of almost any kind \
             can bring the label back: the control changes each view by a random direction r as \
             long as its reconstruction's change (then clipped to the pixel box), and D ∘ E \
             purifies only by as much as it beats the control."
                .into(),
            "Projected views are not clipped to the pixel box; their pixels outside [0, 1], which \
             the decoder cannot produce, add to their reconstruction error."
                .into(),
        ];
        report
    }

    fn image_table(&self) -> Table {
        let mut columns = vec!["test index", "label", "flipped", "l2"];
        let names: Vec<String> = View::ALL
            .iter()
            .flat_map(|v| {
                [
                    format!("{} error", v.id()),
                    format!("{} class", v.id()),
                    format!("{} reconstructed class", v.id()),
                    format!("{} control class", v.id()),
                ]
            })
            .collect();
        columns.extend(names.iter().map(String::as_str));
        let mut table = Table::new("images", "Per image", &columns).detail();
        for r in &self.records {
            let mut row = vec![
                Cell::count(r.index),
                Cell::count(usize::from(r.label)),
                Cell::text(if r.flipped { "yes" } else { "no" }),
                Cell::number(f64::from(r.l2), 4),
            ];
            for v in 0..4 {
                row.push(Cell::number(f64::from(r.errors[v]), 6));
                row.push(Cell::count(usize::from(r.predicted[v])));
                row.push(Cell::count(usize::from(r.reconstructed[v])));
                row.push(Cell::count(usize::from(r.randomized[v])));
            }
            table.push(row);
        }
        table
    }

    fn charts(&self) -> Vec<Chart> {
        let high = self
            .records
            .iter()
            .flat_map(|r| r.errors)
            .fold(0.0f32, f32::max)
            .max(1e-6);
        let high = f64::from(high) * 1.0001;
        let bins = self.config.bins;
        let mut histograms = Chart::new(
            "error-histograms",
            "Reconstruction error per view",
            ChartKind::Histogram {
                bin_width: high / bins as f64,
            },
            "mean squared reconstruction error",
            "images",
        );
        let mut roc = Chart::new(
            "roc",
            "Reconstruction error as a detector (ROC)",
            ChartKind::Line,
            "false positive rate (clean flagged)",
            "true positive rate",
        );
        for view in View::ALL {
            let errors = self.errors(view);
            histograms = histograms.with(
                view.label(),
                histogram_points(&Histogram::new(&errors, 0.0, high, bins)),
            );
            if view != View::Clean {
                roc = roc.with(view.label(), roc_curve(&errors, &self.errors(View::Clean)));
            }
        }
        vec![histograms, roc]
    }
}

/// The detection experiment on `images`. Units of work: classifying every image (one), then
/// per batch of [`DetectConfig::batch`] images, one per [`PGD_STEPS_PER_UNIT`] steps of their
/// attacks (the last also measures their views).
pub struct DetectExperiment {
    classifier: Classifier,
    autoencoder: Autoencoder,
    images: Images,
    config: DetectConfig,
    device: Device,
    attackable: Option<Vec<usize>>,
    records: Vec<DetectRecord>,
    /// The batch under attack between units of work: its positions and its attack so far.
    underway: Option<(Vec<usize>, PgdRun)>,
}

impl DetectExperiment {
    /// Checks the settings and that the models and images fit together.
    pub fn new(
        classifier: Classifier,
        autoencoder: Autoencoder,
        images: Images,
        config: DetectConfig,
        device: &Device,
    ) -> Result<Self, String> {
        config.validate()?;
        images.check_fit(&autoencoder)?;
        Ok(Self {
            classifier,
            autoencoder,
            images,
            config,
            device: device.clone(),
            attackable: None,
            records: Vec::new(),
            underway: None,
        })
    }

    /// The plain attacks of the images at `positions`.
    fn jobs(&self, positions: &[usize]) -> Vec<AttackJob<'_>> {
        positions
            .iter()
            .map(|&p| AttackJob {
                image: self.images.image(p),
                label: self.images.labels[p],
                restriction: None,
            })
            .collect()
    }

    /// Measures the four views of the images at `positions` once their attack has taken its
    /// last step.
    async fn measure_batch(&mut self, positions: Vec<usize>, run: PgdRun) -> Result<(), String> {
        let n = self.images.n;
        let attacks = run.finish(&self.jobs(&positions)).await?;
        // Rows: the four views of each image, in View::ALL order.
        let mut views = Vec::with_capacity(4 * positions.len() * n);
        for (&p, attack) in positions.iter().zip(&attacks) {
            let x = self.images.image(p);
            let d = &attack.perturbation;
            let basis: TangentBasis = tangent_basis(&self.autoencoder, x, &self.device).await?;
            let plus = |v: &[f32]| x.iter().zip(v).map(|(a, b)| a + b).collect::<Vec<f32>>();
            views.extend_from_slice(x);
            views.extend(plus(d));
            views.extend(plus(&project_on_manifold(&basis, d)));
            views.extend(plus(&off_manifold(&basis, d)));
        }
        let rows = 4 * positions.len();
        let device = self.device.clone().without_autodiff();
        let v = Tensor::<2>::from_data(TensorData::new(views, [rows, n]), &device);
        let autoencoder = self.autoencoder.valid();
        let classifier = self.classifier.valid();
        let reconstructed = autoencoder.reconstruct(v.clone());
        let change = (reconstructed.clone() - v.clone()).square();
        let errors = change.clone().mean_dim(1);
        let lengths = change.sum_dim(1).sqrt();
        // The control: each view moved by a random unit direction (drawn per test image, so
        // the same image gets the same directions in any batch) times its reconstruction's
        // change, clipped to the pixel box.
        let mut directions = Vec::with_capacity(rows * n);
        for &p in &positions {
            let index = self.images.indices[p];
            for direction in control_directions(self.config.attack.seed, index, n) {
                directions.extend(direction);
            }
        }
        let directions = Tensor::<2>::from_data(TensorData::new(directions, [rows, n]), &device);
        let randomized = (v.clone() + directions * lengths).clamp(0.0, 1.0);
        let classes = |images: Tensor<2>| classifier.forward(images).argmax(1).float();
        let errors = read_f32(errors).await?;
        let predicted = read_f32(classes(v)).await?;
        let recon_predicted = read_f32(classes(reconstructed)).await?;
        let random_predicted = read_f32(classes(randomized)).await?;
        for (i, (&p, attack)) in positions.iter().zip(attacks).enumerate() {
            let pick = |values: &[f32]| -> [f32; 4] { std::array::from_fn(|j| values[4 * i + j]) };
            let class = |values: &[f32]| pick(values).map(|c| c as u8);
            self.records.push(DetectRecord {
                index: self.images.indices[p],
                label: self.images.labels[p],
                flipped: attack.flipped_at.is_some(),
                l2: attack.l2,
                errors: pick(&errors),
                predicted: class(&predicted),
                reconstructed: class(&recon_predicted),
                randomized: class(&random_predicted),
                perturbation: attack.perturbation,
            });
        }
        Ok(())
    }
}

/// The control's random unit directions in R^n for the four views of test image `index`, in
/// [`View::ALL`] order: the same for an image in any batch.
pub fn control_directions(seed: u64, index: usize, n: usize) -> [Vec<f32>; 4] {
    let mut rng = Rng::new(seed ^ CONTROL_STREAM ^ index as u64);
    std::array::from_fn(|_| {
        let r: Vec<f32> = (0..n).map(|_| standard_normal(&mut rng) as f32).collect();
        let norm = r
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        r.iter().map(|v| v / norm).collect()
    })
}

impl Experiment for DetectExperiment {
    type Outcome = DetectOutcome;

    fn progress(&self) -> Progress {
        attack_progress(
            self.images.len(),
            self.attackable.as_deref(),
            self.records.len(),
        )
    }

    async fn advance(&mut self, units: usize) -> Result<(), String> {
        for _ in 0..units {
            let (positions, mut run) = match self.underway.take() {
                Some(underway) => underway,
                None => {
                    let Some(attackable) = &self.attackable else {
                        let (attackable, _) =
                            correctly_classified(&self.classifier, &self.images, &self.device)
                                .await?;
                        self.attackable = Some(attackable);
                        continue;
                    };
                    let Some(positions) =
                        next_batch(attackable, self.records.len(), self.config.batch)
                    else {
                        break;
                    };
                    let run = PgdRun::new(
                        &self.classifier,
                        &self.jobs(&positions),
                        &self.config.attack,
                        true,
                        &self.device,
                    )?;
                    (positions, run)
                }
            };
            run.advance(PGD_STEPS_PER_UNIT).await?;
            if run.is_done() {
                self.measure_batch(positions, run).await?;
            } else {
                self.underway = Some((positions, run));
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<DetectOutcome, String> {
        if !self.is_done() {
            return Err("the detection experiment has work left".into());
        }
        let attacked = self.attackable.as_ref().map_or(0, Vec::len);
        Ok(DetectOutcome {
            considered: self.images.len(),
            skipped: self.images.len() - attacked,
            records: self.records,
            config: self.config,
        })
    }
}
