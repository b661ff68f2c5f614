//! Early stopping of hopeless runs. After each epoch a pruner sees the run's curve and the
//! curves of the study's other runs, and says whether to stop (the shape of Optuna's
//! `pruners/`): the orchestrator only records the verdict.

mod asha;
mod median;

use crate::spec::{PruneMethod, PruneSpec};
use std::collections::HashMap;
use std::sync::Mutex;

pub use asha::Asha;
pub use median::Median;

pub trait Pruner: Send + Sync {
    /// `curve[k]` is the run's metric after epoch k+1; `others` are other runs' curves.
    /// Returns why the run should stop, or `None` to go on.
    fn check(&self, curve: &[f64], others: &[&[f64]]) -> Option<String>;
}

pub struct NoPruning;

impl Pruner for NoPruning {
    fn check(&self, _: &[f64], _: &[&[f64]]) -> Option<String> {
        None
    }
}

pub fn build(spec: &PruneSpec) -> Box<dyn Pruner> {
    match spec.method {
        PruneMethod::None => Box::new(NoPruning),
        PruneMethod::Median => Box::new(Median {
            warmup_epochs: spec.warmup_epochs,
            min_runs: spec.min_runs,
        }),
        PruneMethod::Asha => Box::new(Asha {
            min_epochs: spec.min_epochs,
            reduction_factor: spec.reduction_factor,
        }),
    }
}

/// A pruner judging folds instead of epochs (rolling-origin evaluation): the same rules over
/// a curve with one value per fold, its settings (`warmup_epochs`, `min_epochs`) counted in
/// folds, and its reasons saying so.
pub fn build_for_folds(spec: &PruneSpec) -> Box<dyn Pruner> {
    Box::new(Folds(build(spec)))
}

struct Folds(Box<dyn Pruner>);

impl Pruner for Folds {
    fn check(&self, curve: &[f64], others: &[&[f64]]) -> Option<String> {
        // Every rule words its reason "pruned at epoch k…".
        self.0
            .check(curve, others)
            .map(|r| r.replacen("epoch", "fold", 1))
    }
}

/// The per-epoch curves of a study's runs, shared by the workers of a sweep: loaded from the
/// store at the start, extended as epochs finish.
#[derive(Default)]
pub struct Curves {
    runs: Mutex<HashMap<String, Vec<f64>>>,
}

impl Curves {
    pub fn new(initial: HashMap<String, Vec<f64>>) -> Self {
        Curves {
            runs: Mutex::new(initial),
        }
    }

    /// Takes in the store's curves of closed runs, which other processes (other hosts) may
    /// have added since the sweep started; a stored curve is complete, so it replaces ours.
    pub fn absorb(&self, stored: HashMap<String, Vec<f64>>) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.extend(stored);
    }

    /// Appends `value` to `run_id`'s curve and asks `pruner` about it.
    pub fn record_and_check(
        &self,
        pruner: &dyn Pruner,
        run_id: &str,
        value: f64,
    ) -> Option<String> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.entry(run_id.to_string()).or_default().push(value);
        // Judged under the lock on borrowed curves: a check is a few comparisons per run.
        let others: Vec<&[f64]> = runs
            .iter()
            .filter(|(id, _)| id.as_str() != run_id)
            .map(|(_, c)| c.as_slice())
            .collect();
        pruner.check(&runs[run_id], &others)
    }
}

/// The median of finite values; `None` when there are none.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Borrowed views of owned curves, as `Pruner::check` takes them.
#[cfg(test)]
fn refs(curves: &[Vec<f64>]) -> Vec<&[f64]> {
    curves.iter().map(Vec::as_slice).collect()
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    #[test]
    fn fold_pruners_word_their_reasons_in_folds() {
        let spec = PruneSpec {
            method: PruneMethod::Median,
            min_runs: 2,
            ..PruneSpec::default()
        };
        let others = [vec![1.0], vec![1.1]];
        let reason = build_for_folds(&spec)
            .check(&[3.0], &refs(&others))
            .unwrap();
        assert!(reason.starts_with("pruned at fold 1:"), "{reason}");
    }
}
