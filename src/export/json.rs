//! `leaderboard.json`: the ranked runs for scripts.

use super::{Exporter, Report};
use crate::plot::report_charts::Charts;
use anyhow::Result;
use serde_json::json;

pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "leaderboard.json"
    }

    fn wants_charts(&self) -> bool {
        false
    }

    fn render(&self, r: &Report, _: &Charts) -> Result<Vec<u8>> {
        let runs: Vec<serde_json::Value> = r
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                json!({
                    "rank": i + 1,
                    "best": Some(i) == r.best,
                    "run_id": run.run_id,
                    "status": run.status,
                    "failure_reason": run.failure_reason,
                    "params": run.params,
                    "metric": r.metric_of(run),
                    "naive": r.naive_of(run),
                    "beats_naive": r.beats_naive(run),
                    "metrics": run.metrics,
                    "duration_s": run.duration(),
                    "sweep_id": run.sweep_id,
                })
            })
            .collect();
        let doc = json!({
            "experiment": r.experiment,
            "metric": r.metric,
            "sweep_id": r.sweep.as_ref().map(|s| &s.record.sweep_id),
            "swept": r.swept,
            "aerocast_version": crate::VERSION,
            "runs": runs,
        });
        Ok(serde_json::to_vec_pretty(&doc)?)
    }
}
