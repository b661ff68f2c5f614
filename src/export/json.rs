//! Every JSON shape aerocast prints or writes: `leaderboard.json` (also `report --json`), a run
//! as `runs --json` lists it, and the best run (`report --best --json`).

use super::Exporter;
use super::charts::Charts;
use super::model::{Report, beats, beats_naive};
use crate::metrics;
use crate::store::RunRecord;
use anyhow::Result;
use serde::Serialize;
use serde_json::json;

pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "leaderboard.json"
    }

    fn wants_charts(&self) -> bool {
        false
    }

    fn render(&self, r: &Report, _: &Charts) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(&leaderboard(r))?)
    }
}

/// The ranked runs with the report's facts: one object. It borrows from the report and is
/// serialised as it is written: for 10,000 runs, a `serde_json::Value` copy of every run
/// cost more time and memory than the rest of the report.
pub fn leaderboard(r: &Report) -> Leaderboard<'_> {
    Leaderboard {
        experiment: &r.experiment,
        metric: &r.metric,
        sweep_id: r.sweep.as_ref().map(|s| s.record.sweep_id.as_str()),
        swept: &r.swept,
        aerocast_version: crate::VERSION,
        runs: RankedRuns(r),
    }
}

#[derive(Serialize)]
pub struct Leaderboard<'a> {
    experiment: &'a str,
    metric: &'a str,
    sweep_id: Option<&'a str>,
    swept: &'a [String],
    aerocast_version: &'static str,
    runs: RankedRuns<'a>,
}

/// The report's runs in ranking order, each as a [`RankedRun`].
pub struct RankedRuns<'a>(&'a Report);

impl Serialize for RankedRuns<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        s.collect_seq(r.runs.iter().enumerate().map(|(i, run)| RankedRun {
            rank: i + 1,
            best: Some(i) == r.best,
            run_id: &run.run_id,
            status: &run.status,
            failure_reason: run.failure_reason.as_deref(),
            params: &run.params,
            metric: r.metric_of(run),
            naive: r.naive_of(run),
            beats_naive: r.beats_naive(run),
            metrics: Pooled(&run.metrics),
            duration_s: run.duration(),
            sweep_id: &run.sweep_id,
        }))
    }
}

/// A run's pooled metrics: its per-series ones (`series/<name>/…`) stay out of the
/// leaderboard, which ranks runs, not series.
struct Pooled<'a>(&'a std::collections::BTreeMap<String, Option<f64>>);

impl Serialize for Pooled<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.0
                .iter()
                .filter(|(k, _)| !k.starts_with(metrics::SERIES_PREFIX)),
        )
    }
}

#[derive(Serialize)]
struct RankedRun<'a> {
    rank: usize,
    best: bool,
    run_id: &'a str,
    status: &'a crate::store::RunStatus,
    failure_reason: Option<&'a str>,
    params: &'a crate::jobs::Params,
    metric: Option<f64>,
    naive: Option<f64>,
    beats_naive: Option<bool>,
    metrics: Pooled<'a>,
    duration_s: Option<f64>,
    sweep_id: &'a str,
}

/// A run as `runs --json` lists it: per-series metrics under `series`, by series name.
pub fn run(run: &RunRecord) -> serde_json::Value {
    let (pooled, series) = metrics::split_series(&run.metrics);
    let mut doc = json!({
        "run_id": run.run_id,
        "experiment": run.experiment,
        "sweep_id": run.sweep_id,
        "job_key": run.job_key,
        "status": run.status,
        "failure_reason": run.failure_reason,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "params": run.params,
        "metrics": pooled,
        "artifacts": run.artifacts,
        "data_sha256": run.data_hash,
        "aerocast_version": run.aerocast_version,
    });
    if !series.is_empty() {
        doc["series"] = json!(series);
    }
    doc
}

/// The best run by `metric`, for `report --best --json`. Its test-span scores are also under
/// `not_used_for_selection`, so no reader mistakes them for what picked the run.
pub fn best(run: &RunRecord, metric: &str) -> serde_json::Value {
    let (pooled, series) = metrics::split_series(&run.metrics);
    let held_out: serde_json::Map<String, serde_json::Value> = pooled
        .iter()
        .filter(|(k, _)| crate::metrics::is_test_span(k))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut doc = json!({
        "not_used_for_selection": held_out,
        "run_id": run.run_id,
        "experiment": run.experiment,
        "metric": metric,
        "status": run.status,
        "params": run.params,
        "metrics": pooled,
        "beats_naive": beats_naive(run, metric),
        "beats": metrics::BASELINES
            .iter()
            .filter_map(|b| Some((b.to_string(), serde_json::Value::Bool(beats(run, b, metric)?))))
            .collect::<serde_json::Map<_, _>>(),
        "artifacts": run.artifacts,
        "sweep_id": run.sweep_id,
        "data_sha256": run.data_hash,
        "aerocast_version": run.aerocast_version,
        "duration_s": run.duration(),
    });
    if !series.is_empty() {
        doc["series"] = json!(series);
    }
    doc
}

/// One run in full, for `runs show --json`.
pub fn run_detail(store: &crate::store::Store, run_id: &str) -> anyhow::Result<serde_json::Value> {
    let run = store
        .run(run_id)?
        .ok_or_else(|| anyhow::anyhow!("run {run_id} vanished from the store"))?;
    let mut doc = self::run(&run);
    let history: serde_json::Map<String, serde_json::Value> =
        [metrics::TRAIN_LOSS, metrics::VAL_LOSS]
            .iter()
            .map(|k| {
                let points = store.history(run_id, k).unwrap_or_default();
                let pairs: Vec<serde_json::Value> =
                    points.iter().map(|p| json!([p.step, p.value])).collect();
                (k.to_string(), serde_json::Value::Array(pairs))
            })
            .collect();
    doc["history"] = serde_json::Value::Object(history);
    doc["tags"] = json!(store.tags(&[run_id])?.remove(run_id).unwrap_or_default());
    doc["sweep"] = match store.sweep(&run.sweep_id)? {
        Some(s) => json!({
            "sweep_id": s.sweep_id,
            "spec_path": s.spec_path,
            "spec_sha256": s.spec_hash,
            "data_path": s.data_path,
            "data_rows": s.data_rows,
            "started_at": s.started_at,
            "status": s.status,
            "aerocast_version": s.aerocast_version,
        }),
        None => serde_json::Value::Null,
    };
    let registered: Vec<String> = store
        .versions(None)?
        .into_iter()
        .filter(|v| v.run_id == run_id)
        .map(|v| format!("{} v{}", v.name, v.version))
        .collect();
    doc["registered"] = json!(registered);
    Ok(doc)
}
