//! Drawing widgets on canvases: line charts with plotters-canvas and grey images, both crisp
//! on HiDPI screens (the backing store is sized in device pixels, every length scaled by
//! `devicePixelRatio`).

use super::browser::device_pixel_ratio;
use crate::ml::toy::{Grid, Segment};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// The Okabe-Ito palette: distinguishable with every common colour-vision deficiency.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
];

/// One line on a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot on every point (for sparse series such as per-epoch test accuracy).
    pub dots: bool,
}

/// Axis titles and fixed ranges of a line chart.
#[derive(Clone, Debug)]
pub struct ChartFrame {
    pub x_label: &'static str,
    pub y_label: &'static str,
    /// Smallest x range shown (grows with the data).
    pub x_min_range: (f64, f64),
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes (where the curves are not).
    pub legend: SeriesLabelPosition,
    /// What the chart says while it has no data.
    pub empty: &'static str,
}

fn dark_scheme() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches())
}

/// The chart colours of the page's colour scheme.
struct Theme {
    /// Text and axes.
    fg: RGBColor,
    bg: RGBColor,
    /// Grid lines.
    grid: RGBColor,
}

impl Theme {
    /// The colours for the scheme the page shows now (light or dark, as the system says).
    fn now() -> Self {
        if dark_scheme() {
            Self {
                fg: RGBColor(236, 236, 240),
                bg: RGBColor(31, 31, 35),
                grid: RGBColor(70, 70, 80),
            }
        } else {
            Self {
                fg: RGBColor(29, 29, 31),
                bg: RGBColor(255, 255, 255),
                grid: RGBColor(225, 225, 230),
            }
        }
    }
}

/// A chart's canvas sized to the screen and cleared to the scheme's background: its drawing
/// area, the colours and the device pixel ratio.
fn chart_area(
    canvas: &HtmlCanvasElement,
) -> Result<(DrawingArea<MeasuredCanvas, Shift>, Theme, f64), String> {
    let dpr = fit_to_screen(canvas);
    let theme = Theme::now();
    let root = MeasuredCanvas::new(canvas)
        .ok_or("canvas has no 2-D context")?
        .into_drawing_area();
    root.fill(&theme.bg).map_err(|e| e.to_string())?;
    Ok((root, theme, dpr))
}

/// Sizes the canvas's backing store to its CSS size times the device pixel ratio; returns
/// the ratio.
fn fit_to_screen(canvas: &HtmlCanvasElement) -> f64 {
    let dpr = device_pixel_ratio();
    let (w, h) = (
        canvas.client_width().max(1) as f64,
        canvas.client_height().max(1) as f64,
    );
    let (pw, ph) = ((w * dpr).round() as u32, (h * dpr).round() as u32);
    if canvas.width() != pw || canvas.height() != ph {
        canvas.set_width(pw);
        canvas.set_height(ph);
    }
    dpr
}

/// Draws `series` as a line chart filling `canvas`: x from the frame's range, widened to the
/// data (with a little room on the right, so a dot on the last epoch is not cut in half); y
/// fixed by the frame or fitted to the data.
pub fn line_chart(
    canvas: &HtmlCanvasElement,
    frame: &ChartFrame,
    series: &[Series],
) -> Result<(), String> {
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .fold(frame.x_min_range.1, f64::max)
        * 1.02;
    draw_series(
        canvas,
        SeriesStyle::Lines,
        (frame.x_label, frame.y_label),
        series,
        frame.legend.clone(),
        Ranges {
            x: Some((frame.x_min_range.0, x_max)),
            y: frame.y_range,
        },
    )?;
    if series.iter().all(|s| s.points.is_empty()) {
        // Bare axes alone would look broken: say why there is no curve.
        let context = context_2d(canvas)?;
        let dpr = device_pixel_ratio();
        context.set_fill_style_str(muted_text(dark_scheme()));
        context.set_font(&format!("{}px sans-serif", (12.0 * dpr).round()));
        context.set_text_align("center");
        context.set_text_baseline("middle");
        let (w, h) = (f64::from(canvas.width()), f64::from(canvas.height()));
        context
            .fill_text(frame.empty, w / 2.0 + 20.0 * dpr, h / 2.0 - 8.0 * dpr)
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

/// Draws a grey image (`pixels`, row-major, 0 = black) at its natural size; CSS scales the
/// canvas up with `image-rendering: pixelated`, so every pixel stays a crisp square.
pub fn grey_image(
    canvas: &HtmlCanvasElement,
    pixels: &[u8],
    width: usize,
    height: usize,
) -> Result<(), String> {
    let rgba: Vec<u8> = pixels.iter().flat_map(|&p| [p, p, p, 255]).collect();
    put_rgba(canvas, &rgba, width, height)
}

/// Draws an image of values in [0, 1] (clipped to that range) like [`grey_image`].
pub fn unit_image(
    canvas: &HtmlCanvasElement,
    pixels: &[f32],
    width: usize,
    height: usize,
) -> Result<(), String> {
    let grey: Vec<u8> = pixels.iter().map(|&p| unit_to_byte(p)).collect();
    grey_image(canvas, &grey, width, height)
}

/// A value in [0, 1] as a byte (NaN as 0).
pub fn unit_to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Puts row-major RGBA bytes on the canvas at natural size.
fn put_rgba(
    canvas: &HtmlCanvasElement,
    rgba: &[u8],
    width: usize,
    height: usize,
) -> Result<(), String> {
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let context = context_2d(canvas)?;
    let image =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width as u32, height as u32)
            .map_err(|e| super::browser::describe(&e))?;
    context
        .put_image_data(&image, 0.0, 0.0)
        .map_err(|e| super::browser::describe(&e))
}

fn context_2d(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(|| "canvas has no 2-D context".to_string())
}

/// The diverging colour scale of perturbation heatmaps (ColorBrewer RdBu, 5 classes), from
/// -1 (blue: the pixel got darker) through 0 (near white) to +1 (red: it got brighter). Safe
/// for the common colour-vision deficiencies.
pub const DIVERGING: [(f32, [u8; 3]); 5] = [
    (-1.0, [5, 113, 176]),
    (-0.5, [146, 197, 222]),
    (0.0, [247, 247, 247]),
    (0.5, [244, 165, 130]),
    (1.0, [202, 0, 32]),
];

/// The same scale for a dark page: 0 is near the page's own colour, and a change grows
/// brighter with its size (blue darker, orange-red brighter), so that an unchanged pixel
/// does not glare.
pub const DIVERGING_DARK: [(f32, [u8; 3]); 5] = [
    (-1.0, [103, 169, 207]),
    (-0.5, [44, 92, 128]),
    (0.0, [36, 36, 40]),
    (0.5, [140, 62, 48]),
    (1.0, [239, 138, 98]),
];

/// The diverging scale for the page's colour scheme.
fn diverging_scale() -> &'static [(f32, [u8; 3]); 5] {
    if dark_scheme() {
        &DIVERGING_DARK
    } else {
        &DIVERGING
    }
}

/// The colour of `v` on the diverging `scale` running from `-max` to `max` (clipped).
pub fn diverging_colour(scale: &[(f32, [u8; 3]); 5], v: f32, max: f32) -> [u8; 3] {
    let t = if max > 0.0 && v.is_finite() {
        (v / max).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let upper = scale
        .iter()
        .position(|(at, _)| t <= *at)
        .unwrap_or(scale.len() - 1)
        .max(1);
    let ((a, ca), (b, cb)) = (scale[upper - 1], scale[upper]);
    let f = (t - a) / (b - a);
    std::array::from_fn(|i| {
        (f32::from(ca[i]) + f * (f32::from(cb[i]) - f32::from(ca[i]))).round() as u8
    })
}

/// The diverging scale as a CSS gradient, left (-max) to right (+max), for a colour bar.
pub fn diverging_gradient_css() -> String {
    let stops: Vec<String> = diverging_scale()
        .iter()
        .map(|(at, [r, g, b])| format!("rgb({r},{g},{b}) {:.0}%", 50.0 + 50.0 * at))
        .collect();
    format!("linear-gradient(to right, {})", stops.join(", "))
}

/// Draws `values` (row-major) as a diverging heatmap at natural size, on the symmetric scale
/// `-max..max`; CSS scales it up pixel-crisp like [`grey_image`].
pub fn diverging_heatmap(
    canvas: &HtmlCanvasElement,
    values: &[f32],
    width: usize,
    height: usize,
    max: f32,
) -> Result<(), String> {
    let scale = diverging_scale();
    let rgba: Vec<u8> = values
        .iter()
        .flat_map(|&v| {
            let [r, g, b] = diverging_colour(scale, v, max);
            [r, g, b, 255]
        })
        .collect();
    put_rgba(canvas, &rgba, width, height)
}

/// The colour of secondary text on a canvas (labels, the empty chart's note), in the dark
/// scheme or the light one.
fn muted_text(dark: bool) -> &'static str {
    if dark { "#a0a0aa" } else { "#5f6368" }
}

/// Draws the class probabilities as a bar chart filling `canvas` (HiDPI): one bar per class
/// with its digit under it, the predicted class in the accent colour, and `marked` (the
/// class the attack moves away from or towards) outlined.
pub fn probability_bars(
    canvas: &HtmlCanvasElement,
    probabilities: &[f32],
    marked: Option<usize>,
) -> Result<(), String> {
    let dpr = fit_to_screen(canvas);
    let context = context_2d(canvas)?;
    let (w, h) = (f64::from(canvas.width()), f64::from(canvas.height()));
    let dark = dark_scheme();
    let (fg, bar, grid) = if dark {
        ("#ececf0", "#6b6b78", "#3a3a42")
    } else {
        ("#1d1d1f", "#b4b4bd", "#d9d9de")
    };
    let muted = muted_text(dark);
    let accent = if dark { "#56b4e9" } else { "#0072b2" };
    context.clear_rect(0.0, 0.0, w, h);
    let classes = probabilities.len().max(1);
    let label_h = 14.0 * dpr;
    let top = 2.0 * dpr;
    let plot_h = (h - label_h - top).max(1.0);
    let slot = w / classes as f64;
    let gap = (slot * 0.18).max(dpr);
    context.set_fill_style_str(grid);
    context.fill_rect(0.0, top + plot_h, w, dpr);
    let predicted = probabilities
        .iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &p)| if p > b.1 { (i, p) } else { b },
        )
        .0;
    context.set_font(&format!("{}px sans-serif", (11.0 * dpr).round()));
    context.set_text_align("center");
    context.set_text_baseline("bottom");
    for (class, &p) in probabilities.iter().enumerate() {
        let x = class as f64 * slot + gap / 2.0;
        let bar_w = slot - gap;
        let bar_h = f64::from(p.clamp(0.0, 1.0)) * plot_h;
        context.set_fill_style_str(if class == predicted { accent } else { bar });
        context.fill_rect(x, top + plot_h - bar_h, bar_w, bar_h);
        if marked == Some(class) {
            context.set_stroke_style_str(fg);
            context.set_line_width(1.5 * dpr);
            context.stroke_rect(x, top, bar_w, plot_h);
        }
        context.set_fill_style_str(if class == predicted { fg } else { muted });
        let _ = context.fill_text(&class.to_string(), x + bar_w / 2.0, h);
    }
    Ok(())
}

/// plotters-canvas's backend with text measured by the canvas itself. plotters' own web font
/// code measures each label by adding a `<span>` to the page and forcing a layout, which made
/// one chart take over 80 ms; `measureText` takes microseconds.
struct MeasuredCanvas {
    inner: CanvasBackend,
    context: CanvasRenderingContext2d,
}

type CanvasResult = Result<(), DrawingErrorKind<<CanvasBackend as DrawingBackend>::ErrorType>>;

impl MeasuredCanvas {
    fn new(canvas: &HtmlCanvasElement) -> Option<Self> {
        let context = canvas.get_context("2d").ok()??.dyn_into().ok()?;
        Some(Self {
            inner: CanvasBackend::with_canvas_object(canvas.clone())?,
            context,
        })
    }
}

impl DrawingBackend for MeasuredCanvas {
    type ErrorType = <CanvasBackend as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> CanvasResult {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> CanvasResult {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> CanvasResult {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> CanvasResult {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.inner.draw_rect(a, b, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> CanvasResult {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> CanvasResult {
        self.inner.fill_polygon(vert, style)
    }
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> CanvasResult {
        self.inner.draw_text(text, style, pos)
    }
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.context.set_font(&format!(
            "{} {}px {}",
            style.style().as_str(),
            style.size(),
            style.family().as_str()
        ));
        let width = self
            .context
            .measure_text(text)
            .map(|m| m.width())
            .unwrap_or(0.0);
        Ok((width.ceil() as u32, style.size().ceil() as u32))
    }
}

/// Ten class colours for maps of the classifier's decision: Paul Tol's "muted" scheme (nine
/// colours chosen to stay apart under the common colour-vision deficiencies, plus pale grey).
pub const CLASS_COLOURS: [RGBColor; 10] = [
    RGBColor(204, 102, 119),
    RGBColor(51, 34, 136),
    RGBColor(221, 204, 119),
    RGBColor(17, 119, 51),
    RGBColor(136, 204, 238),
    RGBColor(136, 34, 85),
    RGBColor(68, 170, 153),
    RGBColor(153, 153, 51),
    RGBColor(170, 68, 153),
    RGBColor(221, 221, 221),
];

/// The colour of `class` on a class map, as CSS (for its legend).
pub fn class_colour_css(class: u8) -> String {
    let RGBColor(r, g, b) = CLASS_COLOURS[usize::from(class) % CLASS_COLOURS.len()];
    format!("rgb({r},{g},{b})")
}

/// The shape of a point marked on a class map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerShape {
    Circle,
    Diamond,
    Triangle,
    Square,
}

/// A point marked on a class map, in the map's coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapMarker {
    pub at: (f32, f32),
    pub shape: MarkerShape,
    /// Filled black (the reference point) rather than white.
    pub solid: bool,
}

impl MapMarker {
    /// The marker as a character, for a legend in the page's text.
    pub fn glyph(&self) -> &'static str {
        match (self.shape, self.solid) {
            (MarkerShape::Circle, true) => "●",
            (MarkerShape::Circle, false) => "○",
            (MarkerShape::Diamond, true) => "◆",
            (MarkerShape::Diamond, false) => "◇",
            (MarkerShape::Triangle, true) => "▲",
            (MarkerShape::Triangle, false) => "△",
            (MarkerShape::Square, true) => "■",
            (MarkerShape::Square, false) => "□",
        }
    }
}

/// What [`class_map`] draws: the class at each vertex of `grid` (in its order), a contour over
/// it and marked points.
pub struct ClassMap<'a> {
    pub grid: Grid,
    pub classes: &'a [u8],
    pub contour: &'a [Segment],
    pub markers: &'a [MapMarker],
    pub x_label: &'a str,
    pub y_label: &'a str,
}

/// Draws a class map filling `canvas` (HiDPI): each grid vertex as a cell of its class's
/// colour ([`CLASS_COLOURS`]) centred on it, the contour as a black line on a white halo, the
/// markers in black and white on top, and axes with ticks in the grid's units.
pub fn class_map(canvas: &HtmlCanvasElement, map: &ClassMap<'_>) -> Result<(), String> {
    let (root, Theme { fg, .. }, dpr) = chart_area(canvas)?;
    let px = |v: f64| (v * dpr).round() as u32;
    let g = map.grid;
    let (x0, x1) = (f64::from(g.x.0), f64::from(g.x.1));
    let (y0, y1) = (f64::from(g.y.0), f64::from(g.y.1));
    if !(x1 > x0 && y1 > y0) || g.resolution < 2 {
        return Err("the map's ranges are empty".into());
    }
    let font = |size: f64| ("sans-serif", size * dpr).into_font().color(&fg);
    let mut chart = ChartBuilder::on(&root)
        .margin(px(8.0))
        .x_label_area_size(px(38.0))
        .y_label_area_size(px(48.0))
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    // Cells centred on the vertices, cut at the map's edges.
    let r = g.resolution;
    let (hx, hy) = (
        (x1 - x0) / (r - 1) as f64 / 2.0,
        (y1 - y0) / (r - 1) as f64 / 2.0,
    );
    let cells = map.classes.iter().enumerate().map(|(k, &class)| {
        let (x, y) = (f64::from(g.xi(k % r)), f64::from(g.yj(k / r)));
        let colour = CLASS_COLOURS[usize::from(class) % CLASS_COLOURS.len()];
        Rectangle::new(
            [
                ((x - hx).max(x0), (y - hy).max(y0)),
                ((x + hx).min(x1), (y + hy).min(y1)),
            ],
            colour.filled(),
        )
    });
    chart.draw_series(cells).map_err(|e| e.to_string())?;
    for (colour, width) in [(WHITE, 4.0), (BLACK, 2.0)] {
        let style = ShapeStyle::from(&colour).stroke_width(px(width));
        chart
            .draw_series(map.contour.iter().map(|s| {
                PathElement::new(
                    vec![
                        (f64::from(s.a[0]), f64::from(s.a[1])),
                        (f64::from(s.b[0]), f64::from(s.b[1])),
                    ],
                    style,
                )
            }))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(map.x_label)
        .y_desc(map.y_label)
        .label_style(font(11.0))
        .axis_desc_style(font(12.0))
        .axis_style(ShapeStyle::from(&fg).stroke_width(px(1.0)))
        .x_labels(7)
        .y_labels(7)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;

    let context = context_2d(canvas)?;
    let size = 6.5 * dpr;
    context.set_line_width(1.5 * dpr);
    context.set_stroke_style_str("#000");
    for m in map.markers {
        let (cx, cy) = chart.backend_coord(&(f64::from(m.at.0), f64::from(m.at.1)));
        let (cx, cy) = (f64::from(cx), f64::from(cy));
        context.begin_path();
        match m.shape {
            MarkerShape::Circle => {
                let _ = context.arc(cx, cy, size * 0.85, 0.0, std::f64::consts::TAU);
            }
            MarkerShape::Square => {
                context.rect(cx - size * 0.8, cy - size * 0.8, size * 1.6, size * 1.6)
            }
            MarkerShape::Diamond => {
                context.move_to(cx, cy - size * 1.1);
                context.line_to(cx + size, cy);
                context.line_to(cx, cy + size * 1.1);
                context.line_to(cx - size, cy);
                context.close_path();
            }
            MarkerShape::Triangle => {
                context.move_to(cx, cy - size * 1.1);
                context.line_to(cx + size, cy + size * 0.8);
                context.line_to(cx - size, cy + size * 0.8);
                context.close_path();
            }
        }
        context.set_fill_style_str(if m.solid { "#000" } else { "#fff" });
        context.fill();
        context.set_stroke_style_str(if m.solid { "#fff" } else { "#000" });
        context.stroke();
    }
    Ok(())
}

/// How [`series_chart`] draws its series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeriesStyle<'a> {
    /// Lines through the points; a series with `dots` also marks each point.
    Lines,
    /// Each point is one bin, (centre, count), `bin_width` wide, drawn as a tinted step
    /// outline, so that several overlapping histograms stay readable.
    Histogram { bin_width: f64 },
    /// Each point is (category index, value); the series' bars stand side by side in each
    /// category, which is named under its group.
    Bars { categories: &'a [String] },
}

/// Draws `series` as lines, histograms or grouped bars filling `canvas` (HiDPI), with axis
/// titles given at run time (the charts of experiment reports). The x range fits the data
/// (for histograms, the bins up to the last non-empty one); the y range starts at 0 and leaves
/// room above the data for the legend at `legend`.
pub fn series_chart(
    canvas: &HtmlCanvasElement,
    style: SeriesStyle<'_>,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    draw_series(
        canvas,
        style,
        (x_label, y_label),
        series,
        legend,
        Ranges::default(),
    )
}

/// Axis ranges fixed by the caller; `None` fits the data.
#[derive(Clone, Copy, Debug, Default)]
struct Ranges {
    x: Option<(f64, f64)>,
    y: Option<(f64, f64)>,
}

/// [`series_chart`] and [`line_chart`]: the chart of `series` with the axis titles `labels`
/// (x, y), over `ranges` where given.
fn draw_series(
    canvas: &HtmlCanvasElement,
    style: SeriesStyle<'_>,
    (x_label, y_label): (&str, &str),
    series: &[Series],
    legend: SeriesLabelPosition,
    ranges: Ranges,
) -> Result<(), String> {
    let (root, Theme { fg, bg, grid }, dpr) = chart_area(canvas)?;
    let px = |v: f64| (v * dpr).round() as u32;

    let finite = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let bounds = |values: &mut dyn Iterator<Item = f64>| {
        values.fold(None, |b: Option<(f64, f64)>, v| {
            Some(b.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
    };
    let (x_lo, x_hi) = match style {
        SeriesStyle::Lines => bounds(&mut finite().map(|p| p.0)).unwrap_or((0.0, 1.0)),
        SeriesStyle::Histogram { bin_width } => {
            let half = bin_width / 2.0;
            let first = bounds(&mut finite().map(|p| p.0)).map_or(0.0, |b| b.0 - half);
            // Up to one empty bin past the last non-empty one.
            let last = bounds(&mut finite().filter(|p| p.1 > 0.0).map(|p| p.0))
                .map_or(first + 2.0 * half, |b| b.1 + 3.0 * half);
            (first, last)
        }
        SeriesStyle::Bars { categories } => (-0.5, categories.len().max(1) as f64 - 0.5),
    };
    let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
    let (y_lo, y_hi) = bounds(&mut finite().map(|p| p.1)).unwrap_or((0.0, 1.0));
    // Headroom above the highest value; bars leave room for the legend's rows too.
    let room = if matches!(style, SeriesStyle::Lines) {
        1.08
    } else {
        1.2 + 0.12 * series.len() as f64
    };
    let (y_lo, y_hi) = (y_lo.min(0.0), (y_hi * room).max(y_lo.min(0.0) + 1e-6));
    let (x_lo, x_hi) = ranges.x.unwrap_or((x_lo, x_hi));
    let (y_lo, y_hi) = ranges.y.unwrap_or((y_lo, y_hi));

    let font = |size: f64| ("sans-serif", size * dpr).into_font().color(&fg);
    let mut chart = ChartBuilder::on(&root)
        .margin(px(8.0))
        .x_label_area_size(px(34.0))
        .y_label_area_size(px(52.0))
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(|e| e.to_string())?;
    // Category names under their groups; the first word of each when they would not fit.
    let names: Vec<String> = match style {
        SeriesStyle::Bars { categories } => {
            let width = f64::from(canvas.client_width().max(1)) - 60.0;
            let chars: usize = categories.iter().map(|c| c.chars().count() + 2).sum();
            categories
                .iter()
                .map(|c| {
                    if chars as f64 * 6.5 > width {
                        c.split_whitespace().next().unwrap_or_default().to_string()
                    } else {
                        c.clone()
                    }
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let category = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_label)
        .y_desc(y_label)
        .label_style(font(11.0))
        .axis_desc_style(font(12.0))
        .axis_style(ShapeStyle::from(&fg).stroke_width(px(1.0)))
        .light_line_style(TRANSPARENT)
        .bold_line_style(ShapeStyle::from(&grid).stroke_width(px(1.0)))
        .y_labels(6);
    if let SeriesStyle::Bars { categories } = style {
        mesh.disable_x_mesh()
            .x_labels(categories.len() + 1)
            .x_label_formatter(&category);
    } else {
        mesh.x_labels(6);
    }
    // A histogram counts images: whole numbers only on its axis.
    let whole = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    if let SeriesStyle::Histogram { .. } = style {
        mesh.y_label_formatter(&whole);
    }
    mesh.draw().map_err(|e| e.to_string())?;

    let groups = series.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        let color = s.color;
        let line = ShapeStyle::from(&color).stroke_width(px(2.0));
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        let drawn = match style {
            SeriesStyle::Lines => {
                if s.dots {
                    let r = px(3.0);
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, r, color.filled())))
                        .map_err(|e| e.to_string())?;
                }
                chart
                    .draw_series(LineSeries::new(points.clone(), line))
                    .map_err(|e| e.to_string())?
            }
            SeriesStyle::Histogram { bin_width } => {
                let half = bin_width / 2.0;
                chart
                    .draw_series(points.iter().filter(|p| p.1 > 0.0).map(|&(x, c)| {
                        Rectangle::new([(x - half, 0.0), (x + half, c)], color.mix(0.18).filled())
                    }))
                    .map_err(|e| e.to_string())?;
                let mut outline = Vec::with_capacity(2 * points.len() + 2);
                if let Some(first) = points.first() {
                    outline.push((first.0 - half, 0.0));
                }
                for &(x, c) in &points {
                    outline.extend([(x - half, c), (x + half, c)]);
                }
                if let Some(last) = points.last() {
                    outline.push((last.0 + half, 0.0));
                }
                chart
                    .draw_series(std::iter::once(PathElement::new(outline, line)))
                    .map_err(|e| e.to_string())?
            }
            SeriesStyle::Bars { .. } => {
                // Each category's group takes 80% of its slot, shared by the series.
                let width = 0.8 / groups;
                let offset = -0.4 + width * k as f64;
                // An infinite value (an attack that never flipped) has no bar: an ∞ in its
                // place says so, low, clear of the legend at the top.
                let top = y_lo + (y_hi - y_lo) * 0.12;
                chart
                    .draw_series(
                        s.points
                            .iter()
                            .filter(|p| p.0.is_finite() && p.1 == f64::INFINITY)
                            .map(|&(i, _)| {
                                Text::new(
                                    "∞",
                                    (i + offset + width * 0.3, top),
                                    font(14.0).color(&color),
                                )
                            }),
                    )
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(points.iter().map(|&(i, v)| {
                        Rectangle::new(
                            [(i + offset, 0.0), (i + offset + width * 0.92, v)],
                            color.filled(),
                        )
                    }))
                    .map_err(|e| e.to_string())?
            }
        };
        let w = px(16.0) as i32;
        let h = px(5.0) as i32;
        let bars = !matches!(style, SeriesStyle::Lines);
        drawn.label(s.name.clone()).legend(move |(x, y)| {
            if bars {
                EmptyElement::at((x, y))
                    + Rectangle::new([(0, -h), (w, h)], color.mix(0.6).filled())
                    + PathElement::new(vec![(0, 0), (w, 0)], ShapeStyle::from(&color))
            } else {
                EmptyElement::at((x, y))
                    + Rectangle::new([(0, 0), (0, 0)], TRANSPARENT)
                    + PathElement::new(
                        vec![(0, 0), (w, 0)],
                        ShapeStyle::from(&color).stroke_width(2),
                    )
            }
        });
    }
    if series.iter().any(|s| !s.points.is_empty()) {
        chart
            .configure_series_labels()
            .label_font(font(11.0))
            .background_style(bg.mix(0.85))
            .border_style(grid)
            .position(legend)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
