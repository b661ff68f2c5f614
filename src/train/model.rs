//! The forecaster: stacked GRU layers and a linear head on the last hidden state.

use super::gru::Gru;
use candle_core::{Result, Tensor, Var};
use candle_nn::{Linear, Module, VarBuilder, VarMap, linear};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct GruForecaster {
    layers: Vec<Gru>,
    head: Linear,
}

impl GruForecaster {
    pub fn new(
        vb: VarBuilder,
        input_dim: usize,
        hidden_dim: usize,
        num_layers: usize,
        outputs: usize,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|l| {
                let in_dim = if l == 0 { input_dim } else { hidden_dim };
                Gru::new(in_dim, hidden_dim, vb.pp(format!("gru{l}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let head = linear(hidden_dim, outputs, vb.pp("head"))?;
        Ok(Self { layers, head })
    }

    /// `[batch, window, features]` → `outputs` forecasts per window, `[batch · outputs]`
    /// (a window's outputs side by side).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_masked(x, None)
    }

    /// As `forward`, with the last hidden state multiplied by `mask` (`[batch, hidden]`,
    /// inverted-dropout scaled) before the head.
    pub fn forward_masked(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (batch, steps, features) = x.dims3()?;
        if steps == 0 || self.layers.is_empty() {
            candle_core::bail!(
                "a model needs at least one layer and a window of at least one step"
            );
        }
        // Time-major rows (step t of sequence b at row t·batch + b): each layer projects all
        // steps in one matmul and hands all its hidden states to the next as they are.
        let mut input = x
            .transpose(0, 1)?
            .contiguous()?
            .reshape((steps * batch, features))?;
        let (top, lower) = self.layers.split_last().expect("checked above");
        for layer in lower {
            input = layer.forward_time_major(&input, steps, batch)?;
        }
        let last = top.forward_last(&input, steps, batch)?;
        let last = match mask {
            Some(m) => (last * m)?,
            None => last,
        };
        self.head.forward(&last)?.flatten_all()
    }

    /// The same model cut from the autograd graph, for forward passes that need no gradients
    /// (validation, prediction): nothing is recorded and no activations are kept.
    pub fn detached(&self) -> Self {
        Self {
            layers: self.layers.iter().map(Gru::detached).collect(),
            head: Linear::new(
                self.head.weight().detach(),
                self.head.bias().map(Tensor::detach),
            ),
        }
    }
}

/// Overwrites every variable from a generator seeded with `seed`, in name order. candle's CPU
/// generator cannot be seeded, so this is what makes training reproducible. Uniform in
/// ±1/√hidden, PyTorch's default for GRU and for a Linear with `hidden` inputs.
pub fn init_weights(varmap: &VarMap, hidden_dim: usize, seed: u64) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bound = 1.0 / (hidden_dim as f32).sqrt();
    let data = varmap.data().lock().expect("varmap lock");
    let mut named: Vec<(&String, &Var)> = data.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    for (_, var) in named {
        let n = var.elem_count();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
        var.set(&Tensor::from_vec(values, var.shape(), var.device())?)?;
    }
    Ok(())
}
