//! A run's scores series by series: the model's and the naive forecast's, and its MASE (MAE
//! over the series' in-sample one-step naive MAE). With several series (`[data] series`) each
//! is recorded as `series/<name>/<metric>`, since one global model's pooled scores can hide a
//! series it serves badly, and the pooled `val_mase` / `test_mase` average the series' MASE, so
//! every series weighs the same whatever its units.

use super::Metrics;
use crate::metrics;
use crate::train::{Prepared, windows};

/// Which span the scores are of, by the names they are recorded under.
pub struct SpanNames {
    pub rmse: &'static str,
    pub mae: &'static str,
    pub naive_rmse: &'static str,
    pub mase: &'static str,
    pub naive_mase: &'static str,
}

pub const VALIDATION: SpanNames = SpanNames {
    rmse: metrics::VAL_RMSE,
    mae: metrics::VAL_MAE,
    naive_rmse: metrics::NAIVE_VAL_RMSE,
    mase: metrics::VAL_MASE,
    naive_mase: metrics::NAIVE_VAL_MASE,
};

pub const TEST: SpanNames = SpanNames {
    rmse: metrics::TEST_RMSE,
    mae: metrics::TEST_MAE,
    naive_rmse: metrics::NAIVE_TEST_RMSE,
    mase: metrics::TEST_MASE,
    naive_mase: metrics::NAIVE_TEST_MASE,
};

/// One series' scores on a span: the model's RMSE and MAE (mean over lead times), its MASE
/// (none for a series constant over its training rows), and the naive forecast's RMSE and
/// MASE.
pub struct SeriesScore {
    pub name: String,
    pub rmse: f64,
    pub mae: f64,
    pub mase: Option<f64>,
    pub naive_rmse: f64,
    pub naive_mase: Option<f64>,
}

/// Each series' scores of `predicted` (`leads` values per anchor of `anchors`, in the
/// target's units) beside the naive forecast's: one unnamed entry for data of one series.
pub fn each(
    p: &Prepared,
    anchors: &[usize],
    predicted: &[f64],
    leads: usize,
    offset: usize,
) -> Vec<SeriesScore> {
    p.series_ranges(anchors)
        .into_iter()
        .map(|(seg, r)| {
            let rows = &anchors[r.clone()];
            let errors =
                windows::lead_errors(p, &predicted[r.start * leads..r.end * leads], rows, leads);
            let (rmse, mae) = windows::mean_over_leads(&errors);
            let naive = windows::naive_lead_errors(p, rows, offset, leads);
            let (naive_rmse, naive_mae) = windows::mean_over_leads(&naive);
            let scale = windows::naive_scale(p, seg);
            SeriesScore {
                name: seg.name.clone(),
                rmse,
                mae,
                mase: scale.map(|s| mae / s),
                naive_rmse,
                naive_mase: scale.map(|s| naive_mae / s),
            }
        })
        .collect()
}

/// The span's metrics from [`each`]'s scores: the pooled MASE, and with `several` series each
/// series' own scores.
pub fn metrics(scores: &[SeriesScore], several: bool, names: &SpanNames) -> Metrics {
    let mut out: Metrics = [
        (names.mase, mean(scores.iter().map(|s| s.mase))),
        (names.naive_mase, mean(scores.iter().map(|s| s.naive_mase))),
    ]
    .into_iter()
    .filter_map(|(name, m)| Some((name, m?)))
    .collect();
    if several {
        for s in scores {
            out.extend([
                (metrics::of_series(&s.name, names.rmse), s.rmse),
                (metrics::of_series(&s.name, names.mae), s.mae),
                (metrics::of_series(&s.name, names.naive_rmse), s.naive_rmse),
            ]);
            for (name, m) in [(names.mase, s.mase), (names.naive_mase, s.naive_mase)] {
                if let Some(m) = m {
                    out.push((metrics::of_series(&s.name, name), m));
                }
            }
        }
    }
    out
}

/// [`metrics`] of `predicted` on `p`'s rows at `anchors`.
pub fn scores(
    p: &Prepared,
    anchors: &[usize],
    predicted: &[f64],
    leads: usize,
    offset: usize,
    names: &SpanNames,
) -> Metrics {
    let each = each(p, anchors, predicted, leads, offset);
    metrics(&each, p.segments.len() > 1, names)
}

/// The mean of the series' values that exist; none when none does.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let m: Vec<f64> = values.flatten().collect();
    (!m.is_empty()).then(|| m.iter().sum::<f64>() / m.len() as f64)
}
