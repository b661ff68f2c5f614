//! A run's files: weights (safetensors), a model card with everything needed to rebuild the
//! model and its normalisation, and the loss curve, in a folder named by the run id. The
//! store points at them only once the transaction that closes the run commits, after they
//! are written, so it never points at a half-written file, even when the process is killed
//! mid-write; a killed run's folder is never reused (a rerun is a new run id). So the files
//! are written in place, without a temporary name and a rename each.
//!
//! Files are not synced one by one: an fsync costs milliseconds (several per run, more than a
//! tiny run's training), so the sweep syncs the store's file system once, when its runs are
//! done ([`sync_all`]). Until then a power loss can lose recent files, as it can lose the
//! store's recent transactions (SQLite WAL with `synchronous = NORMAL`).

use crate::jobs::Params;
use crate::train::{GruForecaster, Normalisation, Prepared, TrainConfig, Trained};
use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::fs::File;
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
}

/// One series' normalisation, as a model card records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesStats {
    pub name: String,
    pub normalisation: Normalisation,
}

/// Writes every artifact of a finished run into `dir`; returns `(file name, kind)` pairs.
pub fn write(
    dir: &Path,
    trained: &Trained,
    card: &ModelCard,
    title: &str,
) -> Result<Vec<(&'static str, &'static str)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    file(dir, WEIGHTS, |path| Ok(trained.varmap.save(path)?))?;
    file(dir, CARD, |path| {
        Ok(std::fs::write(path, serde_json::to_vec_pretty(card)?)?)
    })?;
    file(dir, LOSS_PLOT, |path| {
        crate::plot::loss_curve(path, title, &trained.history)
    })?;
    Ok(vec![
        (WEIGHTS, "model"),
        (CARD, "model_card"),
        (LOSS_PLOT, "loss_plot"),
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

/// Writes `name` in `dir`.
fn file(dir: &Path, name: &str, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dest = dir.join(name);
    write(&dest).with_context(|| format!("writing {}", dest.display()))
}

/// Makes every file written under `dir` so far durable: one `syncfs` of its file system on
/// Linux (one call, however many runs wrote files), `fsync` of the folder elsewhere.
pub fn sync_all(dir: &Path) -> Result<()> {
    let d = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `d` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("syncing {}", dir.display()));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Not all platforms allow syncing a folder, so best effort.
        let _ = d.sync_all();
        Ok(())
    }
}
