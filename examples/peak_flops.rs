//! The core's f32 FMA peak, the denominator of every "share of peak" figure: one thread runs
//! 12 independent chains of fused multiply-adds (enough to cover the FMA latency on every
//! current x86 core) for each instruction set the CPU has (AVX2+FMA, AVX-512F), and reports
//! GFLOP/s (2 FLOP per lane per FMA) per second of the thread's CPU time, best of several rounds.
//!
//! `cargo run --release --example peak_flops [seconds-per-round=0.3]`
//!
//! The last line is machine-readable: `peak_gflops avx2=… avx512=…` (absent sets omitted).

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

const CHAINS: usize = 12;
const ROUNDS: usize = 7;

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .map_or(0.3, |a| a.parse().expect("seconds per round"));
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            found.push(("avx2", measure(secs, 8, |n| unsafe { x86::avx2(n) })));
        }
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            found.push(("avx512", measure(secs, 16, |n| unsafe { x86::avx512(n) })));
        }
    }
    if found.is_empty() {
        println!("no AVX2 or AVX-512: nothing to measure");
    }
    for (name, gflops) in &found {
        println!("{name}: {gflops:.1} GFLOP/s (one thread, {CHAINS} FMA chains)");
    }
    let line: Vec<String> = found.iter().map(|(n, g)| format!("{n}={g:.1}")).collect();
    println!("peak_gflops {}", line.join(" "));
}

/// Best GFLOP/s over [`ROUNDS`] rounds of about `secs` each; `run(n)` does `n` iterations of
/// [`CHAINS`] FMAs on `lanes` lanes and returns a value that depends on all of them.
fn measure(secs: f64, lanes: usize, run: impl Fn(u64) -> f32) -> f64 {
    // Calibrate the iteration count to the requested round length.
    let mut n = 1u64 << 16;
    loop {
        let t = cpu_now();
        std::hint::black_box(run(std::hint::black_box(n)));
        if (cpu_now() - t) > secs / 4.0 {
            n = (n as f64 * secs / (cpu_now() - t)) as u64;
            break;
        }
        n *= 4;
    }
    let flop_per_iter = (CHAINS * lanes * 2) as f64;
    (0..ROUNDS)
        .map(|_| {
            let t = cpu_now();
            std::hint::black_box(run(std::hint::black_box(n)));
            n as f64 * flop_per_iter / (cpu_now() - t) / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(n: u64) -> f32 {
        // Multipliers near 1 keep the chains finite for billions of steps.
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut sum = _mm256_setzero_ps();
        for v in acc {
            sum = _mm256_add_ps(sum, v);
        }
        let mut out = [0f32; 8];
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(n: u64) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut sum = _mm512_setzero_ps();
        for v in acc {
            sum = _mm512_add_ps(sum, v);
        }
        _mm512_reduce_add_ps(sum)
    }
}
