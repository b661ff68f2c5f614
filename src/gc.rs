//! Clean-up that never loses what matters. Nightly sweeps on growing data leave a store full
//! of runs scored on old snapshots; `aerocast gc` deletes them (rows, metric history, artifact
//! folders) and reclaims the space, but never a run of the latest snapshot, a run still
//! running, any run of the sweeps it keeps, the best run of any sweep (so `history` stays
//! whole), or a run a registered model version points to.

use crate::error::InputError;
use crate::metrics;
use crate::store::{DATA_TAG, RunFilter, RunRecord, RunStatus, Store, SweepRecord};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Which sweeps stay whole.
#[derive(Debug, Clone, Copy)]
pub enum Keep {
    /// The N most recent sweeps.
    Sweeps(usize),
    /// Sweeps started after this time (seconds since the epoch).
    Since(f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub experiment: String,
    /// Runs to delete.
    pub runs: Vec<String>,
    /// Bytes the store holds for their artifacts: files in a folder store, contents in a
    /// database store.
    pub artifact_bytes: u64,
    /// Runs kept although their sweep is old: the reason for each kind.
    pub kept_best: usize,
    pub kept_latest_snapshot: usize,
    pub kept_pinned: usize,
    pub kept_running: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub plan: Plan,
    pub dry_run: bool,
    /// Artifact bytes the store no longer holds after the deletion (0 on a dry run).
    pub artifact_bytes_freed: u64,
    /// Bytes of the runs' files removed from this machine's folder (an old store's files,
    /// or artifacts written out of the database); 0 on a dry run.
    pub file_bytes_freed: u64,
    /// Database bytes before and after reclaiming the space.
    pub db_bytes_before: u64,
    pub db_bytes_after: u64,
}

impl Outcome {
    /// Artifact bytes freed, or on a dry run those that would be.
    pub fn artifact_bytes(&self) -> u64 {
        if self.dry_run {
            self.plan.artifact_bytes
        } else {
            self.artifact_bytes_freed
        }
    }

    /// Bytes the file system got back: the files removed and what the database shrank by
    /// (which holds the artifacts' contents); on a dry run, the artifact bytes that would go.
    pub fn bytes_freed(&self) -> u64 {
        if self.dry_run {
            return self.plan.artifact_bytes;
        }
        self.file_bytes_freed + self.db_bytes_before.saturating_sub(self.db_bytes_after)
    }
}

pub fn plan(store: &Store, experiment: &str, keep: Keep) -> Result<Plan> {
    let sweeps = store.sweeps(experiment)?;
    let Some(latest) = sweeps.last() else {
        return Err(
            InputError::usage("gc", format!("experiment \"{experiment}\" has no sweeps")).into(),
        );
    };
    let kept_sweeps = kept_sweeps(&sweeps, keep);
    let filter = RunFilter {
        experiment: Some(experiment.to_string()),
        ..RunFilter::default()
    };
    let runs = store.runs(&filter)?;
    let snapshot_of = store.run_tags(&filter, DATA_TAG)?;
    let best = best_of_each_sweep(&runs);
    let pinned = store.pinned_runs()?;
    let mut plan = Plan {
        experiment: experiment.to_string(),
        runs: Vec::new(),
        artifact_bytes: 0,
        kept_best: 0,
        kept_latest_snapshot: 0,
        kept_pinned: 0,
        kept_running: 0,
    };
    for r in runs
        .iter()
        .filter(|r| !kept_sweeps.contains(r.sweep_id.as_str()))
    {
        let on_latest = latest.data_id.is_none()
            || !snapshot_of.contains_key(&r.run_id)
            || snapshot_of.get(&r.run_id) == latest.data_id.as_ref();
        if r.status == RunStatus::Running {
            plan.kept_running += 1;
        } else if pinned.contains(&r.run_id) {
            plan.kept_pinned += 1;
        } else if on_latest {
            plan.kept_latest_snapshot += 1;
        } else if best.contains(r.run_id.as_str()) {
            plan.kept_best += 1;
        } else {
            plan.runs.push(r.run_id.clone());
        }
    }
    plan.artifact_bytes = store.artifact_bytes(&plan.runs)?;
    Ok(plan)
}

/// Deletes what the plan lists (unless `dry_run`), then reclaims the database's free pages.
pub fn run(store: &Store, plan: Plan, dry_run: bool) -> Result<Outcome> {
    let db_bytes_before = store.db_bytes();
    if dry_run {
        return Ok(Outcome {
            plan,
            dry_run,
            artifact_bytes_freed: 0,
            file_bytes_freed: 0,
            db_bytes_before,
            db_bytes_after: db_bytes_before,
        });
    }
    // Measured around the deletion rather than taken from the plan: the deletion skips a run
    // that is running by then, and only what the store no longer holds counts as freed.
    let artifacts_before = store.artifact_bytes(&plan.runs)?;
    // Rows first: a crash between the two steps leaves orphan folders, never a run whose
    // files are gone.
    store.delete_runs(&plan.runs)?;
    let mut file_bytes_freed = 0;
    for id in &plan.runs {
        let dir = store.artifact_dir(id);
        if dir.exists() {
            file_bytes_freed += folder_bytes(&dir);
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    let artifact_bytes_freed = artifacts_before.saturating_sub(store.artifact_bytes(&plan.runs)?);
    store.vacuum()?;
    Ok(Outcome {
        plan,
        dry_run,
        artifact_bytes_freed,
        file_bytes_freed,
        db_bytes_before,
        db_bytes_after: store.db_bytes(),
    })
}

/// Bytes of the files directly in `dir`.
fn folder_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    })
}

fn kept_sweeps(sweeps: &[SweepRecord], keep: Keep) -> HashSet<&str> {
    let mut kept: HashSet<&str> = match keep {
        Keep::Sweeps(n) => sweeps
            .iter()
            .rev()
            .take(n)
            .map(|s| s.sweep_id.as_str())
            .collect(),
        Keep::Since(t) => sweeps
            .iter()
            .filter(|s| s.started_at >= t)
            .map(|s| s.sweep_id.as_str())
            .collect(),
    };
    if let Some(latest) = sweeps.last() {
        kept.insert(&latest.sweep_id);
    }
    kept
}

/// The best finished run each sweep trained: `history` reads them.
fn best_of_each_sweep(runs: &[RunRecord]) -> HashSet<&str> {
    let mut best: HashMap<&str, (&str, f64)> = HashMap::new();
    for r in runs.iter().filter(|r| r.status == RunStatus::Finished) {
        let Some(v) = metrics::selection_score(|m| r.metric(m)) else {
            continue;
        };
        let entry = best.entry(&r.sweep_id).or_insert((&r.run_id, v));
        if v < entry.1 {
            *entry = (&r.run_id, v);
        }
    }
    best.into_values().map(|(id, _)| id).collect()
}
