//! What a link to the page says: the query string that holds every setting, read and written
//! without a browser. [`parse`] does all the page does to a query short of touching its
//! signals: it splits and percent-decodes it, applies a preset, checks each key on its own
//! against the table of settings ([`fields`]: key, bounds, default) and the few settings that
//! clash together, and says each problem in a notice that names it and the value used
//! instead. [`Settings::query`] writes the canonical query back.
//!
//! The page (`web::url`) holds these settings as signals and adds the browser calls; this
//! module knows only keys, bounds and defaults (the same as the panels' own checks, so that
//! nothing in a link can break a panel), and is what the native tests and the `url_state`
//! fuzz target exercise.

use crate::form::{Bounds, L2_RADIUS, SEED};
use crate::ml::attack::AttackConfig;
use crate::ml::autoencoder::{AutoencoderConfig, AutoencoderKind};
use crate::ml::mnist::Source;
use crate::ml::model::ClassifierKind;
use crate::ml::toy::{ToyConfig, ToyModelConfig, ToyPreset};
use crate::ml::train::{LrSchedule, TrainConfig};

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

    /// The panels embed mode can show alone (the others need the rest of the page).
    pub const EMBEDDABLE: [Panel; 6] = [
        Self::Views,
        Self::Toy,
        Self::Slice,
        Self::Experiments,
        Self::Train,
        Self::Autoencoder,
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
}

/// One-click states that retell the paper in order: settings and the panel they concern (the
/// page adds their notes and the button each presses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Clinging,
    OnOff,
    RandomControl,
    AdversarialTraining,
    WrongLabels,
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

    /// The preset named `id`.
    pub fn of_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// The panel it concerns.
    pub fn panel(self) -> Panel {
        match self {
            Self::Clinging => Panel::Toy,
            Self::OnOff | Self::RandomControl => Panel::Views,
            Self::AdversarialTraining | Self::WrongLabels => Panel::Experiments,
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

    /// Its own value for the setting `key`, if it has one.
    fn value(self, key: &str) -> Option<&'static str> {
        self.settings()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// What choosing it changes, in the table's order: its own settings, and the other
    /// settings of the panels it concerns back to their defaults.
    pub fn changes(self) -> Vec<(&'static str, String)> {
        fields()
            .into_iter()
            .filter_map(|field| match self.value(field.key) {
                Some(v) => Some((field.key, v.to_string())),
                None => self
                    .resets()
                    .contains(&field.group)
                    .then_some((field.key, field.default)),
            })
            .collect()
    }
}

/// The part of the page a setting belongs to (a preset resets whole parts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Page,
    Data,
    Train,
    Autoencoder,
    Attack,
    Slice,
    Toy,
}

/// What a setting's text may be.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// One of these ids.
    Choice(Vec<&'static str>),
    /// A number in these bounds, the same its panel reads it against.
    Number(Bounds),
}

impl Rule {
    /// Checks `text` (already trimmed); the error says what the value must be.
    pub fn check(&self, text: &str) -> Result<(), String> {
        match self {
            Rule::Choice(ids) => ids
                .contains(&text)
                .then_some(())
                .ok_or_else(|| format!("must be one of {}", ids.join(", "))),
            Rule::Number(bounds) => bounds.check_link(text),
        }
    }
}

/// One setting: its key, its part of the page, what its text may be and its default.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub key: &'static str,
    pub group: Group,
    pub rule: Rule,
    /// The text of the default: omitted from the address, used for a bad value.
    pub default: String,
}

impl Field {
    fn new(key: &'static str, group: Group, rule: Rule, default: impl ToString) -> Self {
        Self {
            key,
            group,
            rule,
            default: default.to_string(),
        }
    }

    /// Whether `text` may be this setting's value (the default always may).
    pub fn accepts(&self, text: &str) -> Result<(), String> {
        if text == self.default {
            return Ok(());
        }
        self.rule.check(text)
    }
}

/// The L∞ radius used when a link asks for L∞ with a radius above 1 (the default radius, 2,
/// is an L2 one).
pub const LINF_EPS: &str = "0.1";

/// Largest image index a link may name (the full MNIST test set has 10,000 images); the
/// page checks it against the loaded test set.
pub const MAX_DIGIT: usize = 9_999;

/// The weight-averaging decays the train panel and a link take: from 0 (off) to 0.9999.
/// Training takes any decay below 1 (`TrainConfig::EMA_DECAY`); the page stops where its
/// field's spinner can still step to a valid value.
pub const EMA_DECAY: Bounds = Bounds::Closed(TrainConfig::EMA_DECAY.0, 0.9999);

/// Cells per axis of the slice (the CNN takes about 2 s for 128 × 128 on the CPU).
pub const SLICE_CELLS: Bounds = Bounds::Whole(2, 128);

/// Epochs of the toy model (the history keeps every one).
pub const TOY_EPOCHS: Bounds = Bounds::Whole(1, 2000);

/// Where the toy's 3-D cross-section may be taken (the worlds lie in [0, 1]³, with a margin).
pub const TOY_SECTION_Y: Bounds = Bounds::Closed(-1.0, 2.0);

fn ids<T: Copy>(all: &[T], id: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&x| id(x)).collect()
}

/// The table of settings: key, bounds and default, in the address's order.
pub fn fields() -> Vec<Field> {
    use Group as G;
    let train = TrainConfig::default();
    let ae = AutoencoderConfig::default();
    let attack = AttackConfig::default();
    let world = ToyConfig::default();
    let toy = ToyModelConfig::default();
    fn number(bounds: impl Into<Bounds>) -> Rule {
        Rule::Number(bounds.into())
    }
    let choice = |ids: &[&'static str]| Rule::Choice(ids.to_vec());
    vec![
        Field::new(
            "dataset",
            G::Data,
            Rule::Choice(ids(&Source::ALL, Source::id)),
            Source::Mnist.id(),
        ),
        Field::new("images", G::Data, choice(&["bundle", "full"]), "bundle"),
        Field::new(
            "model",
            G::Train,
            Rule::Choice(ids(&ClassifierKind::ALL, ClassifierKind::id)),
            train.model.id(),
        ),
        Field::new(
            "epochs",
            G::Train,
            number(TrainConfig::EPOCHS),
            train.epochs,
        ),
        Field::new(
            "batch",
            G::Train,
            number(TrainConfig::BATCH_SIZE),
            train.batch_size,
        ),
        Field::new(
            "lr",
            G::Train,
            number(TrainConfig::LEARNING_RATE),
            train.learning_rate,
        ),
        Field::new("seed", G::Train, number(SEED), train.seed),
        Field::new(
            "schedule",
            G::Train,
            Rule::Choice(ids(&LrSchedule::ALL, LrSchedule::id)),
            train.schedule.id(),
        ),
        Field::new(
            "shift",
            G::Train,
            number(TrainConfig::MAX_SHIFT),
            train.max_shift,
        ),
        Field::new("ema", G::Train, number(EMA_DECAY), train.ema_decay),
        Field::new(
            "ae",
            G::Autoencoder,
            Rule::Choice(ids(&AutoencoderKind::ALL, AutoencoderKind::id)),
            ae.kind.id(),
        ),
        Field::new(
            "k",
            G::Autoencoder,
            number(AutoencoderConfig::LATENT),
            ae.latent,
        ),
        Field::new(
            "ae_epochs",
            G::Autoencoder,
            number(AutoencoderConfig::EPOCHS),
            ae.epochs,
        ),
        Field::new("digit", G::Attack, number((0, MAX_DIGIT)), ""),
        Field::new("norm", G::Attack, choice(&["l2", "linf"]), "l2"),
        Field::new("eps", G::Attack, number(L2_RADIUS), attack.eps),
        Field::new("step", G::Attack, number(L2_RADIUS), attack.step_size),
        Field::new("steps", G::Attack, number(AttackConfig::STEPS), 200),
        Field::new(
            "target",
            G::Attack,
            choice(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
            "",
        ),
        Field::new("random_start", G::Attack, choice(&["0", "1"]), "0"),
        Field::new("search", G::Attack, number(L2_RADIUS), 6),
        Field::new(
            "plane",
            G::Slice,
            choice(&["on-off", "d-random", "on-random"]),
            "on-off",
        ),
        Field::new("range_h", G::Slice, number(L2_RADIUS), 5),
        Field::new("range_v", G::Slice, number(L2_RADIUS), 5),
        Field::new("cells", G::Slice, number(SLICE_CELLS), 64),
        Field::new(
            "world",
            G::Toy,
            Rule::Choice(ids(&ToyPreset::ALL, ToyPreset::id)),
            world.preset.id(),
        ),
        Field::new("points", G::Toy, number(ToyConfig::COUNT), world.count),
        Field::new("noise", G::Toy, number(ToyConfig::NOISE), world.noise),
        Field::new(
            "labels",
            G::Toy,
            choice(&["checkerboard", "stripes"]),
            "checkerboard",
        ),
        Field::new("toy_seed", G::Toy, number(SEED), world.seed),
        Field::new("width", G::Toy, number(ToyModelConfig::WIDTH), toy.width),
        Field::new("depth", G::Toy, number(ToyModelConfig::DEPTH), toy.depth),
        Field::new("activation", G::Toy, choice(&["relu", "tanh"]), "relu"),
        Field::new(
            "toy_lr",
            G::Toy,
            number(ToyModelConfig::LEARNING_RATE),
            toy.learning_rate,
        ),
        Field::new(
            "scale",
            G::Toy,
            number(ToyModelConfig::INPUT_SCALE),
            toy.input_scale,
        ),
        Field::new("toy_epochs", G::Toy, number(TOY_EPOCHS), 100),
        Field::new(
            "panel",
            G::Page,
            Rule::Choice(ids(&Panel::ALL, Panel::id)),
            "",
        ),
        Field::new(
            "backend",
            G::Page,
            choice(&["auto", "cpu", "webgpu"]),
            "auto",
        ),
        Field::new("pretrained", G::Page, choice(&["1", "0"]), "1"),
        Field::new("embed", G::Page, choice(&["0", "1"]), "0"),
    ]
}

/// Every setting as text, and the preset they started from: what a link describes.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The preset the settings started from.
    pub preset: Option<Preset>,
    /// Each setting's text by key, in the table's order ([`fields`]).
    pub values: Vec<(&'static str, String)>,
}

impl Default for Settings {
    /// Every setting at its default, no preset.
    fn default() -> Self {
        Self {
            preset: None,
            values: fields().into_iter().map(|f| (f.key, f.default)).collect(),
        }
    }
}

impl Settings {
    /// The text of the setting `key` ("" for a key not in the table).
    pub fn get(&self, key: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("", |(_, v)| v)
    }

    /// Sets the setting `key` (a key in the table) to `value`.
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some((_, v)) = self.values.iter_mut().find(|(k, _)| *k == key) {
            *v = value.to_string();
        }
    }

    /// Puts `preset`'s settings in place (its panels' other settings back to their defaults).
    pub fn apply_preset(&mut self, preset: Preset) {
        self.preset = Some(preset);
        for (key, value) in preset.changes() {
            self.set(key, &value);
        }
    }

    /// A setting's value when the address leaves it out: the preset's, else the default.
    pub fn baseline(&self, field: &Field) -> String {
        self.preset
            .and_then(|p| p.value(field.key))
            .map_or_else(|| field.default.clone(), str::to_string)
    }

    /// The canonical query (without `?`): the preset, then each valid setting that differs
    /// from what the preset or the default gives, in the table's order. `embed` keeps the
    /// embed flag. Also returns the settings left out because their text is not valid.
    pub fn query(&self, embed: bool) -> (String, Vec<String>) {
        let mut parts = Vec::new();
        let mut invalid = Vec::new();
        if let Some(p) = self.preset {
            parts.push(format!("preset={}", p.id()));
        }
        for field in fields() {
            if field.key == "embed" && !embed {
                continue;
            }
            let value = self.get(field.key).trim();
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

    /// Settings that are fine alone but not together, each put right with a notice.
    fn check_combinations(&mut self, fields: &[Field], notices: &mut Vec<String>) {
        let eps = self.get("eps").to_string();
        if self.get("norm") == "linf" && eps.parse::<f32>().is_ok_and(|e| e > 1.0) {
            notices.push(format!(
                "The link asks for an L∞ attack with eps {eps}, beyond the whole pixel range (1); using eps {LINF_EPS}."
            ));
            self.set("eps", LINF_EPS);
        }
        let source = self.get("dataset").parse().unwrap_or(Source::Mnist);
        if self.get("images") == "full" && source.full_file().is_none() {
            notices.push(format!(
                "The link asks for the full set of {}, which Dimple does not ship; using its bundle.",
                source.label()
            ));
            self.set("images", "bundle");
        }
        let (width, depth) = (self.get("width"), self.get("depth"));
        if let (Ok(w), Ok(d)) = (width.parse::<usize>(), depth.parse::<usize>())
            && ToyModelConfig::hidden_weights(w, d) > ToyModelConfig::MAX_HIDDEN_WEIGHTS
        {
            let baseline = |key: &str| {
                fields
                    .iter()
                    .find(|f| f.key == key)
                    .map_or_else(String::new, |f| self.baseline(f))
            };
            let (w0, d0) = (baseline("width"), baseline("depth"));
            notices.push(format!(
                "The link asks for a toy network of width {w} at depth {d}, too large for the \
                 page ((depth − 1) × width² may be at most {}); using width {w0} at depth {d0}.",
                ToyModelConfig::MAX_HIDDEN_WEIGHTS
            ));
            self.set("width", &w0);
            self.set("depth", &d0);
        }
    }
}

/// What a query string gives: the settings, and a notice for each problem in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The settings, starting from the defaults; a setting with a problem keeps its
    /// baseline (the preset's value, else the default).
    pub settings: Settings,
    /// What was wrong with the link and what was used instead, in the order found.
    pub notices: Vec<String>,
}

/// Reads the query string `query` (with or without its `?`) as the page does at start: the
/// parts that are not properly encoded are ignored, then the last `preset` is applied, then
/// each key is checked on its own (an unknown key, a value out of range, a key set more than
/// once) and last the settings that clash together; each problem gets one notice.
pub fn parse(query: &str) -> Parsed {
    let (pairs, broken) = decode_query(query);
    let mut notices: Vec<String> = broken
        .iter()
        .map(|part| {
            format!(
                "Part of the link is not properly encoded and was ignored: {}.",
                shown(part)
            )
        })
        .collect();
    let mut settings = Settings::default();
    // A preset first, so that the link's own settings override it.
    if let Some((_, id)) = pairs.iter().rev().find(|(k, _)| k == "preset") {
        match Preset::of_id(id.trim()) {
            Some(p) => settings.apply_preset(p),
            None => notices.push(format!(
                "The link names an unknown preset {} (known: {}); no preset is used.",
                shown(id),
                ids(&Preset::ALL, Preset::id).join(", ")
            )),
        }
    }
    let fields = fields();
    let mut unknown: Vec<&str> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &pairs {
        if key == "preset" {
            continue;
        }
        let Some(field) = fields.iter().find(|f| f.key == key) else {
            if !unknown.contains(&key.as_str()) {
                unknown.push(key);
            }
            continue;
        };
        // Said once per key, however often it repeats.
        if seen.iter().filter(|k| **k == field.key).count() == 1 {
            notices.push(format!(
                "The link sets {} more than once; the last value is used.",
                field.key
            ));
        }
        seen.push(field.key);
        let value = value.trim();
        match field.accepts(value) {
            Ok(()) => settings.set(field.key, value),
            Err(why) => {
                let fallback = settings.baseline(field);
                settings.set(field.key, &fallback);
                notices.push(format!(
                    "The link sets {} to {}, but it {why}; using {} instead.",
                    field.key,
                    shown(value),
                    if fallback.is_empty() {
                        "none".to_string()
                    } else {
                        format!("the default, {fallback}")
                    }
                ));
            }
        }
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().take(8).map(|k| shown(k)).collect();
        let more = unknown.len().saturating_sub(8);
        notices.push(format!(
            "The link has settings this page does not know, which were ignored: {}{}.",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    settings.check_combinations(&fields, &mut notices);
    Parsed { settings, notices }
}

/// A value as a notice shows it: long ones are cut.
pub fn shown(text: &str) -> String {
    const MAX: usize = 40;
    let count = text.chars().count();
    if count <= MAX {
        format!("“{text}”")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("“{head}…” ({count} characters)")
    }
}

/// Splits a query string (with or without its `?`) into decoded key-value pairs, and the
/// parts that could not be decoded (a `%` not followed by two hex digits, or bytes that are
/// not UTF-8).
pub fn decode_query(search: &str) -> (Vec<(String, String)>, Vec<String>) {
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

/// Decodes one component of an `application/x-www-form-urlencoded` query: `+` is a space,
/// `%XX` a byte; `None` for a broken escape or bytes that are not UTF-8.
pub fn decode_component(raw: &str) -> Option<String> {
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
pub fn encode_component(text: &str) -> String {
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
