//! Plain progress lines on stderr, one per event, for logs that no one watches live.

use super::{Progress, RunEnd, RunView};
use crate::train::EpochReport;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Lines {
    total: AtomicUsize,
    done: AtomicUsize,
}

impl Lines {
    pub fn new() -> Self {
        Lines {
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }
}

impl Progress for Lines {
    fn sweep_started(&self, total: usize, pending: usize) {
        self.total.store(pending, Ordering::Relaxed);
        crate::errln!(
            "sweep: {total} job{}, {pending} to run, {} already finished",
            if total == 1 { "" } else { "s" },
            total - pending
        );
    }

    fn run_started(&self, run: &RunView) {
        crate::errln!("start    {} {}", short(run.run_id), run.label);
    }

    fn epoch(&self, _: &RunView, _: &EpochReport) {}

    fn run_ended(&self, run: &RunView, end: &RunEnd, seconds: f64) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.total.load(Ordering::Relaxed);
        let what = match end {
            RunEnd::Finished {
                val_rmse,
                naive_val_rmse,
            } => format!("finished val_rmse={val_rmse:.4} (naive {naive_val_rmse:.4})"),
            RunEnd::Failed { reason } => format!("FAILED   {reason}"),
            RunEnd::Pruned { reason } => format!("pruned   {reason}"),
            RunEnd::Interrupted { reason } => format!("stopped  {reason}"),
            RunEnd::Skipped => "skipped  (already finished)".to_string(),
            RunEnd::Busy => "skipped  (running in another process)".to_string(),
        };
        crate::errln!(
            "[{n}/{total}] {} {} {what} in {seconds:.1}s",
            short(run.run_id),
            run.label
        );
    }

    fn finish(&self) {}
}

fn short(run_id: &str) -> &str {
    &run_id[..run_id.len().min(8)]
}
