//! The autoencoder panel: trains the model of the image manifold (an autoencoder with latent
//! dimension k) step by step in a local task, like the classifier's panel, and shows the
//! reconstruction loss and a strip of test digits above their reconstructions. The trained
//! model goes into the [`Lab`](super::lab::Lab) for the attack panel's tangent spaces.

use super::browser::{now_ms, yield_now};
use super::export::{CsvButton, Figure, PngButton};
use super::fields::{ChoiceField, NumberField, ProgressBar};
use super::lab::{
    LabStore, LoadState, Notices, Running, first_test_digits, keep_per_dataset, notify,
};
use super::plot::{ChartFrame, PALETTE, Series, grey_image, line_chart, unit_image};
use super::pretrained::{self, Role, StartingSignal};
use super::train::RunState;
use super::url::AutoencoderSettings;
use crate::form::whole;
use crate::ml::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderKind, AutoencoderTrainer, reconstruction_error,
};
use crate::ml::batch::DeviceSplit;
use crate::ml::experiments::report::Table;
use crate::ml::read_f32;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::SeriesLabelPosition;

/// Test digits shown with their reconstructions.
const STRIP: usize = 8;
/// Test images per chunk when measuring the reconstruction error (a chunk of the conv
/// autoencoder takes a few tens of milliseconds on the CPU backend).
const EVAL_CHUNK: usize = 100;
/// How often the figures are redrawn while training.
const REDRAW_MS: f64 = 200.0;

/// Live figures of a run.
#[derive(Clone, Debug, Default, PartialEq)]
struct AeProgress {
    epoch: usize,
    epochs: usize,
    done: usize,
    total: usize,
    loss: Option<f32>,
    test_mse: Option<f64>,
    images_per_sec: f64,
}

impl AeProgress {
    fn percent(&self) -> u32 {
        (100 * self.done).checked_div(self.total).unwrap_or(0) as u32
    }
}

/// The curves: batch loss by step and test error by epoch, x in epochs.
#[derive(Clone, Debug, Default, PartialEq)]
struct AeHistory {
    loss: Vec<(f64, f64)>,
    test: Vec<(f64, f64)>,
}

impl AeHistory {
    /// The curves as one table for export (x in epochs); None before any step.
    fn table(&self) -> Option<Table> {
        (!self.loss.is_empty()).then(|| {
            Table::from_curves(
                "autoencoder",
                "Autoencoder training",
                "epoch",
                &[
                    ("batch reconstruction error", &self.loss),
                    ("test reconstruction error", &self.test),
                ],
            )
        })
    }
}

/// Signals the training task writes.
#[derive(Clone, Copy)]
struct AeRun {
    state: RwSignal<RunState>,
    progress: RwSignal<AeProgress>,
    history: RwSignal<AeHistory>,
    /// Reconstructions of the strip's digits, `STRIP × n` values in [0, 1].
    reconstructions: RwSignal<Vec<f32>>,
}

#[component]
pub fn AutoencoderPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    /// The models installed without training (shipped, saved in this browser, loaded from a
    /// file): the autoencoder's error and reconstructions are shown until the visitor trains
    /// one.
    starting: StartingSignal,
    /// The autoencoder's settings, shared with the page's address.
    url: AutoencoderSettings,
) -> impl IntoView {
    let AutoencoderSettings {
        kind,
        latent,
        epochs,
    } = url;
    let run = AeRun {
        state: RwSignal::new(RunState::Idle),
        progress: RwSignal::new(AeProgress::default()),
        history: RwSignal::new(AeHistory::default()),
        reconstructions: RwSignal::new(Vec::new()),
    };

    let read_config = move || -> Result<AutoencoderConfig, String> {
        let config = AutoencoderConfig {
            kind: kind.get_untracked().parse()?,
            latent: whole(
                "the latent dimension k",
                &latent.get_untracked(),
                AutoencoderConfig::LATENT,
            )?,
            epochs: whole("epochs", &epochs.get_untracked(), AutoencoderConfig::EPOCHS)?,
            ..AutoencoderConfig::default()
        };
        config.validate()?;
        Ok(config)
    };
    let active = move || matches!(run.state.get(), RunState::Running);
    let start = move |_| match read_config() {
        Err(message) => notify(
            notices,
            true,
            format!("Cannot train the autoencoder: {message}."),
        ),
        Ok(config) => {
            run.state.set(RunState::Running);
            run.history.set(AeHistory::default());
            spawn_local(train_autoencoder(lab, config, run, notices));
        }
    };
    let cancel = move |_| RunState::cancel(run.state);
    // What the panel shows belongs to the autoencoder of the dataset it was trained on.
    keep_per_dataset(
        lab,
        load,
        move || {
            Some((
                run.state.get(),
                run.progress.get(),
                run.history.get(),
                run.reconstructions.get(),
            ))
        },
        move |kept| {
            let (state, progress, history, rebuilt) = kept.unwrap_or((
                RunState::Idle,
                AeProgress::default(),
                AeHistory::default(),
                Vec::new(),
            ));
            run.state.set(state);
            run.progress.set(progress);
            run.history.set(history);
            run.reconstructions.set(rebuilt);
        },
    );
    let ready = move || load.get() == LoadState::Ready;
    let pct = move || run.progress.with(AeProgress::percent);

    // The strip's clean digits, once the data is loaded.
    let strip = first_test_digits(lab, load, STRIP);

    // An autoencoder installed without training (shipped, saved, loaded from a file), until
    // the visitor trains one.
    let shows_pretrained = pretrained::show_installed(
        lab,
        load,
        starting,
        notices,
        Role::Autoencoder,
        move || run.state.get() == RunState::Idle,
        move || {
            run.state.set(RunState::Idle);
            run.progress.set(AeProgress::default());
            run.history.set(AeHistory::default());
        },
        |l| {
            let (model, test) = (l.autoencoder.clone()?, l.test.clone());
            Some(async move {
                let error = test_error(&model, &test).await?;
                let (strip, _) = test.range(0, STRIP.min(test.len()));
                Ok((error, read_f32(model.reconstruct(strip)).await?))
            })
        },
        move |(error, rebuilt)| {
            run.progress.update(|p| p.test_mse = Some(error));
            run.reconstructions.set(rebuilt);
        },
    );

    let loss_canvas = NodeRef::<Canvas>::new();
    let resized = RwSignal::new(0u32);
    let _ = window_event_listener(leptos::ev::resize, move |_| resized.update(|n| *n += 1));
    Effect::new(move || {
        resized.track();
        let history = run.history.get();
        let epochs = run.progress.with_untracked(|p| p.epochs.max(1)) as f64;
        let Some(canvas) = loss_canvas.get() else {
            return;
        };
        let frame = ChartFrame {
            empty: "No training curve here yet: Train draws one.",
            x_label: "epoch",
            y_label: "mean squared error",
            x_min_range: (0.0, epochs),
            y_range: None,
            legend: SeriesLabelPosition::UpperRight,
        };
        let series = [
            Series {
                name: "training batches".into(),
                color: PALETTE[0],
                points: history.loss,
                dots: false,
            },
            Series {
                name: "test digits".into(),
                color: PALETTE[2],
                points: history.test,
                dots: true,
            },
        ];
        if let Err(e) = line_chart(&canvas, &frame, &series) {
            leptos::logging::warn!("reconstruction chart: {e}");
        }
    });

    let status_text = move || match run.state.get() {
        RunState::Idle => match shows_pretrained() {
            Some(i) => format!("Using {}.", i.describe(Role::Autoencoder)),
            None => "Not trained yet.".into(),
        },
        RunState::Running | RunState::Paused => "Training…".into(),
        RunState::Finished => "Finished.".into(),
        RunState::Cancelled => {
            "Cancelled; the autoencoder from the last finished epoch is kept.".into()
        }
        RunState::Failed => "Stopped by an error (see the notice above).".into(),
    };

    view! {
        <section class="panel" aria-labelledby="ae-title">
            <h2 id="ae-title">"Model the manifold of digits"</h2>
            <p class="explain">
                "An autoencoder squeezes each 28×28 image (784 numbers) through a code of only k numbers and rebuilds it. "
                "The images it can produce form a k-dimensional surface inside the 784-dimensional pixel space: our model of the "
                "manifold where real digits live. The better the rebuilt digits below look, the better the model."
            </p>
            <div class="controls">
                <ChoiceField label="Architecture" testid="ae-kind" value=kind disabled=Signal::derive(active)
                    options=AutoencoderKind::ALL.into_iter().map(|k| (k.id(), k.label())).collect()/>
                <NumberField label="Latent dimension k" testid="latent-k" value=latent bounds=AutoencoderConfig::LATENT disabled=Signal::derive(active)/>
                <NumberField label="Epochs" testid="ae-epochs" value=epochs bounds=AutoencoderConfig::EPOCHS disabled=Signal::derive(active)/>
                <div class="buttons">
                    <button class="primary" data-testid="ae-train-start" on:click=start disabled=move || !ready() || active()>"Train autoencoder"</button>
                    <button data-testid="ae-train-cancel" on:click=cancel disabled=move || !active()>"Cancel"</button>
                </div>
            </div>
            {move || shows_pretrained().map(|i| view! {
                <p class="pretrained" data-testid="pretrained-autoencoder" data-source=i.source.id()>
                    "Showing " {i.describe(Role::Autoencoder)} " (" {i.note} "). Train replaces it with yours."
                </p>
            })}
            <ProgressBar testid="ae-progress" label="Autoencoder training progress" percent=Signal::derive(pct)/>
            <div class="status" aria-live="polite">
                <span data-testid="ae-state" data-state=move || format!("{:?}", run.state.get()).to_lowercase()>{status_text}</span>
                {move || {
                    let p = run.progress.get();
                    (p.total > 0).then(|| view! {
                        <span>"epoch " <strong>{p.epoch}</strong> " / " {p.epochs}</span>
                        <span>"step " <strong>{p.done}</strong> " / " {p.total}</span>
                        <span data-testid="ae-speed"><strong>{format!("{:.0}", p.images_per_sec)}</strong> " images/s"</span>
                        <span data-testid="ae-loss" data-value=p.loss.map(|l| l.to_string()).unwrap_or_default()>
                            "batch error " <strong>{p.loss.map(|l| format!("{l:.4}")).unwrap_or_else(|| "–".into())}</strong>
                        </span>
                    })
                }}
                {move || {
                    let mse = run.progress.with(|p| p.test_mse);
                    view! {
                        <span data-testid="ae-test-mse" data-value=mse.map(|l| format!("{l:.5}")).unwrap_or_default()>
                            "test error " <strong>{mse.map(|l| format!("{l:.4}")).unwrap_or_else(|| "–".into())}</strong>
                        </span>
                    }
                }}
            </div>
            <div class="ae-body">
                <canvas class="ae-chart" node_ref=loss_canvas data-testid="ae-loss-chart" role="img"
                    aria-label="Reconstruction error by epoch"></canvas>
                <div class="strip" data-testid="ae-strip">
                    <p class="strip-label">"test digit"<br/>"rebuilt"</p>
                    {move || {
                        let (digits, width, height) = strip.get();
                        digits.into_iter().enumerate().map(|(i, digit)| view! {
                            <StripPair index=i pixels=digit.pixels width height reconstructions=run.reconstructions/>
                        }).collect_view()
                    }}
                </div>
            </div>
            <div class="exports" role="group" aria-label="Download the autoencoder panel">
                <PngButton figure=Figure::Panel panel="autoencoder" name=Signal::stored("autoencoder".into()) label="PNG"
                    testid="export-png" ready=true notices/>
                <CsvButton panel="autoencoder" name=Signal::stored("autoencoder".into())
                    tables=Signal::derive(move || run.history.with(AeHistory::table).into_iter().collect()) notices/>
            </div>
        </section>
    }
}

/// One test digit above its reconstruction.
#[component]
fn StripPair(
    index: usize,
    pixels: Vec<u8>,
    width: usize,
    height: usize,
    reconstructions: RwSignal<Vec<f32>>,
) -> impl IntoView {
    let original = NodeRef::<Canvas>::new();
    let rebuilt = NodeRef::<Canvas>::new();
    Effect::new(move || {
        if let Some(c) = original.get()
            && let Err(e) = grey_image(&c, &pixels, width, height)
        {
            leptos::logging::warn!("strip: {e}");
        }
    });
    let n = width * height;
    let has = move || reconstructions.with(|r| r.len() >= (index + 1) * n);
    Effect::new(move || {
        let Some(c) = rebuilt.get() else { return };
        let drawn = reconstructions.with(|r| match r.get(index * n..(index + 1) * n) {
            Some(image) => unit_image(&c, image, width, height),
            None => grey_image(&c, &vec![0; n], width, height),
        });
        if let Err(e) = drawn {
            leptos::logging::warn!("strip: {e}");
        }
    });
    view! {
        <figure class="pair">
            <canvas node_ref=original role="img" aria-label="test digit"></canvas>
            <canvas node_ref=rebuilt role="img" data-testid="ae-reconstruction" class:empty=move || !has()
                aria-label="its reconstruction by the autoencoder"></canvas>
        </figure>
    }
}

/// Mean squared reconstruction error per pixel over `test`, in chunks with a yield after each.
pub async fn test_error(model: &Autoencoder, test: &DeviceSplit) -> Result<f64, String> {
    let mut total = 0.0;
    for start in (0..test.len()).step_by(EVAL_CHUNK) {
        let (images, _) = test.range(start, EVAL_CHUNK.min(test.len() - start));
        total += f64::from(read_f32(reconstruction_error(model, images)).await?[0]);
        yield_now().await;
    }
    Ok(total / test.len().max(1) as f64)
}

async fn train_autoencoder(lab: LabStore, config: AutoencoderConfig, run: AeRun, notices: Notices) {
    let Some((device, shape, train, test)) = lab.with_value(|l| {
        l.as_ref()
            .map(|l| (l.device.clone(), l.shape, l.train.clone(), l.test.clone()))
    }) else {
        return;
    };
    let _running = Running::start(lab);
    let mut trainer = match AutoencoderTrainer::new(config, shape, &train, &device) {
        Ok(t) => t,
        Err(e) => {
            notify(notices, true, format!("Cannot train the autoencoder: {e}."));
            run.state.set(RunState::Failed);
            return;
        }
    };
    let steps_per_epoch = trainer.steps_per_epoch() as f64;
    let mut progress = AeProgress {
        epochs: trainer.config().epochs,
        total: trainer.total_steps(),
        // The autoencoder in the lab stays until this run finishes an epoch: so does its error.
        test_mse: run.progress.with_untracked(|p| p.test_mse),
        ..AeProgress::default()
    };
    let mut history = AeHistory::default();
    let (mut images, mut busy_ms, mut last_redraw) = (0usize, 0.0, f64::NEG_INFINITY);
    run.progress.set(progress.clone());

    let outcome: Result<RunState, String> = loop {
        if run.state.get_untracked() == RunState::Cancelled {
            break Ok(RunState::Cancelled);
        }
        let t0 = now_ms();
        let out = trainer.step();
        let loss = match read_f32(out.metrics).await {
            Ok(m) => m[0],
            Err(e) => break Err(e),
        };
        busy_ms += now_ms() - t0;
        if !loss.is_finite() {
            break Err(format!(
                "Autoencoder training diverged at epoch {}: the error became {loss}. \
                 The autoencoder from the last finished epoch is kept.",
                out.epoch + 1
            ));
        }
        images += out.examples;
        let x = out.epoch as f64 + (out.step + 1) as f64 / steps_per_epoch;
        history.loss.push((x, f64::from(loss)));
        progress.epoch = out.epoch + 1;
        progress.done = trainer.steps_done();
        progress.loss = Some(loss);
        progress.images_per_sec = images as f64 / (busy_ms / 1000.0).max(1e-9);

        if trainer.at_epoch_start() {
            let model = trainer.model();
            let evaluated = async {
                let error = test_error(&model, &test).await?;
                let (strip, _) = test.range(0, STRIP.min(test.len()));
                let rebuilt = read_f32(model.reconstruct(strip)).await?;
                Ok::<_, String>((error, rebuilt))
            };
            match evaluated.await {
                Ok((error, rebuilt)) => {
                    history.test.push(((out.epoch + 1) as f64, error));
                    progress.test_mse = Some(error);
                    run.reconstructions.set(rebuilt);
                    lab.update_value(|l| {
                        if let Some(l) = l {
                            l.autoencoder = Some(model);
                        }
                    });
                }
                Err(e) => break Err(e),
            }
        }
        let finished = trainer.is_done();
        if finished || trainer.at_epoch_start() || now_ms() - last_redraw >= REDRAW_MS {
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
