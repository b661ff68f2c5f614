//! Command-line interface: parses flags, resolves the store, and hands off to the modules.

use crate::error::InputError;
use crate::export::{self, Format, Report, Scope, json, terminal};
use crate::metrics;
use crate::output;
use crate::slurm;
use crate::spec::Spec;
use crate::store::{Location, RunFilter, RunStatus, Store};
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
    /// Work on whole stores.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Write (and with --submit, submit) a Slurm job array that runs a sweep on N workers.
    Slurm(SlurmArgs),
}

#[derive(Args)]
pub struct SlurmArgs {
    /// The sweep spec (TOML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Array tasks, each running `aerocast sweep` on the same store.
    #[arg(long)]
    pub workers: usize,
    /// CPUs per task; each task trains this many runs at once.
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// Time limit per task (sbatch --time), e.g. 01:30:00.
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Allow a SQLite (folder) store with several workers by keeping every task on one node.
    #[arg(long)]
    pub single_node: bool,
    /// Where to write the script [default: ./aerocast-<experiment>.sbatch]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run sbatch on the script and print the job id.
    #[arg(long)]
    pub submit: bool,
}

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

#[derive(Args)]
pub struct StoreArg {
    /// Store: a folder (SQLite) or postgres://user:password@host:port/database [default:
    /// [store] path or url of the spec, else ./aerocast-runs]
    #[arg(long, env = "AEROCAST_STORE", global = true, hide_env_values = true)]
    pub store: Option<String>,
}

impl StoreArg {
    /// The store named by the flag or environment, else by the spec, else the default folder.
    /// A value with a URL scheme is a database URL, never a folder.
    pub fn location(&self, spec: Option<&str>) -> Result<Location, InputError> {
        match (&self.store, spec) {
            (Some(s), _) => Location::parse("--store", s),
            (None, Some(s)) => Location::parse("[store]", s),
            (None, None) => Ok(Location::folder(Path::new(DEFAULT_STORE))),
        }
    }
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
}

#[derive(Args)]
pub struct ReportArgs {
    /// Show only the best finished run.
    #[arg(long)]
    pub best: bool,
    /// Metric to rank by (lower is better).
    #[arg(long, default_value = metrics::OBJECTIVE)]
    pub metric: String,
    /// Experiment [default: the one swept most recently]
    #[arg(long)]
    pub experiment: Option<String>,
    /// Print JSON (the best run, or the leaderboard as in leaderboard.json) instead of writing
    /// the report folder.
    #[arg(long)]
    pub json: bool,
    /// Only the runs of this sweep (its id, or any unique prefix of it) [default: every run of
    /// the experiment]
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
    /// Experiment [default: the one swept most recently]
    #[arg(long)]
    pub experiment: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_enum)]
    pub status: Option<RunStatus>,
    /// Print a JSON array (oldest run first, as the table).
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
        Command::Store(StoreCommand::Copy { src, dst, json }) => copy_cmd(&src, &dst, json),
        Command::Slurm(args) => slurm_cmd(args),
    }
}

fn copy_cmd(src: &str, dst: &str, json: bool) -> Result<ExitCode> {
    let src = Store::open_existing(Location::parse("SRC", src)?)?;
    let dst = Store::open(Location::parse("DST", dst)?)?;
    let s = crate::store::copy::copy(&src, &dst)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "copied {} run(s) and {} sweep(s) from {} to {}; {} run(s) were already there, {} still running were left out",
            s.copied,
            s.sweeps,
            src.location(),
            dst.location(),
            s.present,
            s.running
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn sweep_cmd(args: SweepArgs) -> Result<ExitCode> {
    crate::signals::install()?;
    let spec = Spec::load(&args.spec)?;
    let jobs = match args.jobs {
        Some(0) => return Err(InputError::usage("--jobs", "must be at least 1").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let store = args.store.location(spec.store.as_deref())?;
    let progress = output::for_terminal(args.quiet || args.json);
    let summary = sweep::run(&spec, &SweepOptions { store, jobs }, progress.as_ref())?;
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
    println!("store: {}", s.store);
}

/// The report at the end of a sweep; a failure to write it is a warning, not a failed sweep.
fn write_sweep_report(s: &SweepSummary, quiet: bool, json: bool) {
    let written = Store::open_existing(&s.location).and_then(|store| {
        let report = Report::load(&store, &Scope::experiment(&s.experiment))?;
        let dir = export::default_dir(&store, &report.experiment);
        export::write(&store, &report, Format::Html, &dir)
    });
    match written {
        // stdout stays one JSON object under --json.
        Ok(path) if json && !quiet => eprintln!("report: {}", path.display()),
        Ok(path) if !quiet => println!("report: {}", path.display()),
        Ok(_) => {}
        Err(e) => eprintln!("warning: the report could not be written: {e:#}"),
    }
}

fn open_store(arg: &StoreArg) -> Result<Store> {
    Store::open_existing(arg.location(None)?)
}

fn report_cmd(args: ReportArgs) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    if args.best {
        return best_cmd(&store, &args);
    }
    let scope = Scope {
        experiment: args.experiment,
        sweep: args.sweep,
        metric: args.metric,
    };
    let report = Report::load(&store, &scope)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json::leaderboard(&report))?
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    print!("{}", terminal::text_table(&report));
    let dir = args
        .out
        .unwrap_or_else(|| export::default_dir(&store, &report.experiment));
    let path = export::write(&store, &report, args.format, &dir)?;
    println!("report: {}", path.display());
    Ok(ExitCode::from(EXIT_OK))
}

/// `report --best` asks the store for one run, so it stays fast on stores of any size; the
/// store's ordering (lowest metric among finished runs, ties by run id) is the report's.
fn best_cmd(store: &Store, args: &ReportArgs) -> Result<ExitCode> {
    let experiment = export::resolve_experiment(store, args.experiment.as_deref())?;
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
            serde_json::to_string_pretty(&json::best(&run, &args.metric))?
        );
    } else {
        print!("{}", terminal::best_text(&run, &args.metric));
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn runs_cmd(args: RunsArgs) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    let experiment = export::resolve_experiment(&store, args.experiment.as_deref())?;
    let runs = store.runs(&RunFilter {
        experiment: Some(experiment.clone()),
        status: args.status,
        sweep_id: None,
    })?;
    let listing = Report::listing(experiment, metrics::OBJECTIVE, runs);
    if args.json {
        let list: Vec<serde_json::Value> = listing.runs.iter().map(json::run).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", terminal::text_table(&listing));
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn slurm_cmd(args: SlurmArgs) -> Result<ExitCode> {
    let spec = Spec::load(&args.spec)?;
    let store = args.store.location(spec.store.as_deref())?;
    let exe = std::env::current_exe()?;
    let job = slurm::SlurmJob {
        spec: &spec,
        store: &store,
        workers: args.workers,
        cpus_per_task: args.cpus_per_task,
        time: args.time.as_deref(),
        partition: args.partition.as_deref(),
        single_node: args.single_node,
        exe: &exe,
    };
    slurm::check(&job)?;
    let path = args.out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "aerocast-{}.sbatch",
            export::slug(&spec.experiment)
        ))
    });
    std::fs::write(&path, slurm::script(&job))
        .map_err(|e| InputError::usage("--out", format!("cannot write {}: {e}", path.display())))?;
    println!("{}", path.display());
    if args.submit {
        let mut sbatch = std::process::Command::new("sbatch");
        sbatch.arg("--parsable").arg(&path);
        if let Location::Postgres(url) = &store {
            // The script does not hold the password: the tasks get the URL from here.
            sbatch.env("AEROCAST_STORE", url.secret());
        }
        let out = sbatch
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run sbatch: {e}"))?;
        if !out.status.success() {
            anyhow::bail!(
                "sbatch failed: {}",
                store.redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        let id = String::from_utf8_lossy(&out.stdout);
        println!(
            "submitted job {}",
            id.trim().split(';').next().unwrap_or("")
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}
