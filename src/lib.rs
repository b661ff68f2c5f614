//! aerocast: hyperparameter sweeps of GRU forecasters, tracked in one SQLite store.
//!
//! The data flows spec → jobs → train → store → report; each step is one module.

pub mod artifacts;
pub mod cli;
pub mod data;
pub mod error;
pub mod export;
pub mod jobs;
pub mod mlflow;
pub mod output;
pub mod plot;
pub mod prune;
pub mod reference;
pub mod report;
pub mod search;
pub mod signals;
pub mod spec;
pub mod store;
pub mod sweep;
pub mod train;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
