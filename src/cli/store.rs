//! Commands on whole stores: `aerocast store copy`, `aerocast gc` and `aerocast export`.

use super::{EXIT_OK, StoreArg, StoreAt};
use crate::export;
use crate::store::{Location, Store};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy every sweep and closed run (with metrics, histories and artifacts) from SRC to DST,
    /// each a folder or a postgres:// URL. Idempotent: runs already in DST are left as they are,
    /// so an interrupted copy resumes when rerun.
    Copy {
        /// The store to read.
        src: String,
        /// The store to write (created if missing).
        dst: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn copy_cmd(src: &str, dst: &str, json: bool) -> Result<ExitCode> {
    let src = Store::open_existing(Location::parse("SRC", src)?)?;
    let dst = Store::open(Location::parse("DST", dst)?)?;
    let s = crate::store::copy::copy(&src, &dst)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "copied {} run(s), {} sweep(s) and {} model version(s) from {} to {}; {} run(s) were already there, {} still running were left out",
            s.copied,
            s.sweeps,
            s.model_versions,
            src.location(),
            dst.location(),
            s.present,
            s.running
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("keep").required(true).args(["keep_sweeps", "older_than"])))]
pub struct GcArgs {
    /// Experiment [default: the one swept most recently]
    #[arg(long)]
    pub experiment: Option<String>,
    /// Keep the N most recent sweeps whole.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_sweeps: Option<u64>,
    /// Delete from sweeps started longer ago than this (e.g. 30d, 12h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Say what would be deleted and freed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreAt,
}

pub(super) fn gc_cmd(args: GcArgs) -> Result<ExitCode> {
    let store = args.store.open_to_write()?;
    let experiment = export::resolve_experiment(&store, args.experiment.as_deref())?;
    let keep = match (args.keep_sweeps, args.older_than) {
        (Some(n), _) => crate::gc::Keep::Sweeps(n as usize),
        (None, Some(age)) => crate::gc::Keep::Since(crate::store::now() - age.as_secs_f64()),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let plan = crate::gc::plan(&store, &experiment, keep)?;
    let outcome = crate::gc::run(&store, plan, args.dry_run)?;
    if args.json {
        let mut doc = serde_json::to_value(&outcome)?;
        doc["bytes_freed"] = outcome.bytes_freed().into();
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::from(EXIT_OK));
    }
    let p = &outcome.plan;
    let mb = |b: u64| b as f64 / 1e6;
    let verb = |dry: &'static str, done: &'static str| if args.dry_run { dry } else { done };
    crate::outln!(
        "gc of \"{experiment}\"{}: {} run(s) {}, {:.1} MB of artifacts {}; {:.1} MB freed on disk (database {:.1} MB, files {:.1} MB)",
        verb(" (dry run)", ""),
        p.runs.len(),
        verb("would be deleted", "deleted"),
        mb(outcome.artifact_bytes()),
        verb("with them", "deleted"),
        mb(if args.dry_run {
            0
        } else {
            outcome.bytes_freed()
        }),
        mb(outcome
            .db_bytes_before
            .saturating_sub(outcome.db_bytes_after)),
        mb(outcome.file_bytes_freed),
    );
    crate::outln!(
        "kept from older sweeps: {} on the latest data snapshot, {} best of a sweep, {} registered, {} running",
        p.kept_latest_snapshot,
        p.kept_best,
        p.kept_pinned,
        p.kept_running
    );
    Ok(ExitCode::from(EXIT_OK))
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: ExportTarget,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Subcommand)]
pub enum ExportTarget {
    /// Mirror runs to an MLflow tracking server (idempotent: reruns send only what is missing).
    Mlflow(crate::mlflow::command::MlflowArgs),
}
