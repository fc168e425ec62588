//! Every setting of the page lives in its address. This file reads the query string once at
//! start (each key checked on its own: an unknown key, a value out of range or a broken
//! percent-encoding gets a notice that names it and the default used instead), holds the
//! settings as the signals the panels edit ([`UrlSettings`]), writes the canonical query back
//! (the address bar, the Share button, embed mode's "Open in Dimple" link), and defines the
//! presets that retell the paper one click at a time.
//!
//! The panels decide what their settings mean; this file knows only their keys, their bounds
//! (the same as the panels' own checks, so that nothing in a link can break a panel) and their
//! defaults. It also holds the few browser calls these need (history, clipboard, scrolling).

use super::browser::sleep;
use super::lab::{Notices, notify};
use crate::ml::attack::AttackConfig;
use crate::ml::autoencoder::{AutoencoderConfig, AutoencoderKind};
use crate::ml::mnist::Source;
use crate::ml::model::ClassifierKind;
use crate::ml::toy::{ToyConfig, ToyModelConfig, ToyPreset};
use crate::ml::train::{LrSchedule, TrainConfig};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The Data panel's settings: which dataset, and which part of it.
#[derive(Clone, Copy)]
pub struct DataSettings {
    pub source: RwSignal<Source>,
    /// "bundle" or "full".
    pub size: RwSignal<String>,
}

/// The classifier's training settings, as typed.
#[derive(Clone, Copy)]
pub struct TrainSettings {
    pub model: RwSignal<String>,
    pub epochs: RwSignal<String>,
    pub batch: RwSignal<String>,
    pub rate: RwSignal<String>,
    pub seed: RwSignal<String>,
    pub schedule: RwSignal<String>,
    pub shift: RwSignal<String>,
    pub ema: RwSignal<String>,
}

/// The autoencoder's settings, as typed.
#[derive(Clone, Copy)]
pub struct AutoencoderSettings {
    pub kind: RwSignal<String>,
    /// The latent dimension k.
    pub latent: RwSignal<String>,
    pub epochs: RwSignal<String>,
}

/// The attack's settings, as typed.
#[derive(Clone, Copy)]
pub struct AttackSettings {
    pub norm: RwSignal<String>,
    pub eps: RwSignal<String>,
    pub step: RwSignal<String>,
    pub steps: RwSignal<String>,
    pub random_start: RwSignal<bool>,
    /// A class, or empty for an untargeted attack.
    pub target: RwSignal<String>,
    /// How far (L2) the restricted attacks search for the boundary.
    pub search: RwSignal<String>,
}

/// The image slice's settings, as typed.
#[derive(Clone, Copy)]
pub struct SliceSettings {
    pub axes: RwSignal<String>,
    pub extent1: RwSignal<String>,
    pub extent2: RwSignal<String>,
    pub resolution: RwSignal<String>,
}

/// The toy world's settings, as typed.
#[derive(Clone, Copy)]
pub struct ToySettings {
    pub preset: RwSignal<String>,
    pub count: RwSignal<String>,
    pub noise: RwSignal<String>,
    pub labels: RwSignal<String>,
    pub seed: RwSignal<String>,
    pub width: RwSignal<String>,
    pub depth: RwSignal<String>,
    pub activation: RwSignal<String>,
    pub learning_rate: RwSignal<String>,
    pub input_scale: RwSignal<String>,
    pub epochs: RwSignal<String>,
}

/// Every setting the address holds, as the signals the panels read and edit.
#[derive(Clone, Copy)]
pub struct UrlSettings {
    pub data: DataSettings,
    pub train: TrainSettings,
    pub autoencoder: AutoencoderSettings,
    pub attack: AttackSettings,
    pub slice: SliceSettings,
    pub toy: ToySettings,
    /// The test image to attack; `None` attacks test image #0 at start.
    pub digit: RwSignal<Option<usize>>,
    /// The panel to scroll to (or, embedded, to show alone): a [`Panel`] id, or empty.
    pub panel: RwSignal<String>,
    /// The preset the settings started from, whose note is shown.
    pub preset: RwSignal<Option<Preset>>,
    /// "auto", "cpu" or "webgpu" (read by `backend`).
    pub backend: RwSignal<String>,
    /// "0" starts without the pretrained models.
    pub pretrained: RwSignal<String>,
    /// "1" shows one panel alone, for an iframe.
    pub embed: RwSignal<String>,
}

/// A part of the page: where a link or a preset scrolls to, and what embed mode shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Data,
    Train,
    Gallery,
    Autoencoder,
    Views,
    Slice,
    Toy,
    Experiments,
}

impl Panel {
    /// Every panel, in page order.
    pub const ALL: [Panel; 8] = [
        Self::Data,
        Self::Train,
        Self::Gallery,
        Self::Autoencoder,
        Self::Views,
        Self::Slice,
        Self::Toy,
        Self::Experiments,
    ];

    /// Its name in the address.
    pub fn id(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Train => "train",
            Self::Gallery => "gallery",
            Self::Autoencoder => "autoencoder",
            Self::Views => "views",
            Self::Slice => "slice",
            Self::Toy => "toy",
            Self::Experiments => "experiments",
        }
    }

    /// The panel named `id`.
    pub fn of_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// The element id of its heading.
    fn heading(self) -> &'static str {
        match self {
            Self::Data => "data-title",
            Self::Train => "train-title",
            Self::Gallery => "gallery-title",
            Self::Autoencoder => "ae-title",
            Self::Views => "attack-title",
            Self::Slice => "slice-title",
            Self::Toy => "toy-title",
            Self::Experiments => "exp-title",
        }
    }

    /// The panels embed mode can show alone (the others need the rest of the page).
    pub const EMBEDDABLE: [Panel; 6] = [
        Self::Views,
        Self::Toy,
        Self::Slice,
        Self::Experiments,
        Self::Train,
        Self::Autoencoder,
    ];
}

/// One-click states that retell the paper in order: settings, the panel they concern, and
/// the button they press there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Clinging,
    OnOff,
    RandomControl,
    AdversarialTraining,
    WrongLabels,
}

/// Which panel's settings a preset puts back to their defaults before its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Page,
    Data,
    Train,
    Autoencoder,
    Attack,
    Slice,
    Toy,
}

impl Preset {
    /// Every preset, in the order of the paper.
    pub const ALL: [Preset; 5] = [
        Self::Clinging,
        Self::OnOff,
        Self::RandomControl,
        Self::AdversarialTraining,
        Self::WrongLabels,
    ];

    /// Its name in the address and in its button's test id (`preset-<id>`).
    pub fn id(self) -> &'static str {
        match self {
            Self::Clinging => "clinging",
            Self::OnOff => "on-off",
            Self::RandomControl => "random-subspace",
            Self::AdversarialTraining => "adversarial-training",
            Self::WrongLabels => "wrong-labels",
        }
    }

    fn of_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// Its button's text.
    pub fn title(self) -> &'static str {
        match self {
            Self::Clinging => "Clinging and dimpling",
            Self::OnOff => "On vs off the manifold",
            Self::RandomControl => "The random-subspace control",
            Self::AdversarialTraining => "Adversarial training deepens the dimples",
            Self::WrongLabels => "Wrong labels, right answers",
        }
    }

    /// What the visitor is looking at and what to try, for a student.
    pub fn note(self) -> &'static str {
        match self {
            Self::Clinging => {
                "The paper's toy world: five points on a line with alternating classes, and a small network learning \
                 to separate them. Watch the boundary (the black line) sweep in towards the points in the first epochs, \
                 then bend round each point. Drag the epoch slider to replay it; try tanh, a wider network or the 3-D \
                 sheet and see whether the boundary really lies along the data."
            }
            Self::OnOff => {
                "A test digit, the adversarial example PGD found for it, and the perturbation d split into its part along \
                 the manifold of digits and its part across it. The dimpled manifold model predicts that the part across \
                 the manifold does the work: compare the classes under the last two images. Then pick another digit in \
                 the gallery, or switch to L∞."
            }
            Self::RandomControl => {
                "Is the manifold special, or would any subspace of the same size do? Compare d's share on the manifold \
                 with its share in a random subspace of the same dimension, and below it the restricted attacks: how far \
                 the boundary is along the manifold, across it and inside the random subspace. The plane through the \
                 digit further down now pairs the on-manifold direction with a random one."
            }
            Self::AdversarialTraining => {
                "Adversarial training teaches a network on attacked images. The paper reads it as deepening the dimples, \
                 so the boundary moves further off the manifold and attacks need larger norms. Press Run on the \
                 “Adversarial training” card (it first trains two small networks) and compare the two networks' norms \
                 to flip."
            }
            Self::WrongLabels => {
                "Every training image is nudged towards the next class and relabelled as that class, so each label looks \
                 wrong to a human; a fresh network learns only from these. If it still reads clean test digits far above \
                 chance, the tiny off-manifold changes carry what networks decide by. Press Run on the \
                 “Mislabeled adversarial examples” card."
            }
        }
    }

    /// The panel it concerns.
    pub fn panel(self) -> Panel {
        match self {
            Self::Clinging => Panel::Toy,
            Self::OnOff | Self::RandomControl => Panel::Views,
            Self::AdversarialTraining | Self::WrongLabels => Panel::Experiments,
        }
    }

    /// The part of its panel to scroll to (the panel's heading when it is not on the page),
    /// and where on the screen: `"start"` at the top, `"center"` in the middle (a Run button
    /// to press stays clear of the note at the foot of the screen).
    fn target(self) -> (&'static str, &'static str) {
        match self {
            Self::Clinging => ("#toy-title", "start"),
            Self::OnOff => ("[data-testid=\"attack-results\"]", "start"),
            Self::RandomControl => ("[data-testid=\"manifold-fraction\"]", "start"),
            Self::AdversarialTraining => ("[data-testid=\"exp-advtrain-run\"]", "center"),
            Self::WrongLabels => ("[data-testid=\"exp-mislabeled-run\"]", "center"),
        }
    }

    /// The test id of the button it presses once its settings are in place.
    fn presses(self) -> Option<&'static str> {
        match self {
            Self::Clinging => Some("toy-train-start"),
            Self::OnOff | Self::RandomControl => Some("attack-run"),
            Self::AdversarialTraining | Self::WrongLabels => None,
        }
    }

    /// The settings it puts back to their defaults first.
    fn resets(self) -> &'static [Group] {
        match self {
            Self::Clinging => &[Group::Toy],
            Self::OnOff | Self::RandomControl => &[Group::Attack, Group::Slice],
            Self::AdversarialTraining | Self::WrongLabels => &[],
        }
    }

    /// Its own settings, as address keys and values.
    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Clinging => &[("panel", "toy"), ("world", "paper")],
            Self::OnOff => &[("panel", "views"), ("digit", "0"), ("plane", "on-off")],
            Self::RandomControl => &[("panel", "views"), ("digit", "0"), ("plane", "on-random")],
            Self::AdversarialTraining | Self::WrongLabels => &[("panel", "experiments")],
        }
    }
}

/// What a setting's text may be.
#[derive(Clone, Debug)]
enum Rule {
    /// One of these ids.
    Choice(Vec<&'static str>),
    /// A whole number from `min` to `max`.
    Whole { min: u64, max: u64 },
    /// A finite number from `min` (excluded when `above`) to `max`.
    Number { min: f64, max: f64, above: bool },
}

impl Rule {
    /// Checks `text` (already trimmed); the error says what the value must be.
    fn check(&self, text: &str) -> Result<(), String> {
        match self {
            Rule::Choice(ids) => ids
                .contains(&text)
                .then_some(())
                .ok_or_else(|| format!("must be one of {}", ids.join(", "))),
            &Rule::Whole { min, max } => text
                .parse::<u64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .map(|_| ())
                .ok_or_else(|| format!("must be a whole number from {min} to {max}")),
            &Rule::Number { min, max, above } => {
                // The panels read these as f32: check what they will see.
                let ok = text.parse::<f32>().ok().is_some_and(|v| {
                    let v = f64::from(v);
                    v.is_finite() && (if above { v > min } else { v >= min }) && v <= max
                });
                ok.then_some(()).ok_or_else(|| {
                    if above {
                        format!("must be a number above {min} and at most {max}")
                    } else {
                        format!("must be a number from {min} to {max}")
                    }
                })
            }
        }
    }
}

/// One setting: its key, its panel, what its text may be, its default and its signal.
struct Field {
    key: &'static str,
    group: Group,
    rule: Rule,
    /// The text of the default: omitted from the address, used for a bad value.
    default: String,
    get: Box<dyn Fn() -> String>,
    set: Box<dyn Fn(&str)>,
}

impl Field {
    /// A setting held as its text.
    fn text(
        key: &'static str,
        group: Group,
        rule: Rule,
        default: impl ToString,
        signal: RwSignal<String>,
    ) -> Self {
        Self {
            key,
            group,
            rule,
            default: default.to_string(),
            get: Box::new(move || signal.get()),
            set: Box::new(move |v| signal.set(v.to_string())),
        }
    }

    /// Whether `text` may be this setting's value (the default always may).
    fn accepts(&self, text: &str) -> Result<(), String> {
        if text == self.default {
            return Ok(());
        }
        self.rule.check(text)
    }
}

/// The L∞ radius used when a link asks for L∞ with a radius above 1 (the default radius, 2,
/// is an L2 one).
const LINF_EPS: &str = "0.1";

/// Largest image index a link may name (the full MNIST test set has 10,000 images); the
/// page checks it against the loaded test set.
const MAX_DIGIT: u64 = 9_999;

fn blank() -> RwSignal<String> {
    RwSignal::new(String::new())
}

fn ids<T: Copy>(all: &[T], id: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&x| id(x)).collect()
}

/// A value as a notice shows it: long ones are cut.
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    let count = text.chars().count();
    if count <= MAX {
        format!("“{text}”")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("“{head}…” ({count} characters)")
    }
}

impl UrlSettings {
    /// Every setting at its default.
    pub fn new() -> Self {
        let settings = Self {
            data: DataSettings {
                source: RwSignal::new(Source::Mnist),
                size: blank(),
            },
            train: TrainSettings {
                model: blank(),
                epochs: blank(),
                batch: blank(),
                rate: blank(),
                seed: blank(),
                schedule: blank(),
                shift: blank(),
                ema: blank(),
            },
            autoencoder: AutoencoderSettings {
                kind: blank(),
                latent: blank(),
                epochs: blank(),
            },
            attack: AttackSettings {
                norm: blank(),
                eps: blank(),
                step: blank(),
                steps: blank(),
                random_start: RwSignal::new(false),
                target: blank(),
                search: blank(),
            },
            slice: SliceSettings {
                axes: blank(),
                extent1: blank(),
                extent2: blank(),
                resolution: blank(),
            },
            toy: ToySettings {
                preset: blank(),
                count: blank(),
                noise: blank(),
                labels: blank(),
                seed: blank(),
                width: blank(),
                depth: blank(),
                activation: blank(),
                learning_rate: blank(),
                input_scale: blank(),
                epochs: blank(),
            },
            digit: RwSignal::new(None),
            panel: blank(),
            preset: RwSignal::new(None),
            backend: blank(),
            pretrained: blank(),
            embed: blank(),
        };
        for field in settings.fields() {
            (field.set)(&field.default);
        }
        settings
    }

    /// The table of settings: key, bounds, default and signal, in the address's order.
    fn fields(self) -> Vec<Field> {
        use Group as G;
        let train = TrainConfig::default();
        let ae = AutoencoderConfig::default();
        let attack = AttackConfig::default();
        let world = ToyConfig::default();
        let toy = ToyModelConfig::default();
        let whole = |min: usize, max: usize| Rule::Whole {
            min: min as u64,
            max: max as u64,
        };
        let number = |min: f64, max: f64| Rule::Number {
            min,
            max,
            above: false,
        };
        let positive = |max: f64| Rule::Number {
            min: 0.0,
            max,
            above: true,
        };
        let choice = |ids: &[&'static str]| Rule::Choice(ids.to_vec());
        let seed = Rule::Whole {
            min: 0,
            max: u64::from(u32::MAX),
        };
        let (t, a, k, s, y) = (
            self.train,
            self.autoencoder,
            self.attack,
            self.slice,
            self.toy,
        );
        let source = self.data.source;
        let (random_start, digit) = (self.attack.random_start, self.digit);
        vec![
            Field {
                key: "dataset",
                group: G::Data,
                rule: Rule::Choice(ids(&Source::ALL, Source::id)),
                default: Source::Mnist.id().into(),
                get: Box::new(move || source.get().id().into()),
                set: Box::new(move |v| source.set(v.parse().unwrap_or(Source::Mnist))),
            },
            Field::text(
                "images",
                G::Data,
                choice(&["bundle", "full"]),
                "bundle",
                self.data.size,
            ),
            Field::text(
                "model",
                G::Train,
                Rule::Choice(ids(&ClassifierKind::ALL, ClassifierKind::id)),
                train.model.id(),
                t.model,
            ),
            Field::text(
                "epochs",
                G::Train,
                whole(TrainConfig::EPOCHS.0, TrainConfig::EPOCHS.1),
                train.epochs,
                t.epochs,
            ),
            Field::text(
                "batch",
                G::Train,
                whole(TrainConfig::BATCH_SIZE.0, TrainConfig::BATCH_SIZE.1),
                train.batch_size,
                t.batch,
            ),
            Field::text(
                "lr",
                G::Train,
                number(TrainConfig::LEARNING_RATE.0, TrainConfig::LEARNING_RATE.1),
                train.learning_rate,
                t.rate,
            ),
            Field::text("seed", G::Train, seed.clone(), train.seed, t.seed),
            Field::text(
                "schedule",
                G::Train,
                Rule::Choice(ids(&LrSchedule::ALL, LrSchedule::id)),
                train.schedule.id(),
                t.schedule,
            ),
            Field::text(
                "shift",
                G::Train,
                whole(TrainConfig::MAX_SHIFT.0, TrainConfig::MAX_SHIFT.1),
                train.max_shift,
                t.shift,
            ),
            // The decay must stay below 1; the field's own maximum is 0.9999.
            Field::text("ema", G::Train, number(0.0, 0.9999), train.ema_decay, t.ema),
            Field::text(
                "ae",
                G::Autoencoder,
                Rule::Choice(ids(&AutoencoderKind::ALL, AutoencoderKind::id)),
                ae.kind.id(),
                a.kind,
            ),
            Field::text(
                "k",
                G::Autoencoder,
                whole(AutoencoderConfig::LATENT.0, AutoencoderConfig::LATENT.1),
                ae.latent,
                a.latent,
            ),
            Field::text(
                "ae_epochs",
                G::Autoencoder,
                whole(AutoencoderConfig::EPOCHS.0, AutoencoderConfig::EPOCHS.1),
                ae.epochs,
                a.epochs,
            ),
            Field {
                key: "digit",
                group: G::Attack,
                rule: Rule::Whole {
                    min: 0,
                    max: MAX_DIGIT,
                },
                default: String::new(),
                get: Box::new(move || digit.get().map(|d| d.to_string()).unwrap_or_default()),
                set: Box::new(move |v| digit.set(v.parse().ok())),
            },
            Field::text("norm", G::Attack, choice(&["l2", "linf"]), "l2", k.norm),
            Field::text("eps", G::Attack, positive(28.0), attack.eps, k.eps),
            Field::text("step", G::Attack, positive(28.0), attack.step_size, k.step),
            Field::text(
                "steps",
                G::Attack,
                whole(AttackConfig::STEPS.0, AttackConfig::STEPS.1),
                200,
                k.steps,
            ),
            Field::text(
                "target",
                G::Attack,
                choice(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
                "",
                k.target,
            ),
            Field {
                key: "random_start",
                group: G::Attack,
                rule: choice(&["0", "1"]),
                default: "0".into(),
                get: Box::new(move || if random_start.get() { "1" } else { "0" }.into()),
                set: Box::new(move |v| random_start.set(v == "1")),
            },
            Field::text("search", G::Attack, positive(28.0), 6, k.search),
            Field::text(
                "plane",
                G::Slice,
                choice(&["on-off", "d-random", "on-random"]),
                "on-off",
                s.axes,
            ),
            Field::text("range_h", G::Slice, positive(28.0), 5, s.extent1),
            Field::text("range_v", G::Slice, positive(28.0), 5, s.extent2),
            Field::text("cells", G::Slice, whole(2, 128), 64, s.resolution),
            Field::text(
                "world",
                G::Toy,
                Rule::Choice(ids(&ToyPreset::ALL, ToyPreset::id)),
                world.preset.id(),
                y.preset,
            ),
            Field::text("points", G::Toy, whole(2, 400), world.count, y.count),
            Field::text("noise", G::Toy, number(0.0, 0.5), world.noise, y.noise),
            Field::text(
                "labels",
                G::Toy,
                choice(&["checkerboard", "stripes"]),
                "checkerboard",
                y.labels,
            ),
            Field::text("toy_seed", G::Toy, seed, world.seed, y.seed),
            Field::text("width", G::Toy, whole(1, 1024), toy.width, y.width),
            Field::text("depth", G::Toy, whole(0, 8), toy.depth, y.depth),
            Field::text(
                "activation",
                G::Toy,
                choice(&["relu", "tanh"]),
                "relu",
                y.activation,
            ),
            Field::text(
                "toy_lr",
                G::Toy,
                number(1e-6, 1.0),
                toy.learning_rate,
                y.learning_rate,
            ),
            Field::text(
                "scale",
                G::Toy,
                number(0.01, 100.0),
                toy.input_scale,
                y.input_scale,
            ),
            Field::text("toy_epochs", G::Toy, whole(1, 2000), 100, y.epochs),
            Field::text(
                "panel",
                G::Page,
                Rule::Choice(ids(&Panel::ALL, Panel::id)),
                "",
                self.panel,
            ),
            Field::text(
                "backend",
                G::Page,
                choice(&["auto", "cpu", "webgpu"]),
                "auto",
                self.backend,
            ),
            Field::text(
                "pretrained",
                G::Page,
                choice(&["1", "0"]),
                "1",
                self.pretrained,
            ),
            Field::text("embed", G::Page, choice(&["0", "1"]), "0", self.embed),
        ]
    }

    /// Whether the page shows one panel alone.
    pub fn embedded(self) -> bool {
        self.embed.get_untracked() == "1"
    }

    /// The panel named in the address, if any.
    pub fn panel(self) -> Option<Panel> {
        Panel::of_id(&self.panel.get_untracked())
    }

    /// Takes the settings from the query string `search` (with or without its `?`),
    /// reporting each problem as a notice; a setting with a problem keeps its default.
    pub fn apply_query(self, search: &str, notices: Notices) {
        let (pairs, broken) = decode_query(search);
        for part in broken {
            notify(
                notices,
                false,
                format!(
                    "Part of the link is not properly encoded and was ignored: {}.",
                    shown(&part)
                ),
            );
        }
        let fields = self.fields();
        let mut unknown = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        // A preset first, so that the link's own settings override it.
        if let Some((_, id)) = pairs.iter().rev().find(|(k, _)| k == "preset") {
            match Preset::of_id(id.trim()) {
                Some(p) => self.apply_preset(p),
                None => notify(
                    notices,
                    false,
                    format!(
                        "The link names an unknown preset {} (known: {}); no preset is used.",
                        shown(id),
                        ids(&Preset::ALL, Preset::id).join(", ")
                    ),
                ),
            }
        }
        for (key, value) in &pairs {
            if key == "preset" {
                continue;
            }
            let Some(field) = fields.iter().find(|f| f.key == key) else {
                if !unknown.contains(key) {
                    unknown.push(key.clone());
                }
                continue;
            };
            // Said once per key, however often it repeats.
            if seen.iter().filter(|k| **k == field.key).count() == 1 {
                notify(
                    notices,
                    false,
                    format!(
                        "The link sets {} more than once; the last value is used.",
                        field.key
                    ),
                );
            }
            seen.push(field.key);
            let value = value.trim();
            match field.accepts(value) {
                Ok(()) => (field.set)(value),
                Err(why) => {
                    let fallback = self.baseline(field);
                    (field.set)(&fallback);
                    notify(
                        notices,
                        false,
                        format!(
                            "The link sets {} to {}, but it {why}; using {} instead.",
                            field.key,
                            shown(value),
                            if fallback.is_empty() {
                                "none".to_string()
                            } else {
                                format!("the default, {fallback}")
                            }
                        ),
                    );
                }
            }
        }
        if !unknown.is_empty() {
            let names: Vec<String> = unknown.iter().take(8).map(|k| shown(k)).collect();
            let more = unknown.len().saturating_sub(8);
            notify(
                notices,
                false,
                format!(
                    "The link has settings this page does not know, which were ignored: {}{}.",
                    names.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            );
        }
        self.check_combinations(notices);
    }

    /// Settings that are fine alone but not together.
    fn check_combinations(self, notices: Notices) {
        let attack = self.attack;
        let linf_too_far = attack.norm.get_untracked() == "linf"
            && attack
                .eps
                .get_untracked()
                .parse::<f32>()
                .is_ok_and(|e| e > 1.0);
        if linf_too_far {
            notify(
                notices,
                false,
                format!(
                    "The link asks for an L∞ attack with eps {}, beyond the whole pixel range (1); using eps {LINF_EPS}.",
                    attack.eps.get_untracked()
                ),
            );
            attack.eps.set(LINF_EPS.into());
        }
        let data = self.data;
        if data.size.get_untracked() == "full" && data.source.get_untracked().full_file().is_none()
        {
            notify(
                notices,
                false,
                format!(
                    "The link asks for the full set of {}, which Dimple does not ship; using its bundle.",
                    data.source.get_untracked().label()
                ),
            );
            data.size.set("bundle".into());
        }
    }

    /// A setting's value when the address leaves it out: the preset's, else the default.
    fn baseline(self, field: &Field) -> String {
        self.preset
            .get_untracked()
            .and_then(|p| p.settings().iter().find(|(k, _)| *k == field.key))
            .map_or_else(|| field.default.clone(), |(_, v)| v.to_string())
    }

    /// Puts `preset`'s settings in place (its panels' other settings back to their defaults).
    pub fn apply_preset(self, preset: Preset) {
        self.preset.set(Some(preset));
        for field in self.fields() {
            if preset.resets().contains(&field.group) {
                (field.set)(&field.default);
            }
            if let Some((_, v)) = preset.settings().iter().find(|(k, _)| *k == field.key) {
                (field.set)(v);
            }
        }
    }

    /// The canonical query (without `?`): the preset, then each valid setting that differs
    /// from what the preset or the default gives, in the table's order. `embed` keeps the
    /// embed flag. Also returns the settings left out because their text is not valid.
    /// Reading it subscribes to every setting.
    pub fn to_query(self, embed: bool) -> (String, Vec<String>) {
        let mut parts = Vec::new();
        let mut invalid = Vec::new();
        if let Some(p) = self.preset.get() {
            parts.push(format!("preset={}", p.id()));
        }
        for field in self.fields() {
            if field.key == "embed" && !embed {
                continue;
            }
            let value = (field.get)();
            let value = value.trim();
            if value == self.baseline(&field) {
                continue;
            }
            match field.accepts(value) {
                Ok(()) => parts.push(format!("{}={}", field.key, encode_component(value))),
                Err(_) => invalid.push(format!("{} ({})", field.key, shown(value))),
            }
        }
        (parts.join("&"), invalid)
    }
}

/// Splits a query string into decoded key-value pairs, and the parts that could not be
/// decoded (a `%` not followed by two hex digits, or bytes that are not UTF-8).
fn decode_query(search: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut pairs = Vec::new();
    let mut broken = Vec::new();
    for part in search
        .strip_prefix('?')
        .unwrap_or(search)
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        match (decode_component(key), decode_component(value)) {
            (Some(k), Some(v)) => pairs.push((k, v)),
            _ => broken.push(part.to_string()),
        }
    }
    (pairs, broken)
}

/// Decodes one component of an `application/x-www-form-urlencoded` query.
fn decode_component(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a query value, keeping only unreserved characters as they are.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// The page's query string, with its `?`.
pub fn location_query() -> String {
    window().location().search().unwrap_or_default()
}

/// The page's address with `query` as its query string.
pub fn address_with(query: &str) -> String {
    let location = window().location();
    let base = format!(
        "{}{}",
        location.origin().unwrap_or_default(),
        location.pathname().unwrap_or_default()
    );
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
}

/// Calls `object.method(args…)`, if it is a function.
fn call(object: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function =
        js_sys::Reflect::get(object, &JsValue::from_str(method))?.dyn_into()?;
    f.apply(object, &args.iter().collect())
}

/// Shows `query` in the address bar without a new history entry or a reload.
pub fn replace_address(query: &str) {
    let Ok(history) = js_sys::Reflect::get(&window(), &JsValue::from_str("history")) else {
        return;
    };
    let address = address_with(query);
    if let Err(e) = call(
        &history,
        "replaceState",
        &[
            JsValue::NULL,
            JsValue::from_str(""),
            JsValue::from_str(&address),
        ],
    ) {
        leptos::logging::warn!("could not update the address: {e:?}");
    }
}

/// Copies `text` to the clipboard; false where the browser refuses (no clipboard API, an
/// iframe without permission, an unfocused page).
async fn copy_to_clipboard(text: &str) -> bool {
    let navigator: JsValue = window().navigator().into();
    let Ok(clipboard) = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard")) else {
        return false;
    };
    if clipboard.is_undefined() || clipboard.is_null() {
        return false;
    }
    match call(&clipboard, "writeText", &[JsValue::from_str(text)]) {
        Ok(promise) => match promise.dyn_into::<js_sys::Promise>() {
            Ok(promise) => JsFuture::from(promise).await.is_ok(),
            Err(_) => false,
        },
        Err(_) => false,
    }
}

/// Scrolls the element matching `selector` (else the panel's heading) to `block` ("start",
/// "center") of the screen.
fn scroll_to(selector: &str, block: &str, panel: Panel) {
    let Some(document) = window().document() else {
        return;
    };
    let element = document
        .query_selector(selector)
        .ok()
        .flatten()
        .or_else(|| document.get_element_by_id(panel.heading()));
    if let Some(e) = element {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"block".into(), &block.into());
        if call(&e, "scrollIntoView", &[options.into()]).is_err() {
            e.scroll_into_view();
        }
    }
}

/// Scrolls to `panel`'s heading.
pub fn scroll_to_panel(panel: Panel) {
    scroll_to(&format!("#{}", panel.heading()), "start", panel);
}

/// How long a preset waits for its button to become usable (the page may still be loading,
/// or an attack running), in milliseconds.
const PRESS_WAIT_MS: i32 = 120_000;

/// Presses the button with test id `testid` as the visitor would, once it is enabled.
async fn press(testid: &str) {
    let selector = format!("[data-testid=\"{testid}\"]");
    let mut waited = 0;
    while waited < PRESS_WAIT_MS {
        let button = window()
            .document()
            .and_then(|d| d.query_selector(&selector).ok().flatten());
        if let Some(b) = button.filter(|b| !b.has_attribute("disabled")) {
            let _ = call(&b, "click", &[]);
            return;
        }
        sleep(100).await;
        waited += 100;
    }
}

/// Applies `preset`, scrolls to what it concerns and presses its button there.
async fn run_preset(settings: UrlSettings, preset: Preset) {
    settings.apply_preset(preset);
    // Let the panels see their new settings before the button is pressed.
    sleep(0).await;
    let (selector, block) = preset.target();
    scroll_to(selector, block, preset.panel());
    if let Some(testid) = preset.presses() {
        press(testid).await;
    }
}

/// The Share button: copies the canonical address and shows it in a field to copy by hand
/// where the clipboard is refused.
#[component]
pub fn ShareButton(settings: UrlSettings) -> impl IntoView {
    let link = RwSignal::new(None::<String>);
    let status = RwSignal::new(String::new());
    let share = move |_| {
        let (query, invalid) = settings.to_query(false);
        let address = address_with(&query);
        link.set(Some(address.clone()));
        let left_out = if invalid.is_empty() {
            String::new()
        } else {
            format!(" Left out, as they are not valid: {}.", invalid.join(", "))
        };
        status.set(format!("Copying…{left_out}"));
        leptos::task::spawn_local(async move {
            let copied = copy_to_clipboard(&address).await;
            status.set(format!(
                "{}{left_out}",
                if copied {
                    "Copied to the clipboard."
                } else {
                    "Copy the link above (the clipboard is not available here)."
                }
            ));
        });
    };
    view! {
        <button class="share" data-testid="share" on:click=share
            aria-label="Share: copy a link to this view with all its settings">"Share"</button>
        {move || link.get().map(|address| view! {
            <div class="share-box" data-testid="share-box">
                <input type="text" readonly data-testid="share-link" aria-label="Link to this view" prop:value=address
                    on:focus=move |ev| {
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }/>
                <span class="share-status" data-testid="share-status" aria-live="polite">{move || status.get()}</span>
                <span class="share-status">"The link holds every setting; models you trained and pictures you drew stay on this page."</span>
            </div>
        })}
    }
}

/// The presets as a row of buttons, and the note of the one chosen: a card that stays at the
/// foot of the screen while the visitor looks at its panel, with a button to the next step.
#[component]
pub fn PresetBar(settings: UrlSettings) -> impl IntoView {
    let open = RwSignal::new(true);
    let choose = move |preset: Preset| {
        open.set(true);
        leptos::task::spawn_local(run_preset(settings, preset));
    };
    let note = move || {
        let preset = settings.preset.get().filter(|_| open.get())?;
        let i = Preset::ALL.iter().position(|p| *p == preset).unwrap_or(0);
        let next = Preset::ALL.get(i + 1).copied();
        Some(view! {
            <aside class="preset-note" data-testid="preset-note" data-preset=preset.id() aria-label="About this step">
                <p><strong>{format!("Step {} of {}: {}", i + 1, Preset::ALL.len(), preset.title())}</strong></p>
                <p>{preset.note()}</p>
                <div class="buttons">
                    {next.map(|n| view! {
                        <button class="primary" data-testid="preset-next" on:click=move |_| choose(n)>
                            {format!("Next: {}", n.title())}
                        </button>
                    })}
                    <button data-testid="preset-close" on:click=move |_| open.set(false)>"Close"</button>
                </div>
            </aside>
        })
    };
    view! {
        <nav class="presets" aria-label="The paper, step by step">
            <span class="presets-title">"The paper in five clicks:"</span>
            {Preset::ALL.into_iter().enumerate().map(|(i, p)| view! {
                <button data-testid=format!("preset-{}", p.id())
                    aria-pressed=move || (settings.preset.get() == Some(p)).to_string()
                    on:click=move |_| choose(p)>
                    {format!("{}. {}", i + 1, p.title())}
                </button>
            }).collect_view()}
        </nav>
        {note}
    }
}

#[wasm_bindgen(inline_js = "export function report_height() {
    if (window.parent === window) return;
    let last = 0;
    const post = () => {
        const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
        if (height !== last) {
            last = height;
            window.parent.postMessage({ dimple: 'height', height }, '*');
        }
    };
    new ResizeObserver(post).observe(document.documentElement);
}")]
extern "C" {
    /// In an iframe, tells the embedding page the height of this page each time it changes
    /// (a message `{dimple: 'height', height}`), so that it can size the iframe to fit.
    pub fn report_height();
}
