//! Is tanh faster computed as 2·sigmoid(2x) − 1? Measures candle's tensor ops and the scalar
//! forms the fused GRU cell can use, on a `[64, 192]` tensor (batch 64, 3·hidden 64).
//! `cargo run --release --example tanh_vs_sigmoid`

use candle_core::{Device, Tensor};
use std::hint::black_box;
use std::time::Instant;

fn time(what: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / reps as f64;
    println!("{what:<40} {us:8.2} µs per [64,192]");
}

fn main() {
    aerocast::pin_candle_threads();
    let n = 64 * 192;
    let xs: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0)
        .collect();
    let t = Tensor::from_vec(xs.clone(), (64, 192), &Device::Cpu).unwrap();
    let reps = 2000;
    time("candle tanh", reps, || {
        black_box(t.tanh().unwrap());
    });
    time("candle_nn::ops::sigmoid", reps, || {
        black_box(candle_nn::ops::sigmoid(&t).unwrap());
    });
    time("candle 2*sigmoid(2x)-1 (3 ops)", reps, || {
        let s = candle_nn::ops::sigmoid(&(&t * 2.0).unwrap()).unwrap();
        black_box(s.affine(2.0, -1.0).unwrap());
    });
    let mut out = vec![0f32; n];
    time("scalar f32::tanh (libm tanhf)", reps, || {
        for (o, &x) in out.iter_mut().zip(&xs) {
            *o = x.tanh();
        }
        black_box(&out);
    });
    time("scalar 2/(1+exp(-2x))-1 (libm expf)", reps, || {
        for (o, &x) in out.iter_mut().zip(&xs) {
            *o = 2.0 / (1.0 + (-2.0 * x).exp()) - 1.0;
        }
        black_box(&out);
    });
    let max_err = xs
        .iter()
        .map(|&x| ((2.0 / (1.0 + (-2.0 * x).exp()) - 1.0) - x.tanh()).abs())
        .fold(0f32, f32::max);
    println!("max |2σ(2x)−1 − tanh x| on the sample: {max_err:e}");
}
