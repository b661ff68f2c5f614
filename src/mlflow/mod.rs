//! Mirrors runs to an MLflow tracking server over its REST API, so teams keep their MLflow UI,
//! notebooks and alerts. Each aerocast experiment becomes the MLflow experiment of the same
//! name; each ended run one MLflow run, found again by its `aerocast.run_id` tag, so exporting
//! twice changes nothing and an interrupted export, rerun, completes what it left.
//!
//! `tracking` reads where the server is and how to authenticate; `client` and `api` speak
//! HTTP; `wire` holds the JSON shapes; `mapping` turns a run into its MLflow form, `plan` reads
//! it from the store, `batch` splits its writes; `sync` brings one run up to date, `export` a
//! selection; `mirror` exports runs as a sweep ends them; `command` is `aerocast export mlflow`.
//! The store is never written.

mod api;
mod batch;
mod client;
pub mod command;
mod export;
pub mod mapping;
mod mirror;
mod plan;
mod sync;
pub mod tracking;
mod wire;

pub use client::{ApiError, Client, Timeouts};
pub use export::{Experiments, ExportReport, Scope, export_runs};
pub use mirror::{GRACE, Mirror, MirrorReport};
pub use tracking::Tracking;
