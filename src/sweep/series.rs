//! A run's scores on each series of data with several (`[data] series`): the model's and the
//! naive forecast's, named `series/<name>/<metric>`. One global model is judged series by
//! series, since pooled scores can hide a series it serves badly.

use super::Metrics;
use crate::metrics;
use crate::train::{Prepared, windows};

/// Which span the scores are of, by the names they are recorded under.
pub struct SpanNames {
    pub rmse: &'static str,
    pub mae: &'static str,
    pub naive_rmse: &'static str,
}

pub const VALIDATION: SpanNames = SpanNames {
    rmse: metrics::VAL_RMSE,
    mae: metrics::VAL_MAE,
    naive_rmse: metrics::NAIVE_VAL_RMSE,
};

pub const TEST: SpanNames = SpanNames {
    rmse: metrics::TEST_RMSE,
    mae: metrics::TEST_MAE,
    naive_rmse: metrics::NAIVE_TEST_RMSE,
};

/// Per-series scores of `predicted` (`leads` values per anchor of `anchors`, in the target's
/// units) beside the naive forecast's; nothing for data of one series.
pub fn scores(
    p: &Prepared,
    anchors: &[usize],
    predicted: &[f64],
    leads: usize,
    offset: usize,
    names: &SpanNames,
) -> Metrics {
    if p.segments.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (seg, r) in p.series_ranges(anchors) {
        let rows = &anchors[r.clone()];
        let errors =
            windows::lead_errors(p, &predicted[r.start * leads..r.end * leads], rows, leads);
        let (rmse, mae) = windows::mean_over_leads(&errors);
        let naive = windows::naive_lead_errors(p, rows, offset, leads);
        let (naive_rmse, _) = windows::mean_over_leads(&naive);
        out.extend([
            (metrics::of_series(&seg.name, names.rmse), rmse),
            (metrics::of_series(&seg.name, names.mae), mae),
            (metrics::of_series(&seg.name, names.naive_rmse), naive_rmse),
        ]);
    }
    out
}
