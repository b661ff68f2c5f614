//! Forecasting from given rows with a loaded model: inference only (weights detached, no
//! autograd), the same normalisation arithmetic as training, so `predict`, `serve` and the
//! report give the same numbers for the same rows.

use super::RunModel;
use crate::artifacts::ModelCard;
use crate::error::InputError;
use crate::intervals::{self, Bound};
use crate::train::GruForecaster;
use crate::train::Normalisation;
use anyhow::Result;
use candle_core::{Device, Tensor};

/// Windows forecast per forward pass in a backtest: big enough to amortise the per-op cost,
/// small enough to keep activations in cache.
const CHUNK: usize = 256;

/// A run's model ready to forecast: detached weights and the card that undoes normalisation.
pub struct Forecaster {
    pub run_id: String,
    pub card: ModelCard,
    model: GruForecaster,
}

/// One forecast: `step` rows past the last given row.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub step: usize,
    pub value: f64,
}

impl Forecaster {
    pub fn new(run: RunModel) -> Forecaster {
        Forecaster {
            model: run.model.detached(),
            run_id: run.run_id,
            card: run.card,
        }
    }

    pub fn n_features(&self) -> usize {
        self.card.features.len()
    }

    /// Whether recursive multi-step forecasts are possible: the model reads only its own
    /// target and forecasts one step ahead, so each forecast can become the next input.
    pub fn recursive(&self) -> bool {
        self.card.features == [self.card.target.clone()] && self.card.horizon == 1
    }

    /// Checks a request for `steps` steps ahead from `rows` rows; `what` names the input.
    pub fn check(&self, rows: usize, steps: usize, what: &str) -> Result<(), InputError> {
        let c = &self.card;
        if rows < c.window {
            return Err(InputError::usage(
                what,
                format!(
                    "{rows} rows given, but the model reads a window of {} rows",
                    c.window
                ),
            ));
        }
        if steps < c.horizon && c.outputs <= 1 {
            return Err(InputError::usage(
                "steps",
                format!(
                    "the model forecasts {} steps ahead; ask for at least that many",
                    c.horizon
                ),
            ));
        }
        if steps > c.horizon && !self.recursive() {
            return Err(InputError::usage(
                "steps",
                format!(
                    "{steps} steps need a recursive forecast, which only works for a model whose only input is its target ({}) with horizon 1; this one reads [{}] with horizon {}, so it forecasts exactly {} step(s) ahead",
                    c.target,
                    c.features.join(", "),
                    c.horizon,
                    c.horizon
                ),
            ));
        }
        Ok(())
    }

    /// The statistics that normalise the rows of series `series` ("" for a model of one
    /// series). A model of several series needs a name it trained on.
    pub fn stats(&self, series: &str) -> Result<&Normalisation, InputError> {
        let c = &self.card;
        match (c.series.is_empty(), series.is_empty()) {
            (true, true) => Ok(&c.normalisation),
            (true, false) => Err(InputError::usage(
                "series",
                format!("the model trained on one series; it has no series \"{series}\""),
            )),
            (false, true) => Err(InputError::usage(
                "series",
                format!(
                    "the model forecasts several series ({}): name one",
                    self.series_names().join(", ")
                ),
            )),
            (false, false) => c
                .stats_for(series)
                .map_err(|m| InputError::usage("series", m)),
        }
    }

    /// Checks that the card calibrates an interval at each of `levels` (percent) for series
    /// `series` ("" for a model of one series); `what` names where the levels were asked for.
    pub fn check_levels(&self, levels: &[u32], series: &str, what: &str) -> Result<(), InputError> {
        for &level in levels {
            if !intervals::LEVELS.contains(&level) {
                let known: Vec<String> = intervals::LEVELS.iter().map(u32::to_string).collect();
                return Err(InputError::usage(
                    what,
                    format!(
                        "no {level}% interval: models calibrate {}",
                        known.join(", ")
                    ),
                ));
            }
            if intervals::half_width(&self.card.intervals, series, level, 0).is_none() {
                let why = if self.card.intervals.is_empty() {
                    "its model card has no intervals (it predates them)"
                } else {
                    "too few validation windows calibrate it"
                };
                let of = if series.is_empty() {
                    String::new()
                } else {
                    format!(" for series \"{series}\"")
                };
                return Err(InputError::usage(
                    what,
                    format!("run {} has no {level}% interval{of}: {why}", self.run_id),
                ));
            }
        }
        Ok(())
    }

    /// The interval around a forecast `value` at `step` for each of `levels`: none for a
    /// step the calibration errors do not cover (a recursive step past the horizon).
    pub fn bounds(&self, series: &str, step: usize, value: f64, levels: &[u32]) -> Vec<Bound> {
        let lead = if self.outputs() > 1 {
            step.checked_sub(1)
        } else {
            (step == self.card.horizon).then_some(0)
        };
        let Some(lead) = lead else {
            return Vec::new();
        };
        levels
            .iter()
            .filter_map(|&level| {
                let h = intervals::half_width(&self.card.intervals, series, level, lead)?;
                Some(Bound {
                    level,
                    lower: value - h,
                    upper: value + h,
                })
            })
            .collect()
    }

    /// The series the model trained on; empty for a model of one series.
    pub fn series_names(&self) -> Vec<&str> {
        self.card.series.iter().map(|s| s.name.as_str()).collect()
    }

    /// Forecasts from the last `window` rows of `rows` (raw values, row-major
    /// `[n, features]`) of series `series`: the one forecast at `horizon`, or with
    /// `steps > horizon` (recursive models only, see [`Forecaster::check`]) each step from
    /// 1 to `steps`, feeding every forecast back as the next row.
    pub fn forecast(&self, rows: &[f32], steps: usize, series: &str) -> Result<Vec<Forecast>> {
        let f = self.n_features();
        self.check(rows.len() / f, steps, "rows")?;
        let stats = self.stats(series)?;
        let outputs = self.outputs();
        if outputs > 1 {
            // A direct head forecasts every step from 1 to its horizon in one pass.
            let values = self.forward(&[(self.last_window(rows), stats)])?;
            return Ok(values
                .into_iter()
                .take(steps)
                .enumerate()
                .map(|(k, value)| Forecast { step: k + 1, value })
                .collect());
        }
        if steps == self.card.horizon {
            let value = self.forward(&[(self.last_window(rows), stats)])?[0];
            return Ok(vec![Forecast { step: steps, value }]);
        }
        let w = self.card.window;
        let mut window: Vec<f32> = rows[rows.len() - w..].to_vec();
        let mut out = Vec::with_capacity(steps);
        for step in 1..=steps {
            let value = self.forward(&[(&window, stats)])?[0];
            out.push(Forecast { step, value });
            window.remove(0);
            window.push(value as f32);
        }
        Ok(out)
    }

    /// One forecast per instance (each at least `window` rows, with its series), in one
    /// forward pass.
    pub fn forecast_batch(&self, instances: &[(&[f32], &str)]) -> Result<Vec<f64>> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let windows = instances
            .iter()
            .map(|&(r, series)| Ok((self.last_window(r), self.stats(series)?)))
            .collect::<Result<Vec<_>, InputError>>()?;
        Ok(self.at_horizon(self.forward(&windows)?))
    }

    /// Values forecast per window: `horizon` for a direct head, else 1.
    fn outputs(&self) -> usize {
        self.card.outputs.max(1)
    }

    /// Each window's forecast at the model's horizon: a direct head's last output.
    fn at_horizon(&self, values: Vec<f64>) -> Vec<f64> {
        let k = self.outputs();
        values.into_iter().skip(k - 1).step_by(k).collect()
    }

    /// Backtest over every window of `inputs`/`targets` (raw values): the forecast for each
    /// target row that has a full window `horizon` rows before it. Returns
    /// `(first target row, forecasts)`.
    pub fn backtest(&self, inputs: &[f32], rows: usize, series: &str) -> Result<(usize, Vec<f64>)> {
        let (w, h, f) = (self.card.window, self.card.horizon, self.n_features());
        let stats = self.stats(series)?;
        let first = w + h - 1;
        if rows <= first {
            return Err(InputError::usage(
                "--data",
                format!(
                    "{rows} rows are too few to backtest: a window of {w} rows and a horizon of {h} need at least {}",
                    first + 1
                ),
            )
            .into());
        }
        let mut out = Vec::with_capacity(rows - first);
        let targets: Vec<usize> = (first..rows).collect();
        for chunk in targets.chunks(CHUNK) {
            let windows: Vec<(&[f32], &Normalisation)> = chunk
                .iter()
                .map(|&t| {
                    let start = t + 1 - h - w;
                    (&inputs[start * f..(start + w) * f], stats)
                })
                .collect();
            out.extend(self.at_horizon(self.forward(&windows)?));
        }
        Ok((first, out))
    }

    /// The last `window` rows of `rows` (at least that many).
    pub fn last_window<'a>(&self, rows: &'a [f32]) -> &'a [f32] {
        let len = self.card.window * self.n_features();
        &rows[rows.len() - len..]
    }

    /// Normalises each window as training did (by its series' statistics), runs one forward
    /// pass over all of them and returns forecasts in the target's units.
    fn forward(&self, windows: &[(&[f32], &Normalisation)]) -> Result<Vec<f64>> {
        let f = self.n_features();
        let mut x = Vec::with_capacity(windows.len() * self.card.window * f);
        for (w, stats) in windows {
            x.extend(w.iter().enumerate().map(|(i, &v)| {
                ((v as f64 - stats.feature_mean[i % f]) / stats.feature_std[i % f]) as f32
            }));
        }
        let x = Tensor::from_vec(x, (windows.len(), self.card.window, f), &Device::Cpu)?;
        let y = self.model.forward(&x)?.to_vec1::<f32>()?;
        let k = self.outputs();
        Ok(y.into_iter()
            .enumerate()
            .map(|(i, v)| windows[i / k].1.denormalise_target(v))
            .collect())
    }
}
