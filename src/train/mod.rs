//! Trains one GRU forecaster on CPU: seeded init and shuffling, MSE on normalised targets,
//! a validation pass per epoch, and metrics in original units at the end.

pub mod config;
pub mod folds;
pub mod gru;
mod malloc;
pub mod model;
pub mod windows;

pub use config::{Keep, Optimizer, TrainConfig};
pub use model::GruForecaster;
pub use windows::{Normalisation, Prepared, prepare};

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Validation windows per forward pass: bounds memory on long series.
const EVAL_BATCH: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// From 1.
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
}

/// What the per-epoch callback tells the training loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Continue,
    /// Stop after this epoch (a pruner's verdict, say), keeping the model as it is.
    Stop(String),
}

pub struct Trained {
    /// The kept epoch's weights (see [`Keep`]).
    pub varmap: VarMap,
    /// Why the callback stopped training before its last epoch (a pruner), if it did.
    pub stopped: Option<String>,
    /// Why early stopping (`patience`) ended training, if it did. Not a failure.
    pub early_stopped: Option<String>,
    pub model: GruForecaster,
    pub history: Vec<EpochReport>,
    /// The epoch whose weights were kept, from 1.
    pub kept_epoch: usize,
    /// The kept epoch's validation forecasts, original units (`outputs` per window).
    pub predictions: Vec<f64>,
    /// With several outputs, the mean over lead times of each lead's RMSE and MAE.
    pub val_rmse: f64,
    pub val_mae: f64,
    /// RMSE and MAE per lead time (one entry for a single output).
    pub lead_errors: Vec<(f64, f64)>,
}

impl Trained {
    pub fn best_epoch(&self) -> &EpochReport {
        self.history
            .iter()
            .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
            .expect("at least one epoch")
    }

    /// The report of the epoch whose weights were kept.
    pub fn kept(&self) -> &EpochReport {
        &self.history[self.kept_epoch - 1]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("diverged at epoch {epoch} ({what} = {value})")]
    Diverged {
        epoch: usize,
        what: &'static str,
        value: f64,
    },
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    /// The per-epoch callback asked to stop (the store could not be written, say).
    #[error("{0:#}")]
    Stopped(anyhow::Error),
}

pub fn train(
    cfg: &TrainConfig,
    data: &Prepared,
    on_epoch: &mut dyn FnMut(&EpochReport) -> anyhow::Result<Next>,
) -> Result<Trained, TrainError> {
    malloc::keep_freed_memory();
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let model = GruForecaster::new(
        vb,
        data.n_features,
        cfg.hidden_dim,
        cfg.num_layers,
        cfg.outputs,
    )?;
    model::init_weights(&varmap, cfg.hidden_dim, cfg.seed)?;

    let decoupled = cfg.optimizer == Optimizer::AdamW;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: if decoupled { cfg.weight_decay } else { 0.0 },
            ..ParamsAdamW::default()
        },
    )?;
    let l2 = if decoupled { 0.0 } else { cfg.weight_decay };
    let vars = varmap.all_vars();
    // A separate stream from weight init, so changing one never shifts the other.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_5eed_5eed_5eed);
    let leads = cfg.outputs;
    let mut order: Vec<usize> =
        windows::anchors(&data.train_targets(cfg.window, cfg.offset()), leads);
    let val = windows::anchors(data.val_targets(), leads);

    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best = Best::default();
    let mut last_normalised = Vec::new();
    let mut stopped = None;
    let mut early_stopped = None;
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        for chunk in order.chunks(cfg.batch_size) {
            let (x, y) = batch_tensors(data, chunk, cfg, &device)?;
            let mask = dropout_mask(&mut rng, chunk.len(), cfg, &device)?;
            let loss = candle_nn::loss::mse(&model.forward_masked(&x, mask.as_ref())?, &y)?;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    what: crate::metrics::TRAIN_LOSS,
                    value,
                });
            }
            sum += value * chunk.len() as f64;
            let mut grads = loss.backward()?;
            if l2 > 0.0 {
                for var in &vars {
                    if let Some(g) = grads.get(var) {
                        let g = (g + (var.as_tensor() * l2)?)?;
                        grads.insert(var, g);
                    }
                }
            }
            opt.step(&grads)?;
        }
        let train_loss = sum / order.len() as f64;
        let normalised = predict(&model, data, &val, cfg, &device)?;
        let val_loss = mse(&normalised, &val, leads, data);
        if !val_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                what: crate::metrics::VAL_LOSS,
                value: val_loss,
            });
        }
        let report = EpochReport {
            epoch,
            train_loss,
            val_loss,
        };
        history.push(report);
        // Strictly lower only: a plateau does not count as progress for early stopping.
        if best.epoch == 0 || val_loss < best.val_loss {
            best.improve(&report, &normalised, &vars, cfg.keep)?;
        }
        last_normalised = normalised;
        if let Next::Stop(reason) = on_epoch(&report).map_err(TrainError::Stopped)? {
            stopped = Some(reason);
            break;
        }
        if cfg.patience > 0 && epoch - best.epoch >= cfg.patience && epoch < cfg.epochs {
            early_stopped = Some(format!(
                "early stopping: val_loss has not improved for {} epochs (best at epoch {})",
                epoch - best.epoch,
                best.epoch
            ));
            break;
        }
    }

    let (kept_epoch, normalised) = match cfg.keep {
        Keep::Best => {
            for (var, saved) in vars.iter().zip(&best.weights) {
                var.set(saved)?;
            }
            (best.epoch, best.predictions)
        }
        Keep::Last => (history.len(), last_normalised),
    };
    let predictions = data.denormalise_all(&val, leads, &normalised);
    let lead_errors = windows::lead_errors(data, &predictions, &val, leads);
    let (val_rmse, val_mae) = windows::mean_over_leads(&lead_errors);
    Ok(Trained {
        varmap,
        stopped,
        early_stopped,
        model,
        history,
        kept_epoch,
        predictions,
        val_rmse,
        val_mae,
        lead_errors,
    })
}

/// The epoch with the lowest val_loss so far, with its forecasts and (under `keep = "best"`)
/// a copy of its weights: the optimiser updates the variables in place.
#[derive(Default)]
struct Best {
    epoch: usize,
    val_loss: f64,
    predictions: Vec<f32>,
    weights: Vec<Tensor>,
}

impl Best {
    fn improve(
        &mut self,
        report: &EpochReport,
        predictions: &[f32],
        vars: &[candle_core::Var],
        keep: Keep,
    ) -> candle_core::Result<()> {
        self.epoch = report.epoch;
        self.val_loss = report.val_loss;
        if keep == Keep::Best {
            self.predictions = predictions.to_vec();
            self.weights = vars
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?;
        }
        Ok(())
    }
}

/// An inverted-dropout mask from the run's own generator (candle's cannot be seeded), or
/// `None` without dropout, which leaves the generator's stream untouched.
fn dropout_mask(
    rng: &mut ChaCha8Rng,
    batch: usize,
    cfg: &TrainConfig,
    device: &Device,
) -> candle_core::Result<Option<Tensor>> {
    if cfg.dropout <= 0.0 {
        return Ok(None);
    }
    let keep = (1.0 / (1.0 - cfg.dropout)) as f32;
    let mask: Vec<f32> = (0..batch * cfg.hidden_dim)
        .map(|_| {
            if rng.random::<f64>() < cfg.dropout {
                0.0
            } else {
                keep
            }
        })
        .collect();
    Tensor::from_vec(mask, (batch, cfg.hidden_dim), device).map(Some)
}

fn batch_tensors(
    data: &Prepared,
    targets: &[usize],
    cfg: &TrainConfig,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (x, y) = data.batch_leads(targets, cfg.window, cfg.offset(), cfg.outputs);
    let n = targets.len();
    Ok((
        Tensor::from_vec(x, (n, cfg.window, data.n_features), device)?,
        Tensor::from_vec(y, n * cfg.outputs, device)?,
    ))
}

/// Normalised forecasts for the given target rows (`cfg.outputs` per row).
pub fn predict(
    model: &GruForecaster,
    data: &Prepared,
    targets: &[usize],
    cfg: &TrainConfig,
    device: &Device,
) -> candle_core::Result<Vec<f32>> {
    // Weights detached: no autograd graph, no activations kept for a backward pass.
    let model = model.detached();
    let mut out = Vec::with_capacity(targets.len());
    for chunk in targets.chunks(EVAL_BATCH) {
        let (x, _) = batch_tensors(data, chunk, cfg, device)?;
        out.extend(model.forward(&x)?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// RMSE and MAE in the target's units of `model`'s forecasts for the target rows `rows`
/// (the mean over lead times for a direct head): inference only, as for the test span.
pub fn score(
    model: &GruForecaster,
    data: &Prepared,
    rows: &[usize],
    cfg: &TrainConfig,
) -> candle_core::Result<(f64, f64)> {
    let targets = windows::anchors(rows, cfg.outputs);
    let predicted = forecast(model, data, &targets, cfg)?;
    let errors = windows::lead_errors(data, &predicted, &targets, cfg.outputs);
    Ok(windows::mean_over_leads(&errors))
}

/// `model`'s forecasts in the target's units for the windows anchored at `anchors`
/// (`outputs` values each): inference only.
pub fn forecast(
    model: &GruForecaster,
    data: &Prepared,
    anchors: &[usize],
    cfg: &TrainConfig,
) -> candle_core::Result<Vec<f64>> {
    let normalised = predict(model, data, anchors, cfg, &Device::Cpu)?;
    Ok(data.denormalise_all(anchors, cfg.outputs, &normalised))
}

/// Normalised MSE over every lead of every window.
fn mse(predictions: &[f32], targets: &[usize], leads: usize, data: &Prepared) -> f64 {
    let se: f64 = predictions
        .iter()
        .zip(targets.iter().flat_map(|&t| t..t + leads))
        .map(|(&p, t)| (p as f64 - data.targets[t] as f64).powi(2))
        .sum();
    se / (targets.len() * leads).max(1) as f64
}
