//! The attack panel: pick a digit, set up PGD, and see the paper's four views (x, x + d,
//! x + Proj_M(d), x + (d - Proj_M(d))), the share of d that lies on the manifold, the
//! restricted attacks (on, off and a random subspace) and the PGD path step by step.
//!
//! Every number comes from `ml::attack` and `ml::manifold`; this file only gathers the
//! inputs, runs them in a local task with a yield between the phases (and between chunks of
//! PGD steps, so that no task blocks the page for long), and lays out the results.

use super::browser::{now_ms, sleep, yield_now};
use super::draw::{DrawPad, UploadPicture};
use super::export::{CsvButton, Figure, PngButton};
use super::fields::NumberField;
use super::lab::{LabStore, LoadState, Notices, notify};
use super::plot::{diverging_gradient_css, diverging_heatmap, probability_bars, unit_image};
use super::pretrained::{StartingModels, StartingSignal};
use super::slice::{Attacked, AttackedSignal};
use super::url::AttackSettings;
use crate::form::{self, L2_RADIUS};
use crate::ml::attack::{
    AttackConfig, AttackJob, AttackResult, AttackStep, Norm, PgdRun, Restriction, Subspace,
    classify, four_views,
};
use crate::ml::dataset::Dataset;
use crate::ml::experiments::report::{Cell, Table};
use crate::ml::manifold::{l2_norm, on_manifold_fraction, random_subspace, tangent_basis};
use crate::ml::rng::Rng;
use crate::pace::Pacer;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::sync::Arc;

/// An image to attack, pixels in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    pub pixels: Vec<f32>,
    /// The true class, when known (a test digit).
    pub label: Option<u8>,
    /// Where it came from, for the caption.
    pub source: String,
    /// Where it came from, in file names ("test0", "drawing", "upload").
    pub stem: String,
}

impl Chosen {
    /// Test digit number `index` of `data`, if there is one.
    fn test_digit(data: &Dataset, index: usize) -> Option<Self> {
        (index < data.test.len()).then(|| Self {
            pixels: data
                .image(&data.test, index)
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect(),
            label: Some(data.test.labels[index]),
            source: format!("test digit #{index}"),
            stem: format!("test{index}"),
        })
    }

    /// What it is, in words: its source and, when known, its class ("test digit #5, a 1").
    fn describe(&self, lab: LabStore) -> String {
        match self.label {
            Some(l) => {
                let name = lab.with_value(|x| {
                    x.as_ref()
                        .map_or_else(|| l.to_string(), |x| x.class_name(l))
                });
                format!("{}, a {name}", self.source)
            }
            None => self.source.clone(),
        }
    }
}

/// One image of a result row, with everything shown under it.
#[derive(Clone, Debug, PartialEq)]
struct Card {
    testid: &'static str,
    title: &'static str,
    formula: &'static str,
    /// The image; may leave [0, 1] (a projection of d is not clipped) and is clipped to draw.
    image: Vec<f32>,
    /// Its perturbation from x, drawn as a heatmap; `None` for x itself.
    perturbation: Option<Vec<f32>>,
    /// The heatmap's colour scale runs from -scale to scale.
    scale: f32,
    probabilities: Vec<f32>,
    predicted: u8,
    confidence: f32,
    l2: f32,
    linf: f32,
    /// Further lines: the flipping norm, the share outside the subspace.
    notes: Vec<String>,
    /// A restricted attack's share of its perturbation's norm outside its subspace.
    outside: Option<f32>,
    /// Whether its class differs from x's.
    changed: bool,
    /// For an attack stopped at its first class change: whether there was one.
    flipped: Option<bool>,
}

/// How long the phases of one attack took, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
struct Timing {
    basis_ms: f64,
    /// Time spent computing PGD, without the pauses between its chunks.
    pgd_ms: f64,
    total_ms: f64,
    /// PGD batches: one for L2, two for L∞ (the restricted row is L2).
    batches: usize,
    steps: usize,
}

/// Everything one run of the attack produced.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    /// Counts the runs of this page, so a test can tell a new result from the last one.
    id: u32,
    width: usize,
    height: usize,
    /// The class the attack moves away from (the classifier's verdict on x).
    attacked: u8,
    target: Option<u8>,
    /// A line about the chosen image's true class, when the classifier gets it wrong.
    misread: Option<String>,
    views: Vec<Card>,
    restricted: Vec<Card>,
    restricted_note: String,
    /// ||Proj_M(d)|| / ||d|| for the tangent space and for the random subspace.
    fraction: f32,
    random_fraction: f32,
    k: usize,
    rank: usize,
    n: usize,
    /// What the image is, in words ("test digit #5, a 1").
    source: String,
    /// The clean image and the plain attack's recorded iterates.
    x: Vec<f32>,
    path: Vec<AttackStep>,
    flipped_at: Option<usize>,
    timing: Timing,
}

impl Outcome {
    /// The four views and the restricted attacks as one table for export: a row per image
    /// with its class, confidence, norms and the classifier's probability of every class.
    fn table(&self) -> Table {
        let classes = self.views.first().map_or(0, |c| c.probabilities.len());
        let probabilities: Vec<String> = (0..classes).map(|c| format!("p({c})")).collect();
        let mut columns = vec![
            "view",
            "formula",
            "class",
            "confidence",
            "L2",
            "Linf",
            "flipped",
            "outside subspace",
        ];
        columns.extend(probabilities.iter().map(String::as_str));
        let mut table = Table::new(
            "views",
            "The four views and the restricted attacks",
            &columns,
        );
        for card in self.views.iter().chain(&self.restricted) {
            let mut row = vec![
                Cell::text(card.title),
                Cell::text(card.formula),
                Cell::count(usize::from(card.predicted)),
                Cell::number(f64::from(card.confidence), 6),
                Cell::number(f64::from(card.l2), 6),
                Cell::number(f64::from(card.linf), 6),
                card.flipped
                    .map_or(Cell::Missing, |f| Cell::text(f.to_string())),
                card.outside
                    .map_or(Cell::Missing, |o| Cell::number(f64::from(o), 4)),
            ];
            row.extend(
                card.probabilities
                    .iter()
                    .map(|&p| Cell::number(f64::from(p), 6)),
            );
            table.push(row);
        }
        table
    }
}

/// The attack settings as typed.
#[derive(Clone, Copy)]
struct Settings {
    norm: RwSignal<String>,
    eps: RwSignal<String>,
    step: RwSignal<String>,
    steps: RwSignal<String>,
    random_start: RwSignal<bool>,
    target: RwSignal<String>,
    /// How far (L2) the restricted attacks search for the boundary.
    search: RwSignal<String>,
}

impl Settings {
    /// The plain attack's settings and the restricted row's search radius.
    fn read(&self) -> Result<(AttackConfig, f32), String> {
        let number = |name: &str, text: String| form::number::<f32>(name, &text);
        let steps = form::whole("steps", &self.steps.get_untracked(), AttackConfig::STEPS)?;
        let config = AttackConfig {
            norm: match self.norm.get_untracked().as_str() {
                "linf" => Norm::Linf,
                _ => Norm::L2,
            },
            eps: number("eps", self.eps.get_untracked())?,
            step_size: number("the step size", self.step.get_untracked())?,
            steps,
            random_start: self.random_start.get_untracked(),
            target: match self.target.get_untracked().as_str() {
                "" => None,
                t => Some(t.parse().map_err(|_| format!("unknown target {t:?}"))?),
            },
            ..AttackConfig::default()
        };
        config.validate()?;
        let search = number("the search radius", self.search.get_untracked())?;
        if search <= 0.0 {
            return Err(format!("the search radius must be positive, not {search}"));
        }
        Ok((config, search))
    }
}

#[component]
pub fn AttackPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    selected: RwSignal<Option<usize>>,
    /// Set to the image, d and its two parts each time an attack finishes (for the slice).
    attacked: AttackedSignal,
    /// The models installed without training (shipped, or saved in this browser): once both
    /// are there, the first test digit is attacked at once, so a visit shows the four views
    /// without training.
    starting: StartingSignal,
    /// The attack's settings, shared with the page's address.
    url: AttackSettings,
) -> impl IntoView {
    let settings = Settings {
        norm: url.norm,
        eps: url.eps,
        step: url.step,
        steps: url.steps,
        random_start: url.random_start,
        target: url.target,
        search: url.search,
    };
    let chosen = RwSignal::new(None::<Chosen>);
    let outcome = RwSignal::new(None::<Arc<Outcome>>);
    let phase = RwSignal::new(None::<String>);
    // Set by Cancel; the attack stops at its next chunk of PGD steps.
    let cancelled = RwSignal::new(false);
    let step = RwSignal::new(0usize);
    let resized = RwSignal::new(0u32);
    let _ = window_event_listener(leptos::ev::resize, move |_| resized.update(|n| *n += 1));

    let drawn = Callback::new(move |pixels: Vec<f32>| {
        selected.set(None);
        chosen.set(Some(Chosen {
            pixels,
            label: None,
            source: "your drawing".into(),
            stem: "drawing".into(),
        }));
    });
    let uploaded = Callback::new(move |(pixels, name): (Vec<f32>, String)| {
        selected.set(None);
        chosen.set(Some(Chosen {
            pixels,
            label: None,
            source: format!("uploaded {name}"),
            stem: "upload".into(),
        }));
    });
    let random_digit = move |_| {
        let count = lab.with_value(|l| l.as_ref().map_or(0, |l| l.dataset.test.len()));
        if count > 0 {
            selected.set(Some(
                (js_sys::Math::random() * count as f64) as usize % count,
            ));
        }
    };

    let launch = move || {
        let (config, search) = match settings.read() {
            Ok(c) => c,
            Err(e) => return notify(notices, true, format!("Cannot attack: {e}.")),
        };
        let (has_classifier, has_autoencoder) = lab.with_value(|l| {
            l.as_ref().map_or((false, false), |l| {
                (l.classifier.is_some(), l.autoencoder.is_some())
            })
        });
        if !has_classifier {
            return notify(
                notices,
                true,
                "Cannot attack yet: train a classifier first (the Train button above; one epoch is enough).",
            );
        }
        if !has_autoencoder {
            return notify(
                notices,
                true,
                "Cannot attack yet: train the autoencoder first (its tangent space splits the perturbation).",
            );
        }
        let Some(image) = chosen.get_untracked() else {
            return notify(
                notices,
                true,
                "Cannot attack yet: pick a digit first (click one in the gallery, or Random test digit).",
            );
        };
        // No two images are further apart in L2 than black and white: a larger radius is that.
        let diameter = (image.pixels.len() as f32).sqrt();
        let clamp = |name: &str, radius: f32| {
            if radius > diameter {
                notify(
                    notices,
                    false,
                    format!(
                        "{name} {radius} is more than the largest L2 distance between two images \
                         ({diameter}); the attack uses {diameter}."
                    ),
                );
            }
            radius.min(diameter)
        };
        let (mut config, search) = (config, clamp("The search radius", search));
        if config.norm == Norm::L2 {
            config.eps = clamp("eps", config.eps);
        }
        phase.set(Some("Classifying the digit…".into()));
        cancelled.set(false);
        spawn_local(async move {
            match attack(lab, image, config, search, phase, cancelled).await {
                Ok(mut result) => {
                    result.id = outcome.with_untracked(|o| o.as_ref().map_or(0, |o| o.id)) + 1;
                    step.set(result.path.len() - 1);
                    let part = |k: usize| result.views[k].perturbation.clone().unwrap_or_default();
                    attacked.set(Some(Arc::new(Attacked {
                        id: result.id,
                        x: result.x.clone(),
                        d: part(1),
                        on: part(2),
                        off: part(3),
                        class: result.attacked,
                    })));
                    outcome.set(Some(Arc::new(result)));
                }
                Err(_) if cancelled.get_untracked() => notify(
                    notices,
                    false,
                    "The attack was cancelled; the results of the last one are kept.",
                ),
                Err(e) => notify(notices, true, format!("The attack failed: {e}")),
            }
            phase.set(None);
        });
    };

    let run = move |_| launch();

    // A test digit picked in the gallery or at random becomes the image to attack, and is
    // attacked at once where the models are there and no attack runs. The digit the address
    // names at the start is left to the first attack (below), and the same digit picked again
    // as a dataset loads is not attacked again.
    let last_pick = StoredValue::new(None::<usize>);
    let started = StoredValue::new(false);
    Effect::new(move || {
        let index = selected.get();
        if load.get() != LoadState::Ready {
            return;
        }
        let first = !started.get_value();
        started.set_value(true);
        let Some(index) = index else { return };
        let picked = lab.with_value(|l| {
            let d = &l.as_ref()?.dataset;
            Chosen::test_digit(d, index)
        });
        let Some(picked) = picked else { return };
        chosen.set(Some(picked));
        let repeated = last_pick.get_value() == Some(index);
        last_pick.set_value(Some(index));
        let models = lab.with_value(|l| {
            l.as_ref()
                .is_some_and(|l| l.classifier.is_some() && l.autoencoder.is_some())
        });
        if !first && !repeated && models && phase.get_untracked().is_none() {
            launch();
        }
    });
    let auto_attacked = StoredValue::new(false);
    Effect::new(move || {
        if starting.with(StartingModels::is_empty)
            || load.get() != LoadState::Ready
            || auto_attacked.get_value()
            || !lab.with_value(|l| {
                l.as_ref()
                    .is_some_and(|l| l.classifier.is_some() && l.autoencoder.is_some())
            })
        {
            return;
        }
        auto_attacked.set_value(true);
        if outcome.with_untracked(Option::is_some) {
            return;
        }
        if chosen.get_untracked().is_some() {
            return launch();
        }
        // The test digit the address picks, else the first.
        let index = selected.get_untracked().unwrap_or(0);
        let first = lab.with_value(|l| {
            let d = &l.as_ref()?.dataset;
            Chosen::test_digit(d, index)
        });
        if first.is_some() {
            chosen.set(first);
            launch();
        }
    });

    let chosen_canvas = NodeRef::<Canvas>::new();
    Effect::new(move || {
        let Some(canvas) = chosen_canvas.get() else {
            return;
        };
        let drawn = chosen.with(|c| match c {
            Some(c) => unit_image(&canvas, &c.pixels, 28, 28),
            None => unit_image(&canvas, &[0.0; 28 * 28], 28, 28),
        });
        if let Err(e) = drawn {
            leptos::logging::warn!("chosen image: {e}");
        }
    });
    let ready = move || load.get() == LoadState::Ready;
    let busy = move || phase.get().is_some();
    // The results shown are another image's than the one chosen.
    let stale = move || {
        outcome.with(|o| {
            o.as_ref()
                .is_some_and(|o| chosen.with(|c| c.as_ref().is_some_and(|c| c.pixels != o.x)))
        })
    };
    let has_outcome = Signal::derive(move || outcome.with(Option::is_some));
    let file_name = Signal::derive(move || match chosen.get() {
        Some(c) => format!("four-views-{}", c.stem),
        None => "four-views".to_string(),
    });

    view! {
        <section class="panel" aria-labelledby="attack-title">
            <h2 id="attack-title">"Attack a digit: the four views"</h2>
            <p class="explain">
                "An adversarial example is the image plus a tiny perturbation d that changes the classifier's answer. "
                "The dimpled manifold model says d points almost straight off the manifold of real digits. "
                "Split d into its part along the manifold and its part across it, and see which part does the work."
            </p>
            <div class="attack-setup">
                <div class="picker">
                    <canvas node_ref=chosen_canvas class="chosen" data-testid="chosen-image" role="img"
                        data-label=move || chosen.with(|c| c.as_ref().and_then(|c| c.label).map(|l| l.to_string()).unwrap_or_default())
                        aria-label="the digit to attack"></canvas>
                    <p class="caption" data-testid="chosen-caption">
                        {move || chosen.with(|c| match c {
                            Some(c) => c.describe(lab),
                            None => "No digit yet: click one in the gallery.".to_string(),
                        })}
                    </p>
                    <button data-testid="random-digit" on:click=random_digit disabled=move || !ready()>"Random test digit"</button>
                </div>
                <div class="picker">
                    <DrawPad on_digit=drawn/>
                    <p class="caption">"Draw a digit above (it is centred and scaled like MNIST), or:"</p>
                    <UploadPicture on_digit=uploaded notices/>
                </div>
                <div class="controls attack-controls">
                    <label>"Norm"
                        <select data-testid="attack-norm" aria-label="Norm of the perturbation"
                            prop:value=move || settings.norm.get()
                            on:change=move |ev| settings.norm.set(event_target_value(&ev))>
                            <option value="l2">"L2 (length)"</option>
                            <option value="linf">"L∞ (largest pixel change)"</option>
                        </select>
                    </label>
                    // The radii show the images' L2 diameter as their bound; the reader takes any
                    // positive radius and, past the diameter, uses it with a notice.
                    <NumberField label="eps (ball radius)" testid="attack-eps" value=settings.eps bounds=L2_RADIUS disabled=Signal::derive(busy)/>
                    <NumberField label="Step size" testid="attack-step" value=settings.step bounds=L2_RADIUS disabled=Signal::derive(busy)/>
                    <NumberField label="Steps" testid="attack-steps" value=settings.steps bounds=AttackConfig::STEPS disabled=Signal::derive(busy)/>
                    <label>"Target"
                        <select data-testid="attack-target" aria-label="Target class"
                            prop:value=move || settings.target.get()
                            on:change=move |ev| settings.target.set(event_target_value(&ev))>
                            <option value="">"untargeted (any other class)"</option>
                            {(0..10).map(|c| view! { <option value=c.to_string()>{format!("make it a {c}")}</option> }).collect_view()}
                        </select>
                    </label>
                    <NumberField label="Restricted: search up to L2" testid="attack-search" value=settings.search bounds=L2_RADIUS disabled=Signal::derive(busy)/>
                    <label class="check">
                        <input type="checkbox" data-testid="attack-random-start"
                            prop:checked=move || settings.random_start.get()
                            on:change=move |ev| settings.random_start.set(event_target_checked(&ev))/>
                        "Random start"
                    </label>
                    <div class="buttons">
                        <button class="primary" data-testid="attack-run" on:click=run disabled=move || !ready() || busy()>"Run attack"</button>
                        <button data-testid="attack-cancel" on:click=move |_| cancelled.set(true) disabled=move || !busy()>"Cancel"</button>
                    </div>
                </div>
            </div>
            <p class="status" data-testid="attack-status" data-busy=move || busy().to_string() aria-live="polite">
                {move || phase.get().unwrap_or_else(|| match outcome.get() {
                    Some(o) if stale() => format!(
                        "The results below are for {}. Press Run attack for {}.",
                        o.source,
                        chosen.with(|c| c.as_ref().map(|c| c.describe(lab)).unwrap_or_default())
                    ),
                    Some(o) => timing_text(&o.timing),
                    None => "Pick a digit, then run the attack.".into(),
                })}
            </p>
            <div class="results-frame" class:stale=stale data-stale=move || stale().to_string()>
                {move || outcome.get().map(|o| view! { <Results outcome=o step resized/> })}
            </div>
            <div class="exports" role="group" aria-label="Download the four views">
                <PngButton figure=Figure::Strip(".four-views > figure.view") panel="views" name=file_name label="Four views PNG"
                    testid="export-png-strip" ready=has_outcome notices/>
                <PngButton figure=Figure::Panel panel="views" name=file_name label="Panel PNG"
                    testid="export-png" ready=true notices/>
                <CsvButton panel="views" name=file_name
                    tables=Signal::derive(move || outcome.with(|o| o.iter().map(|o| o.table()).collect())) notices/>
            </div>
        </section>
    }
}

fn timing_text(t: &Timing) -> String {
    let batches = if t.batches == 1 {
        "in one batch".to_string()
    } else {
        format!("in {} batches", t.batches)
    };
    format!(
        "Done in {:.0} ms: tangent space {:.0} ms, PGD {:.0} ms (4 attacks × {} steps {batches}).",
        t.total_ms, t.basis_ms, t.pgd_ms, t.steps
    )
}

#[component]
fn Results(outcome: Arc<Outcome>, step: RwSignal<usize>, resized: RwSignal<u32>) -> impl IntoView {
    let o = outcome.clone();
    let (w, h) = (o.width, o.height);
    let expected = (o.rank as f64 / o.n as f64).sqrt();
    let view_cards = o
        .views
        .iter()
        .cloned()
        .map(|card| view! { <CardView card width=w height=h marked=Some(usize::from(o.target.unwrap_or(o.attacked))) resized/> })
        .collect_view();
    let restricted_cards = o
        .restricted
        .iter()
        .cloned()
        .map(|card| view! { <CardView card width=w height=h marked=Some(usize::from(o.target.unwrap_or(o.attacked))) resized/> })
        .collect_view();
    view! {
        <div class="results" data-testid="attack-results" data-run=o.id data-source=o.source.clone() data-timing-basis=format!("{:.1}", o.timing.basis_ms)
            data-timing-pgd=format!("{:.1}", o.timing.pgd_ms) data-timing-total=format!("{:.1}", o.timing.total_ms)>
            {o.misread.clone().map(|m| view! { <p class="explain">{m}</p> })}
            <h3>"The four views"</h3>
            <p class="explain">
                "In order: the digit x, the adversarial example x + d, then x plus only the part of d along the manifold "
                "(its tangent space at x, from the autoencoder) and x plus only the part across it. "
                "Under the images: d and its two parts as heatmaps (red brightens a pixel, blue darkens it)."
            </p>
            <div class="views four-views">{view_cards}</div>
            <p class="fraction" data-testid="manifold-fraction" data-value=format!("{:.4}", o.fraction)
                data-random=format!("{:.4}", o.random_fraction) data-expected=format!("{expected:.4}")>
                "Share of d on the manifold: ‖Proj"<sub>"M"</sub>"(d)‖ / ‖d‖ = " <strong>{format!("{:.3}", o.fraction)}</strong>
                ". A random direction keeps about √(k/n) = √(" {o.rank} "/" {o.n} ") = " <strong>{format!("{expected:.3}")}</strong>
                " in a " {o.rank} "-dimensional subspace; in a random one, d keeps " <strong>{format!("{:.3}", o.random_fraction)}</strong> "."
                {(o.rank < o.k).then(|| format!(" (The tangent space has rank {} of k = {}.)", o.rank, o.k))}
            </p>
            <h3>"Restricted attacks: how far is the boundary in each direction?"</h3>
            <p class="explain">
                "The same attack again, but every step may only move along the manifold (on), across it (off), or within a random "
                "subspace of the same dimension (the control); each stops as soon as the class changes. Its length then is the distance "
                "to the decision boundary in that subspace. "
                {o.restricted_note.clone()}
            </p>
            <div class="views">{restricted_cards}</div>
            <p class="explain small">
                "Caveat: the pixel box [0, 1] clips each step, which moves a restricted perturbation partly out of its subspace "
                "(background pixels sit at 0 and cannot get darker); “outside its subspace” says how much."
            </p>
            <PathScrubber outcome step resized/>
        </div>
    }
}

/// One image with its verdict, bar chart, norms and (for a perturbed one) its perturbation.
#[component]
fn CardView(
    card: Card,
    width: usize,
    height: usize,
    marked: Option<usize>,
    resized: RwSignal<u32>,
) -> impl IntoView {
    let image_canvas = NodeRef::<Canvas>::new();
    let bars_canvas = NodeRef::<Canvas>::new();
    let heat_canvas = NodeRef::<Canvas>::new();
    let Card {
        testid,
        title,
        formula,
        image,
        perturbation,
        scale,
        probabilities,
        predicted,
        confidence,
        l2,
        linf,
        notes,
        outside,
        changed,
        flipped,
    } = card;
    let has_heat = perturbation.is_some();
    Effect::new(move || {
        if let Some(c) = image_canvas.get()
            && let Err(e) = unit_image(&c, &image, width, height)
        {
            leptos::logging::warn!("view: {e}");
        }
        if let (Some(c), Some(d)) = (heat_canvas.get(), perturbation.as_ref())
            && let Err(e) = diverging_heatmap(&c, d, width, height, scale)
        {
            leptos::logging::warn!("heatmap: {e}");
        }
    });
    Effect::new(move || {
        resized.track();
        if let Some(c) = bars_canvas.get()
            && let Err(e) = probability_bars(&c, &probabilities, marked)
        {
            leptos::logging::warn!("bars: {e}");
        }
    });
    view! {
        <figure class="view" data-testid=testid data-class=predicted.to_string()
            data-confidence=format!("{confidence:.4}") data-l2=format!("{l2:.4}") data-linf=format!("{linf:.4}")
            data-flipped=flipped.map(|f| f.to_string()) data-outside=outside.map(|o| format!("{o:.4}"))>
            <figcaption class="view-title"><strong>{title}</strong> " " <span class="formula">{formula}</span></figcaption>
            <canvas node_ref=image_canvas class="big" role="img" aria-label=format!("{title}: classified as {predicted}")></canvas>
            <p class="verdict" class:changed=changed>
                "class " <strong>{predicted}</strong> " · " {format!("{:.1}%", 100.0 * confidence)}
            </p>
            <canvas node_ref=bars_canvas class="bars" role="img" aria-label="probability of each class"></canvas>
            <p class="norms">"L2 " <strong>{format!("{l2:.3}")}</strong> " · L∞ " <strong>{format!("{linf:.3}")}</strong></p>
            {notes.into_iter().map(|n| view! { <p class="note">{n}</p> }).collect_view()}
            {has_heat.then(|| view! {
                <canvas node_ref=heat_canvas class="heat" role="img" aria-label="the perturbation: red brightens, blue darkens"></canvas>
                <ColourScale scale/>
            })}
        </figure>
    }
}

/// The diverging colour bar with its end values.
#[component]
fn ColourScale(scale: f32) -> impl IntoView {
    view! {
        <div class="scale" aria-hidden="true">
            <div class="bar" style:background=diverging_gradient_css()></div>
            <div class="ticks"><span>{format!("−{scale:.2}")}</span><span>"0"</span><span>{format!("+{scale:.2}")}</span></div>
        </div>
    }
}

/// The plain attack's path: a slider over the recorded iterates and a Play button.
#[component]
fn PathScrubber(
    outcome: Arc<Outcome>,
    step: RwSignal<usize>,
    resized: RwSignal<u32>,
) -> impl IntoView {
    let last = outcome.path.len() - 1;
    let playing = RwSignal::new(false);
    let image_canvas = NodeRef::<Canvas>::new();
    let bars_canvas = NodeRef::<Canvas>::new();
    let o = outcome.clone();
    let marked = Some(usize::from(o.target.unwrap_or(o.attacked)));
    Effect::new(move || {
        let t = step.get().min(last);
        resized.track();
        let at = &o.path[t];
        let image: Vec<f32> =
            o.x.iter()
                .zip(&at.perturbation)
                .map(|(x, d)| x + d)
                .collect();
        if let Some(c) = image_canvas.get()
            && let Err(e) = unit_image(&c, &image, o.width, o.height)
        {
            leptos::logging::warn!("path: {e}");
        }
        if let Some(c) = bars_canvas.get()
            && let Err(e) = probability_bars(&c, &at.probabilities, marked)
        {
            leptos::logging::warn!("path bars: {e}");
        }
    });
    let play = move |_| {
        if playing.get_untracked() {
            playing.set(false);
            return;
        }
        if step.get_untracked() >= last {
            step.set(0);
        }
        playing.set(true);
        spawn_local(async move {
            while playing.get_untracked() && step.get_untracked() < last {
                sleep(60).await;
                if playing.get_untracked() {
                    step.update(|t| *t = (*t + 1).min(last));
                }
            }
            playing.set(false);
        });
    };
    let o = outcome.clone();
    let caption = move || {
        let t = step.get().min(last);
        let at = &o.path[t];
        let flip = match o.flipped_at {
            Some(f) if t >= f => format!(" · flipped at step\u{a0}{f}"),
            _ => String::new(),
        };
        // No-break spaces keep each figure with its name when the line wraps.
        format!(
            "step\u{a0}{t} of\u{a0}{last}: class\u{a0}{}\u{a0}({:.1}%) · L2\u{a0}{:.3} · loss\u{a0}{:.3}{flip}",
            at.predicted,
            100.0 * at.probabilities[usize::from(at.predicted)],
            l2_norm(&at.perturbation),
            at.loss
        )
    };
    let o = outcome.clone();
    view! {
        <h3>"The attack, step by step"</h3>
        <p class="explain">
            "PGD takes small steps uphill on the classifier's loss. Drag the slider or press Play to watch the digit change "
            "(or not, to your eye) while the class probabilities shift."
        </p>
        <div class="path">
            <canvas node_ref=image_canvas class="big path-image" data-testid="path-image" role="img" aria-label="the attacked image at this step"></canvas>
            <div class="path-side">
                <div class="path-controls">
                    <button data-testid="attack-play" on:click=play>{move || if playing.get() { "Pause" } else { "Play" }}</button>
                    <input type="range" data-testid="attack-step-slider" aria-label="PGD step" min="0" max=last.to_string() step="1"
                        prop:value=move || step.get().to_string()
                        on:input=move |ev| {
                            playing.set(false);
                            if let Ok(t) = event_target_value(&ev).parse::<usize>() {
                                step.set(t.min(last));
                            }
                        }/>
                </div>
                <p class="path-caption" data-testid="path-caption"
                    data-class=move || o.path[step.get().min(last)].predicted.to_string()>{caption}</p>
                <canvas node_ref=bars_canvas class="bars path-bars" role="img" aria-label="class probabilities at this step"></canvas>
            </div>
        </div>
    }
}

/// Runs the whole analysis of `chosen`: the classifier's verdict, the tangent space at x, one
/// batched PGD (plain, on, off, random), and the four views. Yields between the phases, and
/// stops with an error once `cancelled` is set (checked between them and between PGD chunks).
async fn attack(
    lab: LabStore,
    chosen: Chosen,
    config: AttackConfig,
    search_radius: f32,
    phase: RwSignal<Option<String>>,
    cancelled: RwSignal<bool>,
) -> Result<Outcome, String> {
    let started = now_ms();
    let chosen_source = chosen.describe(lab);
    let (classifier, autoencoder, device, width, height) = lab
        .with_value(|l| {
            let l = l.as_ref()?;
            Some((
                l.classifier.clone()?,
                l.autoencoder.clone()?,
                l.device.clone(),
                l.dataset.width,
                l.dataset.height,
            ))
        })
        .ok_or("the classifier or the autoencoder is missing")?;
    let x = chosen.pixels;
    let n = x.len();
    if n != width * height {
        return Err(format!(
            "the image has {n} pixels, the models expect {}",
            width * height
        ));
    }
    let clean = classify(&classifier, &x, n, &device).await?.remove(0);
    let attacked = clean.predicted;
    if config.target == Some(attacked) {
        return Err(format!(
            "the classifier already reads this digit as {attacked}; choose another target."
        ));
    }
    let misread = chosen.label.filter(|&l| l != attacked).map(|l| {
        let name = |k: u8| {
            lab.with_value(|x| x.as_ref().map_or_else(|| k.to_string(), |x| x.class_name(k)))
        };
        let (l, attacked) = (name(l), name(attacked));
        format!(
            "The classifier already misreads this {l} as a {attacked}, so the attack moves it away from {attacked}."
        )
    });

    phase.set(Some("Computing the tangent space at the digit…".into()));
    yield_now().await;
    let t0 = now_ms();
    let basis = tangent_basis(&autoencoder, &x, &device).await?;
    let basis_ms = now_ms() - t0;
    let random = random_subspace(n, basis.rank, &mut Rng::new(config.seed));

    phase.set(Some("Running PGD…".into()));
    yield_now().await;
    let on = Restriction {
        basis: &basis,
        subspace: Subspace::On,
    };
    let off = Restriction {
        basis: &basis,
        subspace: Subspace::Off,
    };
    let control = Restriction {
        basis: &random,
        subspace: Subspace::On,
    };
    let job = |restriction| AttackJob {
        image: &x,
        label: attacked,
        restriction,
    };
    // The restricted row searches for the boundary up to the search radius, from x itself.
    // When the plain attack has the same settings, all four attacks share one batch.
    let search = config.restricted_search(search_radius);
    let row = [job(None), job(Some(on)), job(Some(off)), job(Some(control))];
    let batches = if search == config { 1 } else { 2 };
    if cancelled.get_untracked() {
        return Err("cancelled".into());
    }
    let mut pacer = PgdProgress::new(
        search.steps + (batches - 1) * config.steps,
        phase,
        cancelled,
    );
    let run = PgdRun::new(&classifier, &row, &search, false, &device)?;
    let row_results = pacer.run(run, &row).await?;
    let plain = if batches == 1 {
        row_results[0].clone()
    } else {
        let alone = [job(None)];
        let run = PgdRun::new(&classifier, &alone, &config, false, &device)?;
        pacer
            .run(run, &alone)
            .await?
            .into_iter()
            .next()
            .ok_or("no result")?
    };
    let pgd_ms = pacer.pace.busy_ms;

    phase.set(Some("Splitting d along and across the manifold…".into()));
    yield_now().await;
    let four = four_views(&classifier, &basis, &x, &plain.perturbation, &device).await?;
    let random_fraction = on_manifold_fraction(&random, &plain.perturbation);

    let titles = [
        ("view-original", "Original", "x"),
        ("view-adversarial", "Adversarial", "x + d"),
        ("view-on-manifold", "On-manifold part", "x + Proj(d)"),
        (
            "view-off-manifold",
            "Off-manifold part",
            "x + (d − Proj(d))",
        ),
    ];
    let mut views = Vec::new();
    for (i, ((testid, title, formula), image)) in titles.iter().zip(&four.images).enumerate() {
        let p = &four.predictions[i];
        let d: Vec<f32> = image.iter().zip(&x).map(|(a, b)| a - b).collect();
        // A projection of d is not clipped: its class is the computed image's, and the picture
        // clips it. Say so where that differs.
        let outside = image
            .iter()
            .filter(|&&v| !(-1e-6..=1.0 + 1e-6).contains(&v))
            .count();
        let notes = if outside > 0 {
            vec![format!(
                "classified as computed; {outside} pixels leave [0,\u{a0}1] and are clipped only in the picture"
            )]
        } else {
            Vec::new()
        };
        views.push(Card {
            testid,
            title,
            formula,
            image: image.clone(),
            perturbation: (i > 0).then(|| d.clone()),
            scale: 0.0,
            probabilities: p.probabilities.clone(),
            predicted: p.predicted,
            confidence: p.confidence,
            l2: l2_norm(&d),
            linf: linf(&d),
            notes,
            outside: None,
            changed: p.predicted != attacked,
            flipped: None,
        });
    }
    // One scale for d and its two parts, so that they compare directly.
    let view_scale = views
        .iter()
        .filter_map(|c| c.perturbation.as_ref())
        .map(|d| linf(d))
        .fold(1e-6, f32::max);
    for card in &mut views {
        card.scale = view_scale;
    }

    let restrictions = [None, Some(on), Some(off), Some(control)];
    let names = [
        ("view-restricted-plain", "Plain", "unrestricted"),
        ("view-restricted-on", "On", "along the manifold"),
        ("view-restricted-off", "Off", "across the manifold"),
        ("view-restricted-random", "Random", "random subspace"),
    ];
    let restricted: Vec<Card> = row_results
        .iter()
        .zip(restrictions)
        .zip(names)
        .map(|((result, restriction), (testid, title, formula))| {
            first_flip_card(
                result,
                restriction,
                &x,
                attacked,
                &search,
                testid,
                title,
                formula,
            )
        })
        .collect();
    let search_text = format!(
        "searching up to L2 {} with steps of {} ({} steps)",
        search.eps, search.step_size, search.steps
    );
    let restricted_note = match (config.norm, batches) {
        (Norm::L2, 1) => format!("They ran in one batch with the attack above, {search_text}."),
        (Norm::L2, _) => format!(
            "They ran in one batch, {search_text}; Plain is the same search without a restriction."
        ),
        (Norm::Linf, _) => format!(
            "They use the L2 norm, since the sign step of an L∞ attack would leave the subspace, {search_text}; \
             Plain is the same search without a restriction."
        ),
    };
    Ok(Outcome {
        id: 0,
        width,
        height,
        attacked,
        target: config.target,
        misread,
        source: chosen_source,
        views,
        restricted,
        restricted_note,
        fraction: four.on_manifold_fraction,
        random_fraction,
        k: basis.k,
        rank: basis.rank,
        n,
        flipped_at: plain.flipped_at,
        path: plain.path,
        x,
        timing: Timing {
            basis_ms,
            pgd_ms,
            total_ms: now_ms() - started,
            batches,
            steps: config.steps,
        },
    })
}

/// Runs PGD attacks in chunks of steps sized to take about
/// [`CHUNK_MS`](crate::pace::CHUNK_MS) each, yielding to the browser between chunks and
/// showing the progress as "step i of n" in `phase`.
struct PgdProgress {
    phase: RwSignal<Option<String>>,
    /// Cancel was pressed: stop before the next chunk.
    cancelled: RwSignal<bool>,
    /// Steps of all the attacks together, and those taken so far.
    total: usize,
    done: usize,
    /// Sizes the chunks (one step until a step has been timed: a CNN step on the CPU can take
    /// milliseconds, and the first one also warms up) and sums the time spent computing.
    pace: Pacer,
}

impl PgdProgress {
    fn new(total: usize, phase: RwSignal<Option<String>>, cancelled: RwSignal<bool>) -> Self {
        Self {
            phase,
            cancelled,
            total,
            done: 0,
            pace: Pacer::default(),
        }
    }

    async fn run(
        &mut self,
        mut run: PgdRun,
        jobs: &[AttackJob<'_>],
    ) -> Result<Vec<AttackResult>, String> {
        while !run.is_done() {
            if self.cancelled.get_untracked() {
                return Err("cancelled".into());
            }
            let steps = self.pace.next(run.steps() - run.steps_taken());
            let t0 = now_ms();
            run.advance(steps).await?;
            self.pace.record(now_ms() - t0, steps);
            self.done += steps;
            self.phase.set(Some(format!(
                "Running PGD: step {} of {}…",
                self.done, self.total
            )));
            yield_now().await;
        }
        let t0 = now_ms();
        let results = run.finish(jobs).await;
        self.pace.busy_ms += now_ms() - t0;
        results
    }
}

/// A card for an attack stopped at its first class change (or at its end, if it never
/// changed): the norm reached there approximates the distance to the boundary.
#[allow(clippy::too_many_arguments)]
fn first_flip_card(
    result: &AttackResult,
    restriction: Option<Restriction<'_>>,
    x: &[f32],
    attacked: u8,
    config: &AttackConfig,
    testid: &'static str,
    title: &'static str,
    formula: &'static str,
) -> Card {
    let at = result.flipped_at.unwrap_or(result.path.len() - 1);
    let step = &result.path[at];
    let d = &step.perturbation;
    let l2 = l2_norm(d);
    let mut notes = vec![match result.flipped_at {
        Some(t) => format!("flips at L2\u{a0}{l2:.3} (step\u{a0}{t})"),
        None => format!(
            "did not flip within eps {} ({} steps)",
            config.eps, config.steps
        ),
    }];
    let outside = restriction.map(|r| r.outside_fraction(d));
    if let Some(o) = outside {
        notes.push(format!("{:.0}% of it outside its subspace", 100.0 * o));
    }
    Card {
        testid,
        title,
        formula,
        image: x.iter().zip(d).map(|(a, b)| a + b).collect(),
        perturbation: Some(d.clone()),
        scale: linf(d).max(1e-6),
        probabilities: step.probabilities.clone(),
        predicted: step.predicted,
        confidence: step.probabilities[usize::from(step.predicted)],
        l2,
        linf: linf(d),
        notes,
        outside,
        changed: step.predicted != attacked,
        flipped: Some(result.flipped_at.is_some()),
    }
}

fn linf(v: &[f32]) -> f32 {
    v.iter().fold(0.0, |m, e| e.abs().max(m))
}
