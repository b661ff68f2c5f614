//! The PostgreSQL backend's reads, query for query the SQLite ones: listings fetch params,
//! metrics and artifact paths with one query each for all selected runs.

use super::Postgres;
use crate::jobs::Params;
use crate::spec::knobs::ParamValue;
use crate::store::backend::Snapshots;
use crate::store::backend::{IdTable, Reads, StoredArtifact};
use crate::store::query::{HistoryPoint, RunFilter, RunRecord, SweepDetail, SweepRecord};
use crate::store::{DATA_TAG, RunStatus, STUDY_TAG};
use anyhow::{Context, Result};
use postgres::types::ToSql;
use std::collections::{BTreeMap, HashMap, HashSet};

const RUN_COLUMNS: &str = "r.run_id, e.name, r.sweep_id, r.job_key, r.status, r.start_time,
    r.end_time, r.failure_reason, r.data_hash, r.aerocast_version";

/// The runs a study learns from: samplers' history and pruners' curves.
const LEARNED_FROM: &str = "('finished', 'pruned')";

/// A WHERE clause over `runs r JOIN experiments e` with its text arguments as `$n`.
struct Clause {
    sql: String,
    args: Vec<String>,
}

impl Clause {
    fn new(filter: &RunFilter) -> Clause {
        let mut c = Clause {
            sql: String::new(),
            args: Vec::new(),
        };
        if let Some(e) = &filter.experiment {
            c.and("e.name", e.clone());
        }
        if let Some(s) = filter.status {
            c.and("r.status", s.as_str().to_string());
        }
        if let Some(s) = &filter.sweep_id {
            c.and("r.sweep_id", s.clone());
        }
        if let Some(d) = &filter.data_id {
            c.args.push(DATA_TAG.to_string());
            c.args.push(d.clone());
            let word = if c.sql.is_empty() { "WHERE" } else { "AND" };
            c.sql += &format!(
                " {word} r.run_id IN (SELECT run_id FROM tags WHERE key = ${} AND value = ${})",
                c.args.len() - 1,
                c.args.len()
            );
        }
        c
    }

    fn and(&mut self, column: &str, value: String) {
        self.args.push(value);
        let word = if self.sql.is_empty() { "WHERE" } else { "AND" };
        self.sql += &format!(" {word} {column} = ${}", self.args.len());
    }

    /// The next placeholder, for a caller that appends one more argument.
    fn next(&self) -> String {
        format!("${}", self.args.len() + 1)
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
    }

    fn ids(&self) -> String {
        format!(
            "SELECT r.run_id FROM runs r JOIN experiments e USING (experiment_id){}",
            self.sql
        )
    }
}

impl Reads for Postgres {
    fn latest_experiment(&self) -> Result<Option<String>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT e.name FROM sweeps s JOIN experiments e USING (experiment_id)
                 ORDER BY s.started_at DESC LIMIT 1",
                &[],
            )?
            .map(|r| r.get(0)))
    }

    fn experiments(&self) -> Result<Vec<String>> {
        let rows = self.conn()?.query(
            "SELECT name FROM experiments ORDER BY name COLLATE \"C\"",
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        self.runs_where(Clause::new(filter))
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let mut c = Clause::new(&RunFilter::default());
        c.and("r.run_id", run_id.to_string());
        Ok(self.runs_where(c)?.into_iter().next())
    }

    fn best_run(
        &self,
        experiment: &str,
        metric: &str,
        data_id: Option<&str>,
    ) -> Result<Option<RunRecord>> {
        let best = self.conn()?.query_opt(
            "SELECT r.run_id FROM metrics m
             JOIN runs r ON r.run_id = m.run_id
             JOIN experiments e ON e.experiment_id = r.experiment_id
             WHERE m.key = $1 AND m.value IS NOT NULL AND e.name = $2 AND r.status = $3
               AND ($4::TEXT IS NULL OR r.run_id IN
                    (SELECT run_id FROM tags WHERE key = $5 AND value = $4))
             ORDER BY m.value, r.run_id COLLATE \"C\" LIMIT 1",
            &[
                &metric,
                &experiment,
                &RunStatus::Finished.as_str(),
                &data_id,
                &DATA_TAG,
            ],
        )?;
        match best {
            Some(row) => self.run(row.get(0)),
            None => Ok(None),
        }
    }

    fn history(&self, run_id: &str, key: &str) -> Result<Vec<HistoryPoint>> {
        let rows = self.conn()?.query(
            "SELECT step, value FROM metric_history WHERE run_id = $1 AND key = $2 ORDER BY step",
            &[&run_id, &key],
        )?;
        Ok(rows
            .iter()
            .map(|r| HistoryPoint {
                step: r.get(0),
                value: r.get(1),
            })
            .collect())
    }

    fn histories(
        &self,
        filter: &RunFilter,
        keys: &[&str],
    ) -> Result<HashMap<String, HashMap<String, Vec<HistoryPoint>>>> {
        let c = Clause::new(filter);
        let sql = format!(
            "SELECT h.run_id, h.key, h.step, h.value FROM metric_history h
             JOIN ({}) ids USING (run_id) WHERE h.key = ANY({}) ORDER BY h.run_id, h.key, h.step",
            c.ids(),
            c.next()
        );
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut params = c.params();
        params.push(&keys);
        let mut out: HashMap<String, HashMap<String, Vec<HistoryPoint>>> = HashMap::new();
        for r in self.conn()?.query(&sql, &params)? {
            out.entry(r.get(0))
                .or_default()
                .entry(r.get(1))
                .or_default()
                .push(HistoryPoint {
                    step: r.get(2),
                    value: r.get(3),
                });
        }
        Ok(out)
    }

    fn sweep(&self, sweep_id: &str) -> Result<Option<SweepRecord>> {
        Ok(self
            .conn()?
            .query_opt(
                &format!("SELECT {SWEEP_COLUMNS} {SWEEP_FROM} WHERE s.sweep_id = $1"),
                &[&sweep_id],
            )?
            .map(|r| sweep_from_row(&r)))
    }

    fn sweep_detail(&self, sweep_id: &str) -> Result<Option<SweepDetail>> {
        let Some(record) = self.sweep(sweep_id)? else {
            return Ok(None);
        };
        let r = self.conn()?.query_one(
            "SELECT spec_text, n_jobs, n_finished, n_failed, n_skipped FROM sweeps
             WHERE sweep_id = $1",
            &[&sweep_id],
        )?;
        Ok(Some(SweepDetail {
            record,
            spec_text: r.get(0),
            n_jobs: r.get(1),
            n_finished: r.get(2),
            n_failed: r.get(3),
            n_skipped: r.get(4),
        }))
    }

    fn latest_sweep_id(&self, experiment: &str) -> Result<Option<String>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT s.sweep_id FROM sweeps s JOIN experiments e USING (experiment_id)
                 WHERE e.name = $1 ORDER BY s.started_at DESC, s.sweep_id COLLATE \"C\" LIMIT 1",
                &[&experiment],
            )?
            .map(|r| r.get(0)))
    }

    fn finished_keys(&self, experiment: &str) -> Result<HashSet<String>> {
        let rows = self.conn()?.query(
            "SELECT r.job_key FROM runs r JOIN experiments e USING (experiment_id)
             WHERE e.name = $1 AND r.status IN ('finished', 'pruned')",
            &[&experiment],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn study_observations(&self, study: &str, metric: &str) -> Result<Vec<(Params, f64)>> {
        let runs = self.runs_where(Clause {
            sql: format!(
                " WHERE r.status IN {LEARNED_FROM} AND r.run_id IN
                 (SELECT run_id FROM tags WHERE key = $1 AND value = $2)"
            ),
            args: vec![STUDY_TAG.to_string(), study.to_string()],
        })?;
        Ok(runs
            .into_iter()
            .filter_map(|r| Some((r.params.clone(), r.metric(metric)?)))
            .collect())
    }

    fn study_curves(&self, study: &str, key: &str) -> Result<HashMap<String, Vec<f64>>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT h.run_id, h.value FROM metric_history h
                 JOIN tags t ON t.run_id = h.run_id AND t.key = $1 AND t.value = $2
                 JOIN runs r ON r.run_id = h.run_id
                 WHERE h.key = $3 AND r.status IN {LEARNED_FROM}
                 ORDER BY h.run_id, h.step"
            ),
            &[&STUDY_TAG, &study, &key],
        )?;
        let mut curves: HashMap<String, Vec<f64>> = HashMap::new();
        for r in rows {
            curves
                .entry(r.get(0))
                .or_default()
                .push(r.get::<_, Option<f64>>(1).unwrap_or(f64::NAN));
        }
        Ok(curves)
    }

    fn run_tags(&self, filter: &RunFilter, key: &str) -> Result<HashMap<String, String>> {
        let c = Clause::new(filter);
        let sql = format!(
            "SELECT t.run_id, t.value FROM tags t JOIN ({}) ids USING (run_id) WHERE t.key = {}",
            c.ids(),
            c.next()
        );
        let key = key.to_string();
        let mut params = c.params();
        params.push(&key);
        let rows = self.conn()?.query(&sql, &params)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn experiment_tag_values(&self, experiment: &str, key: &str) -> Result<Vec<String>> {
        let rows = self.conn()?.query(
            "SELECT DISTINCT t.value COLLATE \"C\" FROM tags t JOIN runs r USING (run_id)
             JOIN experiments e USING (experiment_id)
             WHERE e.name = $1 AND t.key = $2 ORDER BY 1",
            &[&experiment, &key],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn ids_with_prefix(&self, table: IdTable, prefix: &str) -> Result<Vec<String>> {
        let (table, column) = match table {
            IdTable::Runs => ("runs", "run_id"),
            IdTable::Sweeps => ("sweeps", "sweep_id"),
        };
        // The prefix is hex and dashes (checked by the caller), so LIKE sees no wildcard.
        let rows = self.conn()?.query(
            &format!("SELECT {column} FROM {table} WHERE {column} LIKE $1 || '%' LIMIT 3"),
            &[&prefix],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn stored_artifacts(&self, run_id: &str) -> Result<Vec<StoredArtifact>> {
        let rows = self
            .conn()?
            .query(crate::store::blobs::STORED_ARTIFACTS, &[&run_id])?;
        Ok(rows
            .iter()
            .map(|r| StoredArtifact {
                path: r.get(0),
                kind: r.get(1),
                sha256: r.get(2),
                content: r.get(3),
            })
            .collect())
    }
}

impl Postgres {
    fn runs_where(&self, c: Clause) -> Result<Vec<RunRecord>> {
        let mut conn = self.conn()?;
        let params = c.params();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id){}
             ORDER BY r.start_time, r.run_id COLLATE \"C\"",
            c.sql
        );
        let mut runs = Vec::new();
        for r in conn.query(&sql, &params)? {
            let status: &str = r.get(4);
            runs.push(RunRecord {
                run_id: r.get(0),
                experiment: r.get(1),
                sweep_id: r.get(2),
                job_key: r.get(3),
                status: RunStatus::parse(status)
                    .with_context(|| format!("unknown run status {status:?} in the store"))?,
                start_time: r.get(5),
                end_time: r.get(6),
                failure_reason: r.get(7),
                data_hash: r.get(8),
                aerocast_version: r.get(9),
                params: BTreeMap::new(),
                metrics: BTreeMap::new(),
                artifacts: Vec::new(),
            });
        }
        let index: HashMap<String, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.run_id.clone(), i))
            .collect();
        let ids = c.ids();
        let rows = conn.query(
            &format!(
                "SELECT p.run_id, p.key, p.value FROM params p JOIN ({ids}) ids USING (run_id)"
            ),
            &params,
        )?;
        for r in rows {
            if let Some(&i) = index.get(r.get::<_, &str>(0)) {
                let text: String = r.get(2);
                let value = serde_json::from_str(&text).unwrap_or(ParamValue::Str(text));
                runs[i].params.insert(r.get(1), value);
            }
        }
        let rows = conn.query(
            &format!(
                "SELECT m.run_id, m.key, m.value FROM metrics m JOIN ({ids}) ids USING (run_id)"
            ),
            &params,
        )?;
        for r in rows {
            if let Some(&i) = index.get(r.get::<_, &str>(0)) {
                runs[i].metrics.insert(r.get(1), r.get(2));
            }
        }
        let rows = conn.query(
            &format!(
                "SELECT a.run_id, a.path FROM artifacts a JOIN ({ids}) ids USING (run_id)
                 ORDER BY a.path COLLATE \"C\""
            ),
            &params,
        )?;
        let dir = super::cache_dir(&self.url);
        for r in rows {
            if let Some(&i) = index.get(r.get::<_, &str>(0)) {
                let path = dir.join(r.get::<_, &str>(1));
                runs[i].artifacts.push(path.display().to_string());
            }
        }
        Ok(runs)
    }
}

const SWEEP_COLUMNS: &str = "s.sweep_id, e.name, s.spec_path, s.spec_hash, s.data_path,
    s.data_hash, s.aerocast_version, s.started_at, s.ended_at, s.status, s.data_id, s.data_rows";
const SWEEP_FROM: &str = "FROM sweeps s JOIN experiments e USING (experiment_id)";

fn sweep_from_row(r: &postgres::Row) -> SweepRecord {
    SweepRecord {
        sweep_id: r.get(0),
        experiment: r.get(1),
        spec_path: r.get(2),
        spec_hash: r.get(3),
        data_path: r.get(4),
        data_hash: r.get(5),
        aerocast_version: r.get(6),
        started_at: r.get(7),
        ended_at: r.get(8),
        status: r.get(9),
        data_id: r.get(10),
        data_rows: r.get(11),
    }
}

impl Snapshots for Postgres {
    fn sweeps(&self, experiment: &str) -> Result<Vec<SweepRecord>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT {SWEEP_COLUMNS} {SWEEP_FROM} WHERE e.name = $1
                 ORDER BY s.started_at, s.sweep_id COLLATE \"C\""
            ),
            &[&experiment],
        )?;
        Ok(rows.iter().map(sweep_from_row).collect())
    }

    fn latest_snapshot(&self, experiment: &str) -> Result<Option<String>> {
        Ok(self
            .conn()?
            .query_opt(
                &format!(
                    "SELECT s.data_id {SWEEP_FROM} WHERE e.name = $1 AND s.data_id IS NOT NULL
                     ORDER BY s.started_at DESC, s.sweep_id COLLATE \"C\" LIMIT 1"
                ),
                &[&experiment],
            )?
            .map(|r| r.get(0)))
    }
}
