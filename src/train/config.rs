//! A job's params as typed training settings.

use crate::jobs::Params;
use crate::spec::knobs::ParamValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// Adam; weight decay, if any, is an L2 term added to the gradients (as in PyTorch's Adam).
    Adam,
    /// AdamW: decoupled weight decay.
    AdamW,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub window: usize,
    pub horizon: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: Optimizer,
    pub weight_decay: f64,
    pub num_layers: usize,
    /// Probability of zeroing each unit of the last hidden state while training.
    pub dropout: f64,
    pub hidden_dim: usize,
    pub lr: f64,
    pub seed: u64,
    /// Stop once val_loss has not improved for this many epochs; 0 never stops early.
    pub patience: usize,
    pub keep: Keep,
    /// Values forecast per window: 1, or `horizon` for a direct multi-step head (set from the
    /// spec's `output`, which is not a param).
    pub outputs: usize,
}

/// Which epoch's weights a run ends with (saved, and scored for the final metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The epoch with the lowest val_loss.
    Best,
    /// The last epoch trained.
    Last,
}

impl TrainConfig {
    pub fn from_params(p: &Params) -> Result<TrainConfig, String> {
        Ok(TrainConfig {
            window: int(p, "window")?,
            horizon: int(p, "horizon")?,
            epochs: int(p, "epochs")?,
            batch_size: int(p, "batch_size")?,
            optimizer: match text(p, "optimizer")? {
                "adam" => Optimizer::Adam,
                "adamw" => Optimizer::AdamW,
                other => return Err(format!("unknown optimizer \"{other}\"")),
            },
            weight_decay: float(p, "weight_decay")?,
            num_layers: int(p, "num_layers")?,
            dropout: float(p, "dropout")?,
            hidden_dim: int(p, "hidden_dim")?,
            lr: float(p, "lr")?,
            seed: int(p, "seed")? as u64,
            // Absent in params recorded before these knobs existed: train as runs did then.
            patience: match p.get("patience") {
                Some(_) => int(p, "patience")?,
                None => 0,
            },
            keep: match p.get("keep").map(|_| text(p, "keep")).transpose()? {
                None | Some("last") => Keep::Last,
                Some("best") => Keep::Best,
                Some(other) => return Err(format!("unknown keep \"{other}\"")),
            },
            outputs: 1,
        })
    }

    /// A direct multi-step head: `horizon` outputs, the next 1…horizon rows.
    pub fn direct(mut self, direct: bool) -> Self {
        self.outputs = if direct { self.horizon } else { 1 };
        self
    }

    /// Rows from a window's end to its first forecast row: `horizon` for one output, 1 for a
    /// direct head (whose outputs reach `horizon` rows ahead).
    pub fn offset(&self) -> usize {
        if self.outputs > 1 { 1 } else { self.horizon }
    }
}

fn get<'a>(p: &'a Params, name: &str) -> Result<&'a ParamValue, String> {
    p.get(name)
        .ok_or_else(|| format!("param `{name}` is missing"))
}

fn int(p: &Params, name: &str) -> Result<usize, String> {
    match get(p, name)? {
        ParamValue::Int(v) if *v >= 0 => Ok(*v as usize),
        other => Err(format!(
            "param `{name}` must be a non-negative integer, got {other}"
        )),
    }
}

fn float(p: &Params, name: &str) -> Result<f64, String> {
    match get(p, name)? {
        ParamValue::Float(v) => Ok(*v),
        ParamValue::Int(v) => Ok(*v as f64),
        other => Err(format!("param `{name}` must be a number, got {other}")),
    }
}

fn text<'a>(p: &'a Params, name: &str) -> Result<&'a str, String> {
    match get(p, name)? {
        ParamValue::Str(s) => Ok(s),
        other => Err(format!("param `{name}` must be a string, got {other}")),
    }
}
