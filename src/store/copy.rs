//! `aerocast store copy SRC DST`: every sweep and every closed run of one store into another,
//! whatever their backends. Ids are kept, so a copy is idempotent; each run goes over in one
//! transaction, so a copy stopped half-way resumes where it stopped when run again.

use super::Store;
use anyhow::{Result, bail};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CopySummary {
    pub sweeps: usize,
    /// Runs written to the destination by this copy.
    pub copied: usize,
    /// Runs the destination already had (from an earlier copy, or a finished run of the same
    /// job).
    pub present: usize,
    /// Runs still running in the source: left out, a later copy takes them once closed.
    pub running: usize,
}

pub fn copy(src: &Store, dst: &Store) -> Result<CopySummary> {
    if src.location() == dst.location() {
        bail!(
            "source and destination are the same store ({})",
            src.location()
        );
    }
    let (from, to) = (src.backend(), dst.backend());
    let mut summary = CopySummary::default();
    for sweep in from.dump_sweeps()? {
        to.load_sweep(&sweep)?;
        summary.sweeps += 1;
    }
    let ids = from.closed_run_ids()?;
    for id in &ids {
        if to.load_run(&from.dump_run(id)?)? {
            summary.copied += 1;
        } else {
            summary.present += 1;
        }
    }
    let all = from.runs(&Default::default())?.len();
    summary.running = all - ids.len();
    Ok(summary)
}
