//! A run's artifacts: weights (safetensors), a model card with everything needed to rebuild the
//! model and its normalisation, and the loss curve (SVG). A sweep renders them in memory and
//! hands the bytes to the transaction that closes the run, so a run writes no file: the store
//! keeps them with their sha256 and writes them out as files (`artifacts/<run_id>/`) when
//! something reads them ([`crate::store::Store::fetch_artifacts`]). A killed run's artifacts
//! never appear, as its close transaction never commits.

use crate::intervals::Widths;
use crate::jobs::Params;
use crate::store::NewArtifact;
use crate::train::{GruForecaster, Normalisation, Prepared, TrainConfig, Trained};
use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const WEIGHTS: &str = "model.safetensors";
pub const CARD: &str = "model.json";
pub const LOSS_PLOT: &str = "loss.svg";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelCard {
    pub format: u32,
    pub aerocast_version: String,
    pub run_id: String,
    pub target: String,
    pub features: Vec<String>,
    pub window: usize,
    pub horizon: usize,
    /// Values forecast per window (a direct head has `horizon`); cards without it have 1.
    #[serde(default = "one")]
    pub outputs: usize,
    pub hidden_dim: usize,
    pub num_layers: usize,
    /// The statistics that normalised the model's rows: the first series' for a model of
    /// several series, whose own are in `series`.
    pub normalisation: Normalisation,
    /// Each series' name and statistics, for a model trained on several (`[data] series`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesStats>,
    /// The last features that mark each row's series (`series_feature`), one per series in
    /// `series` order: inputs the model needs beside the measured ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub indicator_columns: usize,
    pub data_sha256: String,
    pub params: Params,
    /// Half-widths of prediction intervals, calibrated on forecasts of rows the model did not
    /// train on (see [`crate::intervals`]); cards without them give no intervals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Widths>,
}

/// One series' normalisation, as a model card records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesStats {
    pub name: String,
    pub normalisation: Normalisation,
}

/// Every artifact of a finished run, rendered in memory: weights, model card, loss plot.
pub fn render(
    trained: &Trained,
    card: &ModelCard,
    title: &str,
) -> Result<Vec<NewArtifact<'static>>> {
    let weights = {
        let vars = trained
            .varmap
            .data()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        safetensors::tensor::serialize(vars.iter().map(|(k, v)| (k, v.as_tensor())), None)
            .context("serialising the weights")?
    };
    let card = serde_json::to_vec_pretty(card).context("serialising the model card")?;
    let plot = crate::plot::loss_curve(title, &trained.history).context("drawing the loss plot")?;
    Ok(vec![
        NewArtifact::new(WEIGHTS, "model", weights),
        NewArtifact::new(CARD, "model_card", card),
        NewArtifact::new(LOSS_PLOT, "loss_plot", plot.into_bytes()),
    ])
}

/// Rebuilds a trained model from a run's artifact folder.
pub fn load_model(dir: &Path) -> Result<(GruForecaster, ModelCard)> {
    let card_path = dir.join(CARD);
    let card: ModelCard = serde_json::from_slice(
        &std::fs::read(&card_path).with_context(|| format!("reading {}", card_path.display()))?,
    )
    .with_context(|| format!("parsing {}", card_path.display()))?;
    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = GruForecaster::new(
        vb,
        card.features.len(),
        card.hidden_dim,
        card.num_layers,
        card.outputs,
    )?;
    varmap
        .load(dir.join(WEIGHTS))
        .with_context(|| format!("loading {}", dir.join(WEIGHTS).display()))?;
    Ok((model, card))
}

impl ModelCard {
    pub fn new(
        run_id: &str,
        cfg: &TrainConfig,
        params: &Params,
        data: &crate::data::Dataset,
        prepared: &Prepared,
    ) -> Self {
        let series = if data.has_series() {
            prepared
                .segments
                .iter()
                .map(|s| SeriesStats {
                    name: s.name.clone(),
                    normalisation: s.stats.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        ModelCard {
            format: 1,
            aerocast_version: crate::VERSION.to_string(),
            run_id: run_id.to_string(),
            target: data.target.clone(),
            features: data.features.clone(),
            window: cfg.window,
            horizon: cfg.horizon,
            outputs: cfg.outputs,
            hidden_dim: cfg.hidden_dim,
            num_layers: cfg.num_layers,
            normalisation: prepared.stats().clone(),
            series,
            indicator_columns: data.indicator_columns,
            data_sha256: data.hash.clone(),
            params: params.clone(),
            intervals: Vec::new(),
        }
    }
}

impl ModelCard {
    /// The statistics for the series `name`; for a model of one series, its only ones. An
    /// error names the series the model knows.
    pub fn stats_for(&self, name: &str) -> Result<&Normalisation, String> {
        if self.series.is_empty() {
            return Ok(&self.normalisation);
        }
        self.series
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.normalisation)
            .ok_or_else(|| {
                let known: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
                format!(
                    "the model did not train on a series \"{name}\" (it knows {})",
                    known.join(", ")
                )
            })
    }

    /// The statistics for each series of `data`, in its order.
    pub fn stats_for_data(
        &self,
        data: &crate::data::Dataset,
    ) -> Result<Vec<Normalisation>, String> {
        data.series
            .iter()
            .map(|s| self.stats_for(&s.name).cloned())
            .collect()
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn one() -> usize {
    1
}
