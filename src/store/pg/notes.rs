//! The PostgreSQL backend's tags and notes, timed histories for mirroring, and clean-up.

use super::Postgres;
use crate::store::RunStatus;
use crate::store::backend::{Gc, Notes, Timeline};
use crate::store::timeline::TimedPoint;
use anyhow::{Result, bail};
use std::collections::{BTreeMap, HashMap};

impl Notes for Postgres {
    fn tags(&self, run_ids: &[&str]) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let ids: Vec<&str> = run_ids.to_vec();
        let mut out: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        for r in self.conn()?.query(
            "SELECT run_id, key, value FROM tags WHERE run_id = ANY($1)",
            &[&ids],
        )? {
            out.entry(r.get(0)).or_default().insert(r.get(1), r.get(2));
        }
        Ok(out)
    }

    fn set_tags(&self, run_id: &str, tags: &[(&str, &str)]) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        if tx
            .query_opt("SELECT 1 FROM runs WHERE run_id = $1", &[&run_id])?
            .is_none()
        {
            bail!("no run {run_id} in the store");
        }
        let upsert = tx.prepare(
            "INSERT INTO tags (run_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        )?;
        for (key, value) in tags {
            tx.execute(&upsert, &[&run_id, key, value])?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Timeline for Postgres {
    fn timed_histories(&self, run_ids: &[&str]) -> Result<HashMap<String, Vec<TimedPoint>>> {
        let ids: Vec<&str> = run_ids.to_vec();
        let mut out: HashMap<String, Vec<TimedPoint>> = HashMap::new();
        for r in self.conn()?.query(
            "SELECT run_id, key, step, value, timestamp FROM metric_history
             WHERE run_id = ANY($1) ORDER BY run_id, key COLLATE \"C\", step",
            &[&ids],
        )? {
            out.entry(r.get(0)).or_default().push(TimedPoint {
                key: r.get(1),
                step: r.get(2),
                value: r.get(3),
                timestamp: r.get(4),
            });
        }
        Ok(out)
    }
}

impl Gc for Postgres {
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let mut deleted = 0;
        for id in run_ids {
            let status = tx.query_opt(
                "SELECT status FROM runs WHERE run_id = $1 FOR UPDATE",
                &[id],
            )?;
            match status {
                None => continue,
                Some(r) if r.get::<_, &str>(0) == RunStatus::Running.as_str() => continue,
                Some(_) => {}
            }
            for table in ["params", "metrics", "metric_history", "tags", "artifacts"] {
                tx.execute(&format!("DELETE FROM {table} WHERE run_id = $1"), &[id])?;
            }
            deleted += tx.execute("DELETE FROM runs WHERE run_id = $1", &[id])? as usize;
        }
        tx.commit()?;
        Ok(deleted)
    }

    fn artifact_bytes(&self, run_ids: &[String]) -> Result<u64> {
        let bytes: i64 = self
            .conn()?
            .query_one(
                "SELECT coalesce(sum(octet_length(content)), 0)::BIGINT FROM artifacts
                 WHERE run_id = ANY($1)",
                &[&run_ids],
            )?
            .get(0);
        Ok(bytes as u64)
    }

    fn vacuum(&self) -> Result<()> {
        // Outside a transaction, as VACUUM requires; the server reuses freed space itself, so
        // a plain VACUUM (not FULL) never locks out the workers.
        self.conn()?.batch_execute("VACUUM")?;
        Ok(())
    }

    fn db_bytes(&self) -> Result<u64> {
        let bytes: i64 = self
            .conn()?
            .query_one("SELECT pg_database_size(current_database())", &[])?
            .get(0);
        Ok(bytes as u64)
    }
}
