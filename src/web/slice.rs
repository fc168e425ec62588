//! The plane through an attacked image: the classifier's decision over the plane spanned by
//! an on-manifold and an off-manifold direction, with 1-D margin profiles along each axis.
//!
//! The science is `ml::slice`; this file takes the plane from the last attack, evaluates the
//! grid a few rows at a time (yielding between chunks, so that even the CNN never freezes the
//! page) and draws the class map, its boundary, the attack's points and the profiles.

use super::browser::{now_ms, yield_now};
use super::export::{CsvButton, Figure, PngButton};
use super::fields::{ChoiceField, NumberField};
use super::lab::{LabStore, LoadState, Notices, notify};
use super::plot::{
    ChartFrame, ClassMap, MapMarker, MarkerShape, PALETTE, Series, class_colour_css, class_map,
    line_chart,
};
use super::url::SliceSettings;
use crate::form::{self, L2_RADIUS, real};
use crate::link::SLICE_CELLS;
use crate::ml::experiments::report::{Cell, Table};
use crate::ml::manifold::random_subspace;
use crate::ml::rng::Rng;
use crate::ml::slice::{Profile, SliceSpec, crossing, line_margins, plane_basis, slice_rows};
use crate::ml::toy::{Grid, Segment, lerp, zero_contour};
use crate::pace::Pacer;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use std::sync::Arc;

/// Seed of the random direction, so that the same attack always gives the same plane.
const RANDOM_SEED: u64 = 1;

/// Samples along each axis for the margin profiles.
const PROFILE_SAMPLES: usize = 161;

/// What the slice needs from a finished attack: the image, the attack's perturbation d and its
/// parts along the manifold (Proj_M(d)) and across it (d − Proj_M(d)). The attack panel sets
/// it each time an attack finishes.
#[derive(Clone, Debug, PartialEq)]
pub struct Attacked {
    /// The attack panel's run counter, to tell one attack's slice from the next.
    pub id: u32,
    pub x: Vec<f32>,
    pub d: Vec<f32>,
    pub on: Vec<f32>,
    pub off: Vec<f32>,
    /// The classifier's class for x, whose margin the slice maps.
    pub class: u8,
}

/// The last finished attack, shared by the attack panel (which sets it) and this one.
pub type AttackedSignal = RwSignal<Option<Arc<Attacked>>>;

/// Which plane through x to look at: its horizontal and vertical directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Axes {
    /// Proj_M(d) and d − Proj_M(d): the dimple.
    OnOff,
    /// d and a random direction.
    AttackRandom,
    /// Proj_M(d) and a random direction.
    OnRandom,
}

impl Axes {
    const ALL: [Axes; 3] = [Axes::OnOff, Axes::AttackRandom, Axes::OnRandom];

    fn id(self) -> &'static str {
        match self {
            Axes::OnOff => "on-off",
            Axes::AttackRandom => "d-random",
            Axes::OnRandom => "on-random",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Axes::OnOff => "on-manifold × off-manifold part of d",
            Axes::AttackRandom => "attack d × a random direction",
            Axes::OnRandom => "on-manifold part of d × a random direction",
        }
    }

    fn from_id(id: &str) -> Self {
        Axes::ALL
            .into_iter()
            .find(|a| a.id() == id)
            .unwrap_or(Axes::OnOff)
    }

    /// The names of the horizontal and vertical axes.
    fn names(self) -> [&'static str; 2] {
        match self {
            Axes::OnOff => ["on-manifold", "off-manifold"],
            Axes::AttackRandom => ["attack", "random"],
            Axes::OnRandom => ["on-manifold", "random"],
        }
    }
}

/// The slice's settings as typed.
#[derive(Clone, Copy)]
struct Settings {
    axes: RwSignal<String>,
    /// Half-widths of the horizontal and vertical ranges, in L2 units.
    extent1: RwSignal<String>,
    extent2: RwSignal<String>,
    resolution: RwSignal<String>,
}

impl Settings {
    fn read(&self) -> Result<(Axes, SliceSpec), String> {
        let extent = |name: &str, text: String| real::<f32>(name, &text, L2_RADIUS);
        let e1 = extent("the horizontal range", self.extent1.get_untracked())?;
        let e2 = extent("the vertical range", self.extent2.get_untracked())?;
        let resolution = form::whole(
            "the resolution",
            &self.resolution.get_untracked(),
            SLICE_CELLS,
        )?;
        Ok((
            Axes::from_id(&self.axes.get_untracked()),
            SliceSpec {
                range1: (-e1, e1),
                range2: (-e2, e2),
                resolution,
                clip: false,
            },
        ))
    }
}

/// A point of the attack in the plane's coordinates (its dot products with e1 and e2).
#[derive(Clone, Copy, Debug, PartialEq)]
struct PlanePoint {
    at: (f32, f32),
    /// Whether the point lies in the plane (else `at` is its projection onto it).
    in_plane: bool,
}

/// One computed slice, ready to draw.
#[derive(Clone, Debug, PartialEq)]
struct Computed {
    attack: u32,
    axes: Axes,
    spec: SliceSpec,
    /// x's class, whose boundary is drawn.
    class: u8,
    classes: Vec<u8>,
    contour: Vec<Segment>,
    /// x, x + d, x + Proj_M(d), x + (d − Proj_M(d)).
    points: [PlanePoint; 4],
    /// Along e1 and along e2.
    profiles: [Profile; 2],
    model: &'static str,
    /// Compute time of the grid (without the pauses between chunks), and its chunks.
    grid_ms: f64,
    chunks: usize,
    profile_ms: f64,
    total_ms: f64,
}

impl Computed {
    /// The slice for export: the class of every cell, and the margin profiles along the axes.
    fn tables(&self) -> Vec<Table> {
        let [name1, name2] = self.axes.names();
        let r = self.spec.resolution;
        let mut grid = Table::new(
            "slice",
            &format!(
                "Class of x + a e1 + b e2 (e1: {name1}, e2: {name2}; x is class {})",
                self.class
            ),
            &["a", "b", "class"],
        );
        for (cell, &class) in self.classes.iter().enumerate() {
            let (i, j) = (cell % r, cell / r);
            grid.push(vec![
                Cell::number(f64::from(self.spec.a(i)), 6),
                Cell::number(f64::from(self.spec.b(j)), 6),
                Cell::count(usize::from(class)),
            ]);
        }
        let curve = |p: &Profile| -> Vec<(f64, f64)> {
            p.t.iter()
                .zip(&p.margins)
                .map(|(&t, &m)| (f64::from(t), f64::from(m)))
                .collect()
        };
        let (along1, along2) = (curve(&self.profiles[0]), curve(&self.profiles[1]));
        let (column1, column2) = (
            format!("margin along {name1}"),
            format!("margin along {name2}"),
        );
        let profiles = Table::from_curves(
            "profiles",
            &format!(
                "Margin of class {} (its logit minus the best other) along each axis",
                self.class
            ),
            "t",
            &[(&column1, &along1), (&column2, &along2)],
        );
        vec![grid, profiles]
    }
}

#[component]
pub fn SlicePanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    attacked: AttackedSignal,
    /// The slice's settings, shared with the page's address.
    url: SliceSettings,
) -> impl IntoView {
    let settings = Settings {
        axes: url.axes,
        extent1: url.extent1,
        extent2: url.extent2,
        resolution: url.resolution,
    };
    let computed = RwSignal::new(None::<Arc<Computed>>);
    let phase = RwSignal::new(None::<String>);
    // Counts the computations started; a computation stops when a newer one has started.
    let generation = StoredValue::new(0u32);
    let resized = RwSignal::new(0u32);
    let _ = window_event_listener(leptos::ev::resize, move |_| resized.update(|n| *n += 1));

    let start = move || {
        let Some(a) = attacked.get_untracked() else {
            return;
        };
        let (axes, spec) = match settings.read() {
            Ok(s) => s,
            Err(e) => return notify(notices, true, format!("Cannot draw the slice: {e}.")),
        };
        let id = generation.get_value() + 1;
        generation.set_value(id);
        phase.set(Some("Computing the slice…".into()));
        spawn_local(async move {
            let result = compute(lab, a, axes, spec, phase, generation, id).await;
            if generation.get_value() != id {
                return;
            }
            match result {
                Ok(Some(c)) => computed.set(Some(Arc::new(c))),
                Ok(None) => {}
                Err(e) => notify(notices, true, format!("The slice failed: {e}")),
            }
            phase.set(None);
        });
    };
    // A finished attack or another choice of axes draws the slice again.
    Effect::new(move || {
        let a = attacked.get();
        settings.axes.track();
        if a.is_some() {
            untrack(start);
        }
    });
    let busy = move || phase.get().is_some();
    let no_attack = move || attacked.with(Option::is_none);
    let options: Vec<(&'static str, &'static str)> =
        Axes::ALL.iter().map(|a| (a.id(), a.label())).collect();

    view! {
        <section class="panel" aria-labelledby="slice-title" data-testid="slice-panel">
            <h2 id="slice-title">"The plane through an image"</h2>
            <p class="explain">
                "Each cell of the map is one image on the flat plane through the digit x: going right adds the on-manifold part "
                "of the attack d, going up its off-manifold part, measured as L2 distance from x. Its colour is the class the "
                "classifier gives that image, and the black line is where x's class ends. The plane is flat: its images are not "
                "clipped to the pixel range [0, 1], so far from x some of their pixels leave it. A crossing is the nearest change "
                "of class on either side of x; its sign says which."
            </p>
            <p class="explain">
                "The dimpled manifold model predicts that this line comes close along the off-manifold axis but stays far along "
                "the on-manifold one. Compare the two crossing distances beside the map, then try a random direction, wider "
                "ranges, another digit, or the CNN."
            </p>
            <div class="controls slice-controls">
                <ChoiceField label="Plane (horizontal × vertical)" testid="slice-axes" value=settings.axes options
                    disabled=Signal::derive(busy)/>
                <NumberField label="Horizontal range ± (L2)" testid="slice-range-1" value=settings.extent1 bounds=L2_RADIUS
                    disabled=Signal::derive(busy)/>
                <NumberField label="Vertical range ± (L2)" testid="slice-range-2" value=settings.extent2 bounds=L2_RADIUS
                    disabled=Signal::derive(busy)/>
                <NumberField label="Cells per axis" testid="slice-resolution" value=settings.resolution bounds=SLICE_CELLS
                    disabled=Signal::derive(busy)/>
                <div class="buttons">
                    <button data-testid="slice-redraw" on:click=move |_| start()
                        disabled=move || no_attack() || busy() || load.get() != LoadState::Ready>"Redraw"</button>
                    // A newer generation stops the computation at its next chunk; the last map stays.
                    <button data-testid="slice-cancel" disabled=move || !busy()
                        on:click=move |_| { generation.update_value(|g| *g += 1); phase.set(None); }>"Cancel"</button>
                </div>
            </div>
            <p class="status" data-testid="slice-status" data-busy=move || busy().to_string()
                data-ms=move || computed.with(|c| c.as_ref().map(|c| format!("{:.1}", c.grid_ms)))
                aria-live="polite">
                {move || phase.get().unwrap_or_else(|| match computed.get() {
                    Some(c) => timing_text(&c),
                    None if no_attack() => "Run an attack above to see the plane through its image.".into(),
                    None => String::new(),
                })}
            </p>
            {move || computed.get().map(|c| view! { <SliceView c resized/> })}
            <div class="exports" role="group" aria-label="Download the slice">
                <PngButton figure=Figure::Panel panel="slice" name=Signal::stored("slice".into()) label="PNG"
                    testid="export-png" ready=Signal::derive(move || computed.with(Option::is_some)) notices/>
                <CsvButton panel="slice" name=Signal::stored("slice".into())
                    tables=Signal::derive(move || computed.with(|c| c.as_ref().map(|c| c.tables()).unwrap_or_default())) notices/>
            </div>
        </section>
    }
}

fn timing_text(c: &Computed) -> String {
    let r = c.spec.resolution;
    format!(
        "{r} × {r} slice of the {} in {:.0} ms ({} chunk{}), profiles {:.0} ms, {:.0} ms in all.",
        c.model,
        c.grid_ms,
        c.chunks,
        if c.chunks == 1 { "" } else { "s" },
        c.profile_ms,
        c.total_ms
    )
}

/// Computes the slice through the attacked image: the grid a few rows at a time (chunks sized
/// by a [`Pacer`], yielding in between and showing the progress in `phase`), its boundary, the
/// attack's points and the two profiles. `Ok(None)` when a newer computation
/// (a later `generation`) has started.
async fn compute(
    lab: LabStore,
    a: Arc<Attacked>,
    axes: Axes,
    spec: SliceSpec,
    phase: RwSignal<Option<String>>,
    generation: StoredValue<u32>,
    id: u32,
) -> Result<Option<Computed>, String> {
    let started = now_ms();
    let current = || generation.get_value() == id;
    let (classifier, device) = lab
        .with_value(|l| {
            let l = l.as_ref()?;
            Some((l.classifier.clone()?, l.device.clone()))
        })
        .ok_or("there is no trained classifier")?;
    let n = a.x.len();
    let random = || random_subspace(n, 1, &mut Rng::new(RANDOM_SEED)).q;
    let (u, v) = match axes {
        Axes::OnOff => (a.on.clone(), a.off.clone()),
        Axes::AttackRandom => (a.d.clone(), random()),
        Axes::OnRandom => (a.on.clone(), random()),
    };
    let [name1, name2] = axes.names();
    let (e1, e2) = plane_basis(&u, &v)
        .map_err(|e| format!("the {name1} and {name2} directions span no plane: {e}"))?;

    let r = spec.resolution;
    let mut classes = Vec::with_capacity(r * r);
    let mut margins = Vec::with_capacity(r * r);
    let mut rows = Pacer::default();
    while classes.len() < r * r {
        let row = classes.len() / r;
        let count = rows.next(r - row);
        let t0 = now_ms();
        let piece = slice_rows(
            &classifier,
            &a.x,
            &e1,
            &e2,
            &spec,
            row..row + count,
            a.class,
            &device,
        )
        .await?;
        rows.record(now_ms() - t0, count);
        classes.extend(piece.classes);
        margins.extend(piece.margins);
        phase.set(Some(format!(
            "Computing the slice: row {} of {r}…",
            row + count
        )));
        yield_now().await;
        if !current() {
            return Ok(None);
        }
    }
    let grid = Grid {
        x: spec.range1,
        y: spec.range2,
        resolution: r,
    };
    let contour = zero_contour(&grid, &margins);

    phase.set(Some("Computing the margin profiles…".into()));
    let mut points = Pacer::default();
    let mut profiles = Vec::with_capacity(2);
    for (e, range) in [(&e1, spec.range1), (&e2, spec.range2)] {
        let t: Vec<f32> = (0..PROFILE_SAMPLES)
            .map(|i| lerp(range, i, PROFILE_SAMPLES))
            .collect();
        let mut margins = Vec::with_capacity(t.len());
        while margins.len() < t.len() {
            let from = margins.len();
            let count = points.next(t.len() - from);
            let t0 = now_ms();
            margins.extend(
                line_margins(
                    &classifier,
                    &a.x,
                    e,
                    &t[from..from + count],
                    false,
                    a.class,
                    &device,
                )
                .await?,
            );
            points.record(now_ms() - t0, count);
            yield_now().await;
            if !current() {
                return Ok(None);
            }
        }
        profiles.push(Profile {
            crossing: crossing(&t, &margins),
            t,
            margins,
        });
    }
    let zero = vec![0.0; n];
    let marked = [&zero, &a.d, &a.on, &a.off].map(|p| plane_point(p, &e1, &e2));
    let [p1, p2]: [Profile; 2] = profiles.try_into().map_err(|_| "no profiles")?;
    Ok(Some(Computed {
        attack: a.id,
        axes,
        spec,
        class: a.class,
        classes,
        contour,
        points: marked,
        profiles: [p1, p2],
        model: classifier.kind().label(),
        grid_ms: rows.busy_ms,
        chunks: rows.chunks,
        profile_ms: points.busy_ms,
        total_ms: now_ms() - started,
    }))
}

/// The coordinates (p·e1, p·e2) of the vector `p` in the plane, and whether `p` lies in it.
fn plane_point(p: &[f32], e1: &[f32], e2: &[f32]) -> PlanePoint {
    let dot = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    };
    let (c1, c2) = (dot(p, e1), dot(p, e2));
    let norm2 = dot(p, p);
    // Pythagoras: what is left outside the plane.
    let outside = (norm2 - c1 * c1 - c2 * c2).max(0.0);
    PlanePoint {
        at: (c1 as f32, c2 as f32),
        in_plane: outside <= 1e-4 * norm2.max(1e-12),
    }
}

/// The names and marker shapes of x, x + d, x + Proj_M(d) and x + (d − Proj_M(d)).
const POINTS: [(&str, MarkerShape); 4] = [
    ("x, the digit", MarkerShape::Circle),
    ("x + d, the adversarial example", MarkerShape::Diamond),
    ("x + Proj(d), its on-manifold part", MarkerShape::Triangle),
    (
        "x + (d − Proj(d)), its off-manifold part",
        MarkerShape::Square,
    ),
];

/// The class map, its legends, the profiles and the crossing distances of one computed slice.
#[component]
fn SliceView(c: Arc<Computed>, resized: RwSignal<u32>) -> impl IntoView {
    let plot = NodeRef::<Canvas>::new();
    let profile = NodeRef::<Canvas>::new();
    let [name1, name2] = c.axes.names();
    let (range1, range2) = (c.spec.range1, c.spec.range2);
    let inside = |(x, y): (f32, f32)| {
        (range1.0..=range1.1).contains(&x) && (range2.0..=range2.1).contains(&y)
    };
    let markers: Vec<MapMarker> = c
        .points
        .iter()
        .zip(POINTS)
        .enumerate()
        .filter(|(_, (p, _))| inside(p.at))
        .map(|(k, (p, (_, shape)))| MapMarker {
            at: p.at,
            shape,
            solid: k == 0,
        })
        .collect();
    let d = c.clone();
    Effect::new(move || {
        resized.track();
        if let Some(canvas) = plot.get() {
            let map = ClassMap {
                grid: Grid {
                    x: d.spec.range1,
                    y: d.spec.range2,
                    resolution: d.spec.resolution,
                },
                classes: &d.classes,
                contour: &d.contour,
                markers: &markers,
                x_label: &format!("{name1} direction (L2 from x)"),
                y_label: &format!("{name2} direction (L2 from x)"),
            };
            if let Err(e) = class_map(&canvas, &map) {
                leptos::logging::warn!("slice map: {e}");
            }
        }
        if let Some(canvas) = profile.get() {
            let reach = d.spec.range1.1.max(d.spec.range2.1);
            let line = |p: &Profile| -> Vec<(f64, f64)> {
                p.t.iter()
                    .zip(&p.margins)
                    .map(|(t, m)| (f64::from(*t), f64::from(*m)))
                    .collect()
            };
            let series = [
                Series {
                    name: format!("along the {name1} axis"),
                    color: PALETTE[0],
                    points: line(&d.profiles[0]),
                    dots: false,
                },
                Series {
                    name: format!("along the {name2} axis"),
                    color: PALETTE[3],
                    points: line(&d.profiles[1]),
                    dots: false,
                },
                Series {
                    name: "margin 0: the boundary".into(),
                    color: RGBColor(128, 128, 128),
                    points: vec![(-f64::from(reach), 0.0), (f64::from(reach), 0.0)],
                    dots: false,
                },
            ];
            let frame = ChartFrame {
                empty: "Run an attack to draw the margins.",
                x_label: "distance from x along the axis (L2)",
                y_label: "margin of x's class",
                x_min_range: (-f64::from(reach), f64::from(reach)),
                y_range: None,
                legend: SeriesLabelPosition::LowerLeft,
            };
            if let Err(e) = line_chart(&canvas, &frame, &series) {
                leptos::logging::warn!("slice profiles: {e}");
            }
        }
    });

    let mut counts = [0usize; 256];
    for &k in &c.classes {
        counts[usize::from(k)] += 1;
    }
    let total = c.classes.len().max(1);
    let present: Vec<u8> = (0..=255u8)
        .filter(|&k| counts[usize::from(k)] > 0)
        .collect();
    let class_list = present
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let class_legend = present
        .iter()
        .map(|&k| {
            let share = 100.0 * counts[usize::from(k)] as f64 / total as f64;
            let own = if k == c.class { " (x's class)" } else { "" };
            view! {
                <li data-class=k.to_string()>
                    <span class="swatch" style:background=class_colour_css(k)></span>
                    {format!("{k}{own} · {share:.0}%")}
                </li>
            }
        })
        .collect_view();
    let marker_legend = c
        .points
        .iter()
        .zip(POINTS)
        .enumerate()
        .map(|(k, (p, (name, shape)))| {
            let glyph = MapMarker {
                at: p.at,
                shape,
                solid: k == 0,
            }
            .glyph();
            let mut where_ = format!(" at ({}, {})", signed(p.at.0), signed(p.at.1));
            if !p.in_plane {
                where_.push_str(", projected onto this plane");
            }
            if !inside(p.at) {
                where_.push_str(", outside this view");
            }
            view! {
                <li><span class="glyph" aria-hidden="true">{glyph}</span>{name}{where_}</li>
            }
        })
        .collect_view();

    let mut text = crossing_text(
        [c.profiles[0].crossing, c.profiles[1].crossing],
        [name1, name2],
        [range1.1, range2.1],
    );
    if c.axes == Axes::OnOff
        && let (Some(t1), Some(t2)) = (c.profiles[0].crossing, c.profiles[1].crossing)
        && t2 != 0.0
    {
        text.push_str(&format!(
            " Along the manifold the boundary is {:.1} times as far as across it.",
            (t1 / t2).abs()
        ));
    }
    let crossing_attr = |p: &Profile| p.crossing.map(|t| format!("{t:.4}")).unwrap_or_default();
    let r = c.spec.resolution;
    view! {
        <div class="slice-body">
            <figure class="slice-figure">
                <canvas node_ref=plot class="slice-plot" data-testid="slice-plot" role="img"
                    data-run=c.attack data-axes=c.axes.id() data-resolution=r data-class=c.class data-classes=class_list
                    aria-label=format!("the classifier's class over the plane through x spanned by the {name1} and {name2} directions")></canvas>
                <figcaption>
                    <ul class="slice-legend" data-testid="slice-classes" aria-label="classes">{class_legend}</ul>
                    <ul class="slice-legend slice-markers" aria-label="marked points">
                        <li><span class="line" aria-hidden="true"></span>{format!("boundary of class {} (its margin is 0)", c.class)}</li>
                        {marker_legend}
                    </ul>
                </figcaption>
            </figure>
            <figure class="slice-figure">
                <canvas node_ref=profile class="slice-profile" data-testid="slice-profile" role="img"
                    aria-label="the margin of x's class along each axis"></canvas>
                <figcaption>
                    <p class="crossings" data-testid="slice-crossings"
                        data-crossing-1=crossing_attr(&c.profiles[0]) data-crossing-2=crossing_attr(&c.profiles[1])
                        data-range-1=range1.1 data-range-2=range2.1>{text}</p>
                    <p class="explain small">
                        "The margin is the logit of x's class minus the largest other logit: positive while the classifier still "
                        "says x's class, zero on the boundary."
                    </p>
                </figcaption>
            </figure>
        </div>
    }
}

/// The crossing distances along the two axes (named `names`, reaching ±`reach`) in words.
fn crossing_text(crossings: [Option<f32>; 2], names: [&str; 2], reach: [f32; 2]) -> String {
    let at =
        |k: usize| crossings[k].map(|t| format!("at {} along the {} axis", signed(t), names[k]));
    let none = |k: usize| format!("no change within ±{} along the {} axis", reach[k], names[k]);
    match (at(0), at(1)) {
        (Some(a), Some(b)) => format!("The class changes {a} and {b}."),
        (Some(a), None) => format!("The class changes {a}; {}.", none(1)),
        (None, Some(b)) => format!("The class changes {b}; {}.", none(0)),
        (None, None) => format!(
            "No change within ±{} along the {} axis or ±{} along the {} axis.",
            reach[0], names[0], reach[1], names[1]
        ),
    }
}

/// `v` with two decimals and a true minus sign (and no "−0.00").
fn signed(v: f32) -> String {
    let s = format!("{:.2}", if v.abs() < 0.005 { 0.0 } else { v });
    match s.strip_prefix('-') {
        Some(rest) => format!("−{rest}"),
        None => s,
    }
}
