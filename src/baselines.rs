//! Baselines a forecaster must beat, scored on exactly the rows the GRU is scored on: the naive
//! last-value forecast, a linear autoregressive model (ridge least squares on the same
//! normalised windows and features, fitted on the training split only), and, when the data has
//! a season, the value one season back. Each is a closed-form pass over the data, computed once
//! per window and horizon, never inside the training loop.

use crate::metrics;
use crate::train::Prepared;
use crate::train::windows::{actuals, naive_forecast, rmse_mae, val_actuals};

/// Ridge penalty on the z-scored inputs (not on the intercept): enough to keep the normal
/// equations well conditioned when features are collinear, too little to matter otherwise.
pub const RIDGE_LAMBDA: f64 = 1.0;

/// Inputs wider than this (window × features + 1) get no linear baseline: the normal equations
/// grow with its square.
pub const MAX_LINEAR_INPUTS: usize = 2048;

/// The baselines' final metrics for one window and horizon, named as the store records them.
pub fn metrics(
    p: &Prepared,
    window: usize,
    horizon: usize,
    season: Option<usize>,
) -> Vec<(&'static str, f64)> {
    let actual = val_actuals(p);
    let mut out = Vec::new();
    let (rmse, mae) = rmse_mae(&naive_forecast(p, horizon), &actual);
    out.extend([
        (metrics::NAIVE_VAL_RMSE, rmse),
        (metrics::NAIVE_VAL_MAE, mae),
    ]);
    if let Some(forecast) = linear_forecast(p, window, horizon) {
        let (rmse, mae) = rmse_mae(&forecast, &actual);
        out.extend([
            (metrics::LINEAR_VAL_RMSE, rmse),
            (metrics::LINEAR_VAL_MAE, mae),
        ]);
        out.extend(by_series(
            p,
            p.val_targets(),
            &forecast,
            metrics::LINEAR_VAL_RMSE,
        ));
    }
    if let Some(forecast) = season.and_then(|s| seasonal_naive_forecast(p, horizon, s)) {
        let (rmse, mae) = rmse_mae(&forecast, &actual);
        out.extend([
            (metrics::SEASONAL_NAIVE_VAL_RMSE, rmse),
            (metrics::SEASONAL_NAIVE_VAL_MAE, mae),
        ]);
        out.extend(by_series(
            p,
            p.val_targets(),
            &forecast,
            metrics::SEASONAL_NAIVE_VAL_RMSE,
        ));
    }
    out.extend(test_metrics(p, window, horizon, season));
    out
}

/// The linear and seasonal baselines on the test span, when there is one: the same models
/// (the linear one fitted on the training split only), scored on rows nothing chose on.
fn test_metrics(
    p: &Prepared,
    window: usize,
    horizon: usize,
    season: Option<usize>,
) -> Vec<(&'static str, f64)> {
    let rows = p.test_targets();
    if rows.is_empty() {
        return Vec::new();
    }
    let actual = actuals(p, rows);
    let mut out = Vec::new();
    if let Some(forecast) = linear_over(p, rows, window, horizon) {
        let (rmse, mae) = rmse_mae(&forecast, &actual);
        out.extend([
            (metrics::LINEAR_TEST_RMSE, rmse),
            (metrics::LINEAR_TEST_MAE, mae),
        ]);
        out.extend(by_series(p, rows, &forecast, metrics::LINEAR_TEST_RMSE));
    }
    if let Some(forecast) = season.and_then(|s| seasonal_naive_over(p, rows, horizon, s)) {
        let (rmse, mae) = rmse_mae(&forecast, &actual);
        out.extend([
            (metrics::SEASONAL_NAIVE_TEST_RMSE, rmse),
            (metrics::SEASONAL_NAIVE_TEST_MAE, mae),
        ]);
        out.extend(by_series(
            p,
            rows,
            &forecast,
            metrics::SEASONAL_NAIVE_TEST_RMSE,
        ));
    }
    out
}

/// The RMSE of `forecast` (one value per row of `rows`) on each series, as `metric` of that
/// series; nothing for data of one series.
pub fn by_series(
    p: &Prepared,
    rows: &[usize],
    forecast: &[f64],
    metric: &str,
) -> Vec<(&'static str, f64)> {
    if p.segments.len() < 2 {
        return Vec::new();
    }
    p.series_ranges(rows)
        .into_iter()
        .map(|(seg, r)| {
            let (rmse, _) = rmse_mae(&forecast[r.clone()], &actuals(p, &rows[r]));
            (metrics::of_series(&seg.name, metric), rmse)
        })
        .collect()
}

/// The value one season back (several seasons when the horizon is longer than one), in
/// original units; `None` when a validation row has no such value.
pub fn seasonal_naive_forecast(p: &Prepared, horizon: usize, season: usize) -> Option<Vec<f64>> {
    seasonal_naive_over(p, p.val_targets(), horizon, season)
}

/// The seasonal naive forecast for the target rows `rows`.
fn seasonal_naive_over(
    p: &Prepared,
    rows: &[usize],
    horizon: usize,
    season: usize,
) -> Option<Vec<f64>> {
    if season == 0 {
        return None;
    }
    let back = season * horizon.div_ceil(season);
    // A season back must stay within the row's own series.
    rows.iter()
        .map(|&t| {
            t.checked_sub(back)
                .filter(|&s| s >= p.segment_of(t).spans.start)
                .map(|s| p.raw_targets[s] as f64)
        })
        .collect()
}

/// Ridge regression of the normalised target on the normalised window, fitted on every
/// training window and applied to every validation window, in original units.
pub fn linear_forecast(p: &Prepared, window: usize, horizon: usize) -> Option<Vec<f64>> {
    linear_over(p, p.val_targets(), window, horizon)
}

/// The ridge autoregression, fitted on the training split, for the target rows `rows`.
fn linear_over(p: &Prepared, rows: &[usize], window: usize, horizon: usize) -> Option<Vec<f64>> {
    let train = p.train_targets(window, horizon);
    let inputs = window * p.n_features + 1;
    if train.is_empty() || inputs > MAX_LINEAR_INPUTS {
        return None;
    }
    let beta = fit(p, &train, window, horizon)?;
    let (x, _) = p.batch(rows, window, horizon);
    let width = inputs - 1;
    Some(
        x.chunks(width)
            .zip(rows)
            .map(|(row, &t)| {
                let z = beta[width]
                    + row
                        .iter()
                        .zip(&beta)
                        .map(|(&v, b)| v as f64 * b)
                        .sum::<f64>();
                let stats = &p.segment_of(t).stats;
                z * stats.target_std + stats.target_mean
            })
            .collect(),
    )
}

/// Solves (XᵀX + λI)β = Xᵀy with the intercept unpenalised, X's last column all ones.
fn fit(p: &Prepared, train: &[usize], window: usize, horizon: usize) -> Option<Vec<f64>> {
    let (x, y) = p.batch(train, window, horizon);
    let width = window * p.n_features;
    let d = width + 1;
    let mut gram = vec![0.0f64; d * d];
    let mut rhs = vec![0.0f64; d];
    let mut row = vec![1.0f64; d];
    for (xs, &target) in x.chunks(width).zip(&y) {
        for (r, &v) in row.iter_mut().zip(xs) {
            *r = v as f64;
        }
        for i in 0..d {
            rhs[i] += row[i] * target as f64;
            let ri = row[i];
            for (g, &rj) in gram[i * d..i * d + i + 1].iter_mut().zip(&row[..=i]) {
                *g += ri * rj;
            }
        }
    }
    for i in 0..width {
        gram[i * d + i] += RIDGE_LAMBDA;
    }
    cholesky_solve(&mut gram, &mut rhs, d).then_some(rhs)
}

/// Solves `a x = b` in place for a symmetric positive definite `a` (lower triangle used);
/// `b` becomes `x`. False when `a` is not positive definite.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut diag = a[j * n + j];
        for k in 0..j {
            diag -= a[j * n + k] * a[j * n + k];
        }
        if diag <= 0.0 || !diag.is_finite() {
            return false;
        }
        let diag = diag.sqrt();
        a[j * n + j] = diag;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for k in 0..j {
                v -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = v / diag;
        }
    }
    for i in 0..n {
        let mut v = b[i];
        for k in 0..i {
            v -= a[i * n + k] * b[k];
        }
        b[i] = v / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut v = b[i];
        for k in i + 1..n {
            v -= a[k * n + i] * b[k];
        }
        b[i] = v / a[i * n + i];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    fn prepared(values: Vec<f32>, train_fraction: f64) -> Prepared {
        let data = Dataset::in_memory(vec!["y".into()], "y", values.clone(), values);
        Prepared::new(&data, train_fraction)
    }

    #[test]
    fn cholesky_solves_a_hand_computed_system() {
        // [[4, 2], [2, 3]] x = [2, 1]  →  x = [0.5, 0].
        let mut a = vec![4.0, 0.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        assert!(cholesky_solve(&mut a, &mut b, 2));
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12, "{b:?}");
        let mut singular = vec![0.0, 0.0, 0.0, 0.0];
        assert!(!cholesky_solve(&mut singular, &mut [1.0, 1.0], 2));
    }

    #[test]
    fn ridge_matches_the_closed_form_on_a_hand_computed_case() {
        // Training rows 0..4 of y = [0, 1, 0, 1, ...]: with window 1, horizon 1 the training
        // windows are (x, y) = (0,1), (1,0), (0,1) in raw units. Normalised with the split's
        // mean 0.5 and std 0.5: x, y ∈ {-1, 1}, pairs (-1,1), (1,-1), (-1,1).
        // Normal equations with λ = 1 on the slope: [[3+1, -1], [-1, 3]] β = [-3, 1]
        // → slope = -0.7272…, intercept = 0.0909…
        let p = prepared(vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], 0.5);
        let beta = fit(&p, &[1, 2, 3], 1, 1).unwrap();
        assert!((beta[0] - (-8.0 / 11.0)).abs() < 1e-9, "{beta:?}");
        assert!((beta[1] - 1.0 / 11.0).abs() < 1e-9, "{beta:?}");
        // Validation rows 4..8 follow the previous value 1, 0, 1, 0.
        let f = linear_forecast(&p, 1, 1).unwrap();
        let z_after_one = (-8.0 / 11.0 + 1.0 / 11.0) * 0.5 + 0.5;
        assert!((f[0] - z_after_one).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn a_trend_is_followed_better_than_by_the_last_value() {
        let p = prepared((0..200).map(|v| v as f32 * 0.5).collect(), 0.8);
        let (rmse, _) = rmse_mae(&linear_forecast(&p, 3, 1).unwrap(), &val_actuals(&p));
        let (naive, _) = rmse_mae(&naive_forecast(&p, 1), &val_actuals(&p));
        assert!(rmse < naive / 3.0, "linear {rmse} vs naive {naive}");
    }

    #[test]
    fn seasonal_naive_looks_one_season_back() {
        let p = prepared(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 0.5);
        assert_eq!(
            seasonal_naive_forecast(&p, 1, 3).unwrap(),
            vec![2.0, 3.0, 4.0, 5.0]
        );
        // A horizon longer than the season looks back whole seasons.
        assert_eq!(
            seasonal_naive_forecast(&p, 3, 2).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert!(
            seasonal_naive_forecast(&p, 4, 3).is_none(),
            "row 4 has no value six rows back"
        );
    }
}
