//! Exports a selection of runs: resolves each aerocast experiment to an MLflow experiment of
//! the same name (created if missing), finds the runs already there by their
//! `aerocast.run_id` tag in one search, and syncs the rest from a few threads. Runs already
//! complete in MLflow cost no request beyond that search.

use super::api::ExperimentRef;
use super::client::{ApiError, Client};
use super::mapping::{MlflowRun, RUN_ID_TAG, SWEEP_ID_TAG};
use super::plan::plan;
use super::sync::{Outcome, Sent, sync_run};
use super::wire::Run;
use crate::store::{RunRecord, RunStatus, Store};
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Runs synced at once. The server answers each request in a few milliseconds and handles
/// several at a time; four in flight keep it busy without crowding a small server.
const WORKERS: usize = 4;

/// Which MLflow runs the search for existing ones needs to see.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every run of the experiment.
    Experiment,
    /// Runs of one aerocast sweep.
    Sweep(&'a str),
    /// One aerocast run.
    Run(&'a str),
}

impl Scope<'_> {
    fn filter(&self) -> String {
        match self {
            Scope::Experiment => String::new(),
            Scope::Sweep(id) => format!("tags.`{SWEEP_ID_TAG}` = '{}'", quote(id)),
            Scope::Run(id) => format!("tags.`{RUN_ID_TAG}` = '{}'", quote(id)),
        }
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// What an export did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub tracking_uri: String,
    /// aerocast experiment name → MLflow experiment id.
    pub experiments: BTreeMap<String, String>,
    /// Runs created in MLflow.
    pub created: usize,
    /// Runs an interrupted export had left incomplete, now completed.
    pub completed: usize,
    /// Runs already complete in MLflow.
    pub unchanged: usize,
    /// Runs still running in aerocast, left for a later export.
    pub running: usize,
    /// Runs not exported, with the reason.
    pub failed: Vec<FailedRun>,
    /// Runs not attempted because the export stopped (server unreachable, not authorised).
    pub not_attempted: usize,
    /// Extra MLflow runs of one aerocast run, deleted (see `existing_runs`).
    pub duplicates_removed: usize,
    /// Why the export stopped early, if it did.
    pub aborted: Option<String>,
    pub metric_points: usize,
    pub params: usize,
    pub artifacts: usize,
    /// HTTP requests sent to the server.
    pub requests: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedRun {
    pub run_id: String,
    pub error: String,
}

impl ExportReport {
    /// Every selected run that has ended is complete in MLflow.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.not_attempted == 0 && self.aborted.is_none()
    }

    /// Runs this export did not bring to MLflow.
    pub fn unsent(&self) -> usize {
        self.failed.len() + self.not_attempted
    }

    fn add(&mut self, outcome: Outcome, sent: Sent) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Completed => self.completed += 1,
            Outcome::AlreadyThere => self.unchanged += 1,
        }
        self.metric_points += sent.points;
        self.params += sent.params;
        self.artifacts += sent.artifacts;
    }
}

/// MLflow experiments by name, resolved once per process.
#[derive(Default)]
pub struct Experiments {
    known: Mutex<HashMap<String, Arc<ExperimentRef>>>,
}

impl Experiments {
    /// The MLflow experiment named `name`, created if there is none.
    pub fn resolve(&self, client: &Client, name: &str) -> Result<Arc<ExperimentRef>> {
        if let Some(e) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(e.clone());
        }
        let found = match client.experiment_by_name(name)? {
            Some(e) => e,
            None => match client.create_experiment(name) {
                Ok(id) => ExperimentRef { id, deleted: false },
                // Someone else created it meanwhile.
                Err(e) if e.is_already_exists() => match client.experiment_by_name(name)? {
                    Some(e) => e,
                    None => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            },
        };
        if found.deleted {
            bail!(
                "the MLflow experiment \"{name}\" (id {}) is deleted; restore it in MLflow \
                 (`mlflow experiments restore --experiment-id {}`) to export into it",
                found.id,
                found.id
            );
        }
        let found = Arc::new(found);
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), found.clone());
        Ok(found)
    }
}

/// Exports `runs` (of any experiments). Errors that stop everything (the server unreachable
/// before anything was sent, an experiment that cannot be resolved) are `Err`; a run that
/// could not be exported is listed in the report and the others go on.
pub fn export_runs(
    client: &Client,
    experiments: &Experiments,
    store: &Store,
    runs: &[RunRecord],
    scope: Scope,
) -> Result<ExportReport> {
    let started = Instant::now();
    let requests_before = client.requests();
    let mut report = ExportReport {
        tracking_uri: client.uri().to_string(),
        ..Default::default()
    };
    let mut by_experiment: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in runs {
        by_experiment.entry(&r.experiment).or_default().push(r);
    }
    for (name, runs) in by_experiment {
        if report.aborted.is_some() {
            report.not_attempted += runs.len();
            continue;
        }
        let experiment = experiments.resolve(client, name)?;
        report
            .experiments
            .insert(name.to_string(), experiment.id.clone());
        let existing = existing_runs(client, &experiment.id, scope, &mut report)?;
        let mut todo = Vec::new();
        for run in runs {
            match existing.get(run.run_id.as_str()) {
                _ if run.status == RunStatus::Running => report.running += 1,
                Some(found) if found.info.status != "RUNNING" => report.unchanged += 1,
                _ => todo.push(run),
            }
        }
        // A database store's artifact paths point into this machine's cache: fill it first.
        for run in &todo {
            store.fetch_artifacts(&run.run_id)?;
        }
        let planned = plan(store, &todo)?;
        let created_before = report.created;
        sync_all(client, &experiment, &planned, &existing, &mut report);
        // A create sent by an export killed just before this one may have landed only now. Not
        // for one run the live mirror sends as it ends: no export saw it before, as exports
        // leave running runs alone.
        let recheck = !matches!(scope, Scope::Run(_));
        if recheck && report.created > created_before && report.aborted.is_none() {
            existing_runs(client, &experiment.id, scope, &mut report)?;
        }
    }
    report.requests = client.requests() - requests_before;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The experiment's MLflow runs in `scope`, by aerocast run id. A create is never retried,
/// but one sent by an export killed mid-request can still land after the next export searched,
/// so an aerocast run may have two MLflow runs: the complete one (else the first by id) is kept
/// and the others are deleted.
fn existing_runs(
    client: &Client,
    experiment_id: &str,
    scope: Scope,
    report: &mut ExportReport,
) -> Result<HashMap<String, Run>> {
    let mut by_id: HashMap<String, Run> = HashMap::new();
    let mut extra = Vec::new();
    for run in client.search_runs(experiment_id, &scope.filter())? {
        let Some(id) = run.tag(RUN_ID_TAG).map(str::to_string) else {
            continue;
        };
        match by_id.remove(&id) {
            None => {
                by_id.insert(id, run);
            }
            Some(old) => {
                let (keep, drop) = if preferred(&run, &old) {
                    (run, old)
                } else {
                    (old, run)
                };
                by_id.insert(id, keep);
                extra.push(drop);
            }
        }
    }
    for run in extra {
        client.delete_run(&run.info.run_id)?;
        report.duplicates_removed += 1;
    }
    Ok(by_id)
}

/// Whether `a` is the MLflow run to keep rather than `b`: complete first, then the lower id.
fn preferred(a: &Run, b: &Run) -> bool {
    let complete = |r: &Run| r.info.status != "RUNNING";
    (complete(a), std::cmp::Reverse(&a.info.run_id))
        > (complete(b), std::cmp::Reverse(&b.info.run_id))
}

type SyncResult = Result<(Outcome, Sent)>;

/// Syncs `planned` from [`WORKERS`] threads. After an error no request can survive (server
/// gone, credentials refused), the remaining runs are not attempted.
fn sync_all(
    client: &Client,
    experiment: &ExperimentRef,
    planned: &[MlflowRun],
    existing: &HashMap<String, Run>,
    report: &mut ExportReport,
) {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, SyncResult)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(planned.len()) {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = planned.get(i) else { break };
                    let result = sync_run(client, experiment, run, existing.get(&run.aerocast_id));
                    if let Err(e) = &result
                        && e.downcast_ref::<ApiError>().is_some_and(ApiError::is_fatal)
                    {
                        stop.store(true, Ordering::Relaxed);
                    }
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    report.not_attempted += planned.len() - results.len();
    for (i, result) in results {
        match result {
            Ok((outcome, sent)) => report.add(outcome, sent),
            Err(e) => {
                if e.downcast_ref::<ApiError>().is_some_and(ApiError::is_fatal) {
                    report.aborted.get_or_insert_with(|| format!("{e:#}"));
                }
                report.failed.push(FailedRun {
                    run_id: planned[i].aerocast_id.clone(),
                    error: format!("{e:#}"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: &str) -> Run {
        serde_json::from_value(serde_json::json!({
            "info": {"run_id": id, "status": status},
            "data": {"tags": [{"key": RUN_ID_TAG, "value": "a1"}]}
        }))
        .unwrap()
    }

    #[test]
    fn of_two_mlflow_runs_the_complete_one_is_kept_else_the_lower_id() {
        assert!(preferred(&run("b", "FINISHED"), &run("a", "RUNNING")));
        assert!(!preferred(&run("a", "RUNNING"), &run("b", "FAILED")));
        assert!(preferred(&run("a", "RUNNING"), &run("b", "RUNNING")));
        assert!(preferred(&run("a", "KILLED"), &run("b", "FINISHED")));
    }

    #[test]
    fn search_filters_quote_ids() {
        assert_eq!(
            Scope::Run("it's").filter(),
            "tags.`aerocast.run_id` = 'it\\'s'"
        );
        assert_eq!(Scope::Experiment.filter(), "");
    }
}
