//! The best run judged series by series, for data of several (`[data] series`): one row per
//! series, the worst first, with every baseline that beats the model on that series flagged.
//! A global model's pooled score can hide a station it serves badly; this table cannot.

use crate::metrics;
use crate::store::RunRecord;

/// One series' scores in a run.
pub struct SeriesRow {
    pub name: String,
    /// The run's validation RMSE on this series.
    pub val_rmse: Option<f64>,
    /// Its mean over the rolling origins, for a run evaluated on folds.
    pub cv_val_rmse: Option<f64>,
    /// Each baseline's validation RMSE on this series, in [`metrics::BASELINES`] order.
    pub baselines: Vec<(&'static str, Option<f64>)>,
    pub test_rmse: Option<f64>,
    /// The baselines that score lower than the model on this series.
    pub beaten_by: Vec<&'static str>,
}

/// The run's series, worst validation RMSE first; empty for a run of one series.
pub fn rows(run: &RunRecord) -> Vec<SeriesRow> {
    let (_, series) = metrics::split_series(&run.metrics);
    let get =
        |m: &std::collections::BTreeMap<String, Option<f64>>, k: &str| m.get(k).copied().flatten();
    let mut rows: Vec<SeriesRow> = series
        .iter()
        .map(|(name, m)| {
            let val_rmse = get(m, metrics::VAL_RMSE);
            let baselines: Vec<(&'static str, Option<f64>)> = metrics::BASELINES
                .iter()
                .map(|&b| (b, get(m, &metrics::baseline_of(b, metrics::VAL_RMSE))))
                .collect();
            let beaten_by = baselines
                .iter()
                .filter(|(_, v)| matches!((v, val_rmse), (Some(b), Some(own)) if *b < own))
                .map(|(b, _)| *b)
                .collect();
            SeriesRow {
                name: name.clone(),
                val_rmse,
                cv_val_rmse: get(m, metrics::CV_VAL_RMSE),
                baselines,
                test_rmse: get(m, metrics::TEST_RMSE),
                beaten_by,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.val_rmse
            .unwrap_or(f64::INFINITY)
            .total_cmp(&a.val_rmse.unwrap_or(f64::INFINITY))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

/// Column titles; the folds' mean only for a run evaluated on folds (before `val_rmse`, the
/// last fold's, which the baselines beside it are scored on), and baselines no series records
/// are left out.
pub fn head(rows: &[SeriesRow]) -> Vec<String> {
    let mut head = vec!["series".to_string()];
    if has_folds(rows) {
        head.push(metrics::CV_VAL_RMSE.to_string());
    }
    head.push(metrics::VAL_RMSE.to_string());
    head.extend(shown_baselines(rows).iter().map(|b| b.replace('_', " ")));
    head.push("test_rmse (not used for selection)".into());
    head.push("beaten by".into());
    head
}

/// A row's cells under [`head`].
pub fn cells(row: &SeriesRow, rows: &[SeriesRow]) -> Vec<String> {
    let num = |v: Option<f64>| super::format::num(v);
    let mut cells = vec![row.name.clone()];
    if has_folds(rows) {
        cells.push(num(row.cv_val_rmse));
    }
    cells.push(num(row.val_rmse));
    for b in shown_baselines(rows) {
        let v = row
            .baselines
            .iter()
            .find(|(n, _)| *n == b)
            .and_then(|(_, v)| *v);
        cells.push(num(v));
    }
    cells.push(num(row.test_rmse));
    cells.push(if row.beaten_by.is_empty() {
        "-".into()
    } else {
        row.beaten_by
            .iter()
            .map(|b| b.replace('_', " "))
            .collect::<Vec<_>>()
            .join(", ")
    });
    cells
}

fn has_folds(rows: &[SeriesRow]) -> bool {
    rows.iter().any(|r| r.cv_val_rmse.is_some())
}

fn shown_baselines(rows: &[SeriesRow]) -> Vec<&'static str> {
    metrics::BASELINES
        .iter()
        .copied()
        .filter(|b| {
            rows.iter()
                .any(|r| r.baselines.iter().any(|(n, v)| n == b && v.is_some()))
        })
        .collect()
}
