//! The run store. Concepts follow MLflow (experiment → runs with params, metrics, tags,
//! artifacts), plus the sweep that produced each run and each job's key, which makes reruns
//! idempotent.
//!
//! [`Store`] is the one interface above the databases: it owns the policies (who is alive, when
//! heartbeats are written, where artifact files live on this machine) and delegates storing
//! to a [`backend::Backend`]: SQLite (a folder) or PostgreSQL (a URL). Reads go straight to
//! the backend through `Deref<Target = dyn Reads>`.

pub mod backend;
pub(crate) mod blobs;
pub(crate) mod budget;
pub mod copy;
mod dump;
mod heart;
mod liveness;
pub mod location;
pub mod pg;
mod query;
pub(crate) mod registry;
pub mod schema;
mod sqlite;
mod status;
pub(crate) mod timeline;
mod write;

pub use backend::{Backend, Reads};
pub use blobs::NewArtifact;
pub use liveness::{DEFAULT_STALE_AFTER, HEARTBEAT_EVERY};
pub use location::Location;
pub use query::{
    DATA_TAG, HistoryPoint, RunFilter, RunIdMatch, RunRecord, SETTING_TAG, STUDY_TAG, SweepDetail,
    SweepRecord, TARGET_TAG, TRIAL_TAG,
};
pub use registry::{ModelRef, ModelVersion, check_alias, check_name};
pub use status::RunStatus;
pub use timeline::TimedPoint;
pub use write::{Claim, SweepInfo};

use crate::error::InputError;
use crate::jobs::Job;
use anyhow::Result;
use backend::{ArtifactFile, IdTable, NewRun, Owner};
use liveness::Liveness;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DB_FILE: &str = "aerocast.db";
pub const ARTIFACTS_DIR: &str = "artifacts";
/// Where reports go by default when the store is a database server: `./aerocast-reports/`.
pub const SERVER_REPORTS_DIR: &str = "aerocast-reports";

pub struct Store {
    location: Location,
    /// This machine's folder for the store's files: the store folder itself (SQLite), or a
    /// local cache of the database's artifacts (PostgreSQL).
    dir: PathBuf,
    backend: Arc<dyn Backend>,
    liveness: Liveness,
    heart: heart::Heart,
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::folder(p)
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::folder(p)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

/// How a store is opened: created when missing, required to exist, or read only.
#[derive(Clone, Copy)]
enum Mode {
    Create,
    Existing,
    ReadOnly,
}

impl Store {
    /// Opens the store, creating it (folder, database schema) if needed.
    pub fn open(at: impl Into<Location>) -> Result<Store> {
        Self::open_as(at.into(), Mode::Create)
    }

    /// Opens an existing store for reading; a missing store is an input error, not a new store.
    pub fn open_existing(at: impl Into<Location>) -> Result<Store> {
        Self::open_as(at.into(), Mode::Existing)
    }

    /// Opens an existing store for reading only (see `Sqlite::open_read_only`); a database
    /// server is opened as for [`Store::open_existing`], its permissions are the server's.
    pub fn open_read_only(at: impl Into<Location>) -> Result<Store> {
        Self::open_as(at.into(), Mode::ReadOnly)
    }

    fn open_as(location: Location, mode: Mode) -> Result<Store> {
        let backend: Arc<dyn Backend> = match (&location, mode) {
            (Location::Folder(dir), Mode::Create) => Arc::new(sqlite::Sqlite::open(dir)?),
            (Location::Folder(dir), Mode::Existing) => {
                Arc::new(sqlite::Sqlite::open_existing(dir)?)
            }
            (Location::Folder(dir), Mode::ReadOnly) => {
                Arc::new(sqlite::Sqlite::open_read_only(dir)?)
            }
            (Location::Postgres(url), Mode::Create) => Arc::new(pg::Postgres::connect(url)?),
            (Location::Postgres(url), Mode::Existing | Mode::ReadOnly) => {
                Arc::new(pg::Postgres::connect_existing(url)?)
            }
        };
        Ok(Self::with_backend(location, backend))
    }

    fn with_backend(location: Location, backend: Arc<dyn Backend>) -> Store {
        let dir = match &location {
            Location::Folder(dir) => dir.clone(),
            Location::Postgres(url) => pg::cache_dir(url),
        };
        Store {
            heart: heart::Heart::new(backend.clone()),
            location,
            dir,
            backend,
            liveness: Liveness::this_process(),
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The backend, for tools that copy or inspect a store as a whole.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// This machine's folder for the store's files (see [`Store`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where reports go by default: `<store>/reports` for a folder store,
    /// `./aerocast-reports` for a database server.
    pub fn reports_dir(&self) -> PathBuf {
        match &self.location {
            Location::Folder(dir) => dir.join("reports"),
            Location::Postgres(_) => PathBuf::from(SERVER_REPORTS_DIR),
        }
    }

    /// Where a run's artifacts are written and read on this machine. Built from the run id the
    /// store generated, never from user text, so nothing is written outside the store.
    pub fn artifact_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join(ARTIFACTS_DIR).join(run_id)
    }

    /// A run's artifact folder with every file present: the contents the database keeps are
    /// written out (checked against their sha256) on first use, into the store folder
    /// (SQLite) or this machine's cache (PostgreSQL).
    pub fn fetch_artifacts(&self, run_id: &str) -> Result<PathBuf> {
        let dir = self.artifact_dir(run_id);
        self.write_artifacts(run_id, &dir)?;
        Ok(dir)
    }

    /// Writes a run's artifacts into `dest` (created if needed) and returns their paths.
    pub fn write_artifacts(&self, run_id: &str, dest: &Path) -> Result<Vec<PathBuf>> {
        let stored = self.backend.stored_artifacts(run_id)?;
        blobs::materialise(&stored, &self.dir, dest, run_id)
    }

    /// The bytes of one artifact of a run by file name (`loss.svg`…), checked against its
    /// sha256; `None` when the run has no such artifact.
    pub fn read_artifact(&self, run_id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let stored = self.backend.stored_artifacts(run_id)?;
        stored
            .iter()
            .find(|a| Path::new(&a.path).file_name() == Some(std::ffi::OsStr::new(name)))
            .map(|a| blobs::bytes_of(a, &self.dir, run_id))
            .transpose()
    }

    /// Records a new sweep (and its experiment if new); returns `(experiment_id, sweep_id)`.
    pub fn begin_sweep(&self, info: &SweepInfo) -> Result<(i64, String)> {
        let sweep_id = uuid::Uuid::new_v4().to_string();
        let experiment_id = self
            .backend
            .begin_sweep(info, &sweep_id, &self.liveness.owner())?;
        Ok((experiment_id, sweep_id))
    }

    pub fn end_sweep(
        &self,
        sweep_id: &str,
        status: RunStatus,
        finished: usize,
        failed: usize,
        skipped: usize,
    ) -> Result<()> {
        self.backend
            .end_sweep(sweep_id, status, [finished, failed, skipped])
    }

    /// Marks every run of the experiment whose owner is gone as `killed`; returns how many.
    pub fn reap_stale(&self, experiment_id: i64) -> Result<usize> {
        let alive = |o: &Owner| self.liveness.alive(o);
        self.backend
            .reap(experiment_id, &self.liveness.host, &alive)
    }

    /// Atomically decides whether this process runs `job`, and if so creates its run row.
    pub fn claim(
        &self,
        experiment_id: i64,
        sweep_id: &str,
        data_hash: &str,
        job: &Job,
        tags: &[(&str, String)],
    ) -> Result<Claim> {
        self.claim_with_budget(experiment_id, sweep_id, data_hash, job, tags, usize::MAX)
    }

    /// [`Store::claim`], giving up a job that failed or was killed `max_attempts` times.
    pub fn claim_with_budget(
        &self,
        experiment_id: i64,
        sweep_id: &str,
        data_hash: &str,
        job: &Job,
        tags: &[(&str, String)],
        max_attempts: usize,
    ) -> Result<Claim> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let owner = self.liveness.owner();
        let alive = |o: &Owner| self.liveness.alive(o);
        let claim = self.backend.claim(
            &NewRun {
                run_id: &run_id,
                experiment_id,
                sweep_id,
                data_hash,
                job,
                tags,
                owner: &owner,
                max_attempts,
            },
            &alive,
        )?;
        if let Claim::Run(id) = &claim {
            self.heart.started(id, owner.heartbeat);
        }
        Ok(claim)
    }

    /// One epoch's metrics in one transaction.
    pub fn log_epoch(&self, run_id: &str, step: usize, metrics: &[(&str, f64)]) -> Result<()> {
        self.log_epochs(run_id, &[(step, metrics)])
    }

    /// Several epochs' metrics in one transaction (a sweep batches them, see `sweep.rs`), plus
    /// the run's heartbeat when one is due.
    pub fn log_epochs(&self, run_id: &str, epochs: &[(usize, &[(&str, f64)])]) -> Result<()> {
        if epochs.is_empty() {
            return Ok(());
        }
        let heartbeat = self.heart.due(run_id);
        self.backend.log_epochs(run_id, epochs, heartbeat)
    }

    /// Records final metrics and artifacts and closes the run.
    pub fn finish_run(
        &self,
        run_id: &str,
        metrics: &[(&str, f64)],
        artifacts: &[NewArtifact],
    ) -> Result<()> {
        self.close(run_id, RunStatus::Finished, None, metrics, artifacts)
    }

    /// Closes a run stopped early by a pruner; its model and metrics at that epoch are kept.
    pub fn prune_run(
        &self,
        run_id: &str,
        reason: &str,
        metrics: &[(&str, f64)],
        artifacts: &[NewArtifact],
    ) -> Result<()> {
        self.close(run_id, RunStatus::Pruned, Some(reason), metrics, artifacts)
    }

    pub fn fail_run(&self, run_id: &str, reason: &str, metrics: &[(&str, f64)]) -> Result<()> {
        self.close(run_id, RunStatus::Failed, Some(reason), metrics, &[])
    }

    /// Closes a run stopped by SIGINT/SIGTERM; a later sweep redoes its job.
    pub fn interrupt_run(&self, run_id: &str, reason: &str, metrics: &[(&str, f64)]) -> Result<()> {
        self.close(run_id, RunStatus::Interrupted, Some(reason), metrics, &[])
    }

    fn close(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
        metrics: &[(&str, f64)],
        artifacts: &[NewArtifact],
    ) -> Result<()> {
        self.end_run(run_id, (status, reason), &[], metrics, artifacts)
    }

    /// Closes a run with `status` (and reason), writing with it the epochs' metrics not yet
    /// logged and its artifacts' contents: a short run's curve, final metrics and files go in
    /// one transaction, and the run writes no file (see [`Store::fetch_artifacts`]).
    pub fn end_run(
        &self,
        run_id: &str,
        (status, reason): (RunStatus, Option<&str>),
        epochs: &[(usize, &[(&str, f64)])],
        metrics: &[(&str, f64)],
        artifacts: &[NewArtifact],
    ) -> Result<()> {
        let files: Vec<ArtifactFile> = artifacts
            .iter()
            .map(|a| ArtifactFile {
                path: format!("{ARTIFACTS_DIR}/{run_id}/{}", a.name),
                kind: a.kind,
                sha256: crate::hash::sha256_hex(&a.content),
                content: &a.content,
            })
            .collect();
        self.heart.ended(run_id);
        self.backend
            .close_run(run_id, status, reason, epochs, metrics, &files)
    }

    /// The full id of the sweep whose id starts with `prefix` (as every output prints the
    /// first 8 characters). Unknown or ambiguous prefixes are input errors.
    pub fn resolve_sweep_id(&self, prefix: &str) -> Result<String> {
        self.resolve_id(IdTable::Sweeps, "--sweep", "sweep", prefix)
    }

    /// The full id of the run whose id starts with `prefix`.
    pub fn resolve_run_id(&self, prefix: &str) -> Result<String> {
        self.resolve_id(IdTable::Runs, "--run", "run", prefix)
    }

    fn resolve_id(&self, table: IdTable, flag: &str, noun: &str, prefix: &str) -> Result<String> {
        // Ids are lowercase hex and dashes: anything else cannot match, and no wildcard of
        // either database's pattern syntax ever reaches a query.
        let clean = prefix.to_ascii_lowercase();
        let matches =
            if clean.is_empty() || !clean.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                Vec::new()
            } else {
                self.backend.ids_with_prefix(table, &clean)?
            };
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(
                InputError::usage(flag, format!("no {noun} with an id starting {prefix:?}")).into(),
            ),
            _ => Err(InputError::usage(
                flag,
                format!("{prefix:?} starts more than one {noun} id: give more characters"),
            )
            .into()),
        }
    }
}

/// The table families beside runs and sweeps, each through its own backend trait.
impl Store {
    /// The tags of the given runs (the spec's `[experiment] tags`, `runs tag` and `runs note`,
    /// and aerocast's own `aerocast.*`), in one query: run id → key → value.
    pub fn tags(&self, run_ids: &[&str]) -> Result<HashMap<String, BTreeMap<String, String>>> {
        self.backend.tags(run_ids)
    }

    /// Sets (or replaces) tags of a run; an error if there is no such run.
    pub fn set_tags(&self, run_id: &str, tags: &[(&str, &str)]) -> Result<()> {
        self.backend.set_tags(run_id, tags)
    }

    /// The one run whose id starts with `prefix` (ids are printed 8 characters long).
    pub fn run_id_by_prefix(&self, prefix: &str) -> Result<RunIdMatch> {
        let clean = prefix.to_ascii_lowercase();
        if clean.is_empty() || !clean.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Ok(RunIdMatch::None);
        }
        let ids = self.backend.ids_with_prefix(IdTable::Runs, &clean)?;
        Ok(match ids.as_slice() {
            [] => RunIdMatch::None,
            [one] => RunIdMatch::One(one.clone()),
            _ => RunIdMatch::Several,
        })
    }

    /// Every sweep of `experiment`, oldest first.
    pub fn sweeps(&self, experiment: &str) -> Result<Vec<SweepRecord>> {
        self.backend.sweeps(experiment)
    }

    /// The data snapshot of the experiment's most recent sweep that recorded one.
    pub fn latest_snapshot(&self, experiment: &str) -> Result<Option<String>> {
        self.backend.latest_snapshot(experiment)
    }

    /// Deletes runs and everything recorded under them, in one transaction. Running runs are
    /// never deleted, even if asked.
    pub fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        self.backend.delete_runs(run_ids)
    }

    /// Bytes the store holds for these runs' artifacts: their contents in the database, and
    /// the files of an old store's runs.
    pub fn artifact_bytes(&self, run_ids: &[String]) -> Result<u64> {
        self.backend.artifact_bytes(run_ids)
    }

    /// Returns the database's free space to the file system.
    pub fn vacuum(&self) -> Result<()> {
        self.backend.vacuum()
    }

    /// Bytes the store's database takes (0 when the server does not say).
    pub fn db_bytes(&self) -> u64 {
        self.backend.db_bytes().unwrap_or(0)
    }

    /// Registers `run_id` as the next version of `name` and points `aliases` at it.
    pub fn register_version(
        &self,
        name: &str,
        run_id: &str,
        aliases: &[String],
    ) -> Result<ModelVersion> {
        // Names are checked here, once, so every backend stores only what is valid.
        check_name(name, "model name").map_err(|m| InputError::usage("model register", m))?;
        for a in aliases {
            check_alias(a).map_err(|m| InputError::usage("--alias", m))?;
        }
        self.backend.register_version(name, run_id, aliases)
    }

    /// Points `alias` of `name` at `version` (moving it if it pointed elsewhere).
    pub fn set_alias(&self, name: &str, alias: &str, version: i64) -> Result<()> {
        check_alias(alias).map_err(|m| InputError::usage("model alias", m))?;
        self.backend.set_alias(name, alias, version)
    }

    /// Every version of `name` (or of every model), by name then version.
    pub fn versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>> {
        self.backend.versions(name)
    }

    /// The version a reference names; an unknown model, alias or version is an input error.
    pub fn resolve_model(&self, reference: &ModelRef) -> Result<ModelVersion> {
        self.backend.resolve_model(reference)
    }

    /// Runs no clean-up may delete: those a registered model version points to.
    pub fn pinned_runs(&self) -> Result<HashSet<String>> {
        self.backend.pinned_runs()
    }

    /// Every history point of each run in `run_ids`, ordered by key then step.
    pub fn timed_histories(&self, run_ids: &[&str]) -> Result<HashMap<String, Vec<TimedPoint>>> {
        self.backend.timed_histories(run_ids)
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Reads;

    fn deref(&self) -> &(dyn Reads + 'static) {
        self.backend.as_ref()
    }
}

/// Why a run was marked `killed`: the same words in every backend.
pub(crate) fn killed_reason(owner: &Owner) -> String {
    format!(
        "process {} on {} stopped without finishing the run",
        owner.pid, owner.host
    )
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
