//! Training throughput on the reference workload (see `aerocast::reference`) for several
//! model sizes, one thread, as windows/s and as a share of the core's FMA peak.
//!
//! `cargo run --release --example throughput -- [hiddens=16,32,64,128,256] [layers=1,2]
//!  [epochs=2] [peak GFLOP/s]`
//!
//! Each size trains `epochs` epochs (train pass over 3,952 windows + validation pass over
//! 1,000); the first is a warm-up, the rate is the best of the others, per second of the
//! thread's CPU time (as the peak is). FLOPs per training
//! window count the multiply-adds of forward and backward (6HF + 9H² per layer and step, and
//! 3HF more for ∂x above the first layer) plus the validation pass's share (3H(F + H) per
//! layer and step for 1,000/3,952 of a window), as in the README's FLOP bound. The peak
//! defaults to this machine's, measured as `examples/peak_flops` does (AVX2 + FMA).

#[path = "../benches/common/reference.rs"]
mod reference;

/// This thread's CPU time in seconds: on a machine shared with other work, wall time counts
/// the time slices other processes take; CPU time does not.
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    aerocast::pin_candle_threads();
    let mut args = std::env::args().skip(1);
    let list = |a: Option<String>, d: &str| -> Vec<usize> {
        a.unwrap_or_else(|| d.into())
            .split(',')
            .map(|v| v.parse().expect("a comma-separated list of sizes"))
            .collect()
    };
    let hiddens = list(args.next(), "16,32,64,128,256");
    let layers = list(args.next(), "1,2");
    let epochs: usize = args.next().map_or(2, |a| a.parse().expect("epochs"));
    let peak: f64 = args
        .next()
        .map_or_else(avx2_peak, |a| a.parse().expect("peak"));
    println!("peak {peak:.1} GFLOP/s (AVX2 + FMA, one thread)");
    let data = reference::prepared();
    for &l in &layers {
        for &h in &hiddens {
            let mut cfg = reference::config(h, 1, 1e-3, 0);
            cfg.num_layers = l;
            let train = data.train_targets(cfg.window, cfg.horizon).len();
            let val = data.val_targets().len();
            let best = (0..epochs.max(2))
                .map(|_| {
                    let start = cpu_now();
                    let trained = aerocast::train::train(&cfg, &data, &mut |_| {
                        Ok(aerocast::train::Next::Continue)
                    })
                    .expect("training");
                    std::hint::black_box(trained.val_rmse);
                    train as f64 / (cpu_now() - start)
                })
                .skip(1)
                .fold(0.0, f64::max);
            let flop = flop_per_window(h, l, cfg.window, val as f64 / train as f64);
            let gflops = best * flop / 1e9;
            println!(
                "hidden {h:>3} layers {l}: {best:>8.0} windows/s, {:.2} MFLOP/window, \
                 {gflops:>5.1} GFLOP/s, {:>4.1}% of peak",
                flop / 1e6,
                100.0 * gflops / peak
            );
        }
    }
}

/// FLOPs per training window, the validation pass's share included (input width 1).
fn flop_per_window(h: usize, layers: usize, steps: usize, val_share: f64) -> f64 {
    let (h, steps) = (h as f64, steps as f64);
    let mut mac = 0.0;
    for l in 0..layers {
        let f = if l == 0 { 1.0 } else { h };
        let dx = if l == 0 { 0.0 } else { 3.0 * h * f };
        let train = 6.0 * h * f + 9.0 * h * h + dx;
        let forward = 3.0 * h * (f + h);
        mac += steps * (train + val_share * forward);
    }
    2.0 * mac
}

/// One thread's AVX2 FMA peak in GFLOP/s (12 independent chains, best of 5 rounds).
fn avx2_peak() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        let n = 20_000_000u64;
        return (0..5)
            .map(|_| {
                let t = cpu_now();
                // SAFETY: the CPU has AVX2 and FMA.
                std::hint::black_box(unsafe { chains(std::hint::black_box(n)) });
                n as f64 * 12.0 * 16.0 / (cpu_now() - t) / 1e9
            })
            .fold(0.0, f64::max);
    }
    f64::NAN
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains(n: u64) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..n {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut out = [0f32; 8];
    let sum = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, v| _mm256_add_ps(s, *v));
    // SAFETY: `out` holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
    out.iter().sum()
}
