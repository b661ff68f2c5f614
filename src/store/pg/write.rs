//! The PostgreSQL backend's writes: one short transaction per call, as in SQLite. A claim
//! relies on the partial unique index (one running-or-finished run per job) with
//! `ON CONFLICT DO NOTHING`, so two hosts racing for one job never both win.

use super::Postgres;
use crate::store::backend::{Alive, ArtifactFile, NewRun, Owner, Writes};
use crate::store::budget::{self, Attempt};
use crate::store::{Claim, RunStatus, SweepInfo, killed_reason, now};
use anyhow::{Context, Result, bail};
use postgres::Transaction;

impl Writes for Postgres {
    fn begin_sweep(&self, info: &SweepInfo, sweep_id: &str, owner: &Owner) -> Result<i64> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO experiments (name, created_at) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
            &[&info.experiment, &now()],
        )?;
        let experiment_id: i64 = tx
            .query_one(
                "SELECT experiment_id FROM experiments WHERE name = $1",
                &[&info.experiment],
            )?
            .get(0);
        tx.execute(
            "INSERT INTO sweeps (sweep_id, experiment_id, spec_path, spec_text, spec_hash,
                data_path, data_hash, aerocast_version, host, pid, started_at, status, n_jobs,
                data_id, data_rows)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &[
                &sweep_id,
                &experiment_id,
                &info.spec_path,
                &info.spec_text,
                &info.spec_hash,
                &info.data_path,
                &info.data_hash,
                &crate::VERSION,
                &owner.host,
                &(owner.pid as i64),
                &owner.heartbeat,
                &RunStatus::Running.as_str(),
                &(info.n_jobs as i64),
                &info.data_id,
                &(info.data_rows as i64),
            ],
        )?;
        tx.commit()?;
        Ok(experiment_id)
    }

    fn end_sweep(&self, sweep_id: &str, status: RunStatus, counts: [usize; 3]) -> Result<()> {
        let [finished, failed, skipped] = counts.map(|c| c as i64);
        self.conn()?.execute(
            "UPDATE sweeps SET ended_at = $2, status = $3, n_finished = $4, n_failed = $5,
                n_skipped = $6 WHERE sweep_id = $1",
            &[
                &sweep_id,
                &now(),
                &status.as_str(),
                &finished,
                &failed,
                &skipped,
            ],
        )?;
        Ok(())
    }

    fn reap(&self, experiment_id: i64, host: &str, alive: Alive) -> Result<usize> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let running = tx.query(
            "SELECT run_id, host, pid, heartbeat FROM runs
             WHERE experiment_id = $1 AND status = $2 FOR UPDATE",
            &[&experiment_id, &RunStatus::Running.as_str()],
        )?;
        let mut killed = 0;
        for row in running {
            let (run_id, owner): (String, Owner) = (row.get(0), owner(&row, 1));
            if !alive(&owner) {
                mark_killed(&mut tx, &run_id, &owner)?;
                killed += 1;
            }
        }
        // Sweeps of dead processes on this host were never closed: say so. Other hosts' sweeps
        // have no heartbeat to judge by and are left as they are.
        let open = tx.query(
            "SELECT sweep_id, pid FROM sweeps WHERE experiment_id = $1 AND status = $3
             AND host = $2",
            &[&experiment_id, &host, &RunStatus::Running.as_str()],
        )?;
        for row in open {
            let owner = Owner {
                host: host.to_string(),
                pid: row.get::<_, i64>(1) as u32,
                heartbeat: now(),
            };
            if !alive(&owner) {
                tx.execute(
                    "UPDATE sweeps SET status = $3, ended_at = $2 WHERE sweep_id = $1",
                    &[
                        &row.get::<_, String>(0),
                        &now(),
                        &RunStatus::Killed.as_str(),
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(killed)
    }

    fn claim(&self, run: &NewRun, alive: Alive) -> Result<Claim> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        if let Some(decided) = existing_claim(&mut tx, run, alive)? {
            return Ok(decided);
        }
        if let Some((run_id, reason)) = give_up(&mut tx, run)? {
            tx.commit()?;
            return Ok(Claim::GaveUp { run_id, reason });
        }
        let inserted = tx.execute(
            "INSERT INTO runs (run_id, experiment_id, sweep_id, job_key, status, start_time,
                heartbeat, host, pid, data_hash, aerocast_version)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10)
             ON CONFLICT (experiment_id, job_key) WHERE status IN ('running', 'finished')
             DO NOTHING",
            &[
                &run.run_id,
                &run.experiment_id,
                &run.sweep_id,
                &run.job.key,
                &RunStatus::Running.as_str(),
                &run.owner.heartbeat,
                &run.owner.host,
                &(run.owner.pid as i64),
                &run.data_hash,
                &crate::VERSION,
            ],
        )?;
        if inserted == 0 {
            // Another worker claimed the job after our look: its row is committed now.
            drop(tx);
            let mut tx = conn.transaction()?;
            let decided = existing_claim(&mut tx, run, &|_| true)?;
            tx.commit()?;
            return decided.context("a claim conflicted but no run of the job was found");
        }
        let insert = tx.prepare("INSERT INTO params (run_id, key, value) VALUES ($1, $2, $3)")?;
        for (key, value) in &run.job.params {
            tx.execute(&insert, &[&run.run_id, key, &serde_json::to_string(value)?])?;
        }
        let insert = tx.prepare("INSERT INTO tags (run_id, key, value) VALUES ($1, $2, $3)")?;
        for (key, value) in run.tags {
            tx.execute(&insert, &[&run.run_id, key, value])?;
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
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        insert_epochs(&mut tx, run_id, epochs)?;
        if let Some(at) = heartbeat {
            tx.execute(
                "UPDATE runs SET heartbeat = $2 WHERE run_id = $1",
                &[&run_id, &at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn heartbeat(&self, run_ids: &[String], at: f64) -> Result<()> {
        self.conn()?.execute(
            "UPDATE runs SET heartbeat = $2 WHERE run_id = ANY($1) AND status = $3",
            &[&run_ids, &at, &RunStatus::Running.as_str()],
        )?;
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
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let updated = tx.execute(
            "UPDATE runs SET status = $2, failure_reason = $3, end_time = $4, heartbeat = $4
             WHERE run_id = $1 AND status = $5",
            &[
                &run_id,
                &status.as_str(),
                &reason,
                &now(),
                &RunStatus::Running.as_str(),
            ],
        )?;
        if updated != 1 {
            bail!(
                "run {run_id} is no longer running in the store (marked killed by another process?)"
            );
        }
        insert_epochs(&mut tx, run_id, epochs)?;
        let insert = tx.prepare(
            "INSERT INTO metrics (run_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value",
        )?;
        for (key, value) in metrics {
            tx.execute(&insert, &[&run_id, key, &finite(*value)])?;
        }
        let insert = tx.prepare(crate::store::blobs::INSERT_ARTIFACT)?;
        for a in artifacts {
            tx.execute(&insert, &[&run_id, &a.path, &a.kind, &a.sha256, &a.content])?;
        }
        tx.commit()
            .with_context(|| format!("recording the end of run {run_id}"))?;
        Ok(())
    }
}

/// Per-epoch metrics, all stamped with the time they are written.
fn insert_epochs(
    tx: &mut Transaction,
    run_id: &str,
    epochs: &[(usize, &[(&str, f64)])],
) -> Result<()> {
    if epochs.is_empty() {
        return Ok(());
    }
    let t = now();
    let insert = tx.prepare(
        "INSERT INTO metric_history (run_id, key, step, value, timestamp)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (run_id, key, step) DO UPDATE
         SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp",
    )?;
    for (step, metrics) in epochs {
        for (key, value) in *metrics {
            tx.execute(
                &insert,
                &[&run_id, key, &(*step as i64), &finite(*value), &t],
            )?;
        }
    }
    Ok(())
}

/// The claim decided by the job's existing runs, if any: `Finished`, or `Busy` when a live
/// owner runs it. Dead owners' runs are marked `killed` on the way.
fn existing_claim(tx: &mut Transaction, run: &NewRun, alive: Alive) -> Result<Option<Claim>> {
    let rows = tx.query(
        "SELECT run_id, status, host, pid, heartbeat FROM runs
         WHERE experiment_id = $1 AND job_key = $2 AND status IN ('running', 'finished', 'pruned')
         FOR UPDATE",
        &[&run.experiment_id, &run.job.key],
    )?;
    for row in rows {
        let run_id: String = row.get(0);
        // A pruned run was judged: its job is done, like a finished one.
        if matches!(row.get::<_, &str>(1), "finished" | "pruned") {
            return Ok(Some(Claim::Finished(run_id)));
        }
        let owner = owner(&row, 2);
        if alive(&owner) {
            return Ok(Some(Claim::Busy(run_id)));
        }
        mark_killed(tx, &run_id, &owner)?;
    }
    Ok(None)
}

/// When the job's failed and killed attempts reach the budget: its latest attempt, marked
/// `failed` with the history of every attempt, and the reason (see `store::budget`).
fn give_up(tx: &mut Transaction, run: &NewRun) -> Result<Option<(String, String)>> {
    let attempts: Vec<Attempt> = tx
        .query(
            "SELECT run_id, status, failure_reason FROM runs
             WHERE experiment_id = $1 AND job_key = $2 AND status IN ('failed', 'killed')
             ORDER BY start_time, run_id COLLATE \"C\"",
            &[&run.experiment_id, &run.job.key],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let Some(verdict) = budget::judge(&attempts, run.max_attempts) else {
        return Ok(None);
    };
    if verdict.record {
        tx.execute(
            "UPDATE runs SET status = 'failed', failure_reason = $2 WHERE run_id = $1",
            &[&verdict.run_id, &verdict.reason],
        )?;
    }
    Ok(Some((verdict.run_id, verdict.reason)))
}

fn owner(row: &postgres::Row, first: usize) -> Owner {
    Owner {
        host: row.get(first),
        pid: row.get::<_, i64>(first + 1) as u32,
        heartbeat: row.get(first + 2),
    }
}

fn mark_killed(tx: &mut Transaction, run_id: &str, owner: &Owner) -> Result<()> {
    tx.execute(
        "UPDATE runs SET status = $4, end_time = $2, failure_reason = $3
         WHERE run_id = $1 AND status = $5",
        &[
            &run_id,
            &now(),
            &killed_reason(owner),
            &RunStatus::Killed.as_str(),
            &RunStatus::Running.as_str(),
        ],
    )?;
    Ok(())
}

/// Non-finite values are stored as NULL, as in SQLite.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}
