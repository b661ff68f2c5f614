//! What a sweep shows while it works. The orchestrator reports events to a `Progress`; which
//! one it gets (bars on a terminal, plain lines for cron and CI, nothing) is chosen once here.

mod bars;
mod log;
pub mod stdout;

use crate::train::EpochReport;
use std::io::IsTerminal;

/// A run as the progress display names it.
pub struct RunView<'a> {
    pub run_id: &'a str,
    /// The swept params, e.g. `hidden_dim=32 lr=0.003 seed=1`.
    pub label: &'a str,
    pub epochs: usize,
}

pub enum RunEnd<'a> {
    Finished {
        val_rmse: f64,
        naive_val_rmse: f64,
    },
    Failed {
        reason: &'a str,
    },
    /// Stopped early by the pruner.
    Pruned {
        reason: &'a str,
    },
    /// Stopped by SIGINT/SIGTERM; a later sweep redoes it.
    Interrupted {
        reason: &'a str,
    },
    /// Done by an earlier sweep.
    Skipped,
    /// Being trained by another live process.
    Busy,
}

pub trait Progress: Sync {
    fn sweep_started(&self, total: usize, pending: usize);
    fn run_started(&self, run: &RunView);
    fn epoch(&self, run: &RunView, report: &EpochReport);
    fn run_ended(&self, run: &RunView, end: &RunEnd, seconds: f64);
    fn finish(&self);
}

/// Bars on a terminal, one line per event otherwise, nothing when quiet.
pub fn for_terminal(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(bars::Bars::new())
    } else {
        Box::new(log::Lines::new())
    }
}

pub struct Quiet;

impl Progress for Quiet {
    fn sweep_started(&self, _: usize, _: usize) {}
    fn run_started(&self, _: &RunView) {}
    fn epoch(&self, _: &RunView, _: &EpochReport) {}
    fn run_ended(&self, _: &RunView, _: &RunEnd, _: f64) {}
    fn finish(&self) {}
}
