//! What an experiment hands back to people: settings, notes, tables and chart data, rendered as
//! aligned text (the command line), Markdown (the README), CSV and JSON (export).
//!
//! Every experiment's outcome makes one [`Report`], so the page, the command line and the
//! README show the same tables. The renderers are hand-written: the formats are small and the
//! crate stays free of serialisation dependencies.

use std::fmt::Write;

/// One table cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    /// A number shown with `decimals` decimals; infinite values show as "∞" in text and as
    /// the string "inf" in JSON.
    Number {
        value: f64,
        decimals: usize,
    },
    /// Nothing to show (not defined, for example a median of no values).
    Missing,
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    /// A number, or [`Cell::Missing`] for `None` or NaN.
    pub fn number(value: impl Into<Option<f64>>, decimals: usize) -> Self {
        match value.into() {
            Some(value) if !value.is_nan() => Self::Number { value, decimals },
            _ => Self::Missing,
        }
    }

    /// A whole number.
    pub fn count(value: usize) -> Self {
        Self::number(value as f64, 0)
    }

    /// A share in [0, 1] shown as a percentage with one decimal.
    pub fn percent(share: impl Into<Option<f64>>) -> Self {
        match share.into() {
            Some(s) if !s.is_nan() => Self::Text(format!("{:.1}%", 100.0 * s)),
            _ => Self::Missing,
        }
    }

    /// The cell as people read it.
    pub fn display(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number { value, .. } if value.is_infinite() => {
                if *value > 0.0 { "∞" } else { "-∞" }.into()
            }
            Self::Number { value, decimals } => format!("{value:.decimals$}"),
            Self::Missing => "–".into(),
        }
    }

    fn json(&self) -> String {
        match self {
            Self::Text(s) => json_string(s),
            Self::Number { value, .. } => json_number(*value),
            Self::Missing => "null".into(),
        }
    }

    fn csv(&self) -> String {
        match self {
            Self::Text(s) => csv_field(s),
            Self::Number { value, .. } if value.is_infinite() => {
                if *value > 0.0 { "inf" } else { "-inf" }.into()
            }
            Self::Number { value, .. } => format!("{value}"),
            Self::Missing => String::new(),
        }
    }
}

/// A table of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Short identifier (for CSV sections and JSON keys).
    pub id: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// A per-item table (one row per image or per epoch) that text and Markdown leave out;
    /// CSV and JSON include it.
    pub detail: bool,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(id: &str, title: &str, columns: &[&str]) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            columns: columns.iter().map(|c| (*c).into()).collect(),
            rows: Vec::new(),
            detail: false,
        }
    }

    /// Marks the table as per-item detail.
    pub fn detail(mut self) -> Self {
        self.detail = true;
        self
    }

    /// Appends a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(row.len(), self.columns.len(), "table {}", self.id);
        self.rows.push(row);
    }

    /// Curves sampled at possibly different x as one table: a row per distinct x (in
    /// increasing order), a column per curve, missing where a curve has no point at that x.
    pub fn from_curves(id: &str, title: &str, x: &str, curves: &[(&str, &[(f64, f64)])]) -> Self {
        let mut xs: Vec<f64> = curves
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .filter(|x| !x.is_nan())
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let mut columns = vec![x];
        columns.extend(curves.iter().map(|(name, _)| *name));
        let mut table = Self::new(id, title, &columns);
        // One cursor per curve: each curve's points are visited once, in order of x.
        let mut sorted: Vec<Vec<(f64, f64)>> = curves.iter().map(|(_, p)| p.to_vec()).collect();
        for points in &mut sorted {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let mut at = vec![0; curves.len()];
        for &x in &xs {
            let mut row = vec![Cell::number(x, 4)];
            for (points, i) in sorted.iter().zip(&mut at) {
                while *i < points.len() && points[*i].0 < x {
                    *i += 1;
                }
                let value = points.get(*i).filter(|p| p.0 == x).map(|p| p.1);
                row.push(Cell::number(value, 6));
            }
            table.push(row);
        }
        table
    }

    /// The table as CSV: the header line, then one line per row (∞ as "inf", missing cells
    /// empty, text quoted where it needs it).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
        let _ = writeln!(out, "{}", header.join(","));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(Cell::csv).collect();
            let _ = writeln!(out, "{}", cells.join(","));
        }
        out
    }

    /// The cell in `row` under the column named `column`.
    pub fn cell(&self, row: usize, column: &str) -> Option<&Cell> {
        let c = self.columns.iter().position(|name| name == column)?;
        self.rows.get(row).map(|r| &r[c])
    }
}

/// How a chart draws its series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChartKind {
    /// Lines through the points of each series.
    Line,
    /// Bars: each point is (bin centre, count); bins are `bin_width` wide.
    Histogram { bin_width: f64 },
    /// Grouped bars: each point is (category index, value), categories named in
    /// [`Chart::categories`].
    Bars,
}

/// One named series of points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The data of one chart; the page draws it, the CLI exports it in JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub kind: ChartKind,
    pub x_label: String,
    pub y_label: String,
    /// Names of the categories of a [`ChartKind::Bars`] chart.
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

impl Chart {
    /// A chart without series yet.
    pub fn new(id: &str, title: &str, kind: ChartKind, x_label: &str, y_label: &str) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            kind,
            x_label: x_label.into(),
            y_label: y_label.into(),
            categories: Vec::new(),
            series: Vec::new(),
        }
    }

    /// Adds a series.
    pub fn with(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
        });
        self
    }
}

/// Everything an experiment reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Short identifier of the experiment ("norms", "dynamics", ...).
    pub experiment: String,
    pub title: String,
    /// The settings that produced it, as (name, value).
    pub settings: Vec<(String, String)>,
    /// Sentences a reader needs: what was skipped and why, how failures count, caveats.
    pub notes: Vec<String>,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    /// Seconds per stage, filled in by whoever drove the experiment (the clock is the
    /// caller's: the page and the command line measure time differently).
    pub timings: Vec<(String, f64)>,
}

impl Report {
    /// An empty report.
    pub fn new(experiment: &str, title: &str) -> Self {
        Self {
            experiment: experiment.into(),
            title: title.into(),
            settings: Vec::new(),
            notes: Vec::new(),
            tables: Vec::new(),
            charts: Vec::new(),
            timings: Vec::new(),
        }
    }

    /// Adds a setting.
    pub fn setting(&mut self, name: &str, value: impl ToString) {
        self.settings.push((name.into(), value.to_string()));
    }

    /// The table with this id.
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }

    /// The sum of the stage timings.
    pub fn wall_seconds(&self) -> f64 {
        self.timings.iter().map(|(_, s)| s).sum()
    }

    fn timing_line(&self) -> Option<String> {
        if self.timings.is_empty() {
            return None;
        }
        let stages: Vec<String> = self
            .timings
            .iter()
            .map(|(stage, s)| format!("{stage} {s:.1} s"))
            .collect();
        Some(format!(
            "wall time {:.1} s ({})",
            self.wall_seconds(),
            stages.join(", ")
        ))
    }

    /// Aligned plain text, without the detail tables.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for (name, value) in &self.settings {
            let _ = writeln!(out, "  {name}: {value}");
        }
        if let Some(line) = self.timing_line() {
            let _ = writeln!(out, "  {line}");
        }
        for table in self.tables.iter().filter(|t| !t.detail) {
            let _ = write!(out, "\n{}\n{}", table.title, text_table(table));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }

    /// Markdown (a level-3 heading, settings, tables, notes), without the detail tables.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        let mut settings: Vec<String> = self
            .settings
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        settings.extend(self.timing_line());
        if !settings.is_empty() {
            let _ = writeln!(out, "{}.\n", settings.join("; "));
        }
        for table in self.tables.iter().filter(|t| !t.detail) {
            let _ = writeln!(out, "{}\n", table.title);
            let header: Vec<String> = table.columns.iter().map(|c| markdown_cell(c)).collect();
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(table.columns.len()));
            for row in &table.rows {
                let cells: Vec<String> = row.iter().map(|c| markdown_cell(&c.display())).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }

    /// Every table (detail included) as CSV, one section per table: a `# id: title` line,
    /// the header, the rows and an empty line.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            let _ = writeln!(out, "# {}: {}", table.id, table.title);
            out.push_str(&table.to_csv());
            out.push('\n');
        }
        out
    }

    /// The whole report as one JSON object.
    pub fn to_json(&self) -> String {
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
            .collect();
        let timings: Vec<String> = self
            .timings
            .iter()
            .map(|(k, v)| format!("{}: {}", json_string(k), json_number(*v)))
            .collect();
        let notes: Vec<String> = self.notes.iter().map(|n| json_string(n)).collect();
        let tables: Vec<String> = self.tables.iter().map(table_json).collect();
        let charts: Vec<String> = self.charts.iter().map(chart_json).collect();
        format!(
            "{{\"experiment\": {}, \"title\": {}, \"settings\": {{{}}}, \"wall_seconds\": {}, \"timings\": {{{}}}, \"notes\": [{}], \"tables\": [{}], \"charts\": [{}]}}\n",
            json_string(&self.experiment),
            json_string(&self.title),
            settings.join(", "),
            json_number(self.wall_seconds()),
            timings.join(", "),
            notes.join(", "),
            tables.join(", "),
            charts.join(", ")
        )
    }
}

/// The table with columns padded to their widest cell; numbers align right, text left.
fn text_table(table: &Table) -> String {
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(Cell::display).collect())
        .collect();
    let width = |c: usize| {
        cells
            .iter()
            .map(|r| r[c].chars().count())
            .chain([table.columns[c].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..table.columns.len()).map(width).collect();
    let pad = |s: &str, w: usize, right: bool| {
        let fill = " ".repeat(w - s.chars().count());
        if right {
            format!("{fill}{s}")
        } else {
            format!("{s}{fill}")
        }
    };
    let mut out = String::new();
    let header: Vec<String> = table
        .columns
        .iter()
        .zip(&widths)
        .enumerate()
        .map(|(c, (name, &w))| pad(name, w, c > 0))
        .collect();
    let _ = writeln!(out, "  {}", header.join("  "));
    for (row, texts) in table.rows.iter().zip(&cells) {
        let line: Vec<String> = texts
            .iter()
            .zip(&widths)
            .zip(row)
            .map(|((s, &w), cell)| pad(s, w, !matches!(cell, Cell::Text(_))))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    out
}

fn table_json(table: &Table) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| json_string(c)).collect();
    let rows: Vec<String> = table
        .rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().map(Cell::json).collect();
            format!("[{}]", cells.join(", "))
        })
        .collect();
    format!(
        "{{\"id\": {}, \"title\": {}, \"detail\": {}, \"columns\": [{}], \"rows\": [{}]}}",
        json_string(&table.id),
        json_string(&table.title),
        table.detail,
        columns.join(", "),
        rows.join(", ")
    )
}

fn chart_json(chart: &Chart) -> String {
    let kind = match chart.kind {
        ChartKind::Line => "\"line\"".to_string(),
        ChartKind::Histogram { bin_width } => format!(
            "{{\"histogram\": {{\"bin_width\": {}}}}}",
            json_number(bin_width)
        ),
        ChartKind::Bars => "\"bars\"".to_string(),
    };
    let categories: Vec<String> = chart.categories.iter().map(|c| json_string(c)).collect();
    let series: Vec<String> = chart
        .series
        .iter()
        .map(|s| {
            let points: Vec<String> = s
                .points
                .iter()
                .map(|(x, y)| format!("[{}, {}]", json_number(*x), json_number(*y)))
                .collect();
            format!(
                "{{\"name\": {}, \"points\": [{}]}}",
                json_string(&s.name),
                points.join(", ")
            )
        })
        .collect();
    format!(
        "{{\"id\": {}, \"title\": {}, \"kind\": {kind}, \"x_label\": {}, \"y_label\": {}, \"categories\": [{}], \"series\": [{}]}}",
        json_string(&chart.id),
        json_string(&chart.title),
        json_string(&chart.x_label),
        json_string(&chart.y_label),
        categories.join(", "),
        series.join(", ")
    )
}

/// A JSON number; JSON has no infinities or NaN, so those become the strings "inf", "-inf"
/// and null.
fn json_number(v: f64) -> String {
    if v.is_nan() {
        "null".into()
    } else if v.is_infinite() {
        if v > 0.0 { "\"inf\"" } else { "\"-inf\"" }.into()
    } else {
        format!("{v}")
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A table cell's text with its pipes escaped (||d|| would otherwise end cells).
fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_join_on_x_with_gaps_where_a_curve_has_no_point() {
        let loss = [(0.5, 2.0), (1.0, 1.0), (1.5, 0.5), (2.0, 0.25)];
        let test = [(2.0, 97.0), (1.0, 90.0)];
        let table = Table::from_curves("t", "T", "epoch", &[("loss", &loss), ("test", &test)]);
        assert_eq!(table.columns, ["epoch", "loss", "test"]);
        assert_eq!(table.rows.len(), 4);
        let csv = table.to_csv();
        assert_eq!(
            csv, "epoch,loss,test\n0.5,2,\n1,1,90\n1.5,0.5,\n2,0.25,97\n",
            "{csv}"
        );
        // Every point of every curve is in the table, at its x.
        for (column, points) in [("loss", &loss[..]), ("test", &test[..])] {
            for &(x, y) in points {
                let row = table
                    .rows
                    .iter()
                    .position(|r| r[0] == Cell::number(x, 4))
                    .unwrap();
                assert_eq!(table.cell(row, column), Some(&Cell::number(y, 6)));
            }
        }
    }

    fn sample() -> Report {
        let mut report = Report::new("demo", "A demo");
        report.setting("N", 3);
        report.notes.push("one \"quoted\" note".into());
        let mut table = Table::new("t", "Numbers", &["name", "value"]);
        table.push(vec![Cell::text("a, b"), Cell::number(1.5, 2)]);
        table.push(vec![Cell::text("||d||"), Cell::number(0.25, 2)]);
        table.push(vec![Cell::text("c"), Cell::number(f64::INFINITY, 2)]);
        table.push(vec![Cell::text("d"), Cell::number(None, 2)]);
        report.tables.push(table);
        report.charts.push(
            Chart::new(
                "c",
                "Chart",
                ChartKind::Histogram { bin_width: 0.25 },
                "x",
                "y",
            )
            .with("s", vec![(0.125, 2.0)]),
        );
        report.timings.push(("stage".into(), 1.25));
        report
    }

    #[test]
    fn renderers_show_every_cell_in_their_format() {
        let report = sample();
        let text = report.to_text();
        assert!(
            text.contains("1.50") && text.contains('∞') && text.contains('–'),
            "{text}"
        );
        assert!(text.contains("wall time 1.2 s"), "{text}");
        let csv = report.to_csv();
        assert!(
            csv.contains("\"a, b\",1.5\n||d||,0.25\nc,inf\nd,\n"),
            "{csv}"
        );
        let markdown = report.to_markdown();
        assert!(
            markdown
                .contains("| name | value |\n|---|---|\n| a, b | 1.50 |\n| \\|\\|d\\|\\| | 0.25 |"),
            "{markdown}"
        );
        let json = report.to_json();
        assert!(
            json.contains("[\"c\", \"inf\"]") && json.contains("[\"d\", null]"),
            "{json}"
        );
        assert!(json.contains("one \\\"quoted\\\" note"), "{json}");
        assert!(json.contains("\"bin_width\": 0.25"), "{json}");
        assert_eq!(json.matches('{').count(), json.matches('}').count());
        assert_eq!(json.matches('[').count(), json.matches(']').count());
    }

    #[test]
    fn detail_tables_stay_out_of_text_and_markdown() {
        let mut report = sample();
        let mut detail = Table::new("per-image", "Per image", &["i"]).detail();
        detail.push(vec![Cell::count(7)]);
        report.tables.push(detail);
        assert!(!report.to_text().contains("Per image"));
        assert!(!report.to_markdown().contains("Per image"));
        assert!(report.to_csv().contains("# per-image: Per image\ni\n7\n"));
        assert!(report.to_json().contains("\"per-image\""));
    }
}
