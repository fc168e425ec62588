//! Toy worlds: a small MLP trained live on points on a curve or surface, its decision
//! boundary redrawn every epoch, and the phase numbers that show clinging then dimpling.
//!
//! Every epoch is recorded (the model, its phase numbers and the margin over the view), so an
//! epoch scrubber and a play button replay the boundary's history during and after training.

use super::browser::{device_pixel_ratio, now_ms, yield_now};
use super::export::{CsvButton, Figure, PngButton};
use super::fields::{ChoiceField, NumberField, ProgressBar};
use super::lab::{LabStore, LoadState, Notices, notify};
use super::plot::{ChartFrame, PALETTE, Series, line_chart};
use super::train::RunState;
use super::url::ToySettings;
use crate::form::{SEED, real, whole};
use crate::link::{TOY_EPOCHS, TOY_SECTION_Y};
use crate::ml::experiments::report::{Cell, Table};
use crate::ml::read_f32;
use crate::ml::toy::{
    Activation, Grid, Mesh, PhaseMetrics, SurfaceLabels, ToyConfig, ToyMlp, ToyModelConfig,
    ToyPreset, ToyTrainer, ToyWorld, Volume, boundary_mesh, margins, phase_on_grid, section_points,
    zero_contour,
};
use crate::pace::Pacer;
use burn::prelude::Device;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::SeriesLabelPosition;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// Vertices per side of the 2-D view (and of the 3-D cross-section).
const GRID: usize = 81;
/// Vertices per side of the 3-D volume the boundary surface is extracted from.
const VOLUME: usize = 26;
/// Margin round the data in the views, in world units.
const PAD: f32 = 0.25;
/// The training loop yields to the browser at least this often.
const YIELD_MS: f64 = 30.0;
/// Frames per second when replaying the history.
const PLAY_FPS: i32 = 30;

/// Class colours: class 0 vermillion, class 1 blue (Okabe-Ito, as the paper's red and blue).
const CLASS_RGB: [[u8; 3]; 2] = [[213, 94, 0], [0, 114, 178]];

/// The settings as typed.
#[derive(Clone, Copy)]
struct Settings {
    preset: RwSignal<String>,
    count: RwSignal<String>,
    noise: RwSignal<String>,
    labels: RwSignal<String>,
    seed: RwSignal<String>,
    width: RwSignal<String>,
    depth: RwSignal<String>,
    activation: RwSignal<String>,
    learning_rate: RwSignal<String>,
    input_scale: RwSignal<String>,
    epochs: RwSignal<String>,
}

fn preset_of(id: &str) -> ToyPreset {
    ToyPreset::ALL
        .into_iter()
        .find(|p| p.id() == id)
        .unwrap_or_default()
}

impl Settings {
    /// The settings the page's address holds.
    fn of(url: ToySettings) -> Self {
        Self {
            preset: url.preset,
            count: url.count,
            noise: url.noise,
            labels: url.labels,
            seed: url.seed,
            width: url.width,
            depth: url.depth,
            activation: url.activation,
            learning_rate: url.learning_rate,
            input_scale: url.input_scale,
            epochs: url.epochs,
        }
    }

    fn seed(&self) -> Result<u64, String> {
        let seed = whole("seed", &self.seed.get_untracked(), SEED)?;
        Ok(seed as u64)
    }

    fn world(&self) -> Result<ToyConfig, String> {
        Ok(ToyConfig {
            preset: preset_of(&self.preset.get_untracked()),
            count: whole("points", &self.count.get_untracked(), ToyConfig::COUNT)?,
            noise: real("noise", &self.noise.get_untracked(), ToyConfig::NOISE)?,
            labels: if self.labels.get_untracked() == "stripes" {
                SurfaceLabels::Stripes
            } else {
                SurfaceLabels::Checkerboard
            },
            seed: self.seed()?,
        })
    }

    fn model(&self) -> Result<(ToyModelConfig, usize), String> {
        let seed = self.seed()?;
        let width = whole("width", &self.width.get_untracked(), ToyModelConfig::WIDTH)?;
        let depth = whole("depth", &self.depth.get_untracked(), ToyModelConfig::DEPTH)?;
        if ToyModelConfig::hidden_weights(width, depth) > ToyModelConfig::MAX_HIDDEN_WEIGHTS {
            return Err(format!(
                "width {width} at depth {depth} is too large for the page: (depth − 1) × width² \
                 may be at most {} (width 512 at depth 2, 256 at depth 5), as every epoch \
                 measures the network over the whole view, which would take seconds",
                ToyModelConfig::MAX_HIDDEN_WEIGHTS
            ));
        }
        Ok((
            ToyModelConfig {
                width,
                depth,
                activation: if self.activation.get_untracked() == "tanh" {
                    Activation::Tanh
                } else {
                    Activation::Relu
                },
                learning_rate: real(
                    "learning rate",
                    &self.learning_rate.get_untracked(),
                    ToyModelConfig::LEARNING_RATE,
                )?,
                batch_size: 0,
                seed,
                input_scale: real(
                    "initial scale",
                    &self.input_scale.get_untracked(),
                    ToyModelConfig::INPUT_SCALE,
                )?,
            },
            whole("epochs", &self.epochs.get_untracked(), TOY_EPOCHS)?,
        ))
    }
}

/// What one recorded epoch shows.
enum Picture {
    /// The margin over the 2-D view.
    Plane(Vec<f32>),
    /// The margin over the 3-D volume.
    Space(Vec<f32>),
}

/// One recorded epoch (epoch 0 is the untrained model).
struct Frame {
    model: ToyMlp,
    picture: Picture,
}

/// The phase numbers and loss of one epoch, for the charts and readouts.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PhasePoint {
    epoch: usize,
    loss: Option<f32>,
    phase: PhaseMetrics,
}

/// The phase numbers of every recorded epoch as one table for export.
fn phase_table(points: &[PhasePoint]) -> Table {
    let mut table = Table::new(
        "phase",
        "Clinging and dimpling, by epoch",
        &[
            "epoch",
            "loss",
            "distance (first order)",
            "distance (contour)",
            "|cos(gradient, normal)|",
        ],
    );
    for p in points {
        table.push(vec![
            Cell::count(p.epoch),
            Cell::number(p.loss.map(f64::from), 6),
            Cell::number(f64::from(p.phase.distance), 6),
            Cell::number(p.phase.contour_distance.map(f64::from), 6),
            Cell::number(f64::from(p.phase.normal_cosine), 6),
        ]);
    }
    table
}

/// A world, where it is looked at, and what training recorded on it.
struct ToyRun {
    world: ToyWorld,
    preset: ToyPreset,
    grid: Grid,
    volume: Volume,
    frames: Vec<Frame>,
}

impl ToyRun {
    fn new(config: &ToyConfig) -> Self {
        let world = ToyWorld::generate(config);
        let grid = square_view(&world);
        let volume = world.volume(PAD, VOLUME);
        Self {
            preset: config.preset,
            grid,
            volume,
            world,
            frames: Vec::new(),
        }
    }
}

/// The 2-D view: the data's bounding box padded and made square, so distances look true.
fn square_view(world: &ToyWorld) -> Grid {
    let g = world.view(PAD, GRID);
    let (w, h) = (g.x.1 - g.x.0, g.y.1 - g.y.0);
    let side = w.max(h);
    let (cx, cy) = ((g.x.0 + g.x.1) / 2.0, (g.y.0 + g.y.1) / 2.0);
    Grid {
        x: (cx - side / 2.0, cx + side / 2.0),
        y: (cy - side / 2.0, cy + side / 2.0),
        resolution: GRID,
    }
}

/// Signals the training task and the views share.
#[derive(Clone, Copy)]
struct Toy {
    state: RwSignal<RunState>,
    run: StoredValue<Option<ToyRun>, LocalStorage>,
    /// Bumped whenever `run` changes, so views redraw.
    version: RwSignal<u64>,
    phases: RwSignal<Vec<PhasePoint>>,
    epochs: RwSignal<usize>,
    /// The epoch shown.
    shown: RwSignal<usize>,
    /// Whether the shown epoch follows training.
    follow: RwSignal<bool>,
    playing: RwSignal<bool>,
    epoch_ms: RwSignal<f64>,
}

impl Toy {
    fn recorded(&self) -> usize {
        self.run
            .with_value(|r| r.as_ref().map_or(0, |r| r.frames.len()))
    }
}

#[component]
pub fn ToyPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    /// The toy world's settings, shared with the page's address.
    url: ToySettings,
) -> impl IntoView {
    let settings = Settings::of(url);
    let toy = Toy {
        state: RwSignal::new(RunState::Idle),
        run: StoredValue::new_local(None),
        version: RwSignal::new(0),
        phases: RwSignal::new(Vec::new()),
        epochs: RwSignal::new(0),
        shown: RwSignal::new(0),
        follow: RwSignal::new(true),
        playing: RwSignal::new(false),
        epoch_ms: RwSignal::new(0.0),
    };
    let yaw = RwSignal::new(-0.6f64);
    let pitch = RwSignal::new(0.45f64);
    let section_y = RwSignal::new("0.5".to_string());
    // The typed y, read once for the section and the note under its field.
    let section_y_read =
        Memo::new(move |_| real::<f32>("The cross-section's y", &section_y.get(), TOY_SECTION_Y));
    let section = RwSignal::new(None::<(usize, f32, Vec<f32>)>);
    let section_generation = StoredValue::new(0u32);

    // Show the chosen world (untrained) whenever it changes and nothing is training.
    Effect::new(move || {
        settings.preset.track();
        settings.count.track();
        settings.noise.track();
        settings.labels.track();
        settings.seed.track();
        if toy.state.get_untracked().active() {
            return;
        }
        if let Ok(config) = settings.world() {
            toy.run.set_value(Some(ToyRun::new(&config)));
            toy.phases.set(Vec::new());
            toy.shown.set(0);
            toy.state.set(RunState::Idle);
            toy.version.update(|v| *v += 1);
        }
    });

    let start = move |_| {
        let (world, (model, epochs)) = match settings
            .world()
            .and_then(|w| Ok((w, settings.model()?)))
        {
            Ok(c) => c,
            Err(e) => return notify(notices, true, format!("Cannot train the toy model: {e}.")),
        };
        let Some(device) = lab.with_value(|l| l.as_ref().map(|l| l.device.clone())) else {
            return notify(
                notices,
                true,
                "Cannot train yet: the page is still starting.",
            );
        };
        toy.run.set_value(Some(ToyRun::new(&world)));
        toy.phases.set(Vec::new());
        toy.epochs.set(epochs);
        toy.shown.set(0);
        toy.follow.set(true);
        toy.playing.set(false);
        toy.state.set(RunState::Running);
        toy.version.update(|v| *v += 1);
        spawn_local(async move {
            if let Err(e) = train(toy, model, epochs, device).await {
                toy.state.set(RunState::Failed);
                notify(notices, true, format!("Toy training stopped: {e}"));
            }
        });
    };
    let pause = move |_| RunState::toggle_pause(toy.state);
    let cancel = move |_| RunState::cancel(toy.state);

    // Replay: step the shown epoch at PLAY_FPS until the last recorded one.
    let play = move |_| {
        if toy.playing.get_untracked() {
            toy.playing.set(false);
            return;
        }
        let last = toy.recorded().saturating_sub(1);
        if last == 0 {
            return;
        }
        if toy.shown.get_untracked() >= last {
            toy.shown.set(0);
        }
        toy.follow.set(false);
        toy.playing.set(true);
        spawn_local(async move {
            while toy.playing.get_untracked() {
                super::browser::sleep(1000 / PLAY_FPS).await;
                let last = toy.recorded().saturating_sub(1);
                let next = toy.shown.get_untracked() + 1;
                if next > last {
                    if !toy.state.get_untracked().active() {
                        toy.playing.set(false);
                        toy.follow.set(true);
                    }
                    continue;
                }
                toy.shown.set(next);
            }
        });
    };

    let plot = NodeRef::<Canvas>::new();
    let section_canvas = NodeRef::<Canvas>::new();
    let chart = NodeRef::<Canvas>::new();
    let resized = RwSignal::new(0u32);
    let _ = window_event_listener(leptos::ev::resize, move |_| resized.update(|n| *n += 1));

    // The boundary view of the shown epoch.
    Effect::new(move || {
        toy.version.track();
        resized.track();
        let shown = toy.shown.get();
        let (yaw, pitch) = (yaw.get(), pitch.get());
        let Some(canvas) = plot.get() else { return };
        let drawn = toy.run.with_value(|run| {
            let Some(run) = run else { return Ok(()) };
            let frame = run
                .frames
                .get(shown.min(run.frames.len().saturating_sub(1)));
            let epoch = frame.map(|_| shown.min(run.frames.len() - 1));
            if run.world.dim == 2 {
                let values = frame.and_then(|f| match &f.picture {
                    Picture::Plane(v) => Some(v.as_slice()),
                    Picture::Space(_) => None,
                });
                let points: Vec<([f32; 2], u8)> = run
                    .world
                    .points
                    .chunks(2)
                    .zip(&run.world.labels)
                    .map(|(p, &l)| ([p[0], p[1]], l))
                    .collect();
                let curve = run.preset.curve(run.grid.x, 200);
                draw_plane(
                    &canvas,
                    &run.grid,
                    values,
                    &points,
                    &curve,
                    ("x", "y"),
                    epoch,
                )
            } else {
                let mesh = frame.and_then(|f| match &f.picture {
                    Picture::Space(v) => Some(boundary_mesh(&run.volume, v)),
                    Picture::Plane(_) => None,
                });
                draw_space(
                    &canvas,
                    &run.volume,
                    mesh.as_ref(),
                    &run.world,
                    yaw,
                    pitch,
                    epoch,
                )
            }
        });
        if let Err(e) = drawn {
            leptos::logging::warn!("toy plot: {e}");
        }
    });

    // 3-D worlds: the vertical section y = section_y of the shown epoch's model, computed on
    // demand.
    Effect::new(move || {
        toy.version.track();
        let shown = toy.shown.get();
        let Ok(y) = section_y_read.get() else {
            return;
        };
        let Some(device) = lab.with_value(|l| l.as_ref().map(|l| l.device.clone())) else {
            return;
        };
        let job = toy.run.with_value(|run| {
            let run = run.as_ref().filter(|r| r.world.dim == 3)?;
            let index = shown.min(run.frames.len().checked_sub(1)?);
            Some((
                index,
                run.frames[index].model.clone(),
                section_grid(&run.volume),
            ))
        });
        let Some((index, model, grid)) = job else {
            section.set(None);
            return;
        };
        // A newer section (the slider moved, another epoch shown) stops this one at its next
        // chunk.
        section_generation.update_value(|g| *g += 1);
        let id = section_generation.get_value();
        spawn_local(async move {
            let points = section_points(&grid, y);
            let stale = || section_generation.get_value() != id;
            let mut pace = Pacer::default();
            match paced_margins(&model, &points, 3, GRID, &device, &mut pace, stale).await {
                Ok(Some(values)) => section.set(Some((index, y, values))),
                Ok(None) => {}
                Err(e) => leptos::logging::warn!("toy section: {e}"),
            }
        });
    });
    Effect::new(move || {
        resized.track();
        let Some(canvas) = section_canvas.get() else {
            return;
        };
        let drawn = section.with(|s| {
            toy.run.with_value(|run| {
                let Some(run) = run.as_ref().filter(|r| r.world.dim == 3) else {
                    return Ok(());
                };
                let grid = section_grid(&run.volume);
                let y = s.as_ref().map_or(0.5, |s| s.1);
                let spacing = 0.5 / (run.world.len() as f32).sqrt().max(1.0);
                let points: Vec<([f32; 2], u8)> = run
                    .world
                    .points
                    .chunks(3)
                    .zip(&run.world.labels)
                    .filter(|(p, _)| (p[1] - y).abs() <= spacing)
                    .map(|(p, &l)| ([p[0], p[2]], l))
                    .collect();
                let curve = run.preset.curve(grid.x, 200);
                draw_plane(
                    &canvas,
                    &grid,
                    s.as_ref().map(|s| s.2.as_slice()),
                    &points,
                    &curve,
                    ("x", "z"),
                    s.as_ref().map(|s| s.0),
                )
            })
        });
        if let Err(e) = drawn {
            leptos::logging::warn!("toy section plot: {e}");
        }
    });

    // The phase chart.
    Effect::new(move || {
        resized.track();
        let Some(canvas) = chart.get() else { return };
        let series = toy.phases.with(|p| phase_series(p));
        let frame = ChartFrame {
            empty: "Train the toy model to draw its phases.",
            x_label: "epoch",
            y_label: "mean over the data",
            x_min_range: (0.0, toy.epochs.get().max(1) as f64),
            y_range: Some((0.0, 1.0)),
            legend: SeriesLabelPosition::UpperRight,
        };
        if let Err(e) = line_chart(&canvas, &frame, &series) {
            leptos::logging::warn!("phase chart: {e}");
        }
    });

    // Rotating the 3-D view by dragging.
    let drag = StoredValue::new(None::<(f64, f64)>);
    let down = move |ev: web_sys::PointerEvent| {
        if let Some(c) = plot.get_untracked() {
            let _ = c.set_pointer_capture(ev.pointer_id());
        }
        drag.set_value(Some((f64::from(ev.client_x()), f64::from(ev.client_y()))));
    };
    let moved = move |ev: web_sys::PointerEvent| {
        let Some((x0, y0)) = drag.get_value() else {
            return;
        };
        let (x, y) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
        yaw.update(|a| *a += (x - x0) * 0.01);
        pitch.update(|a| *a = (*a + (y - y0) * 0.01).clamp(-1.5, 1.5));
        drag.set_value(Some((x, y)));
    };
    let up = move |_: web_sys::PointerEvent| drag.set_value(None);
    let key = move |ev: web_sys::KeyboardEvent| {
        let step = 0.1;
        match ev.key().as_str() {
            "ArrowLeft" => yaw.update(|a| *a -= step),
            "ArrowRight" => yaw.update(|a| *a += step),
            "ArrowUp" => pitch.update(|a| *a = (*a - step).clamp(-1.5, 1.5)),
            "ArrowDown" => pitch.update(|a| *a = (*a + step).clamp(-1.5, 1.5)),
            _ => return,
        }
        ev.prevent_default();
    };

    let ready = move || load.get() == LoadState::Ready;
    let busy = Signal::derive(move || toy.state.get().active());
    // The paper's world has its own five points.
    let fixed_count =
        Signal::derive(move || busy.get() || preset_of(&settings.preset.get()) == ToyPreset::Paper);
    let three_d = Memo::new(move |_| preset_of(&settings.preset.get()).dim() == 3);
    let percent = Signal::derive(move || {
        let total = toy.epochs.get().max(1);
        let done = toy.phases.with(|p| p.last().map_or(0, |p| p.epoch));
        (100 * done / total).min(100) as u32
    });
    let last_epoch = move || toy.phases.with(|p| p.last().map_or(0, |p| p.epoch));
    let readout = move || {
        let shown = toy.shown.get();
        toy.phases.with(|p| {
            let Some(point) = p.get(shown) else {
                return "Train to watch the boundary move.".to_string();
            };
            let m = point.phase;
            let distance = m.contour_distance.unwrap_or(m.distance);
            let loss = point
                .loss
                .map_or(String::new(), |l| format!(", loss {l:.3}"));
            format!(
                "Epoch {}: mean distance from the data to the boundary {distance:.3}, \
                 |cos(∇margin, normal)| {:.2}{loss}.",
                point.epoch, m.normal_cosine
            )
        })
    };
    let list = move |f: fn(&PhasePoint) -> f32| {
        toy.phases.with(|p| {
            p.iter()
                .map(|p| format!("{:.4}", f(p)))
                .collect::<Vec<_>>()
                .join(",")
        })
    };

    view! {
        <section class="panel toy" aria-labelledby="toy-title">
            <h2 id="toy-title">"Toy worlds: does the boundary cling, then dimple?"</h2>
            <p class="explain">
                "A few labelled points on a line (or a curve, or a surface in 3-D) and a small network learning to tell them apart. "
                "The paper says the boundary first sweeps in and lies along the data (clinging), then bends into shallow dimples round "
                "each point (dimpling). Train, then scrub through the epochs: the chart below turns the two phases into numbers."
            </p>
            <div class="controls">
                <ChoiceField label="World" testid="toy-world" value=settings.preset disabled=busy
                    options=vec![("paper", "The paper's 5 points"), ("line", "Points on a line"), ("sine", "Points on a sine"),
                        ("circle", "Points on a circle"), ("plane", "3-D: a plane"), ("sheet", "3-D: a curved sheet")]/>
                <NumberField label="Points" testid="toy-count" value=settings.count bounds=ToyConfig::COUNT disabled=fixed_count/>
                <NumberField label="Noise" testid="toy-noise" value=settings.noise bounds=ToyConfig::NOISE step="0.01" disabled=busy/>
                <Show when=move || three_d.get()>
                    <ChoiceField label="Labels" testid="toy-labels" value=settings.labels disabled=busy
                        options=vec![("checkerboard", "Checkerboard"), ("stripes", "Stripes")]/>
                </Show>
                <NumberField label="Seed" testid="toy-seed" value=settings.seed bounds=SEED disabled=busy/>
            </div>
            <div class="controls">
                <NumberField label="Width" testid="toy-width" value=settings.width bounds=ToyModelConfig::WIDTH disabled=busy/>
                <NumberField label="Depth" testid="toy-depth" value=settings.depth bounds=ToyModelConfig::DEPTH disabled=busy/>
                <ChoiceField label="Activation" testid="toy-activation" value=settings.activation disabled=busy
                    options=vec![("relu", "ReLU"), ("tanh", "tanh")]/>
                <NumberField label="Learning rate (Adam)" testid="toy-lr" value=settings.learning_rate bounds=ToyModelConfig::LEARNING_RATE disabled=busy/>
                <NumberField label="Initial scale, first layer" testid="toy-input-scale" value=settings.input_scale bounds=ToyModelConfig::INPUT_SCALE disabled=busy/>
                <NumberField label="Epochs" testid="toy-epochs" value=settings.epochs bounds=TOY_EPOCHS disabled=busy/>
            </div>
            <div class="buttons">
                <button class="primary" data-testid="toy-train-start" on:click=start disabled=move || !ready() || busy.get()>"Train"</button>
                <button data-testid="toy-pause" on:click=pause disabled=move || !busy.get()>
                    {move || if toy.state.get() == RunState::Paused { "Resume" } else { "Pause" }}
                </button>
                <button data-testid="toy-cancel" on:click=cancel disabled=move || !busy.get()>"Cancel"</button>
                <ProgressBar testid="toy-progress" label="Toy training progress" percent/>
                <span class="status" data-testid="toy-state" data-state=move || format!("{:?}", toy.state.get()).to_lowercase()
                    data-epoch-ms=move || format!("{:.3}", toy.epoch_ms.get())>
                    {move || match toy.state.get() {
                        RunState::Idle => "Not trained yet.".to_string(),
                        RunState::Running => format!("Epoch {} of {}", last_epoch(), toy.epochs.get()),
                        RunState::Paused => format!("Paused at epoch {}", last_epoch()),
                        RunState::Finished => format!("Trained {} epochs ({:.2} ms an epoch with its measurements).", last_epoch(), toy.epoch_ms.get()),
                        RunState::Cancelled => format!("Cancelled at epoch {}; its history is kept.", last_epoch()),
                        RunState::Failed => format!("Stopped at epoch {}.", last_epoch()),
                    }}
                </span>
            </div>
            <div class="toy-views">
                <figure class="toy-figure">
                    <canvas node_ref=plot class="toy-plot" data-testid="toy-boundary-plot" tabindex="0" role="img"
                        aria-label=move || if three_d.get() { "The decision boundary surface in 3-D with the data; drag or use the arrow keys to rotate" } else { "The decision boundary over the plane with the data" }
                        class:rotatable=move || three_d.get()
                        on:pointerdown=down on:pointermove=moved on:pointerup=up on:pointercancel=up on:keydown=key></canvas>
                    <figcaption>
                        {move || if three_d.get() {
                            "The boundary surface (grey) and the points, coloured by class. Drag to rotate."
                        } else {
                            "Background: the class the network predicts (paler near the boundary). Line: the boundary. Dashed: the data's manifold."
                        }}
                    </figcaption>
                </figure>
                <Show when=move || three_d.get()>
                    <figure class="toy-figure">
                        <canvas node_ref=section_canvas class="toy-plot" data-testid="toy-section-plot" role="img"
                            aria-label="Cross-section of the boundary on a vertical plane"></canvas>
                        <figcaption>
                            <NumberField label="Cross-section at y =" testid="toy-section-y" value=section_y bounds=TOY_SECTION_Y step="0.05" disabled=Signal::derive(|| false)/>
                            "The vertical plane at this y: the boundary across the sheet (dashed) and the points near the plane."
                            <span class="field-note" data-testid="toy-section-note" role="status">{move || section_y_read.with(|read| section_note(read, section.with(|s| s.as_ref().map(|s| s.1))))}</span>
                        </figcaption>
                    </figure>
                </Show>
            </div>
            <div class="path-controls toy-scrub">
                <button data-testid="toy-play" on:click=play disabled=move || { toy.version.track(); toy.phases.with(|p| p.len() < 2) }>
                    {move || if toy.playing.get() { "Pause" } else { "Play" }}
                </button>
                <input type="range" data-testid="toy-epoch" aria-label="Epoch shown" min="0" step="1"
                    max=move || toy.phases.with(|p| p.len().saturating_sub(1)).to_string()
                    prop:value=move || toy.shown.get().to_string()
                    on:input=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<usize>() {
                            toy.playing.set(false);
                            let last = toy.phases.with_untracked(|p| p.len().saturating_sub(1));
                            toy.follow.set(v >= last);
                            toy.shown.set(v);
                        }
                    }/>
            </div>
            <p class="path-caption" data-testid="toy-phase" aria-live="polite"
                data-distances=move || list(|p| p.phase.contour_distance.unwrap_or(p.phase.distance))
                data-cosines=move || list(|p| p.phase.normal_cosine)
                data-shown=move || toy.shown.get().to_string()>
                {readout}
            </p>
            <div class="charts">
                <canvas node_ref=chart data-testid="phase-chart" role="img"
                    aria-label="Mean distance from the data to the boundary and mean |cos| between the margin's gradient and the manifold's normal, by epoch"></canvas>
            </div>
            <div class="exports" role="group" aria-label="Download the toy world">
                <PngButton figure=Figure::Panel panel="toy" name=Signal::stored("toy-world".into()) label="PNG"
                    testid="export-png" ready=true notices/>
                <CsvButton panel="toy" name=Signal::stored("toy-world".into())
                    tables=Signal::derive(move || toy.phases.with(|p| if p.is_empty() { Vec::new() } else { vec![phase_table(p)] })) notices/>
            </div>
            <p class="explain small">
                "Distance: how far the boundary is from the points, on average (capped at 1); the first-order distance |m|/‖∇m‖ \
                 estimates the same from the margin m and its gradient at each point (exact for a straight boundary). |cos|: 1 where the boundary runs parallel "
                "to the data's manifold at a point, 0 where it cuts straight across. Clinging shows as the distance falling while |cos| "
                "rises; dimpling as the distance staying small. Try a wider network, tanh, or a smaller learning rate, and see whether "
                "the boundary really lies along the data or just crosses between the points."
            </p>
        </section>
    }
}

/// Under the cross-section's field: nothing while its y was read, else why not and the y of
/// the section still shown (`shown`), as the plot keeps it.
fn section_note(read: &Result<f32, String>, shown: Option<f32>) -> String {
    match (read, shown) {
        (Ok(_), _) => String::new(),
        (Err(e), Some(y)) => format!("{e}; the section shown stays at y = {y}."),
        (Err(e), None) => format!("{e}."),
    }
}

/// The (x, z) square of a 3-D world's vertical sections: x over the volume, z centred on it
/// with the same span, so that distances look true.
fn section_grid(volume: &Volume) -> Grid {
    let half = (volume.x.1 - volume.x.0) / 2.0;
    let centre = (volume.z.0 + volume.z.1) / 2.0;
    Grid {
        x: volume.x,
        y: (centre - half, centre + half),
        resolution: GRID,
    }
}

fn phase_series(points: &[PhasePoint]) -> Vec<Series> {
    let series = |name: &str, color, f: &dyn Fn(&PhasePoint) -> f32| Series {
        name: name.into(),
        color,
        points: points
            .iter()
            .map(|p| (p.epoch as f64, f64::from(f(p))))
            .collect(),
        dots: false,
    };
    let two_d = points
        .first()
        .is_some_and(|p| p.phase.contour_distance.is_some());
    let mut out = vec![series("|cos(∇margin, normal)|", PALETTE[1], &|p| {
        p.phase.normal_cosine
    })];
    if two_d {
        out.push(series("distance to the boundary", PALETTE[0], &|p| {
            p.phase.contour_distance.unwrap_or(1.0)
        }));
        out.push(series(
            "first-order distance |m|/‖∇m‖",
            PALETTE[2],
            &|p| p.phase.distance,
        ));
    } else {
        out.push(series(
            "first-order distance |m|/‖∇m‖",
            PALETTE[0],
            &|p| p.phase.distance,
        ));
    }
    out
}

/// Trains on the panel's world, recording every epoch, until done or cancelled.
async fn train(
    toy: Toy,
    config: ToyModelConfig,
    epochs: usize,
    device: Device,
) -> Result<(), String> {
    let Some((world, grid, volume)) = toy
        .run
        .with_value(|r| r.as_ref().map(|r| (r.world.clone(), r.grid, r.volume)))
    else {
        return Err("no world".into());
    };
    let mut trainer = ToyTrainer::new(&world, config, &device);
    let mut recorder = Recorder::new(&world, &grid, &volume, &device);
    let cancelled = || !toy.state.get_untracked().active();
    let mut pending = Vec::new();
    match recorder.record(trainer.model(), None, cancelled).await? {
        Some(first) => pending.push(first),
        None => return Ok(()),
    }
    let mut last_yield = now_ms();
    let started = now_ms();
    let mut paused_ms = 0.0;
    for epoch in 1..=epochs {
        if now_ms() - last_yield > YIELD_MS || epoch == epochs {
            publish(toy, &mut pending);
            yield_now().await;
            last_yield = now_ms();
        }
        while toy.state.get_untracked() == RunState::Paused {
            let t = now_ms();
            super::browser::sleep(50).await;
            paused_ms += now_ms() - t;
        }
        if toy.state.get_untracked() != RunState::Running {
            publish(toy, &mut pending);
            return Ok(());
        }
        let loss = read_f32(trainer.step()).await?.first().copied();
        if !loss.is_some_and(f32::is_finite) {
            publish(toy, &mut pending);
            return Err(format!(
                "the loss became {} at epoch {epoch} (the learning rate is too high); the epochs before are kept",
                loss.map_or("unreadable".into(), |l| l.to_string())
            ));
        }
        match recorder.record(trainer.model(), loss, cancelled).await? {
            Some(recorded) => pending.push(recorded),
            // Cancelled while the epoch was measured: the epochs before are kept.
            None => {
                publish(toy, &mut pending);
                return Ok(());
            }
        }
        toy.epoch_ms
            .set((now_ms() - started - paused_ms) / epoch as f64);
    }
    publish(toy, &mut pending);
    toy.state.set(RunState::Finished);
    Ok(())
}

/// Measures each epoch's model for the record: its phase numbers on the world and its margin
/// over the view (the 2-D grid, or the 3-D volume), the view in paced chunks of rows so that
/// even the largest network lets the page answer between them.
struct Recorder<'a> {
    world: &'a ToyWorld,
    grid: &'a Grid,
    device: &'a Device,
    /// The view's points (`dim` coordinates each, rows of `row` points), made once a run.
    view: Vec<f32>,
    dim: usize,
    row: usize,
    /// Kept from epoch to epoch, so chunks start at the right size.
    pace: Pacer,
}

impl<'a> Recorder<'a> {
    fn new(world: &'a ToyWorld, grid: &'a Grid, volume: &Volume, device: &'a Device) -> Self {
        let (view, dim, row) = match world.dim {
            2 => (grid.points(None), 2, grid.resolution),
            _ => (volume.points(), 3, volume.resolution),
        };
        Self {
            world,
            grid,
            device,
            view,
            dim,
            row,
            pace: Pacer::default(),
        }
    }

    /// The epoch's frame, phase numbers and loss; `None` when `cancelled` said so between
    /// chunks.
    async fn record(
        &mut self,
        model: ToyMlp,
        loss: Option<f32>,
        cancelled: impl Fn() -> bool,
    ) -> Result<Option<(Frame, PhaseMetrics, Option<f32>)>, String> {
        let (world, device) = (self.world, self.device);
        let (view, dim, row, pace) = (&self.view, self.dim, self.row, &mut self.pace);
        let Some(values) = paced_margins(&model, view, dim, row, device, pace, cancelled).await?
        else {
            return Ok(None);
        };
        let on_grid = (world.dim == 2).then_some((self.grid, values.as_slice()));
        let phase = phase_on_grid(&model, world, on_grid, device).await?;
        let picture = match world.dim {
            2 => Picture::Plane(values),
            _ => Picture::Space(values),
        };
        Ok(Some((Frame { model, picture }, phase, loss)))
    }
}

/// The margin of `model` at `points` (`dim` coordinates each), `row` points at a time or a few
/// rows in one chunk as `pace` sizes them, yielding to the browser between chunks; `None` when
/// `stop` says so there.
async fn paced_margins(
    model: &ToyMlp,
    points: &[f32],
    dim: usize,
    row: usize,
    device: &Device,
    pace: &mut Pacer,
    stop: impl Fn() -> bool,
) -> Result<Option<Vec<f32>>, String> {
    let count = points.len() / dim;
    let rows = count.div_ceil(row);
    let mut values = Vec::with_capacity(count);
    let mut done = 0;
    while done < rows {
        let chunk = pace.next(rows - done);
        let (from, to) = (done * row, ((done + chunk) * row).min(count));
        let t0 = now_ms();
        let piece = margins(model, &points[from * dim..to * dim], dim, device);
        values.extend(read_f32(piece).await?);
        pace.record(now_ms() - t0, chunk);
        done += chunk;
        if done < rows {
            yield_now().await;
            if stop() {
                return Ok(None);
            }
        }
    }
    Ok(Some(values))
}

/// Moves recorded epochs into the run and the charts, and shows the newest if following.
fn publish(toy: Toy, pending: &mut Vec<(Frame, PhaseMetrics, Option<f32>)>) {
    if pending.is_empty() {
        return;
    }
    let first = toy.recorded();
    let mut points = Vec::with_capacity(pending.len());
    toy.run.update_value(|run| {
        if let Some(run) = run {
            for (i, (frame, phase, loss)) in pending.drain(..).enumerate() {
                run.frames.push(frame);
                points.push(PhasePoint {
                    epoch: first + i,
                    loss,
                    phase,
                });
            }
        }
    });
    pending.clear();
    toy.phases.update(|p| p.extend(points));
    if toy.follow.get_untracked() && !toy.playing.get_untracked() {
        toy.shown.set(toy.recorded().saturating_sub(1));
    }
    toy.version.update(|v| *v += 1);
}

fn context(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(|| "canvas has no 2-D context".to_string())
}

/// Sizes the backing store to the CSS size times the pixel ratio; returns (width, height,
/// ratio) in device pixels.
fn fit(canvas: &HtmlCanvasElement) -> (f64, f64, f64) {
    let dpr = device_pixel_ratio();
    let (w, h) = (
        f64::from(canvas.client_width().max(1)),
        f64::from(canvas.client_height().max(1)),
    );
    let (pw, ph) = ((w * dpr).round() as u32, (h * dpr).round() as u32);
    if canvas.width() != pw || canvas.height() != ph {
        canvas.set_width(pw);
        canvas.set_height(ph);
    }
    (f64::from(pw), f64::from(ph), dpr)
}

struct Colours {
    fg: &'static str,
    muted: &'static str,
    bg: &'static str,
    line: &'static str,
}

fn colours() -> Colours {
    let dark = web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    if dark {
        Colours {
            fg: "#ececf0",
            muted: "#a0a0aa",
            bg: "#1f1f23",
            line: "#ffffff",
        }
    } else {
        Colours {
            fg: "#1d1d1f",
            muted: "#5f6368",
            bg: "#ffffff",
            line: "#111111",
        }
    }
}

fn rgb([r, g, b]: [u8; 3]) -> String {
    format!("rgb({r},{g},{b})")
}

/// Evenly spaced "nice" tick values covering `range`.
fn ticks(range: (f32, f32)) -> Vec<f32> {
    let span = (range.1 - range.0).max(1e-6);
    let raw = span / 5.0;
    let mag = 10f32.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (range.0 / step).ceil() * step;
    let mut out = Vec::new();
    while t <= range.1 + 1e-6 {
        out.push(if t.abs() < step * 1e-3 { 0.0 } else { t });
        t += step;
    }
    out
}

/// Draws a 2-D view: the predicted class over `grid` (pale near the boundary), the zero
/// contour, the manifold `curve` dashed, the labelled `points`, axes and the epoch.
fn draw_plane(
    canvas: &HtmlCanvasElement,
    grid: &Grid,
    values: Option<&[f32]>,
    points: &[([f32; 2], u8)],
    curve: &[[f32; 2]],
    axes: (&str, &str),
    epoch: Option<usize>,
) -> Result<(), String> {
    let (w, h, dpr) = fit(canvas);
    let ctx = context(canvas)?;
    let c = colours();
    ctx.set_fill_style_str(c.bg);
    ctx.fill_rect(0.0, 0.0, w, h);
    let (left, bottom, top, right) = (40.0 * dpr, 30.0 * dpr, 22.0 * dpr, 10.0 * dpr);
    let side = (w - left - right).min(h - top - bottom).max(1.0);
    let (x0, y0) = (left, top);
    let px = |x: f32| x0 + f64::from((x - grid.x.0) / (grid.x.1 - grid.x.0)) * side;
    let py = |y: f32| y0 + side - f64::from((y - grid.y.0) / (grid.y.1 - grid.y.0)) * side;

    if let Some(values) = values {
        let r = grid.resolution;
        let mut rgba = vec![0u8; r * r * 4];
        for j in 0..r {
            for i in 0..r {
                let m = values[j * r + i];
                let class = usize::from(m > 0.0);
                let strength = 0.18 + 0.4 * (m.abs() * 0.5).tanh();
                let bg: [u8; 3] = if c.bg == "#ffffff" {
                    [255, 255, 255]
                } else {
                    [31, 31, 35]
                };
                let o = ((r - 1 - j) * r + i) * 4;
                for k in 0..3 {
                    let v = f32::from(bg[k])
                        + strength * (f32::from(CLASS_RGB[class][k]) - f32::from(bg[k]));
                    rgba[o + k] = v.round() as u8;
                }
                rgba[o + 3] = 255;
            }
        }
        let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
            wasm_bindgen::Clamped(&rgba),
            r as u32,
            r as u32,
        )
        .map_err(|e| super::browser::describe(&e))?;
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let scratch: HtmlCanvasElement = document
            .create_element("canvas")
            .map_err(|e| super::browser::describe(&e))?
            .dyn_into()
            .map_err(|_| "not a canvas")?;
        scratch.set_width(r as u32);
        scratch.set_height(r as u32);
        context(&scratch)?
            .put_image_data(&image, 0.0, 0.0)
            .map_err(|e| super::browser::describe(&e))?;
        ctx.set_image_smoothing_enabled(true);
        // Vertices sit on the view's edges: stretch by half a cell each side.
        let cell = side / (r - 1) as f64;
        ctx.draw_image_with_html_canvas_element_and_dw_and_dh(
            &scratch,
            x0 - cell / 2.0,
            y0 - cell / 2.0,
            side + cell,
            side + cell,
        )
        .map_err(|e| super::browser::describe(&e))?;
        ctx.set_fill_style_str(c.bg);
        ctx.fill_rect(0.0, 0.0, w, y0);
        ctx.fill_rect(0.0, 0.0, x0, h);
        ctx.fill_rect(x0 + side, 0.0, w, h);
        ctx.fill_rect(0.0, y0 + side, w, h);

        ctx.set_stroke_style_str(c.line);
        ctx.set_line_width(2.0 * dpr);
        ctx.begin_path();
        for s in zero_contour(grid, values) {
            ctx.move_to(px(s.a[0]), py(s.a[1]));
            ctx.line_to(px(s.b[0]), py(s.b[1]));
        }
        ctx.stroke();
    }

    // The manifold, dashed.
    ctx.save();
    ctx.begin_path();
    ctx.rect(x0, y0, side, side);
    ctx.clip();
    ctx.set_stroke_style_str(c.muted);
    ctx.set_line_width(1.2 * dpr);
    let dash = js_sys::Array::of2(&(5.0 * dpr).into(), &(4.0 * dpr).into());
    let _ = ctx.set_line_dash(&dash);
    ctx.begin_path();
    for (k, p) in curve.iter().enumerate() {
        if k == 0 {
            ctx.move_to(px(p[0]), py(p[1]));
        } else {
            ctx.line_to(px(p[0]), py(p[1]));
        }
    }
    ctx.stroke();
    let _ = ctx.set_line_dash(&js_sys::Array::new());
    for (p, label) in points {
        ctx.begin_path();
        let _ = ctx.arc(px(p[0]), py(p[1]), 5.0 * dpr, 0.0, std::f64::consts::TAU);
        ctx.set_fill_style_str(&rgb(CLASS_RGB[usize::from(*label).min(1)]));
        ctx.fill();
        ctx.set_stroke_style_str("#ffffff");
        ctx.set_line_width(1.5 * dpr);
        ctx.stroke();
    }
    ctx.restore();

    // Axes.
    ctx.set_stroke_style_str(c.muted);
    ctx.set_line_width(dpr);
    ctx.stroke_rect(x0, y0, side, side);
    ctx.set_fill_style_str(c.fg);
    ctx.set_font(&format!("{}px sans-serif", (11.0 * dpr).round()));
    ctx.set_text_align("center");
    ctx.set_text_baseline("top");
    for t in ticks(grid.x) {
        let _ = ctx.fill_text(&format!("{t:.1}"), px(t), y0 + side + 4.0 * dpr);
    }
    let _ = ctx.fill_text(axes.0, x0 + side / 2.0, y0 + side + 16.0 * dpr);
    ctx.set_text_align("right");
    ctx.set_text_baseline("middle");
    for t in ticks(grid.y) {
        let _ = ctx.fill_text(&format!("{t:.1}"), x0 - 4.0 * dpr, py(t));
    }
    ctx.set_text_align("left");
    ctx.set_text_baseline("top");
    let _ = ctx.fill_text(axes.1, 4.0 * dpr, 4.0 * dpr);
    ctx.set_text_align("center");
    let title = epoch.map_or("untrained: press Train".to_string(), |e| {
        format!("epoch {e}")
    });
    let _ = ctx.fill_text(&title, x0 + side / 2.0, 4.0 * dpr);
    Ok(())
}

/// Draws a 3-D world: the boundary `mesh` (shaded, painter's order) and the points, seen
/// from `yaw` round the vertical axis and `pitch` above the floor, with the volume's box.
fn draw_space(
    canvas: &HtmlCanvasElement,
    volume: &Volume,
    mesh: Option<&Mesh>,
    world: &ToyWorld,
    yaw: f64,
    pitch: f64,
    epoch: Option<usize>,
) -> Result<(), String> {
    let (w, h, dpr) = fit(canvas);
    let ctx = context(canvas)?;
    let c = colours();
    ctx.set_fill_style_str(c.bg);
    ctx.fill_rect(0.0, 0.0, w, h);
    let centre = [
        f64::from(volume.x.0 + volume.x.1) / 2.0,
        f64::from(volume.y.0 + volume.y.1) / 2.0,
        f64::from(volume.z.0 + volume.z.1) / 2.0,
    ];
    let extent = [volume.x, volume.y, volume.z]
        .iter()
        .map(|r| f64::from(r.1 - r.0))
        .fold(0.0, f64::max)
        .max(1e-6);
    let scale = w.min(h) * 0.52 / extent;
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    // Rotated coordinates: screen right, screen up, depth towards the viewer.
    let rotate = |p: [f32; 3]| {
        let (x, y, z) = (
            f64::from(p[0]) - centre[0],
            f64::from(p[1]) - centre[1],
            f64::from(p[2]) - centre[2],
        );
        let (rx, ry) = (cy * x - sy * y, sy * x + cy * y);
        let (up, depth) = (cp * z + sp * ry, -sp * z + cp * ry);
        [rx, up, -depth]
    };
    let screen = |r: [f64; 3]| (w / 2.0 + r[0] * scale, h / 2.0 + 8.0 * dpr - r[1] * scale);

    // The box's edges, behind everything.
    let corners: Vec<[f32; 3]> = (0..8)
        .map(|k| {
            [
                if k & 1 == 0 { volume.x.0 } else { volume.x.1 },
                if k & 2 == 0 { volume.y.0 } else { volume.y.1 },
                if k & 4 == 0 { volume.z.0 } else { volume.z.1 },
            ]
        })
        .collect();
    ctx.set_stroke_style_str(c.muted);
    ctx.set_line_width(dpr);
    ctx.begin_path();
    for a in 0..8usize {
        for bit in [1usize, 2, 4] {
            let b = a | bit;
            if b != a {
                let (p, q) = (screen(rotate(corners[a])), screen(rotate(corners[b])));
                ctx.move_to(p.0, p.1);
                ctx.line_to(q.0, q.1);
            }
        }
    }
    ctx.stroke();

    // Quads and points in one back-to-front list.
    enum Item {
        Quad([(f64, f64); 4], f64),
        Point((f64, f64), u8),
    }
    let mut items: Vec<(f64, Item)> = Vec::new();
    if let Some(mesh) = mesh {
        let rotated: Vec<[f64; 3]> = mesh.vertices.iter().map(|&v| rotate(v)).collect();
        for q in &mesh.quads {
            let r = q.map(|i| rotated[i as usize]);
            let depth = r.iter().map(|p| p[2]).sum::<f64>() / 4.0;
            let (a, b) = (sub(r[2], r[0]), sub(r[3], r[1]));
            let n = cross(a, b);
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt().max(1e-12);
            let light = 0.35 + 0.65 * ((n[0] * -0.3 + n[1] * 0.5 + n[2] * 0.8) / len).abs();
            items.push((depth, Item::Quad(r.map(screen), light)));
        }
    }
    for (p, &label) in world.points.chunks(3).zip(&world.labels) {
        let r = rotate([p[0], p[1], p[2]]);
        items.push((r[2], Item::Point(screen(r), label)));
    }
    items.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, item) in items {
        match item {
            Item::Quad(q, light) => {
                let g = (110.0 + 120.0 * light).round() as u8;
                ctx.set_fill_style_str(&format!("rgba({g},{g},{},0.82)", g.saturating_add(12)));
                ctx.begin_path();
                ctx.move_to(q[0].0, q[0].1);
                for p in &q[1..] {
                    ctx.line_to(p.0, p.1);
                }
                ctx.close_path();
                ctx.fill();
            }
            Item::Point(p, label) => {
                ctx.begin_path();
                let _ = ctx.arc(p.0, p.1, 4.5 * dpr, 0.0, std::f64::consts::TAU);
                ctx.set_fill_style_str(&rgb(CLASS_RGB[usize::from(label).min(1)]));
                ctx.fill();
                ctx.set_stroke_style_str("#ffffff");
                ctx.set_line_width(1.2 * dpr);
                ctx.stroke();
            }
        }
    }
    // The axes' names last, so that the surface never hides one.
    ctx.set_fill_style_str(c.fg);
    ctx.set_font(&format!("{}px sans-serif", (12.0 * dpr).round()));
    ctx.set_text_align("center");
    ctx.set_text_baseline("middle");
    for (label, p) in [
        ("x", [volume.x.1, volume.y.0, volume.z.0]),
        ("y", [volume.x.0, volume.y.1, volume.z.0]),
        ("z", [volume.x.0, volume.y.0, volume.z.1]),
    ] {
        let (sx, sy) = screen(rotate(p));
        let _ = ctx.fill_text(label, sx + 8.0 * dpr, sy);
    }
    ctx.set_font(&format!("{}px sans-serif", (11.0 * dpr).round()));
    ctx.set_text_baseline("top");
    let title = match (epoch, mesh) {
        (None, _) => "untrained: press Train".to_string(),
        (Some(e), Some(m)) if m.quads.is_empty() => format!("epoch {e}: no boundary in the box"),
        (Some(e), _) => format!("epoch {e}"),
    };
    let _ = ctx.fill_text(&title, w / 2.0, 4.0 * dpr);
    Ok(())
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
