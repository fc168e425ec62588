//! Every setting of the page lives in its address. This file holds the settings as the
//! signals the panels edit ([`UrlSettings`]), fills them from the query string once at start
//! (read and checked by [`crate::link`], whose notices it shows), writes the canonical query
//! back (the address bar, the Share button, embed mode's "Open in Dimple" link), and shows the
//! presets that retell the paper one click at a time.
//!
//! The panels decide what their settings mean; `link` knows their keys, bounds and defaults.
//! This file adds the signals and the few browser calls these need (history, clipboard,
//! scrolling).

use super::browser::sleep;
use super::lab::{Notices, notify};
use crate::link::{self, Settings};
pub use crate::link::{Panel, Preset};
use crate::ml::mnist::Source;
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

impl Panel {
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
}

/// What the page adds to a preset: its button's text, its note, and where it scrolls and what
/// it presses.
impl Preset {
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
                "The paper's toy world: five points on a line, alternating classes. In the paper's animation the boundary \
                 (the black line) sweeps in, lies along the line by about epoch 24, then dimples round each point. Drag \
                 the epoch slider: does this network? Mostly it crosses the line between neighbours instead (|cos| in the \
                 chart stays near 0.3, not 1). Try tanh with initial scale 0.3, a wider network or the 3-D sheet."
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
                 wrong to a human; a fresh network learns only from these. Had it learned only what a human sees, it \
                 would read every clean digit as the next class and score 0%; whatever it scores above that, the tiny \
                 changes carry what networks decide by. Press Run on the “Mislabeled adversarial examples” card."
            }
        }
    }

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
}

fn blank() -> RwSignal<String> {
    RwSignal::new(String::new())
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
        settings.load(&Settings::default());
        settings
    }

    /// The signal that holds the setting `key` (a key of [`link::fields`]) as its text; the
    /// dataset, the digit and random_start are held otherwise (see [`UrlSettings::value`]).
    fn text(self, key: &str) -> RwSignal<String> {
        let (t, a, k, s, y) = (
            self.train,
            self.autoencoder,
            self.attack,
            self.slice,
            self.toy,
        );
        match key {
            "images" => self.data.size,
            "model" => t.model,
            "epochs" => t.epochs,
            "batch" => t.batch,
            "lr" => t.rate,
            "seed" => t.seed,
            "schedule" => t.schedule,
            "shift" => t.shift,
            "ema" => t.ema,
            "ae" => a.kind,
            "k" => a.latent,
            "ae_epochs" => a.epochs,
            "norm" => k.norm,
            "eps" => k.eps,
            "step" => k.step,
            "steps" => k.steps,
            "target" => k.target,
            "search" => k.search,
            "plane" => s.axes,
            "range_h" => s.extent1,
            "range_v" => s.extent2,
            "cells" => s.resolution,
            "world" => y.preset,
            "points" => y.count,
            "noise" => y.noise,
            "labels" => y.labels,
            "toy_seed" => y.seed,
            "width" => y.width,
            "depth" => y.depth,
            "activation" => y.activation,
            "toy_lr" => y.learning_rate,
            "scale" => y.input_scale,
            "toy_epochs" => y.epochs,
            "panel" => self.panel,
            "backend" => self.backend,
            "pretrained" => self.pretrained,
            "embed" => self.embed,
            other => panic!("the page holds no setting {other:?}"),
        }
    }

    /// The text of the setting `key`, as the address writes it. Reading it subscribes to it.
    fn value(self, key: &str) -> String {
        match key {
            "dataset" => self.data.source.get().id().into(),
            "digit" => self.digit.get().map(|d| d.to_string()).unwrap_or_default(),
            "random_start" => u8::from(self.attack.random_start.get()).to_string(),
            key => self.text(key).get(),
        }
    }

    /// Sets the setting `key` from its text (already checked by [`link`]).
    fn set(self, key: &str, value: &str) {
        match key {
            "dataset" => self.data.source.set(value.parse().unwrap_or(Source::Mnist)),
            "digit" => self.digit.set(value.parse().ok()),
            "random_start" => self.attack.random_start.set(value == "1"),
            key => self.text(key).set(value.to_string()),
        }
    }

    /// Puts every setting and the preset of `settings` in place.
    fn load(self, settings: &Settings) {
        self.preset.set(settings.preset);
        for (key, value) in &settings.values {
            self.set(key, value);
        }
    }

    /// Whether the page shows one panel alone.
    pub fn embedded(self) -> bool {
        self.embed.get_untracked() == "1"
    }

    /// The panel named in the address, if any.
    pub fn panel(self) -> Option<Panel> {
        Panel::of_id(&self.panel.get_untracked())
    }

    /// Takes the settings from the query string `search` (with or without its `?`) into
    /// settings still at their defaults (as [`UrlSettings::new`] makes them), reporting each
    /// problem as a notice; a setting with a problem keeps its preset's value or its default.
    pub fn apply_query(self, search: &str, notices: Notices) {
        let parsed = link::parse(search);
        self.load(&parsed.settings);
        for notice in parsed.notices {
            notify(notices, false, notice);
        }
    }

    /// Puts `preset`'s settings in place (its panels' other settings back to their defaults).
    pub fn apply_preset(self, preset: Preset) {
        self.preset.set(Some(preset));
        for (key, value) in preset.changes() {
            self.set(key, &value);
        }
    }

    /// The canonical query (without `?`, see [`Settings::query`]) and the settings left out
    /// because their text is not valid. `embed` keeps the embed flag. Reading it subscribes
    /// to every setting.
    pub fn to_query(self, embed: bool) -> (String, Vec<String>) {
        Settings {
            preset: self.preset.get(),
            values: link::fields()
                .into_iter()
                .map(|f| (f.key, self.value(f.key)))
                .collect(),
        }
        .query(embed)
    }
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
    // Folded, the note keeps only its title and buttons, and covers little of the panel.
    let folded = RwSignal::new(false);
    let choose = move |preset: Preset| {
        open.set(true);
        folded.set(false);
        leptos::task::spawn_local(run_preset(settings, preset));
    };
    let note = move || {
        let preset = settings.preset.get().filter(|_| open.get())?;
        let i = Preset::ALL.iter().position(|p| *p == preset).unwrap_or(0);
        let next = Preset::ALL.get(i + 1).copied();
        Some(view! {
            <aside class="preset-note" class:folded=move || folded.get() data-testid="preset-note"
                data-preset=preset.id() aria-label="About this step">
                <p><strong>{format!("Step {} of {}: {}", i + 1, Preset::ALL.len(), preset.title())}</strong></p>
                <p id="preset-text" hidden=move || folded.get()>{preset.note()}</p>
                <div class="buttons">
                    {next.map(|n| view! {
                        <button class="primary" data-testid="preset-next" on:click=move |_| choose(n)>
                            {format!("Next: {}", n.title())}
                        </button>
                    })}
                    <button data-testid="preset-fold" aria-controls="preset-text"
                        aria-expanded=move || (!folded.get()).to_string()
                        on:click=move |_| folded.update(|f| *f = !*f)>
                        {move || if folded.get() { "Show text" } else { "Fold" }}
                    </button>
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
