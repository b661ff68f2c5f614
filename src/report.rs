//! Answers about finished work: the best run, and run listings, as text or JSON.

use crate::store::{RunFilter, RunRecord, Store};
use anyhow::Result;
use serde_json::json;
use std::fmt::Write;

/// The metrics shown beside each run, in this order, when present.
const SHOWN_METRICS: &[&str] = &[
    "val_rmse",
    "val_mae",
    "naive_val_rmse",
    "naive_val_mae",
    "best_epoch",
];

pub fn best_json(run: &RunRecord) -> serde_json::Value {
    json!({
        "run_id": run.run_id,
        "experiment": run.experiment,
        "status": run.status,
        "params": run.params,
        "metrics": run.metrics,
        "beats_naive": beats_naive(run),
        "artifacts": run.artifacts,
        "sweep_id": run.sweep_id,
        "data_sha256": run.data_hash,
        "aerocast_version": run.aerocast_version,
        "duration_s": run.duration(),
    })
}

pub fn best_text(run: &RunRecord, metric: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "best run of \"{}\" by {metric}", run.experiment);
    let _ = writeln!(out, "  run_id   {}", run.run_id);
    let _ = writeln!(out, "  params");
    for (k, v) in &run.params {
        let _ = writeln!(out, "    {k:<14} {}", fmt_param(v));
    }
    let _ = writeln!(out, "  metrics");
    for (k, v) in &run.metrics {
        let _ = writeln!(out, "    {k:<14} {}", fmt_metric(*v));
    }
    if let Some(beats) = beats_naive(run) {
        let verdict = if beats { "beats" } else { "does NOT beat" };
        let _ = writeln!(out, "  {verdict} the naive last-value forecast");
    }
    let _ = writeln!(out, "  artifacts");
    for a in &run.artifacts {
        let _ = writeln!(out, "    {a}");
    }
    out
}

pub fn runs_json(runs: &[RunRecord]) -> serde_json::Value {
    serde_json::Value::Array(runs.iter().map(run_json).collect())
}

fn run_json(run: &RunRecord) -> serde_json::Value {
    json!({
        "run_id": run.run_id,
        "experiment": run.experiment,
        "sweep_id": run.sweep_id,
        "job_key": run.job_key,
        "status": run.status,
        "failure_reason": run.failure_reason,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "params": run.params,
        "metrics": run.metrics,
        "artifacts": run.artifacts,
        "data_sha256": run.data_hash,
        "aerocast_version": run.aerocast_version,
    })
}

/// A fixed-width table: one row per run, swept params first.
pub fn runs_table(runs: &[RunRecord]) -> String {
    let param_keys = varying_params(runs);
    let mut header: Vec<String> = vec!["run_id".into(), "status".into()];
    header.extend(param_keys.iter().cloned());
    header.extend(SHOWN_METRICS.iter().map(|s| s.to_string()));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![
                r.run_id[..8.min(r.run_id.len())].to_string(),
                r.status.clone(),
            ];
            row.extend(
                param_keys
                    .iter()
                    .map(|k| r.params.get(k).map_or("-".into(), |v| v.to_string())),
            );
            row.extend(
                SHOWN_METRICS
                    .iter()
                    .map(|m| fmt_metric(r.metrics.get(*m).copied().flatten())),
            );
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    for r in runs.iter().filter(|r| r.failure_reason.is_some()) {
        let _ = writeln!(
            out,
            "{} {}: {}",
            &r.run_id[..8.min(r.run_id.len())],
            r.status,
            r.failure_reason.as_deref().unwrap_or("")
        );
    }
    out
}

/// Params whose value differs between runs; constant ones would only widen the table.
fn varying_params(runs: &[RunRecord]) -> Vec<String> {
    let mut keys: Vec<String> = runs.iter().flat_map(|r| r.params.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| {
        let first = runs.first().and_then(|r| r.params.get(k));
        runs.iter().any(|r| r.params.get(k) != first)
    });
    keys
}

/// Strings without JSON quotes; numbers as JSON prints them.
fn fmt_param(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn beats_naive(run: &RunRecord) -> Option<bool> {
    Some(run.metric("val_rmse")? < run.metric("naive_val_rmse")?)
}

fn fmt_metric(v: Option<f64>) -> String {
    match v {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e9 => format!("{v}"),
        Some(v) => format!("{v:.4}"),
        None => "-".to_string(),
    }
}

/// Resolves which experiment a report is about: the one asked for, else the latest swept.
pub fn pick_experiment(store: &Store, asked: Option<&str>) -> Result<Option<String>> {
    match asked {
        Some(name) => Ok(Some(name.to_string())),
        None => store.latest_experiment(),
    }
}

pub fn filter(experiment: Option<String>, status: Option<String>) -> RunFilter {
    RunFilter {
        experiment,
        status,
        sweep_id: None,
    }
}
