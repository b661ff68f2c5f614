//! Normalised series and the windows cut from them. Statistics come from the training split
//! only, so nothing about the validation span leaks into training.

use crate::data::Dataset;
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
    pub stats: Normalisation,
    /// First row of the validation span; rows before it are the training split.
    pub split: usize,
    /// Rows that follow rows dropped for missing values (ascending): windows never reach
    /// across one.
    pub breaks: Vec<usize>,
    /// Target rows scored, ascending: the validation span, less rows whose window would
    /// reach across a break (see [`Prepared::score_reach`]).
    val: Vec<usize>,
}

impl Prepared {
    pub fn new(data: &Dataset, train_fraction: f64) -> Prepared {
        let rows = data.rows();
        let f = data.features.len();
        let split = split_row(rows, train_fraction);
        let mut feature_mean = Vec::with_capacity(f);
        let mut feature_std = Vec::with_capacity(f);
        for c in 0..f {
            let col = (0..split).map(|r| data.inputs[r * f + c]);
            let (m, s) = mean_std(col);
            feature_mean.push(m);
            feature_std.push(s);
        }
        let (target_mean, target_std) = mean_std(data.targets[..split].iter().copied());
        let inputs = data
            .inputs
            .iter()
            .enumerate()
            .map(|(i, &v)| ((v as f64 - feature_mean[i % f]) / feature_std[i % f]) as f32)
            .collect();
        let targets = data
            .targets
            .iter()
            .map(|&v| ((v as f64 - target_mean) / target_std) as f32)
            .collect();
        Prepared {
            n_features: f,
            inputs,
            targets,
            raw_targets: data.targets.clone(),
            stats: Normalisation {
                feature_mean,
                feature_std,
                target_mean,
                target_std,
            },
            split,
            breaks: data.breaks.clone(),
            val: (split..rows).collect(),
        }
    }

    /// Scores only validation rows whose window and horizon, up to `reach` rows back (the
    /// sweep's longest window + horizon), stay within one unbroken stretch of rows. Every run
    /// of a sweep is then scored on the same rows.
    pub fn score_reach(mut self, reach: usize) -> Self {
        let breaks = std::mem::take(&mut self.breaks);
        self.val.retain(|&t| unbroken(&breaks, t, reach));
        self.breaks = breaks;
        self
    }

    pub fn rows(&self) -> usize {
        self.targets.len()
    }

    /// Target rows trained on: every row of the training split with a full window before it
    /// that reaches across no break.
    pub fn train_targets(&self, window: usize, horizon: usize) -> impl Iterator<Item = usize> + '_ {
        let reach = window + horizon;
        ((window + horizon - 1).min(self.split)..self.split)
            .filter(move |&t| unbroken(&self.breaks, t, reach))
    }

    /// Target rows scored (see [`Prepared::score_reach`]).
    pub fn val_targets(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.val.iter().copied()
    }

    /// Inputs `[len, window, n_features]` and targets `[len]` for the given target rows.
    /// The window for target row `t` ends `horizon` rows before it.
    pub fn batch(&self, targets: &[usize], window: usize, horizon: usize) -> (Vec<f32>, Vec<f32>) {
        let f = self.n_features;
        let mut x = Vec::with_capacity(targets.len() * window * f);
        let mut y = Vec::with_capacity(targets.len());
        for &t in targets {
            let start = t + 1 - horizon - window;
            x.extend_from_slice(&self.inputs[start * f..(start + window) * f]);
            y.push(self.targets[t]);
        }
        (x, y)
    }
}

/// Loads a spec's data and prepares it for training: the one path from a `[data]` section
/// to windows, shared by sweeps and by everything that reuses a trained model.
pub fn prepare(spec: &DataSpec, lines: &KeyLines) -> Result<(Dataset, Prepared), InputError> {
    let data = crate::data::load(spec, lines)?;
    let prepared = Prepared::new(&data, spec.train_fraction).score_reach(spec.reach);
    Ok((data, prepared))
}

/// Whether rows `t + 1 - reach ..= t` hold no break (a break is the first row after a gap, so
/// a break at the first row of that span is harmless).
fn unbroken(breaks: &[usize], t: usize, reach: usize) -> bool {
    let first = (t + 1).saturating_sub(reach);
    let i = breaks.partition_point(|&b| b <= first);
    breaks.get(i).is_none_or(|&b| b > t)
}

pub fn split_row(rows: usize, train_fraction: f64) -> usize {
    ((rows as f64) * train_fraction).floor() as usize
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

/// The last-value forecast: the target `horizon` rows earlier, in original units.
pub fn naive_forecast(p: &Prepared, horizon: usize) -> Vec<f64> {
    p.val_targets()
        .map(|t| p.raw_targets[t - horizon] as f64)
        .collect()
}

pub fn val_actuals(p: &Prepared) -> Vec<f64> {
    p.val_targets().map(|t| p.raw_targets[t] as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(targets: Vec<f32>) -> Dataset {
        Dataset {
            path: "d.csv".into(),
            hash: String::new(),
            features: vec!["y".into()],
            target: "y".into(),
            inputs: targets.clone(),
            targets,
            times: None,
            dropped_rows: 0,
            breaks: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn statistics_come_from_the_training_split_only() {
        let p = Prepared::new(&dataset(vec![1.0, 3.0, 1.0, 3.0, 100.0]), 0.8);
        assert_eq!(p.split, 4);
        assert_eq!(p.stats.target_mean, 2.0);
        assert_eq!(p.stats.target_std, 1.0);
        assert_eq!(p.targets[4], 98.0);
    }

    #[test]
    fn windows_end_horizon_rows_before_their_target() {
        let p = Prepared::new(&dataset((0..10).map(|v| v as f32).collect()), 0.5);
        assert_eq!(p.train_targets(3, 2).collect::<Vec<_>>(), vec![4]);
        assert_eq!(
            p.val_targets().collect::<Vec<_>>(),
            (5..10).collect::<Vec<_>>()
        );
        let (x, _) = p.batch(&[6], 3, 2);
        let raw: Vec<f64> = x
            .iter()
            .map(|&v| v as f64 * p.stats.feature_std[0] + p.stats.feature_mean[0])
            .collect();
        let rounded: Vec<i64> = raw.iter().map(|v| v.round() as i64).collect();
        assert_eq!(rounded, vec![2, 3, 4]);
    }

    #[test]
    fn no_window_reaches_across_dropped_rows() {
        // Rows 0..12; a gap (dropped rows) before row 4 and before row 9.
        let mut d = dataset((0..12).map(|v| v as f32).collect());
        d.breaks = vec![4, 9];
        let p = Prepared::new(&d, 0.5).score_reach(3);
        // window 2, horizon 1: target t uses rows t-2..=t, all within one stretch.
        assert_eq!(p.train_targets(2, 1).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(p.val_targets().collect::<Vec<_>>(), vec![6, 7, 8, 11]);
        let p = Prepared::new(&d, 0.5);
        assert_eq!(p.val_targets().len(), 6, "no reach given: the whole span");
    }

    #[test]
    fn naive_forecast_repeats_the_value_horizon_rows_back() {
        let p = Prepared::new(&dataset(vec![1.0, 2.0, 4.0, 8.0]), 0.5);
        assert_eq!(naive_forecast(&p, 1), vec![2.0, 4.0]);
        let (rmse, mae) = rmse_mae(&naive_forecast(&p, 1), &val_actuals(&p));
        assert_eq!(mae, 3.0);
        assert!((rmse - 10f64.sqrt()).abs() < 1e-12);
    }
}
