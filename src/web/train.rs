//! The training panel: settings, Train / Pause / Cancel, progress, live loss and accuracy
//! curves, final test accuracy. The loop runs as a local task that takes one optimiser step,
//! reads its metrics back asynchronously and yields to the browser before the next.

use super::browser::{now_ms, yield_now};
use super::export::{CsvButton, Figure, PngButton};
use super::fields::{ChoiceField, NumberField, ProgressBar};
use super::lab::{LabStore, LoadState, Notices, Running, keep_per_dataset, notify};
use super::plot::{ChartFrame, PALETTE, Series, line_chart};
use super::pretrained::{self, Role, StartingSignal};
use super::url::TrainSettings;
use crate::form::{SEED, real, whole};
use crate::link::EMA_DECAY;
use crate::ml::batch::DeviceSplit;
use crate::ml::experiments::report::Table;
use crate::ml::model::{Classifier, ClassifierKind};
use crate::ml::read_f32;
use crate::ml::train::{LrSchedule, TrainConfig, Trainer, evaluate};
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::SeriesLabelPosition;

/// Where a training run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Idle,
    Running,
    Paused,
    Finished,
    Cancelled,
    Failed,
}

impl RunState {
    /// Whether a run is in progress (running or paused).
    pub fn active(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }

    /// Pauses a running run or resumes a paused one; the loop checks between steps.
    pub fn toggle_pause(state: RwSignal<Self>) {
        state.update(|s| {
            *s = match *s {
                Self::Running => Self::Paused,
                Self::Paused => Self::Running,
                other => other,
            }
        })
    }

    /// Cancels the run in progress, if any; the loop stops at its next step.
    pub fn cancel(state: RwSignal<Self>) {
        if state.get_untracked().active() {
            state.set(Self::Cancelled);
        }
    }
}

/// Live figures of the run in progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub done: usize,
    pub total: usize,
    pub examples_per_sec: f64,
    pub loss: Option<f32>,
    /// Loss of the run's first step, to compare against.
    pub first_loss: Option<f32>,
}

impl Progress {
    fn percent(&self) -> u32 {
        (100 * self.done).checked_div(self.total).unwrap_or(0) as u32
    }
}

/// The curves drawn while training; x is in epochs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub loss: Vec<(f64, f64)>,
    pub train_accuracy: Vec<(f64, f64)>,
    pub test_accuracy: Vec<(f64, f64)>,
}

impl History {
    /// The curves as one table for export (x in epochs); None before any step.
    pub fn table(&self) -> Option<Table> {
        (!self.loss.is_empty()).then(|| {
            Table::from_curves(
                "training",
                "Training curves",
                "epoch",
                &[
                    ("training loss", &self.loss),
                    ("training accuracy (%, smoothed)", &self.train_accuracy),
                    ("test accuracy (%)", &self.test_accuracy),
                ],
            )
        })
    }
}

/// Predicted class and confidence of each gallery digit, in gallery order.
pub type GalleryPredictions = RwSignal<Vec<(u8, f32)>>;

/// Number of test digits in the gallery.
pub const GALLERY_SIZE: usize = 30;

/// Everything the panel shows, as signals the training task writes.
#[derive(Clone, Copy)]
struct RunView {
    state: RwSignal<RunState>,
    progress: RwSignal<Progress>,
    history: RwSignal<History>,
    test_accuracy: RwSignal<Option<f64>>,
}

#[component]
pub fn TrainPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    gallery: GalleryPredictions,
    /// The models installed without training (shipped, saved in this browser, loaded from a
    /// file): their accuracy and predictions are shown until the visitor trains.
    starting: StartingSignal,
    /// The training settings, shared with the page's address.
    url: TrainSettings,
) -> impl IntoView {
    let TrainSettings {
        model,
        epochs,
        batch,
        rate,
        seed,
        schedule,
        shift,
        ema,
    } = url;
    let run = RunView {
        state: RwSignal::new(RunState::Idle),
        progress: RwSignal::new(Progress::default()),
        history: RwSignal::new(History::default()),
        test_accuracy: RwSignal::new(None),
    };

    let read_config = move || -> Result<TrainConfig, String> {
        let config = TrainConfig {
            model: model.get_untracked().parse()?,
            epochs: whole("epochs", &epochs.get_untracked(), TrainConfig::EPOCHS)?,
            batch_size: whole(
                "batch size",
                &batch.get_untracked(),
                TrainConfig::BATCH_SIZE,
            )?,
            learning_rate: real(
                "learning rate",
                &rate.get_untracked(),
                TrainConfig::LEARNING_RATE,
            )?,
            seed: whole("seed", &seed.get_untracked(), SEED)? as u64,
            schedule: schedule.get_untracked().parse()?,
            max_shift: whole("max shift", &shift.get_untracked(), TrainConfig::MAX_SHIFT)?,
            ema_decay: real("weight averaging", &ema.get_untracked(), EMA_DECAY)?,
        };
        config.validate()?;
        Ok(config)
    };

    let start = move |_| match read_config() {
        Err(message) => notify(notices, true, format!("Cannot train: {message}.")),
        Ok(config) => {
            run.state.set(RunState::Running);
            run.history.set(History::default());
            spawn_local(train_run(lab, config, run, notices, gallery));
        }
    };
    let toggle_pause = move |_| RunState::toggle_pause(run.state);
    let cancel = move |_| RunState::cancel(run.state);

    // What the panel shows belongs to the classifier of the dataset it was trained on.
    keep_per_dataset(
        lab,
        load,
        move || {
            Some((
                run.state.get(),
                run.progress.get(),
                run.history.get(),
                run.test_accuracy.get(),
                gallery.get(),
            ))
        },
        move |kept| {
            let (state, progress, history, accuracy, predictions) = kept.unwrap_or((
                RunState::Idle,
                Progress::default(),
                History::default(),
                None,
                Vec::new(),
            ));
            run.state.set(state);
            run.progress.set(progress);
            run.history.set(history);
            run.test_accuracy.set(accuracy);
            gallery.set(predictions);
        },
    );

    // A classifier installed without training (shipped, saved, loaded from a file), until the
    // visitor trains: its test accuracy and its verdicts on the gallery.
    let shows_pretrained = pretrained::show_installed(
        lab,
        load,
        starting,
        notices,
        Role::Classifier,
        move || run.state.get() == RunState::Idle,
        move || {
            run.state.set(RunState::Idle);
            run.progress.set(Progress::default());
            run.history.set(History::default());
        },
        |l| {
            let (classifier, test) = (l.classifier.clone()?, l.test.clone());
            Some(async move {
                Ok((
                    test_accuracy(&classifier, &test).await?,
                    gallery_predictions(&classifier, &test).await?,
                ))
            })
        },
        move |(accuracy, predictions)| {
            run.test_accuracy.set(Some(accuracy));
            gallery.set(predictions);
        },
    );

    let ready = move || load.get() == LoadState::Ready;
    let active = move || run.state.get().active();
    let pct = move || run.progress.with(Progress::percent);

    let loss_canvas = NodeRef::<Canvas>::new();
    let accuracy_canvas = NodeRef::<Canvas>::new();
    let resized = RwSignal::new(0u32);
    let _ = window_event_listener(leptos::ev::resize, move |_| resized.update(|n| *n += 1));
    Effect::new(move || {
        resized.track();
        let history = run.history.get();
        let epochs = run.progress.with_untracked(|p| p.epochs.max(1)) as f64;
        if let Some(canvas) = loss_canvas.get() {
            let frame = ChartFrame {
                empty: "No training curve here yet: Train draws one.",
                x_label: "epoch",
                y_label: "loss",
                x_min_range: (0.0, epochs),
                y_range: None,
                legend: SeriesLabelPosition::UpperRight,
            };
            let series = [Series {
                name: "training loss".into(),
                color: PALETTE[0],
                points: history.loss.clone(),
                dots: false,
            }];
            if let Err(e) = line_chart(&canvas, &frame, &series) {
                leptos::logging::warn!("loss chart: {e}");
            }
        }
        if let Some(canvas) = accuracy_canvas.get() {
            let frame = ChartFrame {
                empty: "No training curve here yet: Train draws one.",
                x_label: "epoch",
                y_label: "accuracy (%)",
                x_min_range: (0.0, epochs),
                y_range: Some((0.0, 100.0)),
                legend: SeriesLabelPosition::LowerRight,
            };
            let series = [
                Series {
                    name: "training batches".into(),
                    color: PALETTE[1],
                    points: history.train_accuracy,
                    dots: false,
                },
                Series {
                    name: "test digits".into(),
                    color: PALETTE[2],
                    points: history.test_accuracy,
                    dots: true,
                },
            ];
            if let Err(e) = line_chart(&canvas, &frame, &series) {
                leptos::logging::warn!("accuracy chart: {e}");
            }
        }
    });

    let status_text = move || match run.state.get() {
        RunState::Idle => match shows_pretrained() {
            Some(i) => format!("Using {}.", i.describe(Role::Classifier)),
            None => "Not trained yet.".to_string(),
        },
        RunState::Running => "Training…".into(),
        RunState::Paused => "Paused.".into(),
        RunState::Finished => "Finished.".into(),
        RunState::Cancelled => "Cancelled; the model from the last finished epoch is kept.".into(),
        RunState::Failed => "Stopped by an error (see the notice above).".into(),
    };

    view! {
        <section class="panel" aria-labelledby="train-title">
            <h2 id="train-title">"Train a classifier"</h2>
            <p class="explain">
                "A neural network learns to read handwritten digits, here in your browser. Watch the loss fall and the accuracy rise; "
                "the digits below show what it predicts for images it has never seen."
            </p>
            <div class="controls">
                <ChoiceField label="Model" testid="model-select" value=model disabled=Signal::derive(active)
                    options=ClassifierKind::ALL.into_iter().map(|k| (k.id(), k.label())).collect()/>
                <NumberField label="Epochs" testid="epochs" value=epochs bounds=TrainConfig::EPOCHS disabled=Signal::derive(active)/>
                <NumberField label="Batch size" testid="batch-size" value=batch bounds=TrainConfig::BATCH_SIZE disabled=Signal::derive(active)/>
                <NumberField label="Learning rate" testid="learning-rate" value=rate bounds=TrainConfig::LEARNING_RATE disabled=Signal::derive(active)/>
                <NumberField label="Seed" testid="seed" value=seed bounds=SEED disabled=Signal::derive(active)/>
                <ChoiceField label="Learning-rate schedule" testid="lr-schedule" value=schedule disabled=Signal::derive(active)
                    options=LrSchedule::ALL.into_iter().map(|k| (k.id(), k.id())).collect()/>
                <NumberField label="Random shift (px)" testid="augment-shift" value=shift bounds=TrainConfig::MAX_SHIFT disabled=Signal::derive(active)/>
                <NumberField label="Weight averaging" testid="ema-decay" value=ema bounds=EMA_DECAY disabled=Signal::derive(active)/>
                <div class="buttons">
                    <button class="primary" data-testid="train-start" on:click=start disabled=move || !ready() || active()>"Train"</button>
                    <button data-testid="train-pause" on:click=toggle_pause disabled=move || !active()>
                        {move || if run.state.get() == RunState::Paused { "Resume" } else { "Pause" }}
                    </button>
                    <button data-testid="train-cancel" on:click=cancel disabled=move || !active()>"Cancel"</button>
                </div>
            </div>
            {move || shows_pretrained().map(|i| view! {
                <p class="pretrained" data-testid="pretrained-classifier" data-source=i.source.id()>
                    "Showing " {i.describe(Role::Classifier)} " (" {i.note} "). Train replaces it with yours, live."
                </p>
            })}
            <ProgressBar testid="train-progress" label="Training progress" percent=Signal::derive(pct)/>
            <div class="status" aria-live="polite">
                <span data-testid="train-state" data-state=move || format!("{:?}", run.state.get()).to_lowercase()>{status_text}</span>
                {move || {
                    let p = run.progress.get();
                    (p.total > 0).then(|| view! {
                        <span data-testid="train-epoch">"epoch " <strong>{p.epoch}</strong> " / " {p.epochs}</span>
                        <span data-testid="train-step" data-done=p.done>"step " <strong>{p.step}</strong> " / " {p.steps_per_epoch}</span>
                        <span data-testid="train-speed" data-value=format!("{:.1}", p.examples_per_sec)>
                            <strong>{format!("{:.0}", p.examples_per_sec)}</strong> " examples/s"
                        </span>
                        <span data-testid="train-loss" data-value=p.loss.map(|l| l.to_string()).unwrap_or_default()
                            data-first=p.first_loss.map(|l| l.to_string()).unwrap_or_default()>
                            "loss " <strong>{p.loss.map(|l| format!("{l:.4}")).unwrap_or_else(|| "–".into())}</strong>
                        </span>
                    })
                }}
                <span class="accuracy">"test accuracy "
                    <strong data-testid="test-accuracy" data-value=move || run.test_accuracy.get().map(|a| format!("{a:.2}")).unwrap_or_default()>
                        {move || run.test_accuracy.get().map(|a| format!("{a:.2}%")).unwrap_or_else(|| "–".into())}
                    </strong>
                </span>
            </div>
            <div class="charts">
                <canvas node_ref=loss_canvas data-testid="loss-chart" role="img" aria-label="Training loss by epoch"></canvas>
                <canvas node_ref=accuracy_canvas data-testid="accuracy-chart" role="img" aria-label="Training and test accuracy by epoch"></canvas>
            </div>
            <div class="exports" role="group" aria-label="Download the training panel">
                <PngButton figure=Figure::Panel panel="train" name=Signal::stored("training".into()) label="PNG"
                    testid="export-png" ready=true notices/>
                <CsvButton panel="train" name=Signal::stored("training".into())
                    tables=Signal::derive(move || run.history.with(History::table).into_iter().collect()) notices/>
            </div>
        </section>
    }
}

/// Test accuracy of `classifier` in percent, evaluated in chunks with a yield after each so
/// no chunk blocks the page for long.
pub async fn test_accuracy(classifier: &Classifier, test: &DeviceSplit) -> Result<f64, String> {
    let chunk = match classifier.kind() {
        ClassifierKind::Mlp => 500,
        ClassifierKind::Cnn => 100,
    };
    let mut correct = 0.0;
    for start in (0..test.len()).step_by(chunk) {
        let (images, labels) = test.range(start, chunk.min(test.len() - start));
        correct += f64::from(read_f32(evaluate(classifier, images, labels)).await?[1]);
        yield_now().await;
    }
    Ok(100.0 * correct / test.len() as f64)
}

/// Predicted class and confidence for the first [`GALLERY_SIZE`] test digits.
pub async fn gallery_predictions(
    classifier: &Classifier,
    test: &DeviceSplit,
) -> Result<Vec<(u8, f32)>, String> {
    let count = GALLERY_SIZE.min(test.len());
    let (images, _) = test.range(0, count);
    let probabilities = read_f32(classifier.probabilities(images)).await?;
    let classes = probabilities.len() / count.max(1);
    Ok(probabilities
        .chunks(classes)
        .map(|row| {
            let (class, &p) = row
                .iter()
                .enumerate()
                .fold(
                    (0, &f32::NEG_INFINITY),
                    |best, x| if x.1 > best.1 { x } else { best },
                );
            (class as u8, p)
        })
        .collect())
}

/// How often the curves and figures are redrawn while training.
const REDRAW_MS: f64 = 200.0;

/// Takes a training step a part at a time (`step_part` returns its output after the last
/// part), pausing for the browser after each part; `None` if `cancelled` says so in between.
async fn in_parts<T>(
    mut step_part: impl FnMut() -> Option<T>,
    cancelled: impl Fn() -> bool,
) -> Option<T> {
    loop {
        if let Some(out) = step_part() {
            return Some(out);
        }
        yield_now().await;
        if cancelled() {
            return None;
        }
    }
}

/// Rows of a training batch computed between two pauses for the browser: a larger batch is
/// taken in parts of this many ([`Trainer::step_part`]: the same step, up to the order of the
/// float sums). One CNN step at batch 4096 took 1.9 s in one piece; a part of 128 rows takes
/// about 60 ms on the CPU backend. Fixed per model, so a run does not depend on the machine.
fn part_rows(kind: ClassifierKind) -> usize {
    match kind {
        ClassifierKind::Mlp => 1024,
        ClassifierKind::Cnn => 128,
    }
}

/// A run has diverged when a batch's loss is not finite or exceeds this multiple of its first
/// loss (about ln 10 = 2.3 for a fresh model). Adam at the largest allowed rate sends the MLP's
/// loss into the thousands without ever making it infinite, leaving a model at chance.
const DIVERGED: f32 = 100.0;

async fn train_run(
    lab: LabStore,
    config: TrainConfig,
    run: RunView,
    notices: Notices,
    gallery: GalleryPredictions,
) {
    let Some((device, shape, train, test)) = lab.with_value(|l| {
        l.as_ref()
            .map(|l| (l.device.clone(), l.shape, l.train.clone(), l.test.clone()))
    }) else {
        return;
    };
    let _running = Running::start(lab);
    let rows = part_rows(config.model);
    let mut trainer = Trainer::new(config, shape, &train, &device);
    let steps_per_epoch = trainer.steps_per_epoch() as f64;
    let mut progress = Progress {
        epochs: trainer.config().epochs,
        steps_per_epoch: trainer.steps_per_epoch(),
        total: trainer.total_steps(),
        ..Progress::default()
    };
    let mut history = History::default();
    let (mut examples, mut busy_ms, mut last_redraw) = (0usize, 0.0, f64::NEG_INFINITY);
    let (mut epoch_loss, mut epoch_seen) = (0.0f64, 0usize);
    let mut smoothed_accuracy: Option<f64> = None;
    run.progress.set(progress.clone());

    let outcome: Result<RunState, String> = loop {
        match run.state.get_untracked() {
            RunState::Cancelled => break Ok(RunState::Cancelled),
            RunState::Paused => {
                super::browser::sleep(100).await;
                continue;
            }
            _ => {}
        }
        let t0 = now_ms();
        let out = in_parts(
            || trainer.step_part(rows),
            || run.state.get_untracked() == RunState::Cancelled,
        )
        .await;
        let Some(out) = out else {
            break Ok(RunState::Cancelled);
        };
        let metrics = match read_f32(out.metrics).await {
            Ok(m) => m,
            Err(e) => break Err(e),
        };
        busy_ms += now_ms() - t0;
        let (loss, correct) = (metrics[0], f64::from(metrics[1]));
        let first_loss = progress.first_loss.unwrap_or(loss);
        if !loss.is_finite() || loss > DIVERGED * first_loss {
            break Err(format!(
                "Training diverged at epoch {}, step {}: the loss became {loss} (it started at {first_loss:.2}). \
                 Lower the learning rate and train again; the model from the last finished epoch is kept.",
                out.epoch + 1,
                out.step + 1
            ));
        }
        examples += out.examples;
        epoch_loss += f64::from(loss) * out.examples as f64;
        epoch_seen += out.examples;
        let x = out.epoch as f64 + (out.step + 1) as f64 / steps_per_epoch;
        let batch_accuracy = 100.0 * correct / out.examples as f64;
        let smooth = smoothed_accuracy.map_or(batch_accuracy, |s| 0.9 * s + 0.1 * batch_accuracy);
        smoothed_accuracy = Some(smooth);
        history.loss.push((x, f64::from(loss)));
        history.train_accuracy.push((x, smooth));
        progress.epoch = out.epoch + 1;
        progress.step = out.step + 1;
        progress.done = trainer.steps_done();
        progress.loss = Some(loss);
        progress.first_loss.get_or_insert(loss);
        progress.examples_per_sec = examples as f64 / (busy_ms / 1000.0).max(1e-9);

        if trainer.at_epoch_start() {
            let classifier = trainer.model();
            let evaluated = async {
                let accuracy = test_accuracy(&classifier, &test).await?;
                let predictions = gallery_predictions(&classifier, &test).await?;
                Ok::<_, String>((accuracy, predictions))
            };
            match evaluated.await {
                Ok((accuracy, predictions)) => {
                    history
                        .test_accuracy
                        .push(((out.epoch + 1) as f64, accuracy));
                    run.test_accuracy.set(Some(accuracy));
                    gallery.set(predictions);
                    lab.update_value(|l| {
                        if let Some(l) = l {
                            l.classifier = Some(classifier);
                        }
                    });
                }
                Err(e) => break Err(e),
            }
            leptos::logging::log!(
                "epoch {}: mean training loss {:.4}, test accuracy {:?}",
                out.epoch + 1,
                epoch_loss / epoch_seen.max(1) as f64,
                run.test_accuracy.get_untracked()
            );
            (epoch_loss, epoch_seen) = (0.0, 0);
        }
        let finished = trainer.is_done();
        if finished || now_ms() - last_redraw >= REDRAW_MS || trainer.at_epoch_start() {
            run.progress.set(progress.clone());
            run.history.set(history.clone());
            last_redraw = now_ms();
        }
        if finished {
            break Ok(RunState::Finished);
        }
        yield_now().await;
    };
    run.progress.set(progress);
    run.history.set(history);
    match outcome {
        Ok(state) => run.state.set(state),
        Err(message) => {
            notify(notices, true, message);
            run.state.set(RunState::Failed);
        }
    }
}
