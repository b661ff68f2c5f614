//! aerocast: hyperparameter sweeps of GRU forecasters, tracked in one SQLite store.
//!
//! The data flows spec → jobs → train → store → report; each step is one module.

pub mod annotate;
pub mod artifacts;
pub mod baselines;
pub mod cli;
pub mod data;
pub mod error;
pub mod export;
pub mod filter;
pub mod forecast;
pub mod gc;
pub mod hash;
pub mod intervals;
pub mod jobs;
pub mod metrics;
pub mod mlflow;
pub mod output;
pub mod plot;
pub mod predict;
pub mod promote;
pub mod prune;
pub mod search;
pub mod serve;
pub mod signals;
pub mod slurm;
pub mod spec;
pub mod store;
pub mod sweep;
pub mod train;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Pins candle's matmul thread teams to one thread. candle sizes each matmul's team from
/// `RAYON_NUM_THREADS` and, when it is unset, re-reads `/proc/cpuinfo` on every matmul
/// (measured: 2x slower epochs). GRU-sized products are below gemm's threshold for splitting
/// anyway, and the GRU layer's own kernels are single-threaded, so aerocast's speed comes from
/// training jobs side by side, one thread each. Call first thing in `main`, before any thread
/// starts.
pub fn pin_candle_threads() {
    // SAFETY: called before any other thread exists, so nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
}
