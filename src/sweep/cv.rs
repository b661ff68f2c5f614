//! Rolling-origin evaluation of one trial: train at each fold's origin (or once, at the
//! first), score the fold's validation rows, and after each fold let the pruner judge the
//! running mean against the other trials' at that fold. A trial that survives every fold is
//! trained once more on every row before the test span: that is the model kept.

use super::series::{self, SeriesScore};
use super::{
    Clock, Done, EpochLog, Fit, Metrics, Worker, card, epoch_metrics, fit, save, test_metrics,
};
use crate::intervals::Residuals;
use crate::jobs::Job;
use crate::metrics;
use crate::output::RunView;
use crate::spec::Refit;
use crate::train::{self, TrainConfig, windows};
use anyhow::Result;
use std::collections::BTreeMap;

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
    let mut scores = Scores {
        several: w.prepared.segments.len() > 1,
        ..Scores::default()
    };
    // Every fold's forecasts of rows it did not train on calibrate the kept model's intervals.
    let mut residuals = Residuals::default();
    let mut model: Option<train::Trained> = None;
    for (k, fold) in w.folds.iter().enumerate() {
        if each || model.is_none() {
            model = Some(fit(w, run_id, cfg, fold, view, log, how)?);
        }
        let m = model.as_ref().expect("trained above");
        let anchors = windows::anchors(fold.val_targets(), cfg.outputs);
        let scored;
        let (rmse, mae, predicted) = if each {
            (m.val_rmse, m.val_mae, &m.predictions)
        } else {
            scored = train::forecast(&m.model, fold, &anchors, cfg)?;
            let errors = windows::lead_errors(fold, &scored, &anchors, cfg.outputs);
            let (rmse, mae) = windows::mean_over_leads(&errors);
            (rmse, mae, &scored)
        };
        let naive = windows::naive_lead_errors(fold, &anchors, cfg.offset(), cfg.outputs);
        let naive = windows::mean_over_leads(&naive).0;
        residuals.add(fold, &anchors, predicted, cfg.outputs);
        let by_series = series::each(fold, &anchors, predicted, cfg.outputs, cfg.offset());
        scores.push(rmse, mae, naive, by_series);
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
            let card = card(w, run_id, cfg, job, fold, &residuals);
            let artifacts = save(w, label, m, &card)?;
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
    let card = card(w, run_id, cfg, job, rows, &residuals);
    let artifacts = save(w, label, &kept, &card)?;
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
    metrics.extend(series::metrics(
        scores.last_series(),
        scores.several,
        &series::VALIDATION,
    ));
    metrics.extend(test_metrics(&kept.model, rows, cfg, &card.intervals)?);
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
    /// Each fold's scores series by series (one unnamed entry for data of one series).
    series: Vec<Vec<SeriesScore>>,
    /// Whether the data has several series, each recorded under its name.
    several: bool,
}

impl Scores {
    fn push(&mut self, rmse: f64, mae: f64, naive: f64, series: Vec<SeriesScore>) {
        self.rmse.push(rmse);
        self.mae.push(mae);
        self.naive.push(naive);
        self.series.push(series);
    }

    /// The last fold's scores by series: the single split's validation span.
    fn last_series(&self) -> &[SeriesScore] {
        self.series.last().map_or(&[], Vec::as_slice)
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
        out.extend(self.series_means());
        out
    }

    /// Each series' `cv_val_rmse` and `naive_cv_val_rmse`: its means over the folds that
    /// scored it, so a series the pooled mean hides shows across every origin too.
    fn series_means(&self) -> Metrics {
        if !self.several {
            return Vec::new();
        }
        let mut sums: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
        for s in self.series.iter().flatten() {
            let e = sums.entry(&s.name).or_default();
            *e = (e.0 + s.rmse, e.1 + s.naive_rmse, e.2 + 1);
        }
        sums.into_iter()
            .flat_map(|(name, (rmse, naive, n))| {
                [
                    (
                        metrics::of_series(name, metrics::CV_VAL_RMSE),
                        rmse / n as f64,
                    ),
                    (
                        metrics::of_series(name, metrics::NAIVE_CV_VAL_RMSE),
                        naive / n as f64,
                    ),
                ]
            })
            .collect()
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
        s.push(1.0, 0.5, 2.0, Vec::new());
        s.push(3.0, 1.5, 4.0, Vec::new());
        let m: std::collections::HashMap<_, _> = s.metrics().into_iter().collect();
        assert_eq!(m[metrics::CV_VAL_RMSE], 2.0);
        assert_eq!(m[metrics::CV_VAL_RMSE_STD], 2f64.sqrt());
        assert_eq!(m[metrics::NAIVE_CV_VAL_RMSE], 3.0);
        assert_eq!((m["fold1_val_rmse"], m["fold2_val_rmse"]), (1.0, 3.0));
        assert_eq!(s.last(), (3.0, 1.5));
        assert_eq!(m.len(), 5, "no series, no series metrics: {m:?}");
    }

    fn score(name: &str, rmse: f64, naive_rmse: f64) -> SeriesScore {
        SeriesScore {
            name: name.into(),
            rmse,
            mae: rmse / 2.0,
            mase: None,
            naive_rmse,
            naive_mase: None,
        }
    }

    /// A series no window of an early fold reaches (it starts late) is averaged over the
    /// folds that scored it, not diluted by the others.
    #[test]
    fn each_series_is_averaged_over_the_folds_that_scored_it() {
        let mut s = Scores {
            several: true,
            ..Scores::default()
        };
        s.push(1.0, 0.5, 2.0, vec![score("a", 1.0, 2.0)]);
        s.push(
            2.0,
            1.0,
            3.0,
            vec![score("a", 3.0, 4.0), score("b", 5.0, 6.0)],
        );
        let m: std::collections::HashMap<_, _> = s.metrics().into_iter().collect();
        assert_eq!(m["series/a/cv_val_rmse"], 2.0);
        assert_eq!(m["series/a/naive_cv_val_rmse"], 3.0);
        assert_eq!(m["series/b/cv_val_rmse"], 5.0);
        assert_eq!(m["series/b/naive_cv_val_rmse"], 6.0);
        let last: Vec<&str> = s.last_series().iter().map(|x| x.name.as_str()).collect();
        assert_eq!(last, ["a", "b"]);
    }
}
