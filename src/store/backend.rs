//! The seam between the store's users and its database engines. A backend stores and reads;
//! it decides nothing about who is alive or how often to write: the [`super::Store`] facade
//! passes those decisions in (a liveness judge, a heartbeat time, generated ids).
//!
//! A backend implements three traits: [`Writes`] (claims, metrics, run ends), [`Reads`]
//! (listings, histories, lookups) and [`Backend`] (what it is). A new table family (a model
//! registry, run notes) is best added as its own trait beside these, required by `Backend`.

use super::query::{HistoryPoint, RunFilter, RunRecord, SweepDetail, SweepRecord};
use super::registry::{ModelRef, ModelVersion};
use super::timeline::TimedPoint;
use super::{Claim, RunStatus, SweepInfo};
use crate::jobs::{Job, Params};
use anyhow::Result;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Who runs a run (or a sweep) and when it was last heard from.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Unix seconds of the last heartbeat.
    pub heartbeat: f64,
}

/// Decides whether a recorded owner is still alive; the facade supplies it.
pub type Alive<'a> = &'a dyn Fn(&Owner) -> bool;

/// A run to create if its job is free.
pub struct NewRun<'a> {
    pub run_id: &'a str,
    pub experiment_id: i64,
    pub sweep_id: &'a str,
    pub data_hash: &'a str,
    pub job: &'a Job,
    pub tags: &'a [(&'a str, String)],
    pub owner: &'a Owner,
    /// A job that failed or was killed this many times is given up instead of run.
    pub max_attempts: usize,
}

/// An artifact of a run as its close transaction stores it: its path relative to the store
/// (`artifacts/<run_id>/<file>`, where readers find it written out), kind, sha256 and bytes.
pub struct ArtifactFile<'a> {
    pub path: String,
    pub kind: &'a str,
    pub sha256: String,
    pub content: &'a [u8],
}

/// An artifact as stored. `sha256` and `content` are `None` only in a SQLite row written before
/// contents were kept in the database: its file is in the store's folder.
pub struct StoredArtifact {
    pub path: String,
    pub kind: String,
    pub sha256: Option<String>,
    pub content: Option<Vec<u8>>,
}

pub trait Writes {
    /// Records a new sweep (and its experiment if new); returns the experiment id.
    fn begin_sweep(&self, info: &SweepInfo, sweep_id: &str, owner: &Owner) -> Result<i64>;
    fn end_sweep(&self, sweep_id: &str, status: RunStatus, counts: [usize; 3]) -> Result<()>;
    /// Marks `killed` every running run of the experiment whose owner `alive` rejects, and
    /// every open sweep started on `host` whose process `alive` rejects; returns the runs.
    fn reap(&self, experiment_id: i64, host: &str, alive: Alive) -> Result<usize>;
    /// Atomically: a finished or pruned run of the job → `Finished`; a running one whose owner is alive
    /// → `Busy`; otherwise dead owners' runs are marked `killed` and `run` is inserted.
    fn claim(&self, run: &NewRun, alive: Alive) -> Result<Claim>;
    /// Several epochs' metrics in one transaction; the heartbeat too when given.
    fn log_epochs(
        &self,
        run_id: &str,
        epochs: &[(usize, &[(&str, f64)])],
        heartbeat: Option<f64>,
    ) -> Result<()>;
    /// Refreshes the heartbeat of these running runs.
    fn heartbeat(&self, run_ids: &[String], at: f64) -> Result<()>;
    /// Ends a running run with its last epochs' metrics not yet logged, its final metrics and
    /// files, in one transaction; fails if it is no longer running.
    fn close_run(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
        epochs: &[(usize, &[(&str, f64)])],
        metrics: &[(&str, f64)],
        artifacts: &[ArtifactFile],
    ) -> Result<()>;
}

pub trait Reads {
    /// The experiment of the most recently started sweep.
    fn latest_experiment(&self) -> Result<Option<String>>;
    fn experiments(&self) -> Result<Vec<String>>;
    /// Runs oldest first (start time, then id), with params, metrics and artifact paths.
    fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    fn run(&self, run_id: &str) -> Result<Option<RunRecord>>;
    /// The finished run with the lowest final `metric` (ties by run id), on data snapshot
    /// `data_id` when given.
    fn best_run(
        &self,
        experiment: &str,
        metric: &str,
        data_id: Option<&str>,
    ) -> Result<Option<RunRecord>>;
    fn history(&self, run_id: &str, key: &str) -> Result<Vec<HistoryPoint>>;
    /// The histories of `keys` for every run `filter` selects: run id → key → points.
    fn histories(
        &self,
        filter: &RunFilter,
        keys: &[&str],
    ) -> Result<HashMap<String, HashMap<String, Vec<HistoryPoint>>>>;
    fn sweep(&self, sweep_id: &str) -> Result<Option<SweepRecord>>;
    fn sweep_detail(&self, sweep_id: &str) -> Result<Option<SweepDetail>>;
    fn latest_sweep_id(&self, experiment: &str) -> Result<Option<String>>;
    /// Job keys with a finished or pruned run in `experiment`: what a rerun skips.
    fn finished_keys(&self, experiment: &str) -> Result<HashSet<String>>;
    /// Finished and pruned runs of a study: params and final `metric`.
    fn study_observations(&self, study: &str, metric: &str) -> Result<Vec<(Params, f64)>>;
    /// Per-epoch curves of `key` for the study's finished and pruned runs.
    fn study_curves(&self, study: &str, key: &str) -> Result<HashMap<String, Vec<f64>>>;
    /// One tag's value for every run `filter` selects that has it.
    fn run_tags(&self, filter: &RunFilter, key: &str) -> Result<HashMap<String, String>>;
    fn experiment_tag_values(&self, experiment: &str, key: &str) -> Result<Vec<String>>;
    /// Up to 3 ids of `table` ("runs" or "sweeps") starting with the lowercase hex `prefix`.
    fn ids_with_prefix(&self, table: IdTable, prefix: &str) -> Result<Vec<String>>;
    /// The run's artifacts, with their contents, by path.
    fn stored_artifacts(&self, run_id: &str) -> Result<Vec<StoredArtifact>>;
}

#[derive(Debug, Clone, Copy)]
pub enum IdTable {
    Runs,
    Sweeps,
}

/// A sweep as stored, for copying between stores.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepDump {
    pub sweep_id: String,
    pub experiment: String,
    pub spec_path: String,
    pub spec_text: String,
    pub spec_hash: String,
    pub data_path: String,
    pub data_hash: String,
    pub aerocast_version: String,
    pub host: String,
    pub pid: i64,
    pub started_at: f64,
    pub ended_at: Option<f64>,
    pub status: String,
    pub n_jobs: i64,
    pub n_finished: Option<i64>,
    pub n_failed: Option<i64>,
    pub n_skipped: Option<i64>,
    pub data_id: Option<String>,
    pub data_rows: Option<i64>,
}

/// A run with everything it holds, for copying between stores.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDump {
    pub run_id: String,
    pub experiment: String,
    pub sweep_id: String,
    pub job_key: String,
    pub status: String,
    pub start_time: f64,
    pub end_time: Option<f64>,
    pub heartbeat: f64,
    pub host: String,
    pub pid: i64,
    pub failure_reason: Option<String>,
    pub data_hash: String,
    pub aerocast_version: String,
    /// Key and JSON text.
    pub params: Vec<(String, String)>,
    pub metrics: Vec<(String, Option<f64>)>,
    pub tags: Vec<(String, String)>,
    /// Key, step, value, timestamp.
    pub history: Vec<(String, i64, Option<f64>, f64)>,
    /// Path relative to the store, kind, content.
    pub artifacts: Vec<(String, String, Vec<u8>)>,
}

/// Whole-store copying (`aerocast store copy`): rows as stored, ids kept.
pub trait Copies {
    fn dump_sweeps(&self) -> Result<Vec<SweepDump>>;
    /// Ids of every run that is not running, oldest first.
    fn closed_run_ids(&self) -> Result<Vec<String>>;
    fn dump_run(&self, run_id: &str) -> Result<RunDump>;
    /// Inserts the sweep (and its experiment, by name) unless it is present.
    fn load_sweep(&self, sweep: &SweepDump) -> Result<()>;
    /// Inserts the run with all it holds in one transaction; `false` when the run, or a
    /// finished run of its job, is already present (nothing is written then).
    fn load_run(&self, run: &RunDump) -> Result<bool>;
}

/// Tags and notes set on runs after the fact, and every tag of a set of runs.
pub trait Notes {
    /// The tags of the given runs: run id → key → value.
    fn tags(&self, run_ids: &[&str]) -> Result<HashMap<String, BTreeMap<String, String>>>;
    /// Sets (or replaces) tags of a run; an error if there is no such run.
    fn set_tags(&self, run_id: &str, tags: &[(&str, &str)]) -> Result<()>;
}

/// Data snapshots: the sweeps of an experiment with the data each trained on.
pub trait Snapshots {
    /// Every sweep of `experiment`, oldest first.
    fn sweeps(&self, experiment: &str) -> Result<Vec<SweepRecord>>;
    /// The data snapshot of the experiment's most recent sweep that recorded one.
    fn latest_snapshot(&self, experiment: &str) -> Result<Option<String>>;
}

/// Deleting old runs and reclaiming their space.
pub trait Gc {
    /// Deletes runs and everything recorded under them, in one transaction. Running runs, and
    /// runs a registered model version points to, are never deleted.
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize>;
    /// Bytes the store holds for these runs' artifacts: their contents in the database, and
    /// for SQLite the files of rows written before contents were kept there.
    fn artifact_bytes(&self, run_ids: &[String]) -> Result<u64>;
    /// Returns the database's free space to the file system.
    fn vacuum(&self) -> Result<()>;
    /// Bytes the store's database takes.
    fn db_bytes(&self) -> Result<u64>;
}

/// The model registry: numbered versions of runs per model name, and aliases.
pub trait Registry {
    /// Registers `run_id` as the next version of `name` and points `aliases` at it, in one
    /// transaction; two processes registering at once get distinct versions.
    fn register_version(
        &self,
        name: &str,
        run_id: &str,
        aliases: &[String],
    ) -> Result<ModelVersion>;
    /// Points `alias` of `name` at `version`.
    fn set_alias(&self, name: &str, alias: &str, version: i64) -> Result<()>;
    /// Every version of `name` (or of every model), by name then version.
    fn versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>>;
    /// The version a reference names; an unknown model, alias or version is an input error.
    fn resolve_model(&self, reference: &ModelRef) -> Result<ModelVersion>;
    /// Runs no clean-up may delete: those a registered model version points to.
    fn pinned_runs(&self) -> Result<HashSet<String>>;
}

/// Reads for mirroring runs elsewhere.
pub trait Timeline {
    /// Every history point of each run in `run_ids`, ordered by key then step.
    fn timed_histories(&self, run_ids: &[&str]) -> Result<HashMap<String, Vec<TimedPoint>>>;
}

pub trait Backend:
    Reads + Writes + Copies + Notes + Snapshots + Gc + Registry + Timeline + Send + Sync
{
    /// "sqlite" or "postgresql", for messages.
    fn engine(&self) -> &'static str;
}
