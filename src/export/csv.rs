//! `leaderboard.csv`: one row per ranked run, swept params and metrics as columns.

use super::{Exporter, Report, metric_columns, param_text};
use crate::plot::report_charts::Charts;
use anyhow::Result;

pub struct Csv;

impl Exporter for Csv {
    fn file_name(&self) -> &'static str {
        "leaderboard.csv"
    }

    fn wants_charts(&self) -> bool {
        false
    }

    fn render(&self, r: &Report, _: &Charts) -> Result<Vec<u8>> {
        let metrics = metric_columns(r);
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut head = vec!["rank".to_string(), "run_id".into(), "status".into()];
        head.extend(r.swept.iter().cloned());
        head.extend(metrics.iter().cloned());
        head.extend(
            ["beats_naive", "best_epoch", "duration_s", "failure_reason"].map(String::from),
        );
        w.write_record(&head)?;
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        for (i, run) in r.runs.iter().enumerate() {
            let mut row = vec![(i + 1).to_string(), run.run_id.clone(), run.status.clone()];
            row.extend(r.swept.iter().map(|k| param_text(run.params.get(k))));
            row.extend(metrics.iter().map(|m| {
                opt(if *m == r.metric {
                    r.metric_of(run)
                } else {
                    run.metric(m)
                })
            }));
            row.push(r.beats_naive(run).map_or(String::new(), |b| b.to_string()));
            row.push(opt(run.metric("best_epoch")));
            row.push(opt(run.duration()));
            row.push(run.failure_reason.clone().unwrap_or_default());
            w.write_record(&row)?;
        }
        Ok(w.into_inner()?)
    }
}
