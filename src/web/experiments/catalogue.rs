//! The five experiments as the page offers them: what each tests in plain words, its few
//! settings with small defaults for a browser, what it needs from the page's [`Lab`], and how
//! it is built from them. The science is `ml::experiments`; this file only fills in its
//! configurations.

use crate::form::{self, Bounds};
use crate::ml::attack::AttackConfig;
use crate::ml::autoencoder::Autoencoder;
use crate::ml::batch::DeviceSplit;
use crate::ml::experiments::Images;
use crate::ml::experiments::advtrain::{AdvTrainConfig, AdvTrainExperiment};
use crate::ml::experiments::detect::{DetectConfig, DetectExperiment};
use crate::ml::experiments::dynamics::{DynamicsConfig, DynamicsExperiment};
use crate::ml::experiments::mislabeled::{MislabeledConfig, MislabeledExperiment};
use crate::ml::experiments::norms::{NormsConfig, NormsExperiment};
use crate::ml::model::Classifier;
use crate::ml::train::TrainConfig;
use crate::web::lab::Lab;

/// Seed of the image samples, the subspaces and the trained models: the command line's
/// default, so that a page run and `dimple experiment` agree.
const SEED: u64 = 1;

/// Images attacked in one unit of work. The command line attacks 8 at a time; in the page one
/// image's four attacks take a few hundred milliseconds on the CPU backend, and the page
/// yields to the browser between units. Results depend on it only through float rounding.
const PAGE_ATTACK_BATCH: usize = 1;

/// Images attacked together in a unit of the robust accuracy and of the mislabeled
/// experiment's adversarial training set.
const PAGE_EVAL_BATCH: usize = 25;

/// One of the five experiments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Which {
    Norms,
    Dynamics,
    AdvTrain,
    Mislabeled,
    Detect,
}

/// A number setting of an experiment, shown as a [`NumberField`](crate::web::fields::NumberField).
pub struct FieldSpec {
    pub label: &'static str,
    pub testid: &'static str,
    pub default: &'static str,
    pub bounds: Bounds,
}

const fn field(
    label: &'static str,
    testid: &'static str,
    default: &'static str,
    bounds: Bounds,
) -> FieldSpec {
    FieldSpec {
        label,
        testid,
        default,
        bounds,
    }
}

/// Allowed ranges of the settings.
const IMAGES: Bounds = Bounds::Whole(1, 2000);
const PROBES: Bounds = Bounds::Whole(1, 200);
const RADIUS: Bounds = Bounds::Closed(0.1, form::IMAGE_DIAMETER);
const STEPS: Bounds = Bounds::Whole(1, 5000);
const EPOCHS: Bounds = Bounds::Whole(1, 20);

const NORMS_FIELDS: [FieldSpec; 3] = [
    field("Test images N", "exp-norms-images", "20", IMAGES),
    field("Radius (L2)", "exp-norms-radius", "10", RADIUS),
    field("PGD steps", "exp-norms-steps", "500", STEPS),
];
const DYNAMICS_FIELDS: [FieldSpec; 3] = [
    field("Probe images", "exp-dynamics-images", "10", PROBES),
    field("Epochs", "exp-dynamics-epochs", "2", EPOCHS),
    field("PGD steps", "exp-dynamics-steps", "250", STEPS),
];
const ADVTRAIN_FIELDS: [FieldSpec; 4] = [
    field("Epochs", "exp-advtrain-epochs", "1", EPOCHS),
    field(
        "Training radius (L2)",
        "exp-advtrain-radius",
        "1.5",
        Bounds::Closed(0.1, 10.0),
    ),
    field(
        "Robust-accuracy images",
        "exp-advtrain-images",
        "100",
        IMAGES,
    ),
    field("Norm-to-flip images", "exp-advtrain-probes", "10", PROBES),
];
const MISLABELED_FIELDS: [FieldSpec; 2] = [
    field(
        "Training images",
        "exp-mislabeled-images",
        "3000",
        Bounds::Whole(10, 60000),
    ),
    field("Epochs", "exp-mislabeled-epochs", "3", EPOCHS),
];
const DETECT_FIELDS: [FieldSpec; 3] = [
    field("Test images N", "exp-detect-images", "20", IMAGES),
    field("Radius (L2)", "exp-detect-radius", "10", RADIUS),
    field("PGD steps", "exp-detect-steps", "500", STEPS),
];

impl Which {
    /// Every experiment, in the order of the page and the paper's notes.
    pub const ALL: [Which; 5] = [
        Which::Norms,
        Which::Dynamics,
        Which::AdvTrain,
        Which::Mislabeled,
        Which::Detect,
    ];

    /// Short name, as in `dimple experiment NAME` and the data-testids.
    pub fn id(self) -> &'static str {
        match self {
            Self::Norms => "norms",
            Self::Dynamics => "dynamics",
            Self::AdvTrain => "advtrain",
            Self::Mislabeled => "mislabeled",
            Self::Detect => "detect",
        }
    }

    /// The experiment's name for a reader.
    pub fn title(self) -> &'static str {
        match self {
            Self::Norms => "Norm to flip per subspace",
            Self::Dynamics => "Training dynamics",
            Self::AdvTrain => "Adversarial training",
            Self::Mislabeled => "Mislabeled adversarial examples",
            Self::Detect => "The autoencoder as a detector",
        }
    }

    /// `data-testid` of its Run button.
    pub fn run_testid(self) -> &'static str {
        match self {
            Self::Norms => "exp-norms-run",
            Self::Dynamics => "exp-dynamics-run",
            Self::AdvTrain => "exp-advtrain-run",
            Self::Mislabeled => "exp-mislabeled-run",
            Self::Detect => "exp-detect-run",
        }
    }

    /// `data-testid` of its result's main table.
    pub fn table_testid(self) -> &'static str {
        match self {
            Self::Norms => "exp-norms-table",
            Self::Dynamics => "exp-dynamics-table",
            Self::AdvTrain => "exp-advtrain-table",
            Self::Mislabeled => "exp-mislabeled-table",
            Self::Detect => "exp-detect-table",
        }
    }

    /// What it tests and what result would support or contradict the paper, for a student.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Norms => {
                "Each test image is attacked four ways, and the L2 norm of d at the first class change measures how far \
                 the boundary is in that direction: unrestricted, only along the manifold (the autoencoder's tangent \
                 space), only across it, and only inside a random subspace of the same dimension k. The dimpled manifold \
                 model predicts off ≈ plain ≪ on, with the random control in between. On close to off, or on no harder \
                 than random, would go against it."
            }
            Self::Dynamics => {
                "A fresh classifier is trained while a few test images are measured at checkpoints: the share of the \
                 input gradient lying in the tangent space (against a random k-subspace), and how far the boundary is \
                 along and across the manifold. Clinging shows as the tangent share dropping early towards or below the \
                 random share, with the off-manifold distance staying small; no such drop would not support it."
            }
            Self::AdvTrain => {
                "Two classifiers learn with the same recipe and seed, one from clean images and one from PGD adversarial \
                 examples of them. The paper reads adversarial training as deepening the dimples: the norms to flip \
                 (plain and off-manifold) should grow and robust accuracy rise, at some cost in clean accuracy. Unchanged \
                 off-manifold norms would go against that reading."
            }
            Self::Mislabeled => {
                "N1 is trained; every training image is then nudged by a targeted attack towards the next class and \
                 relabelled as that class, and N2 learns from those N1 now puts in that class: every label it sees is \
                 wrong to a human eye. Had N2 learned only what a human sees, it would call a clean 3 a 4 and score 0% \
                 on clean test images, not chance. Accuracy above 0%, and the true class winning more than 1 in 9 of \
                 N2's other answers, means the tiny perturbations carry what N1 decides by, as Ilyas et al. and the \
                 paper's account both predict."
            }
            Self::Detect => {
                "If adversarial perturbations point off the manifold, the autoencoder should reconstruct x + d worse \
                 than x, and classifying D(E(x + d)) should undo the attack. The tables give the reconstruction errors, \
                 how well the error detects attacks (ROC AUC: 0.5 is chance, 1 perfect) and the accuracy on \
                 reconstructions; an AUC near 0.5 would mean the manifold does not help here. The attack does not know \
                 the autoencoder, so this is the defence's best case."
            }
        }
    }

    /// What it needs from the page, in words.
    pub fn uses(self) -> &'static str {
        match self {
            Self::Norms | Self::Detect => "Uses this page's classifier and autoencoder.",
            Self::Dynamics => "Trains its own MLP; uses this page's autoencoder.",
            Self::AdvTrain => "Trains its own two MLPs; uses this page's autoencoder.",
            Self::Mislabeled => "Trains its own two MLPs (N1 and N2); needs nothing else.",
        }
    }

    /// Whether it attacks the page's classifier.
    pub fn needs_classifier(self) -> bool {
        matches!(self, Self::Norms | Self::Detect)
    }

    /// Whether it uses the page's autoencoder.
    pub fn needs_autoencoder(self) -> bool {
        self != Self::Mislabeled
    }

    /// Its settings, in the order they are shown and read.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Self::Norms => &NORMS_FIELDS,
            Self::Dynamics => &DYNAMICS_FIELDS,
            Self::AdvTrain => &ADVTRAIN_FIELDS,
            Self::Mislabeled => &MISLABELED_FIELDS,
            Self::Detect => &DETECT_FIELDS,
        }
    }

    /// Reads its settings from `values` (typed text, in [`Which::fields`] order); the message
    /// names the setting that is wrong.
    pub fn plan(self, values: &[String]) -> Result<Plan, String> {
        let specs = self.fields();
        let get = |i: usize| number(&specs[i], &values[i]);
        let whole = |i: usize| get(i).map(|v| v as usize);
        // The flip-measuring attack of the norms experiment, over `radius` in `steps` equal
        // steps: a straight run reaches the radius at the last step.
        let attack = |radius: f64, steps: usize| {
            let base = NormsConfig::default().attack;
            AttackConfig {
                eps: radius as f32,
                step_size: (radius / steps as f64) as f32,
                steps,
                ..base
            }
        };
        let plan = match self {
            Self::Norms => Plan::Norms {
                images: whole(0)?,
                config: NormsConfig {
                    attack: attack(get(1)?, whole(2)?),
                    batch: PAGE_ATTACK_BATCH,
                    seed: SEED,
                    ..NormsConfig::default()
                },
            },
            Self::Dynamics => {
                let base = DynamicsConfig::default();
                Plan::Dynamics {
                    probes: whole(0)?,
                    config: DynamicsConfig {
                        train: TrainConfig {
                            epochs: whole(1)?,
                            seed: SEED,
                            ..TrainConfig::default()
                        },
                        attack: attack(f64::from(base.attack.eps), whole(2)?),
                        batch: PAGE_ATTACK_BATCH,
                        seed: SEED,
                        ..base
                    },
                }
            }
            Self::AdvTrain => Plan::AdvTrain {
                robust: whole(2)?,
                probes: whole(3)?,
                config: AdvTrainConfig {
                    train: TrainConfig {
                        epochs: whole(0)?,
                        seed: SEED,
                        ..TrainConfig::default()
                    },
                    adversary: AdvTrainConfig::adversary(get(1)? as f32),
                    eval_batch: PAGE_EVAL_BATCH,
                    norms: NormsConfig {
                        batch: PAGE_ATTACK_BATCH,
                        seed: SEED,
                        ..NormsConfig::default()
                    },
                    ..AdvTrainConfig::default()
                },
            },
            Self::Mislabeled => Plan::Mislabeled {
                images: whole(0)?,
                config: MislabeledConfig {
                    train: TrainConfig {
                        epochs: whole(1)?,
                        seed: SEED,
                        ..TrainConfig::default()
                    },
                    batch: PAGE_EVAL_BATCH,
                    ..MislabeledConfig::default()
                },
            },
            Self::Detect => Plan::Detect {
                images: whole(0)?,
                config: DetectConfig {
                    attack: attack(get(1)?, whole(2)?),
                    batch: PAGE_ATTACK_BATCH,
                    ..DetectConfig::default()
                },
            },
        };
        plan.validate()?;
        Ok(plan)
    }
}

/// `text` as the number `spec` asks for, in its bounds.
fn number(spec: &FieldSpec, text: &str) -> Result<f64, String> {
    form::real(spec.label, text, spec.bounds)
}

/// An experiment's settings, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Norms {
        images: usize,
        config: NormsConfig,
    },
    Dynamics {
        probes: usize,
        config: DynamicsConfig,
    },
    AdvTrain {
        robust: usize,
        probes: usize,
        config: AdvTrainConfig,
    },
    Mislabeled {
        images: usize,
        config: MislabeledConfig,
    },
    Detect {
        images: usize,
        config: DetectConfig,
    },
}

impl Plan {
    fn validate(&self) -> Result<(), String> {
        match self {
            Self::Norms { config, .. } => config.validate(),
            Self::Dynamics { config, .. } => config.validate(),
            Self::AdvTrain { config, .. } => config.validate(),
            Self::Mislabeled { config, .. } => config.validate(),
            Self::Detect { config, .. } => config.validate(),
        }
    }

    /// The settings the page chose beyond the experiment's own report, as (name, value).
    pub fn page_settings(&self) -> Vec<(String, String)> {
        let batch = |n: usize| {
            (
                "images per unit of work".to_string(),
                format!("{n} (results depend on it only through float rounding)"),
            )
        };
        match self {
            Self::Norms { .. } | Self::Dynamics { .. } | Self::Detect { .. } => {
                vec![batch(PAGE_ATTACK_BATCH)]
            }
            Self::AdvTrain { .. } | Self::Mislabeled { .. } => vec![batch(PAGE_EVAL_BATCH)],
        }
    }
}

/// The experiment of a plan, built on the page's data and models.
pub enum Built {
    Norms(NormsExperiment),
    Dynamics(DynamicsExperiment),
    AdvTrain(Box<AdvTrainExperiment>),
    Mislabeled(MislabeledExperiment),
    Detect(DetectExperiment),
}

/// The page's models an experiment of `which` uses; the message says what to train first.
fn models(lab: &Lab, which: Which) -> Result<(Option<Classifier>, Option<Autoencoder>), String> {
    let classifier = lab.classifier.clone();
    let autoencoder = lab.autoencoder.clone();
    let missing = match (
        which.needs_classifier() && classifier.is_none(),
        which.needs_autoencoder() && autoencoder.is_none(),
    ) {
        (true, true) => {
            Some("a classifier and an autoencoder: train them first (the Train buttons above)")
        }
        (true, false) => {
            Some("a classifier: train one first (the Train button above; one epoch is enough)")
        }
        (false, true) => Some(
            "an autoencoder for its tangent spaces: train one first (the autoencoder panel above)",
        ),
        (false, false) => None,
    };
    match missing {
        Some(what) => Err(format!("the {} experiment needs {what}", which.id())),
        None => Ok((classifier, autoencoder)),
    }
}

impl Built {
    /// Builds `plan` on `lab`'s data and models (clones: the experiment never changes them).
    pub fn new(lab: &Lab, which: Which, plan: Plan) -> Result<Self, String> {
        let (classifier, autoencoder) = models(lab, which)?;
        let d = &lab.dataset;
        let device = &lab.device;
        let classifier = || classifier.clone().expect("checked by models()");
        let autoencoder = || autoencoder.clone().expect("checked by models()");
        Ok(match plan {
            Plan::Norms { images, config } => Self::Norms(NormsExperiment::new(
                classifier(),
                autoencoder(),
                Images::sample(d, &d.test, images, SEED),
                config,
                device,
            )?),
            Plan::Detect { images, config } => Self::Detect(DetectExperiment::new(
                classifier(),
                autoencoder(),
                Images::sample(d, &d.test, images, SEED),
                config,
                device,
            )?),
            Plan::Dynamics { probes, config } => Self::Dynamics(DynamicsExperiment::new(
                autoencoder(),
                lab.train.clone(),
                lab.test.clone(),
                Images::sample(d, &d.test, probes, SEED),
                lab.shape,
                config,
                device,
            )?),
            Plan::AdvTrain {
                robust,
                probes,
                config,
            } => Self::AdvTrain(Box::new(AdvTrainExperiment::new(
                autoencoder(),
                lab.train.clone(),
                lab.test.clone(),
                &Images::sample(d, &d.test, robust, SEED),
                Images::sample(d, &d.test, probes, SEED.wrapping_add(1)),
                lab.shape,
                config,
                device,
            )?)),
            Plan::Mislabeled { images, config } => {
                let train = if images < lab.train.len() {
                    let chosen = Images::sample(d, &d.train, images, SEED);
                    let (images, labels) = lab.train.gather(&chosen.indices);
                    DeviceSplit { images, labels }
                } else {
                    lab.train.clone()
                };
                Self::Mislabeled(MislabeledExperiment::new(
                    train,
                    lab.test.clone(),
                    lab.shape,
                    config,
                    device,
                )?)
            }
        })
    }
}
