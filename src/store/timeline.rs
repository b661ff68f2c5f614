//! Reads for mirroring runs elsewhere: every per-epoch point with its timestamp, and every tag,
//! for a given set of runs. One query per chunk of runs, never one per run.

use super::backend::Timeline;
use super::sqlite::Sqlite;
use anyhow::Result;
use rusqlite::params_from_iter;
use std::collections::HashMap;

/// One per-epoch metric value as recorded, with the time it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedPoint {
    pub key: String,
    pub step: i64,
    /// `None` where the value was not finite.
    pub value: Option<f64>,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// SQLite limits the number of bound variables per statement; stay well below it.
const CHUNK: usize = 500;

impl Timeline for Sqlite {
    /// Every history point of each run in `run_ids`, ordered by key then step.
    fn timed_histories(&self, run_ids: &[&str]) -> Result<HashMap<String, Vec<TimedPoint>>> {
        let conn = self.conn();
        let mut out: HashMap<String, Vec<TimedPoint>> = HashMap::new();
        for chunk in run_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT run_id, key, step, value, timestamp FROM metric_history
                 WHERE run_id IN ({}) ORDER BY run_id, key, step",
                marks(chunk.len())
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(chunk), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    TimedPoint {
                        key: r.get(1)?,
                        step: r.get(2)?,
                        value: r.get(3)?,
                        timestamp: r.get(4)?,
                    },
                ))
            })?;
            for row in rows {
                let (id, point) = row?;
                out.entry(id).or_default().push(point);
            }
        }
        Ok(out)
    }
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}
