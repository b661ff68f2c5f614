//! Everything a sweep writes. Each call is one short `BEGIN IMMEDIATE` transaction, so writers
//! queue on SQLite's lock (with a busy timeout) instead of failing with "database is locked".

use super::{RunStatus, Store, now};
use crate::jobs::{Job, Params};
use anyhow::{Context, Result, bail};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// A run whose owner has not been heard from for this long is presumed dead, even if a process
/// with its pid exists (the pid may have been reused).
const STALE_AFTER_SECS: f64 = 15.0 * 60.0;
/// How often a running run's heartbeat is refreshed, at most (per epoch otherwise).
const HEARTBEAT_EVERY_SECS: f64 = 10.0;

/// What a sweep records about itself.
pub struct SweepInfo<'a> {
    pub experiment: &'a str,
    pub spec_path: &'a str,
    pub spec_text: &'a str,
    pub spec_hash: &'a str,
    pub data_path: &'a str,
    pub data_hash: &'a str,
    /// The data identity's id (`jobs::DataIdentity::id`): the snapshot the sweep trains on.
    /// `None` for sweeps written without data (benches, tests of the store API).
    pub data_id: Option<&'a str>,
    pub data_rows: usize,
    pub n_jobs: usize,
}

/// The outcome of asking to run a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The job is ours: a new run row was created with this id.
    Run(String),
    /// A finished run already exists for the job.
    Finished(String),
    /// Another live process is running the job right now.
    Busy(String),
    /// The job failed or was killed `max_attempts` times: it is not run again. Its latest
    /// attempt (this run id) is recorded `failed` with the history of the attempts.
    GaveUp { run_id: String, reason: String },
}

impl Store {
    /// Records a new sweep (and its experiment if new); returns `(experiment_id, sweep_id)`.
    pub fn begin_sweep(&self, info: &SweepInfo) -> Result<(i64, String)> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO experiments (name, created_at) VALUES (?1, ?2)",
            params![info.experiment, now()],
        )?;
        let experiment_id: i64 = tx.query_row(
            "SELECT experiment_id FROM experiments WHERE name = ?1",
            [info.experiment],
            |r| r.get(0),
        )?;
        let sweep_id = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO sweeps (sweep_id, experiment_id, spec_path, spec_text, spec_hash,
                data_path, data_hash, aerocast_version, host, pid, started_at, status, n_jobs,
                data_id, data_rows)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?12, ?14, ?15)",
            params![
                sweep_id,
                experiment_id,
                info.spec_path,
                info.spec_text,
                info.spec_hash,
                info.data_path,
                info.data_hash,
                crate::VERSION,
                self.host,
                self.pid,
                now(),
                info.n_jobs as i64,
                RunStatus::Running,
                info.data_id,
                info.data_rows as i64,
            ],
        )?;
        tx.commit()?;
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
        self.conn().execute(
            "UPDATE sweeps SET ended_at = ?2, status = ?3, n_finished = ?4, n_failed = ?5,
                n_skipped = ?6 WHERE sweep_id = ?1",
            params![
                sweep_id,
                now(),
                status,
                finished as i64,
                failed as i64,
                skipped as i64
            ],
        )?;
        Ok(())
    }

    /// Marks every run of the experiment whose owner is gone as `killed`; returns how many.
    pub fn reap_stale(&self, experiment_id: i64) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let running: Vec<(String, String, u32, f64)> = tx
            .prepare(
                "SELECT run_id, host, pid, heartbeat FROM runs
                 WHERE experiment_id = ?1 AND status = ?2",
            )?
            .query_map(params![experiment_id, RunStatus::Running], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut killed = 0;
        for (run_id, host, pid, heartbeat) in running {
            if !self.owner_alive(&host, pid, heartbeat) {
                mark_killed(&tx, &run_id, &host, pid)?;
                killed += 1;
            }
        }
        // Sweeps of dead processes on this host were never closed: say so. Other hosts' sweeps
        // have no heartbeat to judge by and are left as they are.
        let open: Vec<(String, u32)> = tx
            .prepare(
                "SELECT sweep_id, pid FROM sweeps
                 WHERE experiment_id = ?1 AND status = ?3 AND host = ?2",
            )?
            .query_map(params![experiment_id, self.host, RunStatus::Running], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (sweep_id, pid) in open {
            if !process_exists(pid) {
                tx.execute(
                    "UPDATE sweeps SET status = ?3, ended_at = ?2 WHERE sweep_id = ?1",
                    params![sweep_id, now(), RunStatus::Killed],
                )?;
            }
        }
        tx.commit()?;
        Ok(killed)
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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let active: Vec<(String, RunStatus, String, u32, f64)> = tx
            .prepare(
                "SELECT run_id, status, host, pid, heartbeat FROM runs
                 WHERE experiment_id = ?1 AND job_key = ?2 AND status IN (?3, ?4, ?5)",
            )?
            .query_map(
                params![
                    experiment_id,
                    job.key,
                    RunStatus::Running,
                    RunStatus::Finished,
                    RunStatus::Pruned
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        for (run_id, status, host, pid, heartbeat) in active {
            // A pruned run was judged: its job is done, as a finished one's is.
            if matches!(status, RunStatus::Finished | RunStatus::Pruned) {
                return Ok(Claim::Finished(run_id));
            }
            if self.owner_alive(&host, pid, heartbeat) {
                return Ok(Claim::Busy(run_id));
            }
            mark_killed(&tx, &run_id, &host, pid)?;
        }
        if let Some((run_id, reason)) = give_up(&tx, experiment_id, &job.key, max_attempts)? {
            tx.commit()?;
            return Ok(Claim::GaveUp { run_id, reason });
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let t = now();
        tx.execute(
            "INSERT INTO runs (run_id, experiment_id, sweep_id, job_key, status, start_time,
                heartbeat, host, pid, data_hash, aerocast_version)
             VALUES (?1, ?2, ?3, ?4, ?10, ?5, ?5, ?6, ?7, ?8, ?9)",
            params![
                run_id,
                experiment_id,
                sweep_id,
                job.key,
                t,
                self.host,
                self.pid,
                data_hash,
                crate::VERSION,
                RunStatus::Running
            ],
        )?;
        insert_params(&tx, &run_id, &job.params)?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)")?;
            for (key, value) in tags {
                insert.execute(params![run_id, key, value])?;
            }
        }
        tx.commit()?;
        Ok(Claim::Run(run_id))
    }

    /// Sets (or replaces) tags of a run; an error if there is no such run.
    pub fn set_tags(&self, run_id: &str, tags: &[(&str, &str)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)",
            [run_id],
            |r| r.get(0),
        )?;
        if !exists {
            bail!("no run {run_id} in the store");
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in tags {
                insert.execute(params![run_id, key, value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// One epoch's metrics in one transaction, plus the run's heartbeat when it is due.
    pub fn log_epoch(&self, run_id: &str, step: usize, metrics: &[(&str, f64)]) -> Result<()> {
        self.log_epochs(run_id, &[(step, metrics)])
    }

    /// Several epochs' metrics in one transaction (a sweep batches them, see `sweep.rs`),
    /// plus the run's heartbeat when it is due.
    pub fn log_epochs(&self, run_id: &str, epochs: &[(usize, &[(&str, f64)])]) -> Result<()> {
        if epochs.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let t = now();
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO metric_history (run_id, key, step, value, timestamp)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (step, metrics) in epochs {
                for (key, value) in *metrics {
                    insert.execute(params![run_id, key, *step as i64, finite(*value), t])?;
                }
            }
        }
        // Refreshed at most every HEARTBEAT_EVERY_SECS: the run's row page then stays out of
        // most commits, and staleness is judged in minutes anyway.
        tx.execute(
            "UPDATE runs SET heartbeat = ?2 WHERE run_id = ?1 AND heartbeat < ?2 - ?3",
            params![run_id, t, HEARTBEAT_EVERY_SECS],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records final metrics and artifacts (paths relative to the store) and closes the run.
    pub fn finish_run(
        &self,
        run_id: &str,
        metrics: &[(&str, f64)],
        artifacts: &[(String, &str)],
    ) -> Result<()> {
        self.close_run(run_id, RunStatus::Finished, None, metrics, artifacts)
    }

    /// Closes a run stopped early by a pruner; its model and metrics at that epoch are kept.
    pub fn prune_run(
        &self,
        run_id: &str,
        reason: &str,
        metrics: &[(&str, f64)],
        artifacts: &[(String, &str)],
    ) -> Result<()> {
        self.close_run(run_id, RunStatus::Pruned, Some(reason), metrics, artifacts)
    }

    pub fn fail_run(&self, run_id: &str, reason: &str, metrics: &[(&str, f64)]) -> Result<()> {
        self.close_run(run_id, RunStatus::Failed, Some(reason), metrics, &[])
    }

    /// Closes a run stopped by SIGINT/SIGTERM; a later sweep redoes its job.
    pub fn interrupt_run(&self, run_id: &str, reason: &str, metrics: &[(&str, f64)]) -> Result<()> {
        self.close_run(run_id, RunStatus::Interrupted, Some(reason), metrics, &[])
    }

    fn close_run(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
        metrics: &[(&str, f64)],
        artifacts: &[(String, &str)],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let updated = tx.execute(
            "UPDATE runs SET status = ?2, failure_reason = ?3, end_time = ?4, heartbeat = ?4
             WHERE run_id = ?1 AND status = ?5",
            params![run_id, status, reason, now(), RunStatus::Running],
        )?;
        if updated != 1 {
            bail!(
                "run {run_id} is no longer running in the store (marked killed by another process?)"
            );
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO metrics (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in metrics {
                insert.execute(params![run_id, key, finite(*value)])?;
            }
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO artifacts (run_id, path, kind) VALUES (?1, ?2, ?3)",
            )?;
            for (path, kind) in artifacts {
                insert.execute(params![run_id, path, kind])?;
            }
        }
        tx.commit()
            .with_context(|| format!("recording the end of run {run_id}"))?;
        Ok(())
    }

    fn owner_alive(&self, host: &str, pid: u32, heartbeat: f64) -> bool {
        if now() - heartbeat > STALE_AFTER_SECS {
            return false;
        }
        if host != self.host {
            // Another machine: its heartbeat is all we can see.
            return true;
        }
        process_exists(pid)
    }
}

fn mark_killed(tx: &rusqlite::Transaction, run_id: &str, host: &str, pid: u32) -> Result<()> {
    tx.execute(
        "UPDATE runs SET status = ?4, end_time = ?2,
            failure_reason = ?3 WHERE run_id = ?1 AND status = ?5",
        params![
            run_id,
            now(),
            format!("process {pid} on {host} stopped without finishing the run"),
            RunStatus::Killed,
            RunStatus::Running
        ],
    )?;
    Ok(())
}

/// What a job's record says once its attempts are used up.
const GAVE_UP: &str = "gave up after";

/// When the job's failed and killed attempts reach `max_attempts`: its latest attempt, marked
/// `failed` with the history of every attempt (once; later sweeps find it so), and the reason.
fn give_up(
    tx: &rusqlite::Transaction,
    experiment_id: i64,
    job_key: &str,
    max_attempts: usize,
) -> Result<Option<(String, String)>> {
    let attempts: Vec<(String, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT run_id, status, failure_reason FROM runs
             WHERE experiment_id = ?1 AND job_key = ?2 AND status IN ('failed', 'killed')
             ORDER BY start_time, run_id",
        )?
        .query_map(params![experiment_id, job_key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if attempts.len() < max_attempts {
        return Ok(None);
    }
    let (last_id, _, last_reason) = attempts.last().expect("max_attempts is at least 1");
    if let Some(reason) = last_reason.as_deref().filter(|r| r.starts_with(GAVE_UP)) {
        return Ok(Some((last_id.clone(), reason.to_string())));
    }
    let history = attempts
        .iter()
        .enumerate()
        .map(|(i, (_, status, reason))| {
            format!(
                "{}. {status}: {}",
                i + 1,
                reason.as_deref().unwrap_or("no reason")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let n = attempts.len();
    let reason = format!(
        "{GAVE_UP} {n} attempt{} (max_attempts = {max_attempts}); not retried until the spec or the data change — {history}",
        if n == 1 { "" } else { "s" }
    );
    tx.execute(
        "UPDATE runs SET status = 'failed', failure_reason = ?2 WHERE run_id = ?1",
        params![last_id, reason],
    )?;
    Ok(Some((last_id.clone(), reason)))
}

fn insert_params(tx: &rusqlite::Transaction, run_id: &str, params: &Params) -> Result<()> {
    let mut insert =
        tx.prepare_cached("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)")?;
    for (key, value) in params {
        insert.execute(params![run_id, key, serde_json::to_string(value)?])?;
    }
    Ok(())
}

/// SQLite has no NaN: non-finite values are stored as NULL.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> bool {
    // Without /proc, trust the heartbeat alone.
    true
}

impl Store {
    /// Deletes runs and everything recorded under them, in one transaction. Running runs are
    /// never deleted, even if asked.
    pub fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut deleted = 0;
        for id in run_ids {
            let status: Option<RunStatus> = tx
                .query_row("SELECT status FROM runs WHERE run_id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            if status.is_none_or(|s| s == RunStatus::Running) {
                continue;
            }
            for table in ["params", "metrics", "metric_history", "tags", "artifacts"] {
                tx.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), [id])?;
            }
            deleted += tx.execute("DELETE FROM runs WHERE run_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(deleted)
    }

    /// Returns the database's free pages to the file system.
    pub fn vacuum(&self) -> Result<()> {
        let conn = self.conn();
        conn.execute_batch("VACUUM")?;
        // The WAL holds the rewritten pages until a checkpoint folds them back.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Bytes of the database file and its write-ahead log.
    pub fn db_bytes(&self) -> u64 {
        let db = self.dir.join(super::DB_FILE);
        let wal = self.dir.join(format!("{}-wal", super::DB_FILE));
        [db, wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}
