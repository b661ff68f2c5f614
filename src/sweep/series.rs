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

/// One series' scores on a span: the model's RMSE and MAE (mean over lead times) and the
/// naive forecast's RMSE.
pub struct SeriesScore {
    pub name: String,
    pub rmse: f64,
    pub mae: f64,
    pub naive_rmse: f64,
}

/// Each series' scores of `predicted` (`leads` values per anchor of `anchors`, in the
/// target's units) beside the naive forecast's; nothing for data of one series.
pub fn each(
    p: &Prepared,
    anchors: &[usize],
    predicted: &[f64],
    leads: usize,
    offset: usize,
) -> Vec<SeriesScore> {
    if p.segments.len() < 2 {
        return Vec::new();
    }
    p.series_ranges(anchors)
        .into_iter()
        .map(|(seg, r)| {
            let rows = &anchors[r.clone()];
            let errors =
                windows::lead_errors(p, &predicted[r.start * leads..r.end * leads], rows, leads);
            let (rmse, mae) = windows::mean_over_leads(&errors);
            let naive = windows::naive_lead_errors(p, rows, offset, leads);
            SeriesScore {
                name: seg.name.clone(),
                rmse,
                mae,
                naive_rmse: windows::mean_over_leads(&naive).0,
            }
        })
        .collect()
}

/// [`each`]'s scores as metrics named for `names`' span.
pub fn scores(
    p: &Prepared,
    anchors: &[usize],
    predicted: &[f64],
    leads: usize,
    offset: usize,
    names: &SpanNames,
) -> Metrics {
    named(&each(p, anchors, predicted, leads, offset), names)
}

pub fn named(scores: &[SeriesScore], names: &SpanNames) -> Metrics {
    scores
        .iter()
        .flat_map(|s| {
            [
                (metrics::of_series(&s.name, names.rmse), s.rmse),
                (metrics::of_series(&s.name, names.mae), s.mae),
                (metrics::of_series(&s.name, names.naive_rmse), s.naive_rmse),
            ]
        })
        .collect()
}
