//! The forecaster: stacked GRU layers and a linear head on the last hidden state.

use candle_core::{Result, Tensor, Var};
use candle_nn::rnn::{GRU, GRUConfig, RNN, gru};
use candle_nn::{Linear, Module, VarBuilder, VarMap, linear};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct GruForecaster {
    layers: Vec<GRU>,
    head: Linear,
}

impl GruForecaster {
    pub fn new(
        vb: VarBuilder,
        input_dim: usize,
        hidden_dim: usize,
        num_layers: usize,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|l| {
                let in_dim = if l == 0 { input_dim } else { hidden_dim };
                gru(
                    in_dim,
                    hidden_dim,
                    GRUConfig::default(),
                    vb.pp(format!("gru{l}")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let head = linear(hidden_dim, 1, vb.pp("head"))?;
        Ok(Self { layers, head })
    }

    /// `[batch, window, features]` → one forecast per window, `[batch]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut input = x.clone();
        let mut last = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let states = layer.seq(&input)?;
            if l + 1 < self.layers.len() {
                let hs = states.iter().map(|s| s.h.clone()).collect::<Vec<_>>();
                input = Tensor::stack(&hs, 1)?;
            }
            last = states.last().map(|s| s.h.clone());
        }
        let h = last.expect("a model has at least one layer and a window at least one step");
        self.head.forward(&h)?.squeeze(1)
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
