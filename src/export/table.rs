//! The leaderboard as columns and cells: the rows every table format (terminal, markdown,
//! HTML, CSV) renders, so they list the same runs in the same order with the same values.

use super::format::{check, mean_pm_std, num, param_text, raw, short_id};
use super::model::{Report, Setting, beats, extra_baselines};
use crate::metrics;
use crate::spec::knobs::ParamValue;
use crate::store::{RunRecord, RunStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Num,
    Text,
}

pub struct Column {
    /// As a person reads it.
    pub title: String,
    /// As a script reads it (CSV header).
    pub field: String,
    pub kind: Kind,
}

pub enum Cell<'a> {
    Rank { rank: usize, best: bool },
    Run(&'a str),
    Param(Option<&'a ParamValue>),
    Num(Option<f64>),
    Check(Option<bool>),
    Duration(Option<f64>),
    Status(&'a RunRecord, bool),
    Label(&'a str),
}

impl Cell<'_> {
    /// What a table shows: short numbers, short ids.
    pub fn text(&self) -> String {
        match self {
            Cell::Rank { rank, .. } => rank.to_string(),
            Cell::Run(id) => short_id(id).to_string(),
            Cell::Param(v) => param_text(*v),
            Cell::Num(v) => num(*v),
            Cell::Check(b) => check(*b).to_string(),
            Cell::Duration(d) => d.map_or("-".into(), |d| format!("{d:.1}")),
            Cell::Status(run, best) => status_text(run, *best),
            Cell::Label(s) => s.to_string(),
        }
    }

    /// Full precision and full ids: CSV cells and sort keys.
    pub fn raw(&self) -> String {
        match self {
            Cell::Rank { rank, .. } => rank.to_string(),
            Cell::Run(id) => id.to_string(),
            Cell::Param(v) => v.map_or(String::new(), ToString::to_string),
            Cell::Num(v) | Cell::Duration(v) => raw(*v),
            Cell::Check(b) => b.map_or(String::new(), |b| b.to_string()),
            Cell::Status(run, _) => run.status.to_string(),
            Cell::Label(s) => s.to_string(),
        }
    }
}

fn status_text(run: &RunRecord, best: bool) -> String {
    match &run.failure_reason {
        Some(reason) => format!("{}: {reason}", run.status),
        None if best => format!("{} (best)", run.status),
        None => run.status.to_string(),
    }
}

/// The metric columns: the ranking metric with its baselines (and its spread across folds,
/// for `cv_val_rmse`), then val_rmse, val_mae and, when runs record it, val_mase.
pub fn metric_columns(r: &Report) -> Vec<String> {
    let mut cols = vec![r.metric.clone(), r.naive_metric()];
    for b in extra_baselines(&r.runs, &r.metric) {
        cols.push(metrics::baseline_of(b, &r.metric));
    }
    if r.metric == metrics::CV_VAL_RMSE {
        cols.push(metrics::CV_VAL_RMSE_STD.to_string());
    }
    for m in [metrics::VAL_RMSE, metrics::VAL_MAE] {
        if !cols.iter().any(|c| c == m) {
            cols.push(m.to_string());
        }
    }
    let m = metrics::VAL_MASE;
    if !cols.iter().any(|c| c == m) && r.runs.iter().any(|run| run.metric(m).is_some()) {
        cols.push(m.to_string());
    }
    cols
}

/// A baseline's column reads as the baseline's name (`naive`, `linear`): the full metric
/// name repeats the ranking metric and widens the table.
fn metric_title(r: &Report, metric: &str) -> String {
    match metric.strip_suffix(&format!("_{}", r.metric)) {
        Some(baseline) if metrics::BASELINES.contains(&baseline) => baseline.replace('_', " "),
        _ => metric.to_string(),
    }
}

/// Test-span metrics some run records. They sit in columns of their own, titled as not used
/// for selection: the ranking never reads them.
pub fn held_out_columns(r: &Report) -> Vec<&'static str> {
    metrics::HELD_OUT
        .iter()
        .copied()
        .filter(|m| r.runs.iter().any(|run| run.metric(m).is_some()))
        .collect()
}

/// How a table titles a held-out metric's column.
pub fn held_out_title(metric: &str) -> String {
    format!("{metric} (not used for selection)")
}

pub fn columns(r: &Report) -> Vec<Column> {
    let col = |title: &str, field: &str, kind| Column {
        title: title.to_string(),
        field: field.to_string(),
        kind,
    };
    let mut cols = vec![
        col("#", "rank", Kind::Num),
        col("run", "run_id", Kind::Text),
    ];
    if !r.snapshots.is_empty() {
        cols.push(col("data", "data_snapshot", Kind::Text));
    }
    for k in &r.swept {
        cols.push(col(k, k, param_kind(r, k)));
    }
    for m in metric_columns(r) {
        cols.push(col(&metric_title(r, &m), &m, Kind::Num));
    }
    cols.push(col("beats naive", "beats_naive", Kind::Text));
    for b in extra_baselines(&r.runs, &r.metric) {
        cols.push(col(
            &format!("beats {b}"),
            &format!("beats_{b}"),
            Kind::Text,
        ));
    }
    for m in held_out_columns(r) {
        cols.push(col(&held_out_title(m), m, Kind::Num));
    }
    cols.push(col("best epoch", metrics::BEST_EPOCH, Kind::Num));
    cols.push(col("duration (s)", "duration_s", Kind::Num));
    if !r.user_tags.is_empty() {
        cols.push(col("tags", "tags", Kind::Text));
    }
    cols.push(col("status", "status", Kind::Text));
    cols
}

/// The first `n` rows of the ranked runs, cell for cell with [`columns`]. Which metric and
/// baseline columns exist depends on every run, so it is worked out once here, not per row
/// (per row it made a 10,000-run table quadratic).
pub fn rows(r: &Report, n: usize) -> impl Iterator<Item = Vec<Cell<'_>>> {
    let layout = RowLayout {
        metrics: metric_columns(r),
        extra: extra_baselines(&r.runs, &r.metric),
        held_out: held_out_columns(r),
    };
    (0..n.min(r.runs.len())).map(move |i| row(r, &layout, i))
}

/// The columns of a row that depend on the whole report.
struct RowLayout {
    metrics: Vec<String>,
    extra: Vec<&'static str>,
    held_out: Vec<&'static str>,
}

fn row<'a>(r: &'a Report, layout: &RowLayout, i: usize) -> Vec<Cell<'a>> {
    let run = &r.runs[i];
    let best = Some(i) == r.best;
    let mut cells = vec![Cell::Rank { rank: i + 1, best }, Cell::Run(&run.run_id)];
    if !r.snapshots.is_empty() {
        let label = r.snapshots.get(&run.run_id).map_or("-", String::as_str);
        cells.push(Cell::Label(label));
    }
    cells.extend(r.swept.iter().map(|k| Cell::Param(run.params.get(k))));
    cells.extend(layout.metrics.iter().map(|m| Cell::Num(run.metric(m))));
    cells.push(Cell::Check(r.beats_naive(run)));
    for b in &layout.extra {
        cells.push(Cell::Check(beats(run, b, &r.metric)));
    }
    cells.extend(layout.held_out.iter().map(|m| Cell::Num(run.metric(m))));
    cells.push(Cell::Num(run.metric(metrics::BEST_EPOCH)));
    cells.push(Cell::Duration(run.duration()));
    if !r.user_tags.is_empty() {
        cells.push(Cell::Label(
            r.user_tags.get(&run.run_id).map_or("", String::as_str),
        ));
    }
    cells.push(Cell::Status(run, best));
    cells
}

/// A CSS class for a row: how the HTML marks the best, pruned and failed runs.
pub fn row_class(r: &Report, i: usize) -> &'static str {
    match r.runs[i].status {
        _ if Some(i) == r.best => "best",
        RunStatus::Pruned => "pruned",
        RunStatus::Finished => "",
        _ => "failed",
    }
}

pub fn param_kind(r: &Report, key: &str) -> Kind {
    let numeric = r
        .runs
        .iter()
        .filter_map(|run| run.params.get(key))
        .all(|v| v.as_f64().is_some());
    if numeric { Kind::Num } else { Kind::Text }
}

/// The seed-collapsed table's header: the swept knobs, then the aggregate columns.
pub fn setting_head(r: &Report) -> Vec<String> {
    let mut head: Vec<String> = r.knobs().iter().map(|k| k.to_string()).collect();
    head.extend([
        format!("{} mean ± std", r.metric),
        "n finished".into(),
        "runs".into(),
        "beat naive".into(),
        "robust".into(),
    ]);
    head
}

/// One row of the seed-collapsed table, as text, cell for cell with [`setting_head`].
pub fn setting_row(r: &Report, s: &Setting) -> Vec<String> {
    let mut row: Vec<String> = r
        .knobs()
        .iter()
        .map(|k| param_text(s.params.get(*k)))
        .collect();
    row.push(mean_pm_std(s));
    row.push(s.values.len().to_string());
    row.push(s.runs.to_string());
    row.push(format!("{}/{}", s.beat_naive, s.runs));
    row.push(check(Some(s.robust)).to_string());
    row
}
