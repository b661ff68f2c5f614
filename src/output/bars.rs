//! indicatif bars: one overall bar with ETA, and a line per in-flight run with its epoch and
//! losses.

use super::{Progress, RunEnd, RunView};
use crate::train::EpochReport;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    runs: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>5} [{bar:30.cyan/blue}] {pos}/{len} runs  {elapsed_precise} elapsed, ETA {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_prefix("sweep");
        Bars {
            multi,
            overall,
            runs: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Bars {
    fn sweep_started(&self, total: usize, pending: usize) {
        self.overall.set_length(pending as u64);
        if total > pending {
            self.overall
                .set_message(format!("({} already finished)", total - pending));
        }
    }

    fn run_started(&self, run: &RunView) {
        let bar = self.multi.add(ProgressBar::new(run.epochs as u64));
        bar.set_style(
            ProgressStyle::with_template("  {prefix} [{bar:20}] epoch {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(run.label.to_string());
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run.run_id.to_string(), bar);
    }

    fn epoch(&self, run: &RunView, report: &EpochReport) {
        if let Some(bar) = self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(run.run_id)
        {
            bar.set_position(report.epoch as u64);
            bar.set_message(format!(
                "train {:.4}  val {:.4}",
                report.train_loss, report.val_loss
            ));
        }
    }

    fn run_ended(&self, run: &RunView, end: &RunEnd, _seconds: f64) {
        if let Some(bar) = self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(run.run_id)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        match end {
            RunEnd::Failed { reason } => {
                self.multi
                    .println(format!("FAILED {}: {reason}", run.label))
                    .ok();
            }
            RunEnd::Interrupted { reason } => {
                self.multi
                    .println(format!("stopped {}: {reason}", run.label))
                    .ok();
            }
            _ => {}
        }
        self.overall.inc(1);
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
    }
}
