//! Command-line interface: parses flags, resolves the store, and hands off to the modules.

use crate::error::InputError;
use crate::export::{self, Format, ReportOptions};
use crate::output;
use crate::report;
use crate::spec::Spec;
use crate::store::Store;
use crate::sweep::{self, SweepOptions, SweepSummary};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const DEFAULT_STORE: &str = "aerocast-runs";

/// Exit status when every run finished (or there was nothing to do).
pub const EXIT_OK: u8 = 0;
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
    about = "Hyperparameter sweeps of GRU forecasters, tracked in SQLite"
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
    /// Send runs to another tracking system.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: ExportTarget,
}

#[derive(Subcommand)]
pub enum ExportTarget {
    /// Mirror runs to an MLflow tracking server (idempotent: reruns send only what is missing).
    Mlflow(crate::mlflow::command::MlflowArgs),
}

#[derive(Args)]
pub struct StoreArg {
    /// Store folder [default: [store] path of the spec, else ./aerocast-runs]
    #[arg(long, env = "AEROCAST_STORE", global = true)]
    pub store: Option<PathBuf>,
}

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep spec (TOML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Runs trained at once [default: number of cores]
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Mirror each run to this MLflow tracking server as it ends [default: [mlflow]
    /// tracking_uri of the spec]
    #[arg(long, value_name = "URI")]
    pub mlflow: Option<String>,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Show only the best finished run.
    #[arg(long)]
    pub best: bool,
    /// Metric to rank by (lower is better).
    #[arg(long, default_value = "val_rmse")]
    pub metric: String,
    /// Experiment [default: the one swept most recently]
    #[arg(long)]
    pub experiment: Option<String>,
    /// Print JSON (the best run, or the leaderboard) instead of writing the report folder.
    #[arg(long)]
    pub json: bool,
    /// Only the runs of this sweep (its id) [default: every run of the experiment]
    #[arg(long)]
    pub sweep: Option<String>,
    /// Report folder [default: <store>/reports/<experiment>/]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args)]
pub struct RunsArgs {
    /// Only runs of this experiment.
    #[arg(long)]
    pub experiment: Option<String>,
    /// Only runs with this status (running, finished, failed, killed, interrupted).
    #[arg(long)]
    pub status: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Sweep(args) => sweep_cmd(args),
        Command::Report(args) => report_cmd(args),
        Command::Runs(args) => runs_cmd(args),
        Command::Export(args) => match args.target {
            ExportTarget::Mlflow(args) => crate::mlflow::command::run(args),
        },
    }
}

fn sweep_cmd(args: SweepArgs) -> Result<ExitCode> {
    crate::signals::install()?;
    let spec = Spec::load(&args.spec)?;
    let jobs = match args.jobs {
        Some(0) => return Err(InputError::usage("--jobs", "must be at least 1").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let store_dir = args
        .store
        .store
        .or_else(|| spec.store.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    let mlflow = match args.mlflow.as_deref().or(spec.mlflow.as_deref()) {
        Some(uri) => Some(crate::mlflow::Tracking::new(
            Some(uri),
            &crate::mlflow::tracking::process_env,
        )?),
        None => None,
    };
    let progress = output::for_terminal(args.quiet || args.json);
    let opts = SweepOptions {
        store_dir,
        jobs,
        mlflow,
    };
    let summary = sweep::run(&spec, &opts, progress.as_ref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        print_summary(&summary);
    }
    if let Some(sig) = crate::signals::received() {
        // The user asked to stop: no report, just the status that says why.
        return Ok(ExitCode::from(crate::signals::exit_status(sig)));
    }
    write_sweep_report(&summary, args.quiet, args.json);
    Ok(ExitCode::from(if summary.failed > 0 {
        EXIT_RUNS_FAILED
    } else {
        EXIT_OK
    }))
}

fn print_summary(s: &SweepSummary) {
    println!(
        "sweep {} of \"{}\" ({}): {} trials — {} finished, {} pruned, {} failed, {} skipped (already finished){} in {:.1}s",
        &s.sweep_id[..8],
        s.experiment,
        format!("{:?}", s.method).to_lowercase(),
        s.total,
        s.finished,
        s.pruned,
        s.failed,
        s.skipped,
        if s.busy > 0 {
            format!(", {} running in another process", s.busy)
        } else {
            String::new()
        },
        s.wall_seconds
    );
    if s.pruned > 0 {
        println!("pruning saved {} epochs of training", s.epochs_saved);
    }
    let t = &s.time;
    if t.run_seconds > 0.0 {
        let share = |x: f64| 100.0 * x / t.run_seconds;
        println!(
            "tracking: {:.2}s writing the store ({:.2}% of run time), {:.2}s saving models and plots ({:.1}%)",
            t.store_seconds,
            share(t.store_seconds),
            t.artifact_seconds,
            share(t.artifact_seconds)
        );
    }
    if let Some(sig) = crate::signals::received() {
        println!(
            "stopped by {}: {} run(s) interrupted mid-training, {} job(s) not started; rerun to finish them",
            crate::signals::name(sig),
            s.interrupted,
            s.not_started
        );
    }
    if let Some(m) = &s.mlflow {
        println!("{m}");
    }
    if s.reaped > 0 {
        println!(
            "marked {} stale run(s) of dead processes as killed",
            s.reaped
        );
    }
    match &s.best {
        Some(b) => println!(
            "best: {} {} val_rmse={:.4} (naive {})",
            b.run_id,
            b.label,
            b.val_rmse,
            b.naive_val_rmse.map_or("-".into(), |v| format!("{v:.4}"))
        ),
        None => println!("no finished run yet"),
    }
    println!("store: {}", s.store.display());
}

/// The report at the end of a sweep; a failure to write it is a warning, not a failed sweep.
fn write_sweep_report(s: &SweepSummary, quiet: bool, json: bool) {
    let written = Store::open_existing(&s.store)
        .and_then(|store| export::write(&store, &ReportOptions::new(&s.experiment)));
    match written {
        // stdout stays one JSON object under --json.
        Ok(path) if json && !quiet => eprintln!("report: {}", path.display()),
        Ok(path) if !quiet => println!("report: {}", path.display()),
        Ok(_) => {}
        Err(e) => eprintln!("warning: the report could not be written: {e:#}"),
    }
}

fn open_store(arg: &StoreArg) -> Result<Store> {
    let dir = arg
        .store
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    Store::open_existing(Path::new(&dir))
}

fn report_cmd(args: ReportArgs) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    let Some(experiment) = report::pick_experiment(&store, args.experiment.as_deref())? else {
        return Err(InputError::usage("report", "the store has no experiments yet").into());
    };
    if !store.experiments()?.contains(&experiment) {
        return Err(InputError::usage(
            "--experiment",
            format!("no experiment named \"{experiment}\" in the store"),
        )
        .into());
    }
    if args.best {
        let Some(run) = store.best_run(&experiment, &args.metric)? else {
            return Err(InputError::usage(
                "report --best",
                format!(
                    "no finished run of \"{experiment}\" has metric `{}`",
                    args.metric
                ),
            )
            .into());
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report::best_json(&run))?
            );
        } else {
            print!("{}", report::best_text(&run, &args.metric));
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    if let Some(id) = &args.sweep
        && store.sweep(id)?.is_none()
    {
        return Err(InputError::usage("--sweep", format!("no sweep {id} in the store")).into());
    }
    let mut filter = report::filter(Some(experiment.clone()), None);
    filter.sweep_id = args.sweep.clone();
    let mut runs = store.runs(&filter)?;
    runs.sort_by(|a, b| {
        let key = |r: &crate::store::RunRecord| r.metric(&args.metric).unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b))
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::runs_json(&runs))?
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    print!("{}", report::runs_table(&runs));
    let path = export::write(
        &store,
        &ReportOptions {
            experiment: Some(experiment),
            sweep: args.sweep,
            out: args.out,
            metric: args.metric,
            format: args.format,
        },
    )?;
    println!("report: {}", path.display());
    Ok(ExitCode::from(EXIT_OK))
}

fn runs_cmd(args: RunsArgs) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    let runs = store.runs(&report::filter(args.experiment, args.status))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::runs_json(&runs))?
        );
    } else {
        print!("{}", report::runs_table(&runs));
    }
    Ok(ExitCode::from(EXIT_OK))
}
