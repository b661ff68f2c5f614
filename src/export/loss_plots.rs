//! The loss plots of the runs a report's page shows, written beside the page as
//! `loss/<run_id>.svg` from the store, so each leaderboard row links its run's plot. Only the
//! rows the page shows get one: a sweep of 10,000 runs keeps its plots in the store, and a
//! report writes out 200.

use super::html::TABLE_ROWS;
use super::model::Report;
use crate::artifacts::LOSS_PLOT;
use crate::store::{RunRecord, Store};
use anyhow::{Context, Result};
use std::path::Path;

const DIR: &str = "loss";

/// The page's link to the run's loss plot, when the run has one.
pub fn link(run: &RunRecord) -> Option<String> {
    run.artifacts
        .iter()
        .any(|a| a.ends_with(LOSS_PLOT))
        .then(|| format!("{DIR}/{}.svg", run.run_id))
}

/// Writes the loss plot of every run the page shows into `dir`.
pub fn write(store: &Store, report: &Report, dir: &Path) -> Result<()> {
    for run in report.runs.iter().take(TABLE_ROWS) {
        let Some(link) = link(run) else { continue };
        let Some(svg) = store.read_artifact(&run.run_id, LOSS_PLOT)? else {
            continue;
        };
        let path = dir.join(link);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
