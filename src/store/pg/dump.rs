//! The PostgreSQL backend's side of `aerocast store copy`: rows out and in as stored.

use super::Postgres;
use crate::store::backend::{Copies, RunDump, SweepDump};
use crate::store::{RunStatus, now};
use anyhow::Result;

impl Copies for Postgres {
    fn dump_sweeps(&self) -> Result<Vec<SweepDump>> {
        let rows = self.conn()?.query(
            "SELECT s.sweep_id, e.name, s.spec_path, s.spec_text, s.spec_hash, s.data_path,
                s.data_hash, s.aerocast_version, s.host, s.pid, s.started_at, s.ended_at,
                s.status, s.n_jobs, s.n_finished, s.n_failed, s.n_skipped, s.data_id, s.data_rows
             FROM sweeps s JOIN experiments e USING (experiment_id) ORDER BY s.started_at",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| SweepDump {
                sweep_id: r.get(0),
                experiment: r.get(1),
                spec_path: r.get(2),
                spec_text: r.get(3),
                spec_hash: r.get(4),
                data_path: r.get(5),
                data_hash: r.get(6),
                aerocast_version: r.get(7),
                host: r.get(8),
                pid: r.get(9),
                started_at: r.get(10),
                ended_at: r.get(11),
                status: r.get(12),
                n_jobs: r.get(13),
                n_finished: r.get(14),
                n_failed: r.get(15),
                n_skipped: r.get(16),
                data_id: r.get(17),
                data_rows: r.get(18),
            })
            .collect())
    }

    fn closed_run_ids(&self) -> Result<Vec<String>> {
        let rows = self.conn()?.query(
            "SELECT run_id FROM runs WHERE status <> $1 ORDER BY start_time, run_id COLLATE \"C\"",
            &[&RunStatus::Running.as_str()],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn dump_run(&self, run_id: &str) -> Result<RunDump> {
        let mut conn = self.conn()?;
        let r = conn.query_one(
            "SELECT r.run_id, e.name, r.sweep_id, r.job_key, r.status, r.start_time, r.end_time,
                r.heartbeat, r.host, r.pid, r.failure_reason, r.data_hash, r.aerocast_version
             FROM runs r JOIN experiments e USING (experiment_id) WHERE r.run_id = $1",
            &[&run_id],
        )?;
        let mut run = RunDump {
            run_id: r.get(0),
            experiment: r.get(1),
            sweep_id: r.get(2),
            job_key: r.get(3),
            status: r.get(4),
            start_time: r.get(5),
            end_time: r.get(6),
            heartbeat: r.get(7),
            host: r.get(8),
            pid: r.get(9),
            failure_reason: r.get(10),
            data_hash: r.get(11),
            aerocast_version: r.get(12),
            params: Vec::new(),
            metrics: Vec::new(),
            tags: Vec::new(),
            history: Vec::new(),
            artifacts: Vec::new(),
        };
        let pairs = |conn: &mut postgres::Client, sql: &str| -> Result<Vec<(String, String)>> {
            Ok(conn
                .query(sql, &[&run_id])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        };
        run.params = pairs(
            &mut conn,
            "SELECT key, value FROM params WHERE run_id = $1 ORDER BY key COLLATE \"C\"",
        )?;
        run.tags = pairs(
            &mut conn,
            "SELECT key, value FROM tags WHERE run_id = $1 ORDER BY key COLLATE \"C\"",
        )?;
        run.metrics = conn
            .query(
                "SELECT key, value FROM metrics WHERE run_id = $1 ORDER BY key COLLATE \"C\"",
                &[&run_id],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        run.history = conn
            .query(
                "SELECT key, step, value, timestamp FROM metric_history WHERE run_id = $1
                 ORDER BY key COLLATE \"C\", step",
                &[&run_id],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        run.artifacts = conn
            .query(crate::store::blobs::STORED_ARTIFACTS, &[&run_id])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(3)))
            .collect();
        Ok(run)
    }

    fn load_sweep(&self, s: &SweepDump) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO experiments (name, created_at) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
            &[&s.experiment, &now()],
        )?;
        tx.execute(
            "INSERT INTO sweeps (sweep_id, experiment_id, spec_path, spec_text, spec_hash,
                data_path, data_hash, aerocast_version, host, pid, started_at, ended_at, status,
                n_jobs, n_finished, n_failed, n_skipped, data_id, data_rows)
             SELECT $1, experiment_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                $15, $16, $17, $18, $19 FROM experiments WHERE name = $2
             ON CONFLICT (sweep_id) DO NOTHING",
            &[
                &s.sweep_id,
                &s.experiment,
                &s.spec_path,
                &s.spec_text,
                &s.spec_hash,
                &s.data_path,
                &s.data_hash,
                &s.aerocast_version,
                &s.host,
                &s.pid,
                &s.started_at,
                &s.ended_at,
                &s.status,
                &s.n_jobs,
                &s.n_finished,
                &s.n_failed,
                &s.n_skipped,
                &s.data_id,
                &s.data_rows,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn load_run(&self, run: &RunDump) -> Result<bool> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // DO NOTHING covers both a present run id and a finished run of the same job.
        let inserted = tx.execute(
            "INSERT INTO runs (run_id, experiment_id, sweep_id, job_key, status, start_time,
                end_time, heartbeat, host, pid, failure_reason, data_hash, aerocast_version)
             SELECT $1, experiment_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13
             FROM experiments WHERE name = $2
             ON CONFLICT DO NOTHING",
            &[
                &run.run_id,
                &run.experiment,
                &run.sweep_id,
                &run.job_key,
                &run.status,
                &run.start_time,
                &run.end_time,
                &run.heartbeat,
                &run.host,
                &run.pid,
                &run.failure_reason,
                &run.data_hash,
                &run.aerocast_version,
            ],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        for (table, rows) in [("params", &run.params), ("tags", &run.tags)] {
            let insert = tx.prepare(&format!(
                "INSERT INTO {table} (run_id, key, value) VALUES ($1, $2, $3)"
            ))?;
            for (k, v) in rows {
                tx.execute(&insert, &[&run.run_id, k, v])?;
            }
        }
        let insert = tx.prepare("INSERT INTO metrics (run_id, key, value) VALUES ($1, $2, $3)")?;
        for (k, v) in &run.metrics {
            tx.execute(&insert, &[&run.run_id, k, v])?;
        }
        let insert = tx.prepare(
            "INSERT INTO metric_history (run_id, key, step, value, timestamp)
             VALUES ($1, $2, $3, $4, $5)",
        )?;
        for (k, step, v, t) in &run.history {
            tx.execute(&insert, &[&run.run_id, k, step, v, t])?;
        }
        let insert = tx.prepare(crate::store::blobs::INSERT_ARTIFACT)?;
        for (path, kind, content) in &run.artifacts {
            let sha = crate::hash::sha256_hex(content);
            tx.execute(&insert, &[&run.run_id, path, kind, &sha, content])?;
        }
        tx.commit()?;
        Ok(true)
    }
}
