//! Command-line interface: parses flags, resolves the store, and hands off to the modules;
//! one file per command group holds its flags and its handler.

use crate::error::InputError;
use crate::spec::Spec;
use crate::store::{Location, Store};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod model;
mod predict;
mod report;
mod runs;
mod serve;
mod slurm;
mod store;
mod sweep;

pub use model::{AliasArgs, ListArgs, ModelCommand, RegisterArgs, RegisterWhich, ShowArgs};
pub use predict::{PredictArgs, WhichModel};
pub use report::{HistoryArgs, ReportArgs};
pub use runs::{ListFormat, RunsAction, RunsArgs};
pub use serve::ServeArgs;
pub use slurm::SlurmArgs;
pub use store::{ExportArgs, ExportTarget, GcArgs, StoreCommand};
pub use sweep::{MAX_JOBS_FLAG, SweepArgs};

use predict::predict_cmd;
use report::{history_cmd, report_cmd};
use runs::{runs_action, runs_cmd};
use serve::serve_cmd;
use slurm::slurm_cmd;
use store::{copy_cmd, gc_cmd};
use sweep::sweep_cmd;

pub const DEFAULT_STORE: &str = "aerocast-runs";

/// Exit status when every run finished (or there was nothing to do).
pub const EXIT_OK: u8 = 0;
/// `--fail-on-regression`: the champion beat tonight's best run.
pub const EXIT_REGRESSION: u8 = 4;
/// Some run failed or diverged; the others were recorded.
pub const EXIT_RUNS_FAILED: u8 = 1;
/// Invalid spec, data or flags; nothing was written.
pub const EXIT_INPUT: u8 = 2;
/// aerocast itself could not work (store or file-system error).
pub const EXIT_INTERNAL: u8 = 3;

#[derive(Parser)]
#[command(
    name = "aerocast",
    version,
    about = "Hyperparameter sweeps of GRU forecasters, tracked in SQLite or PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run every job of a sweep spec that is not already finished in the store.
    Sweep(SweepArgs),
    /// Write the comparison report of an experiment (or show its best run with --best).
    Report(ReportArgs),
    /// List runs.
    Runs(RunsArgs),
    /// One row per sweep of an experiment: snapshot, counts, best score, baselines, skill.
    History(HistoryArgs),
    /// Delete runs of older sweeps on older data snapshots and reclaim their space.
    Gc(GcArgs),
    /// Forecast with a trained model (a run, a registered model, or the best run).
    Predict(PredictArgs),
    /// The model registry: named, numbered versions of runs, with aliases.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Serve registered models over HTTP (JSON).
    Serve(ServeArgs),
    /// Send runs to another tracking system.
    Export(ExportArgs),
    /// Work on whole stores.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Write (and with --submit, submit) a Slurm job array that runs a sweep on N workers.
    Slurm(SlurmArgs),
}

#[derive(Args)]
pub struct StoreArg {
    /// Store: a folder (SQLite) or postgres://user:password@host:port/database [default:
    /// [store] path or url of the spec, else ./aerocast-runs]
    #[arg(long, env = "AEROCAST_STORE", global = true, hide_env_values = true)]
    pub store: Option<String>,
}

impl StoreArg {
    /// `--store` or `AEROCAST_STORE`; an empty value counts as unset.
    pub fn given(&self) -> Option<&str> {
        self.store.as_deref().filter(|s| !s.is_empty())
    }

    /// The store named by the flag or environment, else by the spec, else the default folder.
    /// A value with a URL scheme is a database URL, never a folder.
    pub fn location(&self, spec: Option<&str>) -> Result<Location, InputError> {
        match (self.given(), spec) {
            (Some(s), _) => Location::parse("--store", s),
            (None, Some(s)) => Location::parse("[store]", s),
            (None, None) => Ok(Location::folder(Path::new(DEFAULT_STORE))),
        }
    }
}

/// For commands that work on an existing store: `--store`, or the store of `--spec`, found
/// as `aerocast sweep SPEC` would.
#[derive(Args)]
pub struct StoreAt {
    #[command(flatten)]
    pub store: StoreArg,
    /// The sweep spec whose `[store] path` names the store, used when neither --store nor
    /// AEROCAST_STORE is set (so `report --spec dir/spec.toml` finds what `sweep dir/spec.toml`
    /// wrote).
    #[arg(long)]
    pub spec: Option<PathBuf>,
}

impl StoreAt {
    /// The store, opened read-only.
    pub(crate) fn open(&self) -> Result<Store> {
        open_store(&self.store, self.spec.as_deref())
    }

    /// Where the store is, without opening it.
    pub(crate) fn location(&self) -> Result<Location> {
        Ok(store_location(&self.store, self.spec.as_deref())?.0)
    }

    /// The store, opened to delete or change records.
    pub(crate) fn open_to_write(&self) -> Result<Store> {
        let (at, from) = store_location(&self.store, self.spec.as_deref())?;
        Store::open_existing(&at).map_err(|e| looked_at(e, &at, &from))
    }
}

/// Which runs a reading command covers.
#[derive(Args)]
pub struct ScopeArgs {
    /// Experiment [default: the one swept most recently]
    #[arg(long)]
    pub experiment: Option<String>,
    /// Only the runs of one sweep: its id, a unique prefix of it, or `latest` [default: the
    /// experiment's runs on the latest data snapshot]
    #[arg(long)]
    pub sweep: Option<String>,
    /// Runs of every data snapshot, ranked together, each shown with its snapshot [default:
    /// the snapshot of the experiment's latest sweep]
    #[arg(long)]
    pub all_data: bool,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Sweep(args) => sweep_cmd(args),
        Command::Report(args) => {
            refuse_out_file(args.out.as_deref())?;
            report_cmd(args)
        }
        Command::Runs(RunsArgs {
            action: Some(action),
            store,
            ..
        }) => runs_action(action, &store),
        Command::Runs(args) => runs_cmd(args),
        Command::History(args) => history_cmd(args),
        Command::Gc(args) => gc_cmd(args),
        Command::Export(args) => {
            let store = open_store(&args.store, None)?;
            let complete = match args.target {
                ExportTarget::Mlflow(mlflow) => crate::mlflow::command::run(&store, mlflow)?,
            };
            Ok(ExitCode::from(if complete {
                EXIT_OK
            } else {
                EXIT_INTERNAL
            }))
        }
        Command::Predict(args) => predict_cmd(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Serve(args) => serve_cmd(args),
        Command::Store(StoreCommand::Copy { src, dst, json }) => copy_cmd(&src, &dst, json),
        Command::Slurm(args) => slurm_cmd(args),
    }
}

/// `--out` names the report folder: an existing file there is refused before any work.
fn refuse_out_file(out: Option<&Path>) -> Result<(), InputError> {
    match out {
        Some(out) if out.exists() && !out.is_dir() => Err(InputError::usage(
            "--out",
            format!(
                "{} is a file; --out names the folder to write the report into",
                out.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// `1 trial`, `2 trials`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The store a read command reads, opened read-only.
fn open_store(arg: &StoreArg, spec: Option<&Path>) -> Result<Store> {
    let (at, from) = store_location(arg, spec)?;
    Store::open_read_only(&at).map_err(|e| looked_at(e, &at, &from))
}

/// Where a read command looks, first match wins: --store, AEROCAST_STORE, the `[store] path`
/// or `url` of --spec, ./aerocast-runs. Returns the store and what named it.
fn store_location(arg: &StoreArg, spec: Option<&Path>) -> Result<(Location, String)> {
    if arg.given().is_some() {
        return Ok((arg.location(None)?, "--store or AEROCAST_STORE".into()));
    }
    if let Some(path) = spec {
        let spec = Spec::load(path)?;
        if let Some(store) = spec.store.as_deref() {
            return Ok((
                Location::parse("[store]", store)?,
                format!("[store] of {}", path.display()),
            ));
        }
    }
    Ok((arg.location(None)?, "the default".into()))
}

/// A missing store names where aerocast looked and how to point it elsewhere.
fn looked_at(e: anyhow::Error, at: &Location, from: &str) -> anyhow::Error {
    let Location::Folder(dir) = at else {
        return e;
    };
    if dir.join(crate::store::DB_FILE).is_file() {
        return e;
    }
    InputError::usage(
        &dir.display().to_string(),
        format!(
            "no aerocast store here (looked at {from}); run `aerocast sweep` first, or pass --store DIR or --spec SPEC"
        ),
    )
    .into()
}
