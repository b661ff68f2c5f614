//! A run's model, used the way it was trained: its weights and card reloaded, its data read
//! again with the run's own settings and checked against the recorded hash, and forecasts in
//! the target's units. The report's forecast chart goes through here, so every consumer of a
//! trained model gives the same numbers for the same rows.

use crate::artifacts::{self, ModelCard};
use crate::data::Dataset;
use crate::intervals::{self, Widths};
use crate::spec::Spec;
use crate::store::{RunRecord, Store};
use crate::train::{self, GruForecaster, Prepared, TrainConfig, windows};
use anyhow::{Context, Result, anyhow, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

mod infer;
mod times;

pub use infer::{Forecast, Forecaster};
pub use times::{Bounds, TimeAxis, Timed, stamp};

/// A run's trained model with what rebuilding it needs.
pub struct RunModel {
    pub run_id: String,
    pub model: GruForecaster,
    pub card: ModelCard,
    pub cfg: TrainConfig,
}

/// The data a run trained on, read again as it was then.
pub struct RunData {
    pub spec: Spec,
    pub data: Dataset,
    pub prepared: Prepared,
}

/// Forecasts over a run's validation span, in the target's units.
#[derive(Clone)]
pub struct SpanForecast {
    pub predicted: Vec<f64>,
    pub actual: Vec<f64>,
    /// The naive last-value forecast for the same rows.
    pub naive: Vec<f64>,
    /// The time stamp of each row, when the data has a time column.
    pub times: Option<Vec<String>>,
    /// Each row's series, for data of several series.
    pub series: Option<Vec<String>>,
    /// Which of the model's outputs (lead times, from 0) the rows' forecasts are.
    pub lead: usize,
}

impl SpanForecast {
    pub fn rmse_mae(&self) -> (f64, f64) {
        windows::rmse_mae(&self.predicted, &self.actual)
    }

    pub fn naive_rmse_mae(&self) -> (f64, f64) {
        windows::rmse_mae(&self.naive, &self.actual)
    }

    /// The share of rows whose actual falls inside the forecast ± the half-width `widths`
    /// give at `level`; none when no row's series has one.
    pub fn coverage(&self, widths: &[Widths], level: u32) -> Option<f64> {
        let points = (0..self.actual.len()).map(|i| {
            let series = self.series.as_ref().map_or("", |s| s[i].as_str());
            (series, self.lead, self.actual[i], self.predicted[i])
        });
        intervals::share_inside(widths, level, points)
    }

    /// The rows of series `name` alone; all rows for data of one series.
    pub fn only_series(&self, name: &str) -> SpanForecast {
        let Some(series) = &self.series else {
            return self.clone();
        };
        let keep: Vec<usize> = (0..series.len()).filter(|&i| series[i] == name).collect();
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect();
        SpanForecast {
            predicted: pick(&self.predicted),
            actual: pick(&self.actual),
            naive: pick(&self.naive),
            times: self
                .times
                .as_ref()
                .map(|t| keep.iter().map(|&i| t[i].clone()).collect()),
            series: Some(keep.iter().map(|&i| series[i].clone()).collect()),
            lead: self.lead,
        }
    }
}

pub fn load_model(store: &Store, run_id: &str) -> Result<RunModel> {
    let (model, card) = artifacts::load_model(&store.fetch_artifacts(run_id)?)
        .with_context(|| format!("the model of run {run_id} could not be loaded"))?;
    let mut cfg = TrainConfig::from_params(&card.params).map_err(|e| anyhow!(e))?;
    cfg.outputs = card.outputs;
    Ok(RunModel {
        run_id: run_id.to_string(),
        model,
        card,
        cfg,
    })
}

/// Reads the run's data file again through the spec its sweep recorded, and refuses data that
/// changed since: a forecast on other rows than the run was scored on would mislead.
pub fn load_run_data(store: &Store, run: &RunRecord, card: &ModelCard) -> Result<RunData> {
    let sweep = store
        .sweep_detail(&run.sweep_id)?
        .context("the run's sweep is not in the store")?;
    let mut first_error = None;
    for path in spec_candidates(store, Path::new(&sweep.record.spec_path)) {
        let attempt = Spec::parse(&path, sweep.spec_text.clone()).and_then(|spec| {
            let (data, prepared) = train::prepare(&spec.data, &spec.lines)?;
            Ok(RunData {
                spec,
                data,
                prepared,
            })
        });
        match attempt {
            Ok(mut loaded) => {
                check_hash(&loaded.data, card)?;
                // A model kept after rolling-origin evaluation trained on every row before
                // the test span: its inputs are normalised by those rows, as its card says.
                let stats = card.stats_for_data(&loaded.data).map_err(|e| anyhow!(e))?;
                let p = &loaded.prepared;
                if p.segments.iter().map(|s| &s.stats).ne(stats.iter()) {
                    loaded.prepared = Prepared::with_stats(&loaded.data, &p.spans(), stats)
                        .score_reach(loaded.spec.data.reach);
                }
                return Ok(loaded);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    bail!(
        "the data could not be reloaded ({})",
        first_error.map_or_else(String::new, |e| e.to_string())
    )
}

/// A relative spec path was relative to where the sweep ran; that is usually the folder
/// holding the store (the default store is ./aerocast-runs), so try there too.
fn spec_candidates(store: &Store, recorded: &Path) -> Vec<PathBuf> {
    let mut candidates = vec![recorded.to_path_buf()];
    if recorded.is_relative()
        && let Some(parent) = store.dir().parent()
    {
        candidates.push(parent.join(recorded));
    }
    candidates
}

fn check_hash(data: &Dataset, card: &ModelCard) -> Result<()> {
    if data.hash != card.data_sha256 {
        bail!(
            "the data file {} changed since the run trained on it (sha256 {} now, {} then)",
            data.path.display(),
            &data.hash[..12],
            &card.data_sha256[..12.min(card.data_sha256.len())]
        );
    }
    Ok(())
}

/// The model's forecasts for every row of the validation span, beside the actual values and
/// the naive forecast. A direct multi-step model is shown at its first lead time.
pub fn validation_span(model: &RunModel, data: &RunData) -> Result<SpanForecast> {
    let p = &data.prepared;
    let leads = model.cfg.outputs;
    let targets = windows::anchors(p.val_targets(), leads);
    let normalised = train::predict(&model.model, p, &targets, &model.cfg, &Device::Cpu)?;
    let predicted = p
        .denormalise_all(&targets, leads, &normalised)
        .into_iter()
        .step_by(leads)
        .collect();
    let times = data
        .data
        .times
        .as_ref()
        .map(|t| targets.iter().map(|&i| t[i].clone()).collect());
    let series = data.data.has_series().then(|| {
        targets
            .iter()
            .map(|&t| p.segment_of(t).name.clone())
            .collect()
    });
    Ok(SpanForecast {
        predicted,
        actual: windows::actuals(p, &targets),
        naive: windows::naive_over(p, &targets, model.cfg.offset()),
        times,
        series,
        lead: 0,
    })
}

/// The spec a run's sweep recorded, parsed again; of the places a relative spec path may
/// point, the first whose data file exists.
pub fn run_spec(store: &Store, run: &RunRecord) -> Result<Spec> {
    let sweep = store
        .sweep_detail(&run.sweep_id)?
        .context("the run's sweep is not in the store")?;
    let mut first = None;
    for path in spec_candidates(store, Path::new(&sweep.record.spec_path)) {
        let spec = Spec::parse(&path, sweep.spec_text.clone())?;
        if spec.data.path.is_file() {
            return Ok(spec);
        }
        first.get_or_insert(spec);
    }
    first.context("the run's sweep recorded no spec")
}

/// Reads `path` with the run's own column choice, time column and missing-value policy.
/// A file without the model's columns is an input error naming the file and the columns.
pub fn read_csv(spec: &Spec, path: &Path) -> Result<Dataset> {
    let mut data_spec = spec.data.clone();
    data_spec.path = path.to_path_buf();
    let mut lines = crate::spec::KeyLines::default();
    lines.file = path.to_path_buf();
    Ok(crate::data::load(&data_spec, &lines)?)
}

/// A backtest on any data read like the run's: a forecast for every row with a full window
/// before it (within its series), beside the actual value and the naive forecast.
pub fn backtest(model: &Forecaster, data: &Dataset) -> Result<SpanForecast> {
    let h = model.card.horizon;
    let f = data.features.len();
    let mut out = SpanForecast {
        predicted: Vec::new(),
        actual: Vec::new(),
        naive: Vec::new(),
        times: data.times.as_ref().map(|_| Vec::new()),
        series: data.has_series().then(Vec::new),
        lead: model.card.outputs.max(1) - 1,
    };
    for s in &data.series {
        let inputs = &data.inputs[s.start * f..s.end * f];
        let (first, predicted) = model.backtest(inputs, s.len(), &s.name)?;
        let rows = s.start + first..s.end;
        out.predicted.extend(predicted);
        out.actual
            .extend(data.targets[rows.clone()].iter().map(|&v| v as f64));
        out.naive
            .extend(rows.clone().map(|t| data.targets[t - h] as f64));
        if let (Some(all), Some(times)) = (&mut out.times, &data.times) {
            all.extend_from_slice(&times[rows.clone()]);
        }
        if let Some(names) = &mut out.series {
            names.extend(rows.map(|_| s.name.clone()));
        }
    }
    Ok(out)
}
