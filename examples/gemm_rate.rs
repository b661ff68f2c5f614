//! The achievable single-core f32 GEMM rate with candle, at the GRU's shapes (hidden 64,
//! batch 64, window 48): the roofline for the FLOP-bound estimate in README "Benchmarks".
//! Reports GFLOP/s per second of wall time and per second of this process's CPU time (the
//! latter is what matters on a machine shared with other work).
//! `cargo run --release --example gemm_rate`

use candle_core::{Device, Tensor};
use std::hint::black_box;
use std::time::Instant;

/// User + system CPU seconds of this process, from /proc/self/stat (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rate(what: &str, m: usize, k: usize, n: usize) {
    let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
    let flop = 2.0 * (m * n * k) as f64;
    let reps = ((4e9 / flop) as usize).max(10);
    black_box(a.matmul(&b).unwrap());
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    for _ in 0..reps {
        black_box(a.matmul(&b).unwrap());
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let total = flop * reps as f64 / 1e9;
    println!(
        "{what:<34} [{m},{k}]x[{k},{n}]: {:6.1} GFLOP/s wall, {:6.1} GFLOP/s CPU",
        total / wall,
        total / cpu.max(1e-9)
    );
}

fn main() {
    aerocast::pin_candle_threads();
    rate("per-step forward h·W_hhᵀ", 64, 64, 192);
    rate("per-step backward dgh·W_hh", 64, 192, 64);
    rate("∂W_hh over all steps", 192, 3008, 64);
    rate("large square (peak)", 512, 512, 512);
}
