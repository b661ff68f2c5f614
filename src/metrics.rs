//! Names of the metrics a run records, spelled once. Per-epoch curves are `TRAIN_LOSS` and
//! `VAL_LOSS` (normalised MSE); the final values sit beside them under the same names.

use std::collections::BTreeMap;

pub const TRAIN_LOSS: &str = "train_loss";
pub const VAL_LOSS: &str = "val_loss";
/// The objective: ranks runs, drives adaptive samplers. In the target's units.
pub const VAL_RMSE: &str = "val_rmse";
pub const VAL_MAE: &str = "val_mae";
/// MAE over the in-sample one-step naive MAE, the mean over series for several: scale-free.
pub const VAL_MASE: &str = "val_mase";
pub const NAIVE_VAL_MASE: &str = "naive_val_mase";
pub const NAIVE_VAL_RMSE: &str = "naive_val_rmse";
pub const NAIVE_VAL_MAE: &str = "naive_val_mae";
/// Windows a run could not use because they reach across a gap in the time column.
pub const WINDOWS_DROPPED_AT_GAPS: &str = "windows_dropped_at_gaps";
/// Scores on the held-out test span: recorded, shown, never used to rank, prune or propose.
pub const TEST_RMSE: &str = "test_rmse";
pub const TEST_MAE: &str = "test_mae";
pub const TEST_MASE: &str = "test_mase";
pub const NAIVE_TEST_MASE: &str = "naive_test_mase";
pub const NAIVE_TEST_RMSE: &str = "naive_test_rmse";
pub const NAIVE_TEST_MAE: &str = "naive_test_mae";
pub const LINEAR_TEST_RMSE: &str = "linear_test_rmse";
pub const LINEAR_TEST_MAE: &str = "linear_test_mae";
pub const SEASONAL_NAIVE_TEST_RMSE: &str = "seasonal_naive_test_rmse";
pub const SEASONAL_NAIVE_TEST_MAE: &str = "seasonal_naive_test_mae";
/// Rolling-origin evaluation (`[eval] folds > 1`): the mean of the folds' `val_rmse`, which
/// then is the objective, its standard deviation across folds, and the naive baseline's mean.
/// Its per-step curve holds the running mean after each fold, which the pruners judge.
pub const CV_VAL_RMSE: &str = "cv_val_rmse";
pub const CV_VAL_RMSE_STD: &str = "cv_val_rmse_std";
pub const NAIVE_CV_VAL_RMSE: &str = "naive_cv_val_rmse";
/// `fold<k>_val_rmse`, k from 1: one name per fold a spec may ask for.
pub const FOLD_VAL_RMSE: [&str; 20] = [
    "fold1_val_rmse",
    "fold2_val_rmse",
    "fold3_val_rmse",
    "fold4_val_rmse",
    "fold5_val_rmse",
    "fold6_val_rmse",
    "fold7_val_rmse",
    "fold8_val_rmse",
    "fold9_val_rmse",
    "fold10_val_rmse",
    "fold11_val_rmse",
    "fold12_val_rmse",
    "fold13_val_rmse",
    "fold14_val_rmse",
    "fold15_val_rmse",
    "fold16_val_rmse",
    "fold17_val_rmse",
    "fold18_val_rmse",
    "fold19_val_rmse",
    "fold20_val_rmse",
];
/// Ridge autoregression on the same windows (see `baselines.rs`).
pub const LINEAR_VAL_RMSE: &str = "linear_val_rmse";
pub const LINEAR_VAL_MAE: &str = "linear_val_mae";
/// The value one season back, with `[data] season` set.
pub const SEASONAL_NAIVE_VAL_RMSE: &str = "seasonal_naive_val_rmse";
pub const SEASONAL_NAIVE_VAL_MAE: &str = "seasonal_naive_val_mae";
pub const BEST_EPOCH: &str = "best_epoch";
/// The epoch whose weights the run kept (`[train] keep`).
pub const KEPT_EPOCH: &str = "kept_epoch";
pub const BEST_VAL_LOSS: &str = "best_val_loss";
pub const EPOCHS_TRAINED: &str = "epochs_trained";
/// The share of the test span's actuals inside the model's 80% and 95% prediction intervals.
pub const TEST_COVERAGE_80: &str = "test_coverage_80";
pub const TEST_COVERAGE_95: &str = "test_coverage_95";

/// Every final metric a run records: a `--metric` outside this list that no run has is a typo.
pub const RECORDED: &[&str] = &[
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_RMSE,
    VAL_MAE,
    VAL_MASE,
    NAIVE_VAL_MASE,
    NAIVE_VAL_RMSE,
    NAIVE_VAL_MAE,
    CV_VAL_RMSE,
    CV_VAL_RMSE_STD,
    NAIVE_CV_VAL_RMSE,
    TEST_RMSE,
    TEST_MAE,
    TEST_MASE,
    NAIVE_TEST_MASE,
    NAIVE_TEST_RMSE,
    NAIVE_TEST_MAE,
    LINEAR_TEST_RMSE,
    LINEAR_TEST_MAE,
    SEASONAL_NAIVE_TEST_RMSE,
    SEASONAL_NAIVE_TEST_MAE,
    LINEAR_VAL_RMSE,
    LINEAR_VAL_MAE,
    SEASONAL_NAIVE_VAL_RMSE,
    SEASONAL_NAIVE_VAL_MAE,
    BEST_EPOCH,
    KEPT_EPOCH,
    BEST_VAL_LOSS,
    EPOCHS_TRAINED,
    TEST_COVERAGE_80,
    TEST_COVERAGE_95,
];

/// The metric runs are ranked by unless the user names another (with one split).
pub const OBJECTIVE: &str = VAL_RMSE;

/// The objective of a sweep or an experiment: `cv_val_rmse` when it cross-validates.
pub fn objective(cross_validates: bool) -> &'static str {
    if cross_validates {
        CV_VAL_RMSE
    } else {
        OBJECTIVE
    }
}

/// Whether a metric is scored on the test span (`test_rmse`, `linear_test_mae`, …).
pub fn is_test_span(name: &str) -> bool {
    name.starts_with("test_") || name.contains("_test_")
}

/// The test-span metrics, in the order reports show them.
pub const HELD_OUT: &[&str] = &[
    TEST_RMSE,
    NAIVE_TEST_RMSE,
    LINEAR_TEST_RMSE,
    SEASONAL_NAIVE_TEST_RMSE,
    TEST_MAE,
];

/// What chose a run, read through `get` (a run's metric lookup): `cv_val_rmse` when it was
/// cross-validated, else `val_rmse`. A sweep's runs share one evaluation, so this ranks them
/// as the sweep did.
pub fn selection_score(get: impl Fn(&str) -> Option<f64>) -> Option<f64> {
    get(CV_VAL_RMSE).or_else(|| get(VAL_RMSE))
}

/// A direct multi-step run's metric at lead time `k` (from 1): `val_rmse_h3`. Names are
/// interned, so each distinct name is allocated once per process.
pub fn at_lead(base: &str, k: usize) -> &'static str {
    intern(format!("{base}_h{k}"))
}

/// Per-series metrics are named `series/<name>/<metric>`: MLflow-style keys that keep a run's
/// pooled metrics (the unprefixed ones, which rank runs) apart from each series' own.
pub const SERIES_PREFIX: &str = "series/";

/// The name of `metric` of series `series`: `series/EWR/val_rmse`. Characters a metric name
/// cannot hold in MLflow (anything but letters, digits and `_-. :/`) become `_`, so every
/// run's metrics mirror as they are.
pub fn of_series(series: &str, metric: &str) -> &'static str {
    let series: String = series
        .chars()
        .map(|c| match c.is_alphanumeric() || "_-. :/".contains(c) {
            true => c,
            false => '_',
        })
        .collect();
    intern(format!("{SERIES_PREFIX}{series}/{metric}"))
}

/// A run's metrics split into the pooled ones and each series' own (by series name).
pub fn split_series<'a, V: Clone + 'a>(
    metrics: impl IntoIterator<Item = (&'a String, &'a V)>,
) -> (BTreeMap<String, V>, BTreeMap<String, BTreeMap<String, V>>) {
    let mut pooled = BTreeMap::new();
    let mut series: BTreeMap<String, BTreeMap<String, V>> = BTreeMap::new();
    for (k, v) in metrics {
        let v = v.clone();
        match k
            .strip_prefix(SERIES_PREFIX)
            .and_then(|rest| rest.rsplit_once('/'))
        {
            Some((name, metric)) => {
                series
                    .entry(name.to_string())
                    .or_default()
                    .insert(metric.to_string(), v);
            }
            None => {
                pooled.insert(k.clone(), v);
            }
        }
    }
    (pooled, series)
}

/// Each distinct name is allocated once per process, however many runs record it.
fn intern(name: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{LazyLock, Mutex};
    static NAMES: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.get(name.as_str()) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}
/// The baselines every run is compared with, by the prefix of their metric names.
pub const BASELINES: &[&str] = &["naive", "linear", "seasonal_naive"];

/// The naive baseline's name for a metric: `val_rmse` → `naive_val_rmse`.
pub fn naive_of(metric: &str) -> String {
    baseline_of("naive", metric)
}

/// A baseline's name for a metric: (`linear`, `val_rmse`) → `linear_val_rmse`.
pub fn baseline_of(baseline: &str, metric: &str) -> String {
    format!("{baseline}_{metric}")
}

#[cfg(test)]
mod series_tests {
    use super::*;

    #[test]
    fn series_metrics_split_back_by_name_and_stay_valid_mlflow_keys() {
        assert_eq!(of_series("EWR", VAL_RMSE), "series/EWR/val_rmse");
        assert_eq!(
            of_series("Paris, FR (#2)", VAL_RMSE),
            "series/Paris_ FR __2_/val_rmse"
        );
        let recorded: BTreeMap<String, f64> = [
            (VAL_RMSE.to_string(), 1.0),
            (of_series("a/b", VAL_RMSE).to_string(), 2.0),
            (of_series("EWR", TEST_RMSE).to_string(), 3.0),
        ]
        .into();
        let (pooled, series) = split_series(&recorded);
        assert_eq!(pooled.keys().collect::<Vec<_>>(), [VAL_RMSE]);
        assert_eq!(series["a/b"][VAL_RMSE], 2.0);
        assert_eq!(series["EWR"][TEST_RMSE], 3.0);
    }
}
