//! The records every backend returns, and the SQLite backend's reads. Listings fetch params,
//! metrics and artifacts with one query each for all selected runs, never one query per run.

use super::RunStatus;
use super::backend::{IdTable, Reads, Snapshots, StoredArtifact};
use super::sqlite::Sqlite;
use crate::jobs::Params;
use crate::spec::knobs::ParamValue;
use anyhow::Result;
use rusqlite::{OptionalExtension, params, params_from_iter, types::Value};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub experiment: String,
    pub sweep_id: String,
    pub job_key: String,
    pub status: RunStatus,
    pub start_time: f64,
    pub end_time: Option<f64>,
    pub failure_reason: Option<String>,
    pub data_hash: String,
    pub aerocast_version: String,
    pub params: Params,
    /// Final values; `None` where a value was not finite.
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Absolute paths.
    pub artifacts: Vec<String>,
}

impl RunRecord {
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).copied().flatten()
    }

    pub fn duration(&self) -> Option<f64> {
        self.end_time.map(|e| e - self.start_time)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepRecord {
    pub sweep_id: String,
    pub experiment: String,
    pub spec_path: String,
    pub spec_hash: String,
    pub data_path: String,
    pub data_hash: String,
    pub aerocast_version: String,
    pub started_at: f64,
    pub ended_at: Option<f64>,
    pub status: String,
    /// The data snapshot; `None` for sweeps recorded before snapshots were.
    pub data_id: Option<String>,
    pub data_rows: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub step: i64,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub experiment: Option<String>,
    pub status: Option<RunStatus>,
    pub sweep_id: Option<String>,
    /// Only runs trained on this data snapshot (`DATA_TAG`).
    pub data_id: Option<String>,
}

const RUN_COLUMNS: &str = "r.run_id, e.name, r.sweep_id, r.job_key, r.status, r.start_time,
    r.end_time, r.failure_reason, r.data_hash, r.aerocast_version";

/// What a run-id prefix names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunIdMatch {
    None,
    One(String),
    Several,
}

const SWEEP_COLUMNS: &str = "s.sweep_id, e.name, s.spec_path, s.spec_hash, s.data_path,
    s.data_hash, s.aerocast_version, s.started_at, s.ended_at, s.status, s.data_id, s.data_rows";
const SWEEP_FROM: &str = "FROM sweeps s JOIN experiments e USING (experiment_id)";

fn sweep_from_row(r: &rusqlite::Row) -> rusqlite::Result<SweepRecord> {
    Ok(SweepRecord {
        sweep_id: r.get(0)?,
        experiment: r.get(1)?,
        spec_path: r.get(2)?,
        spec_hash: r.get(3)?,
        data_path: r.get(4)?,
        data_hash: r.get(5)?,
        aerocast_version: r.get(6)?,
        started_at: r.get(7)?,
        ended_at: r.get(8)?,
        status: r.get(9)?,
        data_id: r.get(10)?,
        data_rows: r.get(11)?,
    })
}

impl Snapshots for Sqlite {
    fn sweeps(&self, experiment: &str) -> Result<Vec<SweepRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SWEEP_COLUMNS} {SWEEP_FROM} WHERE e.name = ?1 ORDER BY s.started_at, s.sweep_id"
        ))?;
        let sweeps = stmt
            .query_map([experiment], sweep_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(sweeps)
    }

    fn latest_snapshot(&self, experiment: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT s.data_id {SWEEP_FROM} WHERE e.name = ?1 AND s.data_id IS NOT NULL
                     ORDER BY s.started_at DESC, s.sweep_id LIMIT 1"
                ),
                [experiment],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// The runs a study learns from: samplers' history and pruners' curves.
const LEARNED_FROM: [RunStatus; 2] = [RunStatus::Finished, RunStatus::Pruned];

/// The tag that names a run's study (see `search::study_id`).
pub const STUDY_TAG: &str = "aerocast.study";
/// The tag holding a run's trial index within its study.
pub const TRIAL_TAG: &str = "aerocast.trial";

fn where_clause(filter: &RunFilter) -> (String, Vec<Value>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(e) = &filter.experiment {
        conds.push("e.name = ?");
        args.push(Value::Text(e.clone()));
    }
    if let Some(s) = &filter.status {
        conds.push("r.status = ?");
        args.push(Value::Text(s.as_str().to_string()));
    }
    if let Some(s) = &filter.sweep_id {
        conds.push("r.sweep_id = ?");
        args.push(Value::Text(s.clone()));
    }
    if let Some(d) = &filter.data_id {
        conds.push("r.run_id IN (SELECT run_id FROM tags WHERE key = ? AND value = ?)");
        args.push(Value::Text(DATA_TAG.to_string()));
        args.push(Value::Text(d.clone()));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, args)
}

fn select_ids(from: &str) -> String {
    format!("SELECT r.run_id AS run_id {from}")
}

fn run_from_row(r: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        run_id: r.get(0)?,
        experiment: r.get(1)?,
        sweep_id: r.get(2)?,
        job_key: r.get(3)?,
        status: r.get(4)?,
        start_time: r.get(5)?,
        end_time: r.get(6)?,
        failure_reason: r.get(7)?,
        data_hash: r.get(8)?,
        aerocast_version: r.get(9)?,
        params: BTreeMap::new(),
        metrics: BTreeMap::new(),
        artifacts: Vec::new(),
    })
}

/// A sweep with what the report header needs beyond [`SweepRecord`]: its spec text and counts.
#[derive(Debug, Clone, Serialize)]
pub struct SweepDetail {
    pub record: SweepRecord,
    pub spec_text: String,
    pub n_jobs: i64,
    pub n_finished: Option<i64>,
    pub n_failed: Option<i64>,
    pub n_skipped: Option<i64>,
}

/// Tags aerocast writes on every run it claims, beside the study and trial.
pub const SETTING_TAG: &str = "aerocast.setting";
/// The id of what the run trains on (data content and how it is read).
pub const DATA_TAG: &str = "aerocast.data";
/// The target column the run forecasts.
pub const TARGET_TAG: &str = "aerocast.target";

impl Reads for Sqlite {
    /// The experiment of the most recently started sweep.
    fn latest_experiment(&self) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT e.name FROM sweeps s JOIN experiments e USING (experiment_id)
                 ORDER BY s.started_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn experiments(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM experiments ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let (clause, args) = where_clause(filter);
        self.runs_where(&clause, args)
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let runs = self.runs_where("WHERE r.run_id = ?", vec![Value::Text(run_id.to_string())])?;
        Ok(runs.into_iter().next())
    }

    fn best_run(
        &self,
        experiment: &str,
        metric: &str,
        data_id: Option<&str>,
    ) -> Result<Option<RunRecord>> {
        let best: Option<String> = self
            .conn()
            .query_row(
                "SELECT r.run_id FROM metrics m
                 JOIN runs r ON r.run_id = m.run_id
                 JOIN experiments e ON e.experiment_id = r.experiment_id
                 WHERE m.key = ?1 AND m.value IS NOT NULL AND e.name = ?2 AND r.status = ?3
                   AND (?4 IS NULL OR r.run_id IN
                        (SELECT run_id FROM tags WHERE key = ?5 AND value = ?4))
                 ORDER BY m.value, r.run_id LIMIT 1",
                params![metric, experiment, RunStatus::Finished, data_id, DATA_TAG],
                |r| r.get(0),
            )
            .optional()?;
        match best {
            Some(id) => self.run(&id),
            None => Ok(None),
        }
    }

    fn history(&self, run_id: &str, key: &str) -> Result<Vec<HistoryPoint>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT step, value FROM metric_history WHERE run_id = ?1 AND key = ?2 ORDER BY step",
        )?;
        let points = stmt
            .query_map([run_id, key], |r| {
                Ok(HistoryPoint {
                    step: r.get(0)?,
                    value: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(points)
    }

    fn sweep(&self, sweep_id: &str) -> Result<Option<SweepRecord>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {SWEEP_COLUMNS} {SWEEP_FROM} WHERE s.sweep_id = ?1"),
                [sweep_id],
                sweep_from_row,
            )
            .optional()?)
    }

    /// Job keys with a finished or pruned run in `experiment`: what a rerun skips.
    fn finished_keys(&self, experiment: &str) -> Result<HashSet<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.job_key FROM runs r JOIN experiments e USING (experiment_id)
             WHERE e.name = ?1 AND r.status IN (?2, ?3)",
        )?;
        let keys = stmt
            .query_map(
                params![experiment, RunStatus::Finished, RunStatus::Pruned],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    /// Finished and pruned runs of a study: params and final `metric`, for adaptive samplers.
    fn study_observations(&self, study: &str, metric: &str) -> Result<Vec<(Params, f64)>> {
        let runs = self.runs_where(
            &format!(
                "WHERE r.status IN ({}) AND r.run_id IN
                (SELECT run_id FROM tags WHERE key = ? AND value = ?)",
                RunStatus::sql_list(&LEARNED_FROM)
            ),
            vec![Value::Text(STUDY_TAG.into()), Value::Text(study.into())],
        )?;
        Ok(runs
            .into_iter()
            .filter_map(|r| Some((r.params.clone(), r.metric(metric)?)))
            .collect())
    }

    /// Per-epoch curves of `key` for the study's finished and pruned runs, for pruners.
    fn study_curves(&self, study: &str, key: &str) -> Result<HashMap<String, Vec<f64>>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT h.run_id, h.value FROM metric_history h
             JOIN tags t ON t.run_id = h.run_id AND t.key = ?1 AND t.value = ?2
             JOIN runs r ON r.run_id = h.run_id
             WHERE h.key = ?3 AND r.status IN ({})
             ORDER BY h.run_id, h.step",
            RunStatus::sql_list(&LEARNED_FROM)
        ))?;
        let mut curves: HashMap<String, Vec<f64>> = HashMap::new();
        let rows = stmt.query_map([STUDY_TAG, study, key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<f64>>(1)?))
        })?;
        for row in rows {
            let (id, value) = row?;
            curves
                .entry(id)
                .or_default()
                .push(value.unwrap_or(f64::NAN));
        }
        Ok(curves)
    }

    /// The most recently started sweep of `experiment`.
    fn latest_sweep_id(&self, experiment: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT s.sweep_id FROM sweeps s JOIN experiments e USING (experiment_id)
                 WHERE e.name = ?1 ORDER BY s.started_at DESC, s.sweep_id LIMIT 1",
                [experiment],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn sweep_detail(&self, sweep_id: &str) -> Result<Option<SweepDetail>> {
        let Some(record) = self.sweep(sweep_id)? else {
            return Ok(None);
        };
        let (spec_text, n_jobs, n_finished, n_failed, n_skipped) = self.conn().query_row(
            "SELECT spec_text, n_jobs, n_finished, n_failed, n_skipped FROM sweeps
             WHERE sweep_id = ?1",
            [sweep_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        Ok(Some(SweepDetail {
            record,
            spec_text,
            n_jobs,
            n_finished,
            n_failed,
            n_skipped,
        }))
    }

    /// The histories of `keys` for every run `filter` selects, in ONE query:
    /// run id → key → points by step.
    fn histories(
        &self,
        filter: &RunFilter,
        keys: &[&str],
    ) -> Result<HashMap<String, HashMap<String, Vec<HistoryPoint>>>> {
        let (clause, mut args) = where_clause(filter);
        let from = format!("FROM runs r JOIN experiments e USING (experiment_id) {clause}");
        let marks = vec!["?"; keys.len()].join(", ");
        let sql = format!(
            "SELECT h.run_id, h.key, h.step, h.value FROM metric_history h
             JOIN ({}) USING (run_id) WHERE h.key IN ({marks}) ORDER BY h.run_id, h.key, h.step",
            select_ids(&from)
        );
        args.extend(keys.iter().map(|k| Value::Text(k.to_string())));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let mut out: HashMap<String, HashMap<String, Vec<HistoryPoint>>> = HashMap::new();
        for row in stmt.query_map(params_from_iter(&args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                HistoryPoint {
                    step: r.get(2)?,
                    value: r.get(3)?,
                },
            ))
        })? {
            let (id, key, point) = row?;
            out.entry(id)
                .or_default()
                .entry(key)
                .or_default()
                .push(point);
        }
        Ok(out)
    }

    /// One tag's value for every run `filter` selects that has it: run id → value.
    fn run_tags(&self, filter: &RunFilter, key: &str) -> Result<HashMap<String, String>> {
        let (clause, mut args) = where_clause(filter);
        let from = format!("FROM runs r JOIN experiments e USING (experiment_id) {clause}");
        let sql = format!(
            "SELECT t.run_id, t.value FROM tags t JOIN ({}) USING (run_id) WHERE t.key = ?",
            select_ids(&from)
        );
        args.push(Value::Text(key.to_string()));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let tags = stmt
            .query_map(params_from_iter(&args), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(tags)
    }

    /// The distinct values of a tag over an experiment's runs.
    fn experiment_tag_values(&self, experiment: &str, key: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT t.value FROM tags t JOIN runs r USING (run_id)
             JOIN experiments e USING (experiment_id)
             WHERE e.name = ?1 AND t.key = ?2 ORDER BY t.value",
        )?;
        let values = stmt
            .query_map([experiment, key], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(values)
    }

    fn ids_with_prefix(&self, table: IdTable, prefix: &str) -> Result<Vec<String>> {
        let (table, column) = match table {
            IdTable::Runs => ("runs", "run_id"),
            IdTable::Sweeps => ("sweeps", "sweep_id"),
        };
        let conn = self.conn();
        let ids = conn
            .prepare(&format!(
                "SELECT {column} FROM {table} WHERE {column} >= ?1 AND {column} < ?1 || '~' LIMIT 3"
            ))?
            .query_map([prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn stored_artifacts(&self, run_id: &str) -> Result<Vec<StoredArtifact>> {
        stored_artifacts(&self.conn(), run_id)
    }
}

impl Sqlite {
    fn runs_where(&self, clause: &str, args: Vec<Value>) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id)
             {clause} ORDER BY r.start_time, r.run_id"
        );
        let mut runs: Vec<RunRecord> = conn
            .prepare(&sql)?
            .query_map(params_from_iter(&args), run_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        let index: HashMap<String, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.run_id.clone(), i))
            .collect();

        let from = format!("FROM runs r JOIN experiments e USING (experiment_id) {clause}");
        let ids = select_ids(&from);
        let mut attach =
            |sql: String,
             apply: &mut dyn FnMut(&mut RunRecord, &rusqlite::Row) -> rusqlite::Result<()>|
             -> Result<()> {
                let mut stmt = conn.prepare(&sql)?;
                let mut rows = stmt.query(params_from_iter(&args))?;
                while let Some(row) = rows.next()? {
                    let id: String = row.get(0)?;
                    if let Some(&i) = index.get(&id) {
                        apply(&mut runs[i], row)?;
                    }
                }
                Ok(())
            };
        attach(
            format!("SELECT p.run_id, p.key, p.value FROM params p JOIN ({ids}) USING (run_id)"),
            &mut |run, row| {
                let text: String = row.get(2)?;
                let value = serde_json::from_str(&text).unwrap_or(ParamValue::Str(text));
                run.params.insert(row.get(1)?, value);
                Ok(())
            },
        )?;
        attach(
            format!("SELECT m.run_id, m.key, m.value FROM metrics m JOIN ({ids}) USING (run_id)"),
            &mut |run, row| {
                run.metrics.insert(row.get(1)?, row.get(2)?);
                Ok(())
            },
        )?;
        let dir = &self.dir;
        attach(
            format!(
                "SELECT a.run_id, a.path FROM artifacts a JOIN ({ids}) USING (run_id) ORDER BY a.path"
            ),
            &mut |run, row| {
                run.artifacts
                    .push(dir.join(row.get::<_, String>(1)?).display().to_string());
                Ok(())
            },
        )?;
        Ok(runs)
    }
}

/// The run's artifacts as stored (see `store::blobs`); shared with `store copy`.
pub(super) fn stored_artifacts(
    conn: &rusqlite::Connection,
    run_id: &str,
) -> Result<Vec<StoredArtifact>> {
    let mut stmt = conn.prepare_cached(super::blobs::STORED_ARTIFACTS)?;
    let rows = stmt.query_map([run_id], |r| {
        Ok(StoredArtifact {
            path: r.get(0)?,
            kind: r.get(1)?,
            sha256: r.get(2)?,
            content: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
