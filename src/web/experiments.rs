//! The experiments lab in the page: the five experiments of `ml::experiments`, each with a Run
//! button and its few settings, one shared progress bar with Cancel, and the finished
//! results as tables, charts and CSV / JSON exports.
//!
//! An experiment runs in a local task a unit of work at a time (a training step, one attacked
//! image), yielding to the browser whenever about [`CHUNK_MS`] have passed, so the page stays
//! usable. Cancel drops the experiment after its current unit: the page's models are only ever
//! cloned into an experiment, never changed by it. Results belong to the dataset they were
//! computed on (kept apart with [`keep_per_dataset`]) and say which data and models made them.

mod catalogue;
mod report_view;

use super::browser::{now_ms, yield_now};
use super::fields::{NumberField, ProgressBar};
use super::lab::{Lab, LabStore, LoadState, Notices, Running, keep_per_dataset, notify};
use crate::ml::autoencoder::AutoencoderKind;
use crate::ml::experiments::{Experiment, Progress};
use crate::ml::mnist::Source;
use crate::ml::model::ClassifierKind;
use catalogue::{Built, Plan, Which};
use leptos::prelude::*;
use leptos::task::spawn_local;
use report_view::{Finished, ResultView};
use std::sync::Arc;

/// How long the experiment may keep the main thread before yielding, in milliseconds (a unit
/// of work that takes longer runs to its end first).
const CHUNK_MS: f64 = 40.0;

/// Whether an experiment is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LabState {
    Idle,
    Running,
    /// Cancel was pressed; the current unit of work is finishing.
    Cancelling,
}

impl LabState {
    fn id(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Cancelling => "cancelling",
        }
    }
}

/// What the running experiment shares with the panel.
#[derive(Clone, Copy)]
struct Control {
    state: RwSignal<LabState>,
    which: RwSignal<Option<Which>>,
    progress: RwSignal<Option<Progress>>,
    /// Seconds since the run started.
    elapsed: RwSignal<f64>,
}

/// Seconds spent in each stage, in the order the stages first ran.
type Timings = Vec<(String, f64)>;

/// Drives `experiment` to its end a unit at a time, yielding to the browser every
/// [`CHUNK_MS`] and timing each stage's compute; `Ok(None)` when cancelled.
async fn drive<E: Experiment>(
    mut experiment: E,
    control: Control,
    timings: &mut Timings,
) -> Result<Option<E::Outcome>, String> {
    let started = now_ms();
    let mut chunk = started;
    control.progress.set(Some(experiment.progress()));
    while !experiment.is_done() {
        if control.state.get_untracked() != LabState::Running {
            return Ok(None);
        }
        let stage = experiment.progress().stage;
        let t0 = now_ms();
        experiment.advance(1).await?;
        let t1 = now_ms();
        match timings.iter_mut().find(|(s, _)| s == stage) {
            Some((_, seconds)) => *seconds += (t1 - t0) / 1000.0,
            None => timings.push((stage.to_string(), (t1 - t0) / 1000.0)),
        }
        if t1 - chunk >= CHUNK_MS {
            control.progress.set(Some(experiment.progress()));
            control.elapsed.set((t1 - started) / 1000.0);
            yield_now().await;
            chunk = now_ms();
        }
    }
    control.progress.set(Some(experiment.progress()));
    experiment.finish().map(Some)
}

/// Runs `built` to its end and returns its report; `Ok(None)` when cancelled.
async fn run(
    built: Built,
    control: Control,
    timings: &mut Timings,
) -> Result<Option<crate::ml::experiments::report::Report>, String> {
    Ok(match built {
        Built::Norms(e) => drive(e, control, timings).await?.map(|o| o.report()),
        Built::Dynamics(e) => drive(e, control, timings).await?.map(|o| o.report()),
        Built::AdvTrain(e) => drive(*e, control, timings).await?.map(|o| o.report()),
        Built::Mislabeled(e) => drive(e, control, timings).await?.map(|o| o.report()),
        Built::Detect(e) => drive(e, control, timings).await?.map(|o| o.report()),
    })
}

/// The dataset's name for a reader and its id.
fn dataset_names(lab: &Lab) -> (String, String) {
    let id = lab.dataset.name.clone();
    let label = Source::of_name(&id).map_or_else(|| id.to_uppercase(), |s| s.label().into());
    (label, id)
}

/// The page's settings of a run: the data and the models it used.
fn provenance(lab: &Lab, which: Which) -> Vec<(String, String)> {
    let (label, _) = dataset_names(lab);
    let mut settings = vec![(
        "data".to_string(),
        format!(
            "{label}, {} training / {} test images",
            lab.dataset.train.len(),
            lab.dataset.test.len()
        ),
    )];
    if which.needs_classifier()
        && let Some(c) = &lab.classifier
    {
        settings.push((
            "classifier".into(),
            format!("this page's {}", c.kind().label()),
        ));
    }
    if which.needs_autoencoder()
        && let Some(a) = &lab.autoencoder
    {
        settings.push((
            "autoencoder".into(),
            format!("this page's {}, k = {}", a.kind().label(), a.latent()),
        ));
    }
    settings
}

/// How this page's models differ from the public reproduction's (an MLP 784-256-256-10
/// classifier, a conv autoencoder with k = 16), in words; empty when they do not.
fn reproduction_mismatch(lab: &Lab) -> Vec<String> {
    let mut differences = Vec::new();
    if let Some(c) = &lab.classifier
        && c.kind() != ClassifierKind::Mlp
    {
        differences.push(format!("the classifier is a {}", c.kind().label()));
    }
    if let Some(a) = &lab.autoencoder {
        if a.kind() != AutoencoderKind::Conv {
            differences.push(format!("the autoencoder is an {}", a.kind().label()));
        }
        if a.latent() != 16 {
            differences.push(format!("k = {}, not 16", a.latent()));
        }
    }
    differences
}

/// What the panel keeps per dataset: the finished results (one per experiment), the one shown
/// and the status line.
type Kept = (Vec<Arc<Finished>>, Option<Which>, String);

#[component]
pub fn ExperimentsPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
) -> impl IntoView {
    let values: Vec<(Which, Vec<RwSignal<String>>)> = Which::ALL
        .into_iter()
        .map(|w| {
            let fields = w
                .fields()
                .iter()
                .map(|f| RwSignal::new(f.default.to_string()))
                .collect();
            (w, fields)
        })
        .collect();
    let values = StoredValue::new(values);
    let control = Control {
        state: RwSignal::new(LabState::Idle),
        which: RwSignal::new(None),
        progress: RwSignal::new(None),
        elapsed: RwSignal::new(0.0),
    };
    let results = RwSignal::new(Vec::<Arc<Finished>>::new());
    let shown = RwSignal::new(None::<Which>);
    let message = RwSignal::new(String::new());
    let runs = StoredValue::new(0u32);
    let resized = RwSignal::new(0u32);
    let _ = window_event_listener(leptos::ev::resize, move |_| resized.update(|n| *n += 1));

    keep_per_dataset(
        lab,
        load,
        move || -> Kept { (results.get(), shown.get(), message.get()) },
        move |(kept, which, text): Kept| {
            results.set(kept);
            shown.set(which);
            message.set(text);
        },
    );

    let refuse = move |text: String| {
        message.set(format!("Cannot run: {text}."));
        notify(notices, true, format!("Cannot run the experiment: {text}."));
    };
    let start = move |which: Which| {
        if control.state.get_untracked() != LabState::Idle {
            return;
        }
        let texts: Vec<String> = values.with_value(|v| {
            v.iter()
                .find(|(w, _)| *w == which)
                .map(|(_, f)| f.iter().map(|s| s.get_untracked()).collect())
                .unwrap_or_default()
        });
        let plan: Plan = match which.plan(&texts) {
            Ok(p) => p,
            Err(e) => return refuse(e),
        };
        let page_settings = plan.page_settings();
        let prepared = lab.with_value(|l| {
            let l = l.as_ref().ok_or("the page is still starting")?;
            let built = Built::new(l, which, plan)?;
            Ok::<_, String>((
                built,
                provenance(l, which),
                dataset_names(l),
                reproduction_mismatch(l),
            ))
        });
        let (built, mut settings, (dataset, dataset_id), mismatch) = match prepared {
            Ok(p) => p,
            Err(e) => return refuse(e),
        };
        let run_id = runs.get_value() + 1;
        runs.set_value(run_id);
        control.which.set(Some(which));
        control.progress.set(None);
        control.elapsed.set(0.0);
        control.state.set(LabState::Running);
        message.set(String::new());
        spawn_local(async move {
            // The dataset stays put while the experiment runs on it.
            let _running = Running::start(lab);
            let started = now_ms();
            let mut timings = Timings::new();
            let outcome = run(built, control, &mut timings).await;
            let wall = (now_ms() - started) / 1000.0;
            let at = control
                .progress
                .get_untracked()
                .map(|p| format!("{}, {} of {} units", p.stage, p.done, p.total))
                .unwrap_or_default();
            match outcome {
                Ok(Some(mut report)) => {
                    let mut provenance: Vec<String> =
                        settings.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                    if !which.needs_classifier() {
                        provenance.push("classifiers trained by the experiment itself".into());
                    }
                    let provenance = provenance.join("; ");
                    // The page's settings first; the experiment's own, unless they repeat one.
                    settings.extend(page_settings);
                    for (name, value) in std::mem::take(&mut report.settings) {
                        if settings.iter().all(|(n, _)| *n != name) {
                            settings.push((name, value));
                        }
                    }
                    report.settings = settings;
                    report.timings = timings;
                    if which == Which::Norms && dataset_id != Source::Mnist.id() {
                        report.notes.push(format!(
                            "These images are {dataset}: the reproduction's columns are MNIST figures, shown for scale only."
                        ));
                    } else if which == Which::Norms && !mismatch.is_empty() {
                        report.notes.push(format!(
                            "Here {}: the reproduction's columns come from an MLP 784-256-256-10 and a conv \
                             autoencoder with k = 16, and are shown for scale only.",
                            mismatch.join(", ")
                        ));
                    }
                    let finished = Arc::new(Finished {
                        which,
                        run: run_id,
                        dataset,
                        dataset_id,
                        provenance,
                        report,
                        wall_seconds: wall,
                    });
                    results.update(|all| {
                        all.retain(|r| r.which != which);
                        all.push(finished);
                        all.sort_by_key(|r| Which::ALL.iter().position(|w| *w == r.which));
                    });
                    shown.set(Some(which));
                    message.set(format!(
                        "Finished the {} experiment (run {run_id}) in {wall:.1} s.",
                        which.id()
                    ));
                }
                Ok(None) => message.set(format!(
                    "Cancelled the {} experiment at {at} after {wall:.1} s. Nothing of it was kept; the page's models are as they were.",
                    which.id()
                )),
                Err(e) => {
                    message.set(format!("The {} experiment stopped: {e}", which.id()));
                    notify(notices, true, format!("The {} experiment stopped: {e}", which.id()));
                }
            }
            control.state.set(LabState::Idle);
        });
    };
    let cancel = move |_| {
        if control.state.get_untracked() == LabState::Running {
            control.state.set(LabState::Cancelling);
        }
    };

    let ready = move || load.get() == LoadState::Ready;
    let busy = Signal::derive(move || control.state.get() != LabState::Idle);
    let percent = Signal::derive(move || {
        control
            .progress
            .with(|p| {
                p.as_ref()
                    .map_or(0, |p| (100.0 * p.fraction()).floor() as u32)
            })
            .min(100)
    });
    let status = move || match control.state.get() {
        LabState::Idle => {
            let text = message.get();
            if text.is_empty() {
                "Pick an experiment and press its Run button. One runs at a time; Cancel stops it and keeps the models."
                    .to_string()
            } else {
                text
            }
        }
        LabState::Running => {
            let title = control.which.get().map_or("", Which::title);
            match control.progress.get() {
                Some(p) => format!(
                    "{title}: {}, {} of {} units of work, {:.1} s",
                    p.stage,
                    p.done,
                    p.total,
                    control.elapsed.get()
                ),
                None => format!("{title}: starting…"),
            }
        }
        LabState::Cancelling => "Cancelling after the current unit of work…".into(),
    };

    let cards = values.with_value(|v| {
        v.iter()
            .map(|(which, fields)| {
                let which = *which;
                let inputs = which
                    .fields()
                    .iter()
                    .zip(fields)
                    .map(|(spec, value)| {
                        view! {
                            <NumberField label=spec.label testid=spec.testid value=*value bounds=spec.bounds
                                disabled=busy/>
                        }
                    })
                    .collect_view();
                let number = Which::ALL.iter().position(|w| *w == which).unwrap_or(0) + 1;
                view! {
                    <section class="exp-card" data-testid=format!("exp-{}", which.id())
                        aria-labelledby=format!("exp-{}-title", which.id())>
                        <h3 id=format!("exp-{}-title", which.id())>{format!("{number}. {}", which.title())}</h3>
                        <p class="explain">{which.explanation()}</p>
                        <p class="exp-uses">{which.uses()}</p>
                        <div class="controls">{inputs}</div>
                        <button class="primary" data-testid=which.run_testid() on:click=move |_| start(which)
                            disabled=move || !ready() || busy.get()>
                            {move || if control.state.get() != LabState::Idle && control.which.get() == Some(which) { "Running…" } else { "Run" }}
                        </button>
                    </section>
                }
            })
            .collect_view()
    });

    let tabs = move || {
        results.with(|all| {
            all.iter()
                .map(|r| {
                    let which = r.which;
                    view! {
                        <button data-testid=format!("exp-show-{}", which.id())
                            aria-pressed=move || (shown.get() == Some(which)).to_string()
                            class:selected=move || shown.get() == Some(which)
                            on:click=move |_| shown.set(Some(which))>
                            {which.title()}
                        </button>
                    }
                })
                .collect_view()
        })
    };
    let result = move || {
        let which = shown.get()?;
        let r = results.with(|all| all.iter().find(|r| r.which == which).cloned())?;
        Some(view! { <ResultView result=r resized notices/> })
    };

    view! {
        <section class="panel experiments" aria-labelledby="exp-title" data-testid="experiments-panel">
            <h2 id="exp-title">"Experiments lab: the paper's claims over many images"</h2>
            <p class="explain">
                "The attack views look at one image at a time. These five experiments measure the paper's claims over many "
                "images, right here in your browser, with the settings kept small so that each finishes in seconds to a few "
                "minutes. Each says what it tests and which result would support or contradict the dimpled manifold model; "
                "each result says which data and models produced it, and exports as CSV or JSON."
            </p>
            <div class="exp-cards">{cards}</div>
            // It stays in sight at the foot of the screen only while an experiment runs.
            <div class="exp-run" class:running=move || control.state.get() == LabState::Running aria-live="polite">
                <ProgressBar testid="exp-progress" label="Experiment progress" percent/>
                <div class="exp-run-line">
                    <span class="status" data-testid="exp-status" data-state=move || control.state.get().id()
                        data-experiment=move || control.which.get().map(Which::id).unwrap_or_default()
                        data-done=move || control.progress.with(|p| p.as_ref().map(|p| p.done).unwrap_or(0))>
                        {status}
                    </span>
                    <button data-testid="exp-cancel" on:click=cancel
                        disabled=move || control.state.get() != LabState::Running>"Cancel"</button>
                </div>
            </div>
            <div class="buttons exp-tabs" aria-label="Finished experiments">{tabs}</div>
            {result}
        </section>
    }
}
