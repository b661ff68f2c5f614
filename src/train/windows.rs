//! Normalised series and the windows cut from them. Rows fall into three chronological spans:
//! training, validation, and an optional test span at the end. Statistics come from the
//! training split only, so nothing about the later spans leaks into training; nothing but the
//! final test score ever reads the test span.

use crate::data::{Dataset, Timeline};
use crate::error::InputError;
use crate::spec::{DataSpec, KeyLines};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub feature_mean: Vec<f64>,
    pub feature_std: Vec<f64>,
    pub target_mean: f64,
    pub target_std: f64,
}

impl Normalisation {
    pub fn denormalise_target(&self, v: f32) -> f64 {
        v as f64 * self.target_std + self.target_mean
    }
}

/// Where one series' rows fall: training `start..split`, validation `split..val_end`, test
/// `val_end..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    pub start: usize,
    pub split: usize,
    pub val_end: usize,
    pub end: usize,
}

/// One series of a prepared dataset: where its rows fall, and the statistics of its own
/// training rows that normalise them.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The series' name; empty for data of one series.
    pub name: String,
    pub spans: Spans,
    pub stats: Normalisation,
}

/// A dataset ready for training: shared by every job of a sweep.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub n_features: usize,
    /// Row-major `[rows, n_features]`, normalised.
    pub inputs: Vec<f32>,
    /// Normalised targets.
    pub targets: Vec<f32>,
    /// Targets in original units, for metrics.
    pub raw_targets: Vec<f32>,
    /// Every series in row order (one for data without a series column).
    pub segments: Vec<Segment>,
    /// Rows that no window reaches across (ascending): after dropped rows, after a gap in the
    /// time column, and each series' first row.
    pub breaks: Vec<usize>,
    /// The rows after a gap in the time column (a subset of `breaks`).
    pub gaps: Vec<usize>,
    /// Target rows scored for selection, ascending: the validation spans, less rows whose
    /// window would reach across a break (see [`Prepared::score_reach`]).
    val: Vec<usize>,
    /// Target rows of the test spans, under the same rule.
    test: Vec<usize>,
}

impl Prepared {
    /// Training and validation spans over every row of each series: no test span.
    pub fn new(data: &Dataset, train_fraction: f64) -> Prepared {
        Prepared::from_spans(data, &series_spans(data, train_fraction, 0.0))
    }

    /// One series trained on rows `..split`, validated on `split..val_end` and tested on
    /// `val_end..`, with statistics of its training rows.
    pub fn with_spans(data: &Dataset, split: usize, val_end: usize) -> Prepared {
        let spans = Spans {
            start: 0,
            split,
            val_end,
            end: data.rows(),
        };
        Prepared::from_spans(data, &[spans])
    }

    /// Each series (`spans`, in the data's series order) normalised by the statistics of its
    /// own training rows.
    pub fn from_spans(data: &Dataset, spans: &[Spans]) -> Prepared {
        let stats = spans.iter().map(|s| statistics(data, s)).collect();
        Prepared::with_stats(data, spans, stats)
    }

    /// The same spans normalised with given statistics (one per series): a model's own,
    /// when it trained on other rows than these spans' training split.
    pub fn with_stats(data: &Dataset, spans: &[Spans], stats: Vec<Normalisation>) -> Prepared {
        let f = data.features.len();
        let segments: Vec<Segment> = spans
            .iter()
            .zip(stats)
            .enumerate()
            .map(|(i, (&spans, stats))| Segment {
                name: data
                    .series
                    .get(i)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                spans,
                stats,
            })
            .collect();
        let mut inputs = Vec::with_capacity(data.inputs.len());
        let mut targets = Vec::with_capacity(data.rows());
        for seg in &segments {
            let st = &seg.stats;
            let rows = seg.spans.start..seg.spans.end;
            inputs.extend(
                data.inputs[rows.start * f..rows.end * f]
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        ((v as f64 - st.feature_mean[i % f]) / st.feature_std[i % f]) as f32
                    }),
            );
            targets.extend(
                data.targets[rows]
                    .iter()
                    .map(|&v| ((v as f64 - st.target_mean) / st.target_std) as f32),
            );
        }
        let val = segments
            .iter()
            .flat_map(|s| s.spans.split..s.spans.val_end)
            .collect();
        let test = segments
            .iter()
            .flat_map(|s| s.spans.val_end..s.spans.end)
            .collect();
        Prepared {
            n_features: f,
            inputs,
            targets,
            raw_targets: data.targets.clone(),
            segments,
            breaks: data.breaks.clone(),
            gaps: data.gaps.clone(),
            val,
            test,
        }
    }

    /// The statistics of the first series: the only one for data without a series column.
    pub fn stats(&self) -> &Normalisation {
        &self.segments[0].stats
    }

    /// Each series' spans, in row order.
    pub fn spans(&self) -> Vec<Spans> {
        self.segments.iter().map(|s| s.spans).collect()
    }

    /// The series holding row `t`.
    pub fn segment_of(&self, t: usize) -> &Segment {
        let i = self.segments.partition_point(|s| s.spans.start <= t);
        &self.segments[i.saturating_sub(1)]
    }

    /// A normalised forecast for target row `t`, in the target's units.
    pub fn denormalise(&self, t: usize, v: f32) -> f64 {
        self.segment_of(t).stats.denormalise_target(v)
    }

    /// Normalised forecasts, `leads` per anchor row, in the target's units.
    pub fn denormalise_all(&self, anchors: &[usize], leads: usize, values: &[f32]) -> Vec<f64> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| self.denormalise(anchors[i / leads.max(1)], v))
            .collect()
    }

    /// The series of `rows` (ascending target rows): each series with the index range of
    /// its rows in `rows`, for series that have any.
    pub fn series_ranges(&self, rows: &[usize]) -> Vec<(&Segment, std::ops::Range<usize>)> {
        self.segments
            .iter()
            .map(|s| {
                let from = rows.partition_point(|&t| t < s.spans.start);
                let to = rows.partition_point(|&t| t < s.spans.end);
                (s, from..to)
            })
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }

    /// Rows that train, over every series.
    pub fn train_rows(&self) -> usize {
        self.segments
            .iter()
            .map(|s| s.spans.split - s.spans.start)
            .sum()
    }

    /// Scores only rows whose window and horizon, up to `reach` rows back (the sweep's
    /// longest window + horizon), stay within one unbroken stretch of rows. Every run of a
    /// sweep is then scored on the same rows.
    pub fn score_reach(mut self, reach: usize) -> Self {
        let breaks = std::mem::take(&mut self.breaks);
        self.val.retain(|&t| unbroken(&breaks, t, reach));
        self.test.retain(|&t| unbroken(&breaks, t, reach));
        self.breaks = breaks;
        self
    }

    pub fn rows(&self) -> usize {
        self.targets.len()
    }

    /// Target rows trained on: every row of the training split with a full window before it
    /// that reaches across no break.
    pub fn train_targets(&self, window: usize, horizon: usize) -> Vec<usize> {
        let reach = window + horizon;
        self.segments
            .iter()
            .flat_map(|s| (s.spans.start + reach - 1).min(s.spans.split)..s.spans.split)
            .filter(|&t| unbroken(&self.breaks, t, reach))
            .collect()
    }

    /// Target rows, of every span, whose window of `reach` rows reaches across a gap in the
    /// time column but not outside its series: the windows the gap rule drops.
    pub fn windows_across_gaps(&self, reach: usize) -> usize {
        if self.gaps.is_empty() {
            return 0;
        }
        self.segments
            .iter()
            .flat_map(|s| (s.spans.start + reach - 1).min(s.spans.end)..s.spans.end)
            .filter(|&t| !unbroken(&self.gaps, t, reach))
            .count()
    }

    /// Target rows scored for selection: the validation span (see [`Prepared::score_reach`]).
    pub fn val_targets(&self) -> &[usize] {
        &self.val
    }

    /// Target rows of the held-out test span; empty without one.
    pub fn test_targets(&self) -> &[usize] {
        &self.test
    }

    /// Inputs `[len, window, n_features]` and targets `[len]` for the given target rows.
    /// The window for target row `t` ends `horizon` rows before it.
    pub fn batch(&self, targets: &[usize], window: usize, horizon: usize) -> (Vec<f32>, Vec<f32>) {
        self.batch_leads(targets, window, horizon, 1)
    }

    /// As [`Prepared::batch`] with `leads` targets per window: rows `t … t+leads-1`, where
    /// `t` (the window's first forecast row) is `offset` rows after the window's last row.
    pub fn batch_leads(
        &self,
        targets: &[usize],
        window: usize,
        offset: usize,
        leads: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let f = self.n_features;
        let mut x = Vec::with_capacity(targets.len() * window * f);
        let mut y = Vec::with_capacity(targets.len() * leads);
        for &t in targets {
            let start = t + 1 - offset - window;
            x.extend_from_slice(&self.inputs[start * f..(start + window) * f]);
            y.extend_from_slice(&self.targets[t..t + leads]);
        }
        (x, y)
    }
}

/// The first forecast rows of windows whose `leads` consecutive rows all lie in `rows`
/// (ascending).
pub fn anchors(rows: &[usize], leads: usize) -> Vec<usize> {
    let leads = leads.max(1);
    rows.iter()
        .enumerate()
        .filter(|&(i, &t)| rows.get(i + leads - 1) == Some(&(t + leads - 1)))
        .map(|(_, &t)| t)
        .collect()
}

/// Whether rows `t + 1 - reach ..= t` hold no break (a break is the first row after a gap, so
/// a break at the first row of that span is harmless).
fn unbroken(breaks: &[usize], t: usize, reach: usize) -> bool {
    let first = (t + 1).saturating_sub(reach);
    let i = breaks.partition_point(|&b| b <= first);
    breaks.get(i).is_none_or(|&b| b > t)
}

/// RMSE and MAE per lead time of `predicted` (`leads` values per anchor, lead-major within
/// each) against the targets, original units.
pub fn lead_errors(
    p: &Prepared,
    predicted: &[f64],
    anchors: &[usize],
    leads: usize,
) -> Vec<(f64, f64)> {
    (0..leads)
        .map(|k| {
            let pred: Vec<f64> = predicted.iter().skip(k).step_by(leads).copied().collect();
            let rows: Vec<usize> = anchors.iter().map(|t| t + k).collect();
            rmse_mae(&pred, &actuals(p, &rows))
        })
        .collect()
}

/// The naive forecast's RMSE and MAE per lead: every lead repeats the last value the window
/// saw, `offset` rows before the anchor.
pub fn naive_lead_errors(
    p: &Prepared,
    anchors: &[usize],
    offset: usize,
    leads: usize,
) -> Vec<(f64, f64)> {
    let naive = naive_over(p, anchors, offset);
    let repeated: Vec<f64> = naive
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, leads))
        .collect();
    lead_errors(p, &repeated, anchors, leads)
}

/// The mean over lead times of per-lead RMSE and MAE: a multi-step run's `val_rmse`.
pub fn mean_over_leads(errors: &[(f64, f64)]) -> (f64, f64) {
    let n = errors.len().max(1) as f64;
    (
        errors.iter().map(|e| e.0).sum::<f64>() / n,
        errors.iter().map(|e| e.1).sum::<f64>() / n,
    )
}

/// Loads a spec's data and prepares it for training: the one path from a `[data]` section
/// to windows, shared by sweeps and by everything that reuses a trained model.
pub fn prepare(spec: &DataSpec, lines: &KeyLines) -> Result<(Dataset, Prepared), InputError> {
    let data = crate::data::load(spec, lines)?;
    let spans = series_spans(&data, spec.train_fraction, spec.test_fraction);
    let prepared = Prepared::from_spans(&data, &spans).score_reach(spec.reach);
    Ok((data, prepared))
}

/// Each series' spans. Several series with a time column are cut at common times: [`spans`]
/// over their distinct times, so no series trains on a time at which another is validated or
/// tested (a backtest's common cut-off). Otherwise [`spans`] over each series' own rows,
/// which for one series is the same cut.
pub fn series_spans(data: &Dataset, train_fraction: f64, test_fraction: f64) -> Vec<Spans> {
    if let Some(timeline) = data.timeline() {
        let (split, val_end) = spans(timeline.len(), train_fraction, test_fraction);
        return cut_at(data, &timeline, split, val_end);
    }
    data.series
        .iter()
        .map(|s| {
            let (split, val_end) = spans(s.len(), train_fraction, test_fraction);
            Spans {
                start: s.start,
                split: s.start + split,
                val_end: s.start + val_end,
                end: s.end,
            }
        })
        .collect()
}

/// Every series cut at distinct times `split` (its first validated time) and `val_end` (its
/// first time after validation).
pub fn cut_at(data: &Dataset, timeline: &Timeline, split: usize, val_end: usize) -> Vec<Spans> {
    data.series
        .iter()
        .map(|s| Spans {
            start: s.start,
            split: s.start + timeline.rows_before(s.rows(), split),
            val_end: s.start + timeline.rows_before(s.rows(), val_end),
            end: s.end,
        })
        .collect()
}

/// Normalisation statistics of one series' training rows.
fn statistics(data: &Dataset, spans: &Spans) -> Normalisation {
    let f = data.features.len();
    let train = spans.start..spans.split;
    let measured = f - data.indicator_columns;
    let (feature_mean, feature_std) = (0..f)
        .map(|c| match c < measured {
            true => mean_std(train.clone().map(|r| data.inputs[r * f + c])),
            false => (0.0, 1.0),
        })
        .unzip();
    let (target_mean, target_std) = mean_std(data.targets[train].iter().copied());
    Normalisation {
        feature_mean,
        feature_std,
        target_mean,
        target_std,
    }
}

pub fn split_row(rows: usize, train_fraction: f64) -> usize {
    ((rows as f64) * train_fraction).floor() as usize
}

/// `(split, val_end)`: the test span is the last `⌊rows·test_fraction⌋` rows; of the rows
/// before it, the first `⌊·train_fraction⌋` train and the rest validate.
pub fn spans(rows: usize, train_fraction: f64, test_fraction: f64) -> (usize, usize) {
    let val_end = rows - split_row(rows, test_fraction);
    (split_row(val_end, train_fraction), val_end)
}

/// Mean and population standard deviation; a constant column gets std 1 so it normalises to 0.
fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().map(|v| v as f64).sum::<f64>() / n;
    let var = values.map(|v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 1e-12 { std } else { 1.0 })
}

/// Root mean squared and mean absolute error of `predicted` against `actual`.
pub fn rmse_mae(predicted: &[f64], actual: &[f64]) -> (f64, f64) {
    let n = predicted.len().max(1) as f64;
    let (mut se, mut ae) = (0.0, 0.0);
    for (p, a) in predicted.iter().zip(actual) {
        se += (p - a).powi(2);
        ae += (p - a).abs();
    }
    ((se / n).sqrt(), ae / n)
}

/// The last-value forecast over the validation span: the target `horizon` rows earlier.
pub fn naive_forecast(p: &Prepared, horizon: usize) -> Vec<f64> {
    naive_over(p, p.val_targets(), horizon)
}

/// The last-value forecast for `rows`, in original units.
pub fn naive_over(p: &Prepared, rows: &[usize], horizon: usize) -> Vec<f64> {
    rows.iter()
        .map(|&t| p.raw_targets[t - horizon] as f64)
        .collect()
}

pub fn val_actuals(p: &Prepared) -> Vec<f64> {
    actuals(p, p.val_targets())
}

/// The MASE scale of a series: the mean absolute change from one row to the next over its
/// training rows (the in-sample one-step naive forecast's MAE), skipping steps across a gap;
/// none when there is no such step or the series never changes there.
pub fn naive_scale(p: &Prepared, seg: &Segment) -> Option<f64> {
    let steps: Vec<f64> = (seg.spans.start + 1..seg.spans.split)
        .filter(|t| p.breaks.binary_search(t).is_err())
        .map(|t| f64::from(p.raw_targets[t]) - f64::from(p.raw_targets[t - 1]))
        .map(f64::abs)
        .collect();
    let scale = steps.iter().sum::<f64>() / steps.len().max(1) as f64;
    (scale > 0.0 && scale.is_finite()).then_some(scale)
}

/// The targets of `rows` in original units.
pub fn actuals(p: &Prepared, rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&t| p.raw_targets[t] as f64).collect()
}

/// Two series of one value per time, A at times 0..10 and B at 4..14, and the rows' times:
/// the tests' case of series that start and end at different times.
#[cfg(test)]
pub(crate) fn two_series_over_different_times() -> (Dataset, Vec<i64>) {
    let times: Vec<i64> = (0..10).chain(4..14).collect();
    let values: Vec<f32> = times.iter().map(|&t| t as f32).collect();
    let mut data = Dataset::in_memory(vec!["y".into()], "y", values.clone(), values);
    data.times = Some(times.iter().map(i64::to_string).collect());
    data.series = [("A", 0, 10), ("B", 10, 20)]
        .map(|(name, start, end)| crate::data::SeriesRows {
            name: name.into(),
            start,
            end,
        })
        .to_vec();
    (data, times)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(targets: Vec<f32>) -> Dataset {
        Dataset::in_memory(vec!["y".into()], "y", targets.clone(), targets)
    }

    fn rows(r: std::ops::Range<usize>) -> Vec<usize> {
        r.collect()
    }

    #[test]
    fn statistics_come_from_the_training_split_only() {
        let p = Prepared::new(&dataset(vec![1.0, 3.0, 1.0, 3.0, 100.0]), 0.8);
        assert_eq!(p.segments[0].spans.split, 4);
        assert_eq!(p.stats().target_mean, 2.0);
        assert_eq!(p.stats().target_std, 1.0);
        assert_eq!(p.targets[4], 98.0);
    }

    #[test]
    fn windows_end_horizon_rows_before_their_target() {
        let p = Prepared::new(&dataset((0..10).map(|v| v as f32).collect()), 0.5);
        assert_eq!(p.train_targets(3, 2), rows(4..5));
        assert_eq!(p.val_targets(), rows(5..10));
        let (x, _) = p.batch(&[6], 3, 2);
        let raw: Vec<f64> = x
            .iter()
            .map(|&v| v as f64 * p.stats().feature_std[0] + p.stats().feature_mean[0])
            .collect();
        let rounded: Vec<i64> = raw.iter().map(|v| v.round() as i64).collect();
        assert_eq!(rounded, vec![2, 3, 4]);
    }

    #[test]
    fn the_test_span_is_the_last_rows_and_train_fraction_splits_the_rest() {
        assert_eq!(spans(100, 0.8, 0.0), (80, 100));
        assert_eq!(spans(100, 0.75, 0.2), (60, 80));
        assert_eq!(spans(10, 0.5, 0.25), (4, 8), "⌊2.5⌋ = 2 test rows");
        let data = dataset(vec![1.0, 3.0, 1.0, 3.0, 50.0, 60.0, 1e6, -1e6]);
        let p = Prepared::with_spans(&data, 4, 6);
        assert_eq!(
            (p.val_targets(), p.test_targets()),
            (&rows(4..6)[..], &rows(6..8)[..])
        );
        assert_eq!(
            p.stats().target_mean,
            2.0,
            "statistics from training rows only"
        );
        assert_eq!(val_actuals(&p), vec![50.0, 60.0]);
        assert_eq!(naive_over(&p, p.test_targets(), 1), vec![60.0, 1e6]);
    }

    #[test]
    fn direct_windows_carry_every_lead_and_stay_inside_their_span() {
        let p = Prepared::new(&dataset((0..10).map(|v| v as f32).collect()), 0.6);
        assert_eq!(
            anchors(p.val_targets(), 3),
            rows(6..8),
            "leads 6..9 fit, 8..11 would not"
        );
        assert_eq!(anchors(&[5], 3), rows(5..5));
        assert_eq!(
            anchors(&[1, 2, 3, 5, 6, 7], 3),
            vec![1, 5],
            "no window across a gap"
        );
        let (x, y) = p.batch_leads(&[6], 2, 1, 3);
        let undo = |v: &f32, i: usize| -> i64 {
            let (m, s) = if i == 0 {
                (p.stats().feature_mean[0], p.stats().feature_std[0])
            } else {
                (p.stats().target_mean, p.stats().target_std)
            };
            (*v as f64 * s + m).round() as i64
        };
        let x: Vec<i64> = x.iter().map(|v| undo(v, 0)).collect();
        let y: Vec<i64> = y.iter().map(|v| undo(v, 1)).collect();
        assert_eq!((x, y), (vec![4, 5], vec![6, 7, 8]));
        // Perfect forecasts have no error at any lead; the naive one grows with the lead.
        let exact = [6.0, 7.0, 8.0, 7.0, 8.0, 9.0];
        assert_eq!(lead_errors(&p, &exact, &[6, 7], 3), vec![(0.0, 0.0); 3]);
        let naive = naive_lead_errors(&p, &[6, 7], 1, 3);
        assert_eq!(naive, vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]);
        assert_eq!(mean_over_leads(&naive), (2.0, 2.0));
    }

    #[test]
    fn naive_forecast_repeats_the_value_horizon_rows_back() {
        let p = Prepared::new(&dataset(vec![1.0, 2.0, 4.0, 8.0]), 0.5);
        assert_eq!(naive_forecast(&p, 1), vec![2.0, 4.0]);
        let (rmse, mae) = rmse_mae(&naive_forecast(&p, 1), &val_actuals(&p));
        assert_eq!(mae, 3.0);
        assert!((rmse - 10f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn no_window_reaches_across_dropped_rows() {
        // Rows 0..12; a gap (dropped rows) before row 4 and before row 9.
        let mut d = dataset((0..12).map(|v| v as f32).collect());
        d.breaks = vec![4, 9];
        let p = Prepared::new(&d, 0.5).score_reach(3);
        // window 2, horizon 1: target t uses rows t-2..=t, all within one stretch.
        assert_eq!(p.train_targets(2, 1), vec![2, 3]);
        assert_eq!(p.val_targets(), vec![6, 7, 8, 11]);
        let p = Prepared::new(&d, 0.5);
        assert_eq!(p.val_targets().len(), 6, "no reach given: the whole span");
    }

    #[test]
    fn the_mase_scale_is_the_training_rows_step_change_skipping_gaps() {
        // Training rows 0..6 of 12: 0, 1, 3, 6, 10, 15; a gap before row 3.
        let values = [0.0, 1.0, 3.0, 6.0, 10.0, 15.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut d = dataset(values.to_vec());
        d.breaks = vec![3, 9];
        let p = Prepared::new(&d, 0.5);
        // Changes into rows 1, 2, 4 and 5 (into row 3 crosses the gap): (1 + 2 + 4 + 5) / 4.
        assert_eq!(naive_scale(&p, &p.segments[0]), Some(3.0));
        let flat = Prepared::new(&dataset(vec![2.0; 12]), 0.5);
        assert_eq!(naive_scale(&flat, &flat.segments[0]), None);
    }

    /// Series over different times are cut at common times: of the 15 distinct times 0..15
    /// (A at 0..10, B at 4..14), the last 3 test, the first 7 of the rest train. Cut by each
    /// series' own rows instead, B would train on times A is validated on.
    #[test]
    fn several_series_are_cut_at_common_times() {
        let (mut data, _) = two_series_over_different_times();
        let spans = series_spans(&data, 0.6, 0.2);
        let at = |s: &Spans| (s.start, s.split, s.val_end, s.end);
        // A: times 0..7 train, 7..10 validate, none tested; B: 4..7, 7..12, 12..14.
        assert_eq!(
            spans.iter().map(at).collect::<Vec<_>>(),
            [(0, 7, 10, 10), (10, 13, 18, 20)]
        );
        let p = Prepared::from_spans(&data, &spans);
        assert_eq!(p.segments[1].stats.target_mean, 5.0);
        data.times = None;
        let own_rows = series_spans(&data, 0.6, 0.2);
        assert_eq!(
            own_rows.iter().map(at).collect::<Vec<_>>(),
            [(0, 4, 8, 10), (10, 14, 18, 20)]
        );
    }
}
