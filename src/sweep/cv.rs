//! Rolling-origin evaluation of one trial: train at each fold's origin (or once, at the
//! first), score the fold's validation rows, and after each fold let the pruner judge the
//! running mean against the other trials' at that fold. A trial that survives every fold is
//! trained once more on every row before the test span: that is the model kept.

use super::{Clock, Done, EpochLog, Fit, Metrics, Worker, epoch_metrics, fit, save, test_metrics};
use crate::jobs::Job;
use crate::metrics;
use crate::output::RunView;
use crate::spec::Refit;
use crate::train::{self, TrainConfig, windows};
use anyhow::Result;

pub(super) fn cross_validate(
    w: &Worker,
    run_id: &str,
    cfg: &TrainConfig,
    job: &Job,
    label: &str,
    view: &RunView,
    log: &mut EpochLog,
) -> Result<Done> {
    let each = w.spec.eval.refit == Refit::Each;
    let folds = w.folds.len();
    let how = Fit {
        prune_epochs: false,
        log_epochs: true,
    };
    let mut scores = Scores::default();
    let mut model: Option<train::Trained> = None;
    for (k, fold) in w.folds.iter().enumerate() {
        if each || model.is_none() {
            model = Some(fit(w, run_id, cfg, fold, view, log, how)?);
        }
        let m = model.as_ref().expect("trained above");
        let (rmse, mae) = if each {
            (m.val_rmse, m.val_mae)
        } else {
            train::score(&m.model, fold, fold.val_targets(), cfg)?
        };
        let anchors = windows::anchors(fold.val_targets(), cfg.outputs);
        let naive = windows::naive_lead_errors(fold, &anchors, cfg.offset(), cfg.outputs);
        let naive = windows::mean_over_leads(&naive).0;
        scores.push(rmse, mae, naive);
        let mean = scores.mean();
        let point: &[(&str, f64)] = &[(metrics::CV_VAL_RMSE, mean)];
        Clock::time(&w.clock.store, || {
            w.store.log_epochs(run_id, &[(k + 1, point)])
        })?;
        let verdict = w.curves.record_and_check(w.pruner.as_ref(), run_id, mean);
        if let Some(reason) = verdict
            && k + 1 < folds
        {
            // The pruned trial keeps the model of the fold it stopped at.
            let artifacts = save(w, run_id, cfg, job, label, m, fold)?;
            let trainings_left = if each { folds - k - 1 } else { 0 } + 1;
            return Ok(Done {
                metrics: scores.metrics(),
                artifacts,
                stopped: Some(reason),
                epochs_saved: trainings_left * cfg.epochs,
            });
        }
    }
    let last = model.expect("at least one fold");
    let rows = w
        .final_rows
        .expect("a cross-validating plan has the kept model's rows");
    let only_train = Fit {
        prune_epochs: false,
        log_epochs: false,
    };
    let mut kept = fit(w, run_id, cfg, rows, view, log, only_train)?;
    // The kept model has no validation span; its loss plot shows the last fold's curves.
    kept.history = last.history.clone();
    let artifacts = save(w, run_id, cfg, job, label, &kept, rows)?;
    let mut metrics = epoch_metrics(&last);
    // val_rmse and val_mae are the last fold's: the single split's validation span.
    let (rmse, mae) = scores.last();
    for (key, v) in metrics.iter_mut() {
        match *key {
            metrics::VAL_RMSE => *v = rmse,
            metrics::VAL_MAE => *v = mae,
            _ => {}
        }
    }
    metrics.extend(scores.metrics());
    metrics.extend(test_metrics(&kept.model, rows, cfg)?);
    Ok(Done {
        metrics,
        artifacts,
        stopped: None,
        epochs_saved: 0,
    })
}

/// The folds' scores so far.
#[derive(Default)]
struct Scores {
    rmse: Vec<f64>,
    mae: Vec<f64>,
    naive: Vec<f64>,
}

impl Scores {
    fn push(&mut self, rmse: f64, mae: f64, naive: f64) {
        self.rmse.push(rmse);
        self.mae.push(mae);
        self.naive.push(naive);
    }

    fn mean(&self) -> f64 {
        mean(&self.rmse)
    }

    fn last(&self) -> (f64, f64) {
        (
            *self.rmse.last().expect("a fold"),
            *self.mae.last().expect("a fold"),
        )
    }

    /// `cv_val_rmse` (mean), its sample standard deviation across folds (0 for one fold),
    /// the naive mean, and `fold<k>_val_rmse` for every fold scored.
    fn metrics(&self) -> Metrics {
        let m = self.mean();
        let n = self.rmse.len();
        let std = if n > 1 {
            (self.rmse.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut out = vec![
            (metrics::CV_VAL_RMSE, m),
            (metrics::CV_VAL_RMSE_STD, std),
            (metrics::NAIVE_CV_VAL_RMSE, mean(&self.naive)),
        ];
        out.extend(
            self.rmse
                .iter()
                .enumerate()
                .map(|(k, &v)| (metrics::FOLD_VAL_RMSE[k], v)),
        );
        out
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_scores_summarise_as_mean_std_and_per_fold() {
        let mut s = Scores::default();
        s.push(1.0, 0.5, 2.0);
        s.push(3.0, 1.5, 4.0);
        let m: std::collections::HashMap<_, _> = s.metrics().into_iter().collect();
        assert_eq!(m[metrics::CV_VAL_RMSE], 2.0);
        assert_eq!(m[metrics::CV_VAL_RMSE_STD], 2f64.sqrt());
        assert_eq!(m[metrics::NAIVE_CV_VAL_RMSE], 3.0);
        assert_eq!((m["fold1_val_rmse"], m["fold2_val_rmse"]), (1.0, 3.0));
        assert_eq!(s.last(), (3.0, 1.5));
    }
}
