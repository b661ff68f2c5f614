//! The SQLite backend's writes. Each call is one short `BEGIN IMMEDIATE` transaction, so
//! writers queue on SQLite's lock (with a busy timeout) instead of failing with "database is
//! locked". Who is alive and when to write are decided by the caller (see `backend.rs`).

use super::backend::{Alive, ArtifactFile, Gc, NewRun, Notes, Owner, Writes};
use super::budget::{self, Attempt};
use super::sqlite::Sqlite;
use super::{RunStatus, now};
use crate::jobs::Params;
use anyhow::{Context, Result, bail};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, HashMap};

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

impl Writes for Sqlite {
    fn begin_sweep(&self, info: &SweepInfo, sweep_id: &str, owner: &Owner) -> Result<i64> {
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
                owner.host,
                owner.pid,
                owner.heartbeat,
                info.n_jobs as i64,
                RunStatus::Running,
                info.data_id,
                info.data_rows as i64,
            ],
        )?;
        tx.commit()?;
        Ok(experiment_id)
    }

    fn end_sweep(&self, sweep_id: &str, status: RunStatus, counts: [usize; 3]) -> Result<()> {
        let [finished, failed, skipped] = counts.map(|c| c as i64);
        self.conn().execute(
            "UPDATE sweeps SET ended_at = ?2, status = ?3, n_finished = ?4, n_failed = ?5,
                n_skipped = ?6 WHERE sweep_id = ?1",
            params![sweep_id, now(), status, finished, failed, skipped],
        )?;
        Ok(())
    }

    fn reap(&self, experiment_id: i64, host: &str, alive: Alive) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let running: Vec<(String, Owner)> = tx
            .prepare(
                "SELECT run_id, host, pid, heartbeat FROM runs
                 WHERE experiment_id = ?1 AND status = ?2",
            )?
            .query_map(params![experiment_id, RunStatus::Running], owner_row)?
            .collect::<rusqlite::Result<_>>()?;
        let mut killed = 0;
        for (run_id, owner) in running {
            if !alive(&owner) {
                mark_killed(&tx, &run_id, &owner)?;
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
            .query_map(params![experiment_id, host, RunStatus::Running], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (sweep_id, pid) in open {
            let owner = Owner {
                host: host.to_string(),
                pid,
                heartbeat: now(),
            };
            if !alive(&owner) {
                tx.execute(
                    "UPDATE sweeps SET status = ?3, ended_at = ?2 WHERE sweep_id = ?1",
                    params![sweep_id, now(), RunStatus::Killed],
                )?;
            }
        }
        tx.commit()?;
        Ok(killed)
    }

    fn claim(&self, run: &NewRun, alive: Alive) -> Result<Claim> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Cached statements: a sweep of many short runs claims thousands of times, and
        // preparing each statement anew was a fifth of a claim's time.
        let active: Vec<(String, RunStatus, Owner)> = tx
            .prepare_cached(
                "SELECT run_id, status, host, pid, heartbeat FROM runs
                 WHERE experiment_id = ?1 AND job_key = ?2 AND status IN (?3, ?4, ?5)",
            )?
            .query_map(
                params![
                    run.experiment_id,
                    run.job.key,
                    RunStatus::Running,
                    RunStatus::Finished,
                    RunStatus::Pruned
                ],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        Owner {
                            host: r.get(2)?,
                            pid: r.get(3)?,
                            heartbeat: r.get(4)?,
                        },
                    ))
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
        for (run_id, status, owner) in active {
            // A pruned run was judged: its job is done, like a finished one.
            if status == RunStatus::Finished || status == RunStatus::Pruned {
                return Ok(Claim::Finished(run_id));
            }
            if alive(&owner) {
                return Ok(Claim::Busy(run_id));
            }
            mark_killed(&tx, &run_id, &owner)?;
        }
        if let Some((run_id, reason)) = give_up(&tx, run)? {
            tx.commit()?;
            return Ok(Claim::GaveUp { run_id, reason });
        }
        tx.prepare_cached(
            "INSERT INTO runs (run_id, experiment_id, sweep_id, job_key, status, start_time,
                heartbeat, host, pid, data_hash, aerocast_version)
             VALUES (?1, ?2, ?3, ?4, ?10, ?5, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            run.run_id,
            run.experiment_id,
            run.sweep_id,
            run.job.key,
            run.owner.heartbeat,
            run.owner.host,
            run.owner.pid,
            run.data_hash,
            crate::VERSION,
            RunStatus::Running
        ])?;
        insert_params(&tx, run.run_id, &run.job.params)?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)")?;
            for (key, value) in run.tags {
                insert.execute(params![run.run_id, key, value])?;
            }
        }
        tx.commit()?;
        Ok(Claim::Run(run.run_id.to_string()))
    }

    fn log_epochs(
        &self,
        run_id: &str,
        epochs: &[(usize, &[(&str, f64)])],
        heartbeat: Option<f64>,
    ) -> Result<()> {
        if epochs.is_empty() && heartbeat.is_none() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_epochs(&tx, run_id, epochs)?;
        if let Some(at) = heartbeat {
            tx.execute(
                "UPDATE runs SET heartbeat = ?2 WHERE run_id = ?1",
                params![run_id, at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn heartbeat(&self, run_ids: &[String], at: f64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE runs SET heartbeat = ?2 WHERE run_id = ?1 AND status = ?3",
            )?;
            for id in run_ids {
                update.execute(params![id, at, RunStatus::Running])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn close_run(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
        epochs: &[(usize, &[(&str, f64)])],
        metrics: &[(&str, f64)],
        artifacts: &[ArtifactFile],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let updated = tx
            .prepare_cached(
                "UPDATE runs SET status = ?2, failure_reason = ?3, end_time = ?4, heartbeat = ?4
                 WHERE run_id = ?1 AND status = ?5",
            )?
            .execute(params![run_id, status, reason, now(), RunStatus::Running])?;
        if updated != 1 {
            bail!(
                "run {run_id} is no longer running in the store (marked killed by another process?)"
            );
        }
        insert_epochs(&tx, run_id, epochs)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO metrics (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in metrics {
                insert.execute(params![run_id, key, finite(*value)])?;
            }
            let mut insert = tx.prepare_cached(super::blobs::INSERT_ARTIFACT)?;
            for a in artifacts {
                insert.execute(params![run_id, a.path, a.kind, a.sha256, a.content])?;
            }
        }
        tx.commit()
            .with_context(|| format!("recording the end of run {run_id}"))?;
        Ok(())
    }
}

fn owner_row(r: &rusqlite::Row) -> rusqlite::Result<(String, Owner)> {
    Ok((
        r.get(0)?,
        Owner {
            host: r.get(1)?,
            pid: r.get(2)?,
            heartbeat: r.get(3)?,
        },
    ))
}

fn mark_killed(tx: &rusqlite::Transaction, run_id: &str, owner: &Owner) -> Result<()> {
    tx.execute(
        "UPDATE runs SET status = ?4, end_time = ?2,
            failure_reason = ?3 WHERE run_id = ?1 AND status = ?5",
        params![
            run_id,
            now(),
            super::killed_reason(owner),
            RunStatus::Killed,
            RunStatus::Running
        ],
    )?;
    Ok(())
}

/// When the job's failed and killed attempts reach the budget: its latest attempt, marked
/// `failed` with the history of every attempt (once; later sweeps find it so), and the reason.
fn give_up(tx: &rusqlite::Transaction, run: &NewRun) -> Result<Option<(String, String)>> {
    let attempts: Vec<Attempt> = tx
        .prepare_cached(
            "SELECT run_id, status, failure_reason FROM runs
             WHERE experiment_id = ?1 AND job_key = ?2 AND status IN ('failed', 'killed')
             ORDER BY start_time, run_id",
        )?
        .query_map(params![run.experiment_id, run.job.key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let Some(verdict) = budget::judge(&attempts, run.max_attempts) else {
        return Ok(None);
    };
    if verdict.record {
        tx.execute(
            "UPDATE runs SET status = 'failed', failure_reason = ?2 WHERE run_id = ?1",
            params![verdict.run_id, verdict.reason],
        )?;
    }
    Ok(Some((verdict.run_id, verdict.reason)))
}

/// Per-epoch metrics, all stamped with the time they are written.
fn insert_epochs(
    tx: &rusqlite::Transaction,
    run_id: &str,
    epochs: &[(usize, &[(&str, f64)])],
) -> Result<()> {
    let t = now();
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO metric_history (run_id, key, step, value, timestamp)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (step, metrics) in epochs {
        for (key, value) in *metrics {
            insert.execute(params![run_id, key, *step as i64, finite(*value), t])?;
        }
    }
    Ok(())
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

impl Notes for Sqlite {
    fn tags(&self, run_ids: &[&str]) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let mut out: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        let conn = self.conn();
        // Chunks stay under SQLite's limit on bound parameters.
        for chunk in run_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut stmt = conn.prepare(&format!(
                "SELECT run_id, key, value FROM tags WHERE run_id IN ({marks})"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
            })?;
            for row in rows {
                let (id, key, value) = row?;
                out.entry(id).or_default().insert(key, value);
            }
        }
        Ok(out)
    }

    fn set_tags(&self, run_id: &str, tags: &[(&str, &str)]) -> Result<()> {
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
}

impl Gc for Sqlite {
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
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

    fn artifact_bytes(&self, run_ids: &[String]) -> Result<u64> {
        // Contents kept in the database, and the files of rows from before they were.
        let conn = self.conn();
        let mut bytes = 0u64;
        for chunk in run_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut stmt = conn.prepare(&format!(
                "SELECT path, length(content) FROM artifacts WHERE run_id IN ({marks})"
            ))?;
            let mut rows = stmt.query(rusqlite::params_from_iter(chunk.iter()))?;
            while let Some(row) = rows.next()? {
                bytes += match row.get::<_, Option<i64>>(1)? {
                    Some(n) => n as u64,
                    None => std::fs::metadata(self.dir.join(row.get::<_, String>(0)?))
                        .map_or(0, |m| m.len()),
                };
            }
        }
        Ok(bytes)
    }

    fn vacuum(&self) -> Result<()> {
        let conn = self.conn();
        conn.execute_batch("VACUUM")?;
        // The WAL holds the rewritten pages until a checkpoint folds them back.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn db_bytes(&self) -> Result<u64> {
        let db = self.dir.join(super::DB_FILE);
        let wal = self.dir.join(format!("{}-wal", super::DB_FILE));
        Ok([db, wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum())
    }
}
