//! The experiment's nights: one row per sweep with its snapshot, counts, best score against
//! the baselines on the same rows, and skill. For cron users this is the trend the leaderboard
//! cannot show: is tonight's model getting better, and by how much over doing nothing clever.

use super::format::{num, short_id, timestamp};
use crate::metrics;
use crate::store::{DATA_TAG, RunFilter, RunRecord, RunStatus, Store, SweepRecord};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct Night {
    pub sweep_id: String,
    pub started_at: f64,
    pub status: String,
    pub data_rows: Option<i64>,
    pub data_sha256: String,
    /// This sweep's own runs by status.
    pub finished: usize,
    pub pruned: usize,
    pub failed: usize,
    /// The best finished run on this sweep's snapshot as of the sweep's end.
    pub best_run: Option<String>,
    pub best_val_rmse: Option<f64>,
    pub naive_val_rmse: Option<f64>,
    pub linear_val_rmse: Option<f64>,
    /// 1 − best / naive: the share of the naive forecast's error the model removes.
    pub skill: Option<f64>,
    /// Registered model versions whose run this sweep trained (`temp v2`): what it promoted.
    pub promoted: Vec<String>,
}

pub fn nights(store: &Store, experiment: &str) -> Result<Vec<Night>> {
    let filter = RunFilter {
        experiment: Some(experiment.to_string()),
        ..RunFilter::default()
    };
    let runs = store.runs(&filter)?;
    let snapshot_of = store.run_tags(&filter, DATA_TAG)?;
    nights_of(store, experiment, &runs, &snapshot_of)
}

/// [`nights`] from the experiment's runs (every snapshot) and each run's snapshot tag,
/// already loaded.
pub fn nights_of(
    store: &Store,
    experiment: &str,
    runs: &[RunRecord],
    snapshot_of: &HashMap<String, String>,
) -> Result<Vec<Night>> {
    let mut registered: HashMap<String, Vec<String>> = HashMap::new();
    for v in store.versions(None)? {
        registered
            .entry(v.sweep_id.clone())
            .or_default()
            .push(format!("{} v{}", v.name, v.version));
    }
    Ok(store
        .sweeps(experiment)?
        .iter()
        .map(|s| {
            let mut n = night(s, runs, snapshot_of);
            n.promoted = registered.remove(&s.sweep_id).unwrap_or_default();
            n
        })
        .collect())
}

fn night(s: &SweepRecord, runs: &[RunRecord], snapshot_of: &HashMap<String, String>) -> Night {
    let own: Vec<&RunRecord> = runs.iter().filter(|r| r.sweep_id == s.sweep_id).collect();
    let count = |st: RunStatus| own.iter().filter(|r| r.status == st).count();
    let end = s.ended_at.unwrap_or(f64::INFINITY);
    // Snapshot-less sweeps (older stores) are judged on their own runs alone.
    let same_data = |r: &&RunRecord| match &s.data_id {
        Some(id) => snapshot_of.get(&r.run_id) == Some(id),
        None => r.sweep_id == s.sweep_id,
    };
    let best = runs
        .iter()
        .filter(same_data)
        .filter(|r| r.status == RunStatus::Finished && r.start_time <= end)
        .filter_map(|r| Some((r, metrics::selection_score(|m| r.metric(m))?)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.run_id.cmp(&b.0.run_id)))
        .map(|(r, _)| r);
    let metric = |key: &str| best.and_then(|r| r.metric(key));
    let (best_val_rmse, naive) = (metric(metrics::VAL_RMSE), metric(metrics::NAIVE_VAL_RMSE));
    Night {
        sweep_id: s.sweep_id.clone(),
        started_at: s.started_at,
        status: s.status.clone(),
        data_rows: s.data_rows,
        data_sha256: s.data_hash.clone(),
        finished: count(RunStatus::Finished),
        pruned: count(RunStatus::Pruned),
        failed: own.iter().filter(|r| r.status.is_failure()).count(),
        best_run: best.map(|r| r.run_id.clone()),
        best_val_rmse,
        naive_val_rmse: naive,
        linear_val_rmse: metric(metrics::LINEAR_VAL_RMSE),
        skill: match (best_val_rmse, naive) {
            (Some(b), Some(n)) if n > 0.0 => Some(1.0 - b / n),
            _ => None,
        },
        promoted: Vec::new(),
    }
}

pub fn head() -> Vec<&'static str> {
    vec![
        "sweep", "started", "rows", "data", "finished", "pruned", "failed", "best", "val_rmse",
        "naive", "linear", "skill", "promoted",
    ]
}

pub fn cells(n: &Night) -> Vec<String> {
    vec![
        short_id(&n.sweep_id).to_string(),
        timestamp(n.started_at),
        n.data_rows.map_or("-".into(), |r| r.to_string()),
        n.data_sha256[..8.min(n.data_sha256.len())].to_string(),
        n.finished.to_string(),
        n.pruned.to_string(),
        n.failed.to_string(),
        n.best_run.as_deref().map_or("-", short_id).to_string(),
        num(n.best_val_rmse),
        num(n.naive_val_rmse),
        num(n.linear_val_rmse),
        n.skill.map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
        if n.promoted.is_empty() {
            "-".to_string()
        } else {
            n.promoted.join(", ")
        },
    ]
}

/// The nights as a fixed-width table.
pub fn text_table(nights: &[Night]) -> String {
    let head: Vec<String> = head().into_iter().map(String::from).collect();
    let rows: Vec<Vec<String>> = nights.iter().map(cells).collect();
    super::terminal::fixed_width(&head, &rows)
}
