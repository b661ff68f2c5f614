//! What the terminal shows: the leaderboard as a fixed-width table, and the best run.

use super::format::{num, short_id};
use super::model::{Report, beats};
use super::table::{Cell, columns, rows};
use crate::metrics;
use crate::store::RunRecord;
use std::fmt::Write;

/// A fixed-width text table: what the terminal shows.
pub fn text_table(r: &Report) -> String {
    let head: Vec<String> = columns(r).into_iter().map(|c| c.title).collect();
    let status_col = head.len() - 1;
    let rows: Vec<Vec<String>> = rows(r, r.runs.len())
        .zip(&r.runs)
        .map(|(row, run)| {
            let mut cells: Vec<String> = row.iter().map(Cell::text).collect();
            // Reasons can be long: they follow the table instead of widening it.
            cells[status_col] = run.status.to_string();
            cells
        })
        .collect();
    let mut out = fixed_width(&head, &rows);
    for run in r.runs.iter().filter(|run| run.failure_reason.is_some()) {
        let _ = writeln!(
            out,
            "{} {}: {}",
            short_id(&run.run_id),
            run.status,
            run.failure_reason.as_deref().unwrap_or("")
        );
    }
    out
}

/// Columns padded to their widest cell, two spaces apart.
pub fn fixed_width(head: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for cells in std::iter::once(head).chain(rows.iter().map(Vec::as_slice)) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// The best run in full: params, every final metric, the naive verdict, artifact paths.
pub fn best_text(run: &RunRecord, metric: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "best run of \"{}\" by {metric}", run.experiment);
    let _ = writeln!(out, "  run_id   {}", run.run_id);
    let _ = writeln!(out, "  params");
    for (k, v) in &run.params {
        let _ = writeln!(out, "    {k:<14} {}", v.short());
    }
    let _ = writeln!(out, "  metrics");
    let (pooled, _) = metrics::split_series(&run.metrics);
    let width = pooled.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in &pooled {
        let note = if metrics::is_test_span(k) {
            "  (test span, not used for selection)"
        } else {
            ""
        };
        let _ = writeln!(out, "    {k:<width$} {}{note}", num(*v));
    }
    for baseline in metrics::BASELINES {
        if let Some(b) = beats(run, baseline, metric) {
            let verdict = if b { "beats" } else { "does NOT beat" };
            let _ = writeln!(
                out,
                "  {verdict} the {} forecast ({metric} {} vs {})",
                baseline.replace('_', " "),
                num(run.metric(metric)),
                num(run.metric(&metrics::baseline_of(baseline, metric)))
            );
        }
    }
    let rows = super::series::rows(run);
    if !rows.is_empty() {
        let _ = writeln!(out, "  by series (worst first)");
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| super::series::cells(r, &rows))
            .collect();
        let table = fixed_width(&super::series::head(&rows), &cells);
        for line in table.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    let _ = writeln!(out, "  artifacts");
    for a in &run.artifacts {
        let _ = writeln!(out, "    {a}");
    }
    out
}

/// `runs show`: the JSON of [`super::json::run_detail`] as indented text.
pub fn run_detail_text(detail: &serde_json::Value) -> String {
    let mut out = String::new();
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    for key in [
        "run_id",
        "experiment",
        "status",
        "failure_reason",
        "data_sha256",
    ] {
        let _ = writeln!(out, "{key:<16} {}", text(&detail[key]));
    }
    for section in ["params", "metrics", "tags", "sweep"] {
        let _ = writeln!(out, "{section}");
        if let Some(map) = detail[section].as_object() {
            for (k, v) in map {
                let shown = match v.as_f64() {
                    Some(f) if section == "metrics" => num(Some(f)),
                    _ => text(v),
                };
                let _ = writeln!(out, "  {k:<24} {shown}");
            }
        }
    }
    let _ = writeln!(out, "history");
    if let Some(map) = detail["history"].as_object() {
        for (k, points) in map {
            let values: Vec<String> = points
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| num(p[1].as_f64()))
                .collect();
            let _ = writeln!(out, "  {k:<24} {}", values.join(" "));
        }
    }
    for list in ["artifacts", "registered"] {
        let _ = writeln!(out, "{list}");
        for item in detail[list].as_array().into_iter().flatten() {
            let _ = writeln!(out, "  {}", text(item));
        }
    }
    out
}
