//! The reference workload, shared by `benches/train.rs`, the examples that profile training
//! and `benches/sweep_scaling.sh`, so every speed number is measured on the same data:
//! a 5,000-point series, window 48, horizon 1, 80% split → 3,952 training and 1,000
//! validation windows, GRU(1 → H) + Linear, Adam, batch 64. Included by path (`#[path]`)
//! where it is used, so it stays out of the library.
//!
//! `value = 10 + 3 sin(2πt/24) + 1.5 sin(2πt/168) + 0.002 t + N(0, 0.5²)`, 5,000 points,
//! generated deterministically (ChaCha8 seeded with [`SEED`], Box–Muller for the noise).

#![allow(dead_code)] // each user takes the parts it needs

use aerocast::data::Dataset;
use aerocast::train::{Keep, Optimizer, Prepared, TrainConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

pub const POINTS: usize = 5_000;
pub const SEED: u64 = 4;
pub const WINDOW: usize = 48;
pub const TRAIN_FRACTION: f64 = 0.8;

/// The reference series, `POINTS` values.
pub fn series() -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    (0..POINTS)
        .map(|t| {
            let t = t as f64;
            // Box–Muller; 1 - u keeps the log's argument in (0, 1].
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            let noise = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
            let v = 10.0
                + 3.0 * (2.0 * PI * t / 24.0).sin()
                + 1.5 * (2.0 * PI * t / 168.0).sin()
                + 0.002 * t
                + 0.5 * noise;
            v as f32
        })
        .collect()
}

/// The series as an in-memory univariate dataset (the value is both feature and target).
pub fn dataset() -> Dataset {
    let values = series();
    Dataset::in_memory(vec!["value".into()], "value", values.clone(), values)
}

/// z-normalised with the first 80%'s statistics: 3,952 training windows, 1,000 validation.
pub fn prepared() -> Prepared {
    let p = Prepared::new(&dataset(), TRAIN_FRACTION);
    assert_eq!(p.train_targets(WINDOW, 1).len(), 3_952);
    assert_eq!(p.val_targets().len(), 1_000);
    p
}

/// GRU(1 → hidden) + Linear, Adam, batch 64, window 48, horizon 1.
pub fn config(hidden_dim: usize, epochs: usize, lr: f64, seed: u64) -> TrainConfig {
    TrainConfig {
        window: WINDOW,
        horizon: 1,
        outputs: 1,
        epochs,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        weight_decay: 0.0,
        num_layers: 1,
        dropout: 0.0,
        hidden_dim,
        lr,
        seed,
        patience: 0,
        keep: Keep::Last,
    }
}

/// The series as CSV text with a `t,value` header.
pub fn csv() -> String {
    let mut out = String::from("t,value\n");
    for (t, v) in series().iter().enumerate() {
        out.push_str(&format!("{t},{v}\n"));
    }
    out
}
