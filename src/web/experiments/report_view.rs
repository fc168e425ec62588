//! A finished experiment on the page: its provenance (dataset, models, settings), its tables,
//! its charts on canvases and the CSV and JSON exports, all from the experiment's
//! [`Report`], the same one the command line prints.

use super::catalogue::Which;
use crate::ml::experiments::report::{Cell, Chart, ChartKind, Report, Table};
use crate::web::export::{Figure, PngButton, download_text};
use crate::web::lab::{Notices, notify};
use crate::web::plot::{PALETTE, Series, SeriesStyle, series_chart};
use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use std::sync::Arc;

/// A finished run of an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub which: Which,
    /// The panel's run counter.
    pub run: u32,
    /// The dataset's name for a reader ("MNIST") and for file names ("mnist").
    pub dataset: String,
    pub dataset_id: String,
    /// Which models produced it, in one line.
    pub provenance: String,
    /// With the page's settings and timings added.
    pub report: Report,
    /// Wall time, pauses for the browser included.
    pub wall_seconds: f64,
}

impl Finished {
    fn file_name(&self, extension: &str) -> String {
        format!(
            "dimple-{}-{}-run{}.{extension}",
            self.which.id(),
            self.dataset_id,
            self.run
        )
    }
}

/// A colour per series; reference lines (√(k/n), chance) in grey.
fn colour(index: usize, name: &str) -> RGBColor {
    if name.starts_with('√') || name == "chance" {
        RGBColor(128, 128, 128)
    } else {
        PALETTE[index % PALETTE.len()]
    }
}

/// Where the legend covers least: the corner of a line chart (a box 40% of the width and 35% of
/// the height) that the fewest points and stretches of line fall in, the upper right on a tie;
/// bars and histograms keep it at the upper right, where they leave room.
fn legend_position(chart: &Chart) -> SeriesLabelPosition {
    if chart.kind != ChartKind::Line {
        return SeriesLabelPosition::UpperRight;
    }
    // Each series' points and, along the lines between them, 7 more per segment: a line that
    // crosses a corner between two points far apart counts there too.
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let points: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| {
            let along = s
                .points
                .windows(2)
                .filter(move |w| finite(&w[0]) && finite(&w[1]))
                .flat_map(|w| {
                    let (a, b) = (w[0], w[1]);
                    (1..8).map(move |i| {
                        let t = f64::from(i) / 8.0;
                        (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
                    })
                });
            s.points.iter().copied().filter(finite).chain(along)
        })
        .collect();
    let span = |f: fn(&(f64, f64)) -> f64| {
        points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let ((x0, x1), (y0, y1)) = (span(|p| p.0), span(|p| p.1));
    // The y axis starts at 0 at most (the charts leave room above the data).
    let y0 = y0.min(0.0);
    if !(x1 > x0 && y1 > y0) {
        return SeriesLabelPosition::UpperRight;
    }
    let count = |right: bool, upper: bool| {
        points
            .iter()
            .filter(|p| {
                let (u, v) = ((p.0 - x0) / (x1 - x0), (p.1 - y0) / (y1 - y0));
                (if right { u >= 0.6 } else { u <= 0.4 })
                    && (if upper { v >= 0.65 } else { v <= 0.35 })
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, count(true, true)),
        (SeriesLabelPosition::LowerRight, count(true, false)),
        (SeriesLabelPosition::UpperLeft, count(false, true)),
        (SeriesLabelPosition::LowerLeft, count(false, false)),
    ]
    .into_iter()
    .min_by_key(|(_, n)| *n)
    .map_or(SeriesLabelPosition::UpperRight, |(p, _)| p)
}

/// Draws one of the report's charts on `canvas`.
fn draw_chart(canvas: &web_sys::HtmlCanvasElement, chart: &Chart) -> Result<(), String> {
    let series: Vec<Series> = chart
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| Series {
            name: s.name.clone(),
            color: colour(i, &s.name),
            points: s.points.clone(),
            dots: chart.kind == ChartKind::Line && s.points.len() <= 12,
        })
        .collect();
    let style = match chart.kind {
        ChartKind::Line => SeriesStyle::Lines,
        ChartKind::Histogram { bin_width } => SeriesStyle::Histogram { bin_width },
        ChartKind::Bars => SeriesStyle::Bars {
            categories: &chart.categories,
        },
    };
    series_chart(
        canvas,
        style,
        &chart.x_label,
        &chart.y_label,
        &series,
        legend_position(chart),
    )
}

/// One table cell: numbers carry their exact value in `data-value` ("inf" for ∞, empty when
/// missing).
fn cell_view(cell: &Cell) -> impl IntoView + use<> {
    let (class, value) = match cell {
        // Shares ("92.3%") align with the numbers.
        Cell::Text(t) if t.ends_with('%') && t[..t.len() - 1].parse::<f64>().is_ok() => {
            ("num", None)
        }
        Cell::Text(_) => ("", None),
        Cell::Number { value, .. } if value.is_infinite() => ("num", Some("inf".to_string())),
        Cell::Number { value, .. } => ("num", Some(value.to_string())),
        Cell::Missing => ("num missing", Some(String::new())),
    };
    view! { <td class=class data-value=value>{cell.display()}</td> }
}

fn table_view(table: &Table, testid: &'static str) -> impl IntoView + use<> {
    let columns = table
        .columns
        .iter()
        .map(|c| view! { <th scope="col">{c.clone()}</th> })
        .collect_view();
    let rows = table
        .rows
        .iter()
        .map(|row| view! { <tr>{row.iter().map(cell_view).collect_view()}</tr> })
        .collect_view();
    // The title stays put above a table that scrolls sideways on a narrow screen.
    let title_id = format!("exp-table-{}", table.id);
    view! {
        <p class="exp-table-title" id=title_id.clone()>{table.title.clone()}</p>
        <div class="exp-table-wrap" tabindex="0" role="region" aria-labelledby=title_id.clone()>
            <table class="exp-table" data-testid=testid data-table=table.id.clone() aria-labelledby=title_id.clone()>
                <thead><tr>{columns}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// The result of one run: provenance, tables, charts, notes and exports.
#[component]
pub fn ResultView(
    result: Arc<Finished>,
    resized: RwSignal<u32>,
    /// Where export failures are reported.
    notices: Notices,
) -> impl IntoView {
    let report = &result.report;
    let which = result.which;
    let summary: Vec<&Table> = report.tables.iter().filter(|t| !t.detail).collect();
    let tables = summary
        .iter()
        .enumerate()
        .map(|(i, t)| {
            table_view(
                t,
                if i == 0 {
                    which.table_testid()
                } else {
                    "exp-table"
                },
            )
        })
        .collect_view();
    let details: Vec<String> = report
        .tables
        .iter()
        .filter(|t| t.detail)
        .map(|t| {
            let rows = t.rows.len();
            let plural = if rows == 1 { "" } else { "s" };
            format!("{} ({rows} row{plural})", t.title.to_lowercase())
        })
        .collect();

    let canvases: Vec<NodeRef<Canvas>> = report.charts.iter().map(|_| NodeRef::new()).collect();
    let figures = report
        .charts
        .iter()
        .zip(&canvases)
        .map(|(chart, node)| {
            view! {
                <figure class="exp-figure">
                    <canvas node_ref=*node class="exp-plot" data-testid="exp-plot" data-chart=chart.id.clone()
                        role="img" aria-label=chart.title.clone()></canvas>
                    <figcaption>{chart.title.clone()}</figcaption>
                </figure>
            }
        })
        .collect_view();
    let drawn = result.clone();
    Effect::new(move || {
        resized.track();
        for (chart, node) in drawn.report.charts.iter().zip(&canvases) {
            if let Some(canvas) = node.get()
                && let Err(e) = draw_chart(&canvas, chart)
            {
                leptos::logging::warn!("experiment chart {}: {e}", chart.id);
            }
        }
    });

    let export = move |result: &Finished, extension: &str| {
        let text = match extension {
            "csv" => result.report.to_csv(),
            _ => result.report.to_json(),
        };
        if let Err(e) = download_text(&result.file_name(extension), &text) {
            notify(notices, true, format!("The {extension} export failed: {e}"));
        }
    };
    let (for_csv, for_json) = (result.clone(), result.clone());
    let settings = report
        .settings
        .iter()
        .map(|(name, value)| view! { <li><span class="name">{format!("{name}:")}</span>" " {value.clone()}</li> })
        .collect_view();
    let notes = report
        .notes
        .iter()
        .map(|n| view! { <li>{n.clone()}</li> })
        .collect_view();
    let png_name = result.file_name("png");
    let png_name = png_name
        .trim_start_matches("dimple-")
        .trim_end_matches(".png")
        .to_string();
    let timing = format!(
        "{:.1} s of compute ({:.1} s with the pauses that keep the page responsive)",
        report.wall_seconds(),
        result.wall_seconds
    );

    view! {
        <article class="exp-result" data-testid="exp-result" data-experiment=which.id()
            data-dataset=result.dataset_id.clone() data-run=result.run aria-labelledby="exp-result-title">
            <h3 id="exp-result-title">{format!("{} on {}", report.title, result.dataset)}</h3>
            <p class="exp-provenance" data-testid="exp-provenance">
                {format!("Run {}: {}. {timing}.", result.run, result.provenance)}
            </p>
            <div class="buttons exp-exports">
                <button data-testid="export-csv" data-panel="experiments" on:click=move |_| export(&for_csv, "csv")>"Export CSV"</button>
                <button data-testid="exp-export-json" on:click=move |_| export(&for_json, "json")>"Export JSON"</button>
                <PngButton figure=Figure::Strip(".exp-result") panel="experiments" name=Signal::stored(png_name)
                    label="Export PNG" testid="export-png" ready=true notices/>
            </div>
            {tables}
            {(!details.is_empty()).then(|| view! {
                <p class="explain small">{format!("In the CSV and JSON exports too: {}.", details.join(", "))}</p>
            })}
            <div class="exp-figures">{figures}</div>
            <ul class="exp-notes">{notes}</ul>
            <details class="exp-settings">
                <summary>"Settings"</summary>
                <ul>{settings}</ul>
            </details>
        </article>
    }
}
