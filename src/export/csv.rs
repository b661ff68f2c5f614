//! `leaderboard.csv`: the leaderboard's cells at full precision, one row per ranked run.

use super::Exporter;
use super::charts::Charts;
use super::model::Report;
use super::table::{Cell, columns, rows};
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
        leaderboard(r)
    }
}

/// The leaderboard's rows as CSV bytes (also what `runs --format csv` prints).
pub fn leaderboard(r: &Report) -> Result<Vec<u8>> {
    {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut head: Vec<String> = columns(r).into_iter().map(|c| c.field).collect();
        head.push("failure_reason".into());
        w.write_record(&head)?;
        for (run, row) in r.runs.iter().zip(rows(r, r.runs.len())) {
            let mut cells: Vec<String> = row.iter().map(Cell::raw).collect();
            cells.push(run.failure_reason.clone().unwrap_or_default());
            w.write_record(&cells)?;
        }
        Ok(w.into_inner()?)
    }
}
