//! Command-line interface: parses flags, resolves the store, and hands off to the modules.

use crate::error::InputError;
use crate::export::{self, Format, Report, Scope, json, terminal};
use crate::metrics;
use crate::output;
use crate::predict;
use crate::serve;
use crate::spec::Spec;
use crate::store::{ModelRef, RunFilter, RunStatus, Store};
use crate::sweep::{self, SweepOptions, SweepSummary};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod model;

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
    /// Forecast with a trained model (a run, a registered model, or the best run).
    Predict(PredictArgs),
    /// The model registry: named, numbered versions of runs, with aliases.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Serve registered models over HTTP (JSON).
    Serve(ServeArgs),
}

/// Which trained model a command uses: exactly one of --run, --model, --best.
#[derive(Args)]
#[group(required = true, multiple = false, id = "which")]
pub struct WhichModel {
    /// A run id (or a unique prefix of one).
    #[arg(long)]
    pub run: Option<String>,
    /// A registered model: NAME (latest version), NAME@ALIAS or NAME/VERSION.
    #[arg(long)]
    pub model: Option<String>,
    /// The best finished run (lowest val_rmse) of the experiment.
    #[arg(long)]
    pub best: bool,
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub which: WhichModel,
    /// With --best: the experiment [default: the one swept most recently]
    #[arg(long, requires = "best")]
    pub experiment: Option<String>,
    /// CSV to forecast from, read with the run's columns and missing-value policy
    /// [default: the run's own data file]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Steps ahead; more than the model's horizon forecasts recursively (models whose only
    /// input is the target, horizon 1) [default: the model's horizon]
    #[arg(long)]
    pub steps: Option<usize>,
    /// Also forecast every window of the validation span (or of --data) and score it.
    #[arg(long)]
    pub backtest: bool,
    /// Print one JSON object.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (the forecasts, or the backtest rows with --backtest).
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Register a run as the next version of NAME.
    Register(RegisterArgs),
    /// Point ALIAS of NAME at VERSION (moving it if it is set).
    Alias(AliasArgs),
    /// List registered models and their versions.
    List(ListArgs),
    /// Show one version: NAME (latest), NAME@ALIAS or NAME/VERSION.
    Show(ShowArgs),
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "register_which")]
pub struct RegisterWhich {
    /// A run id (or a unique prefix of one).
    #[arg(long)]
    pub run: Option<String>,
    /// The best finished run (lowest val_rmse) of the experiment.
    #[arg(long)]
    pub best: bool,
}

#[derive(Args)]
pub struct RegisterArgs {
    pub name: String,
    #[command(flatten)]
    pub which: RegisterWhich,
    /// With --best: the experiment [default: the one swept most recently]
    #[arg(long, requires = "best")]
    pub experiment: Option<String>,
    /// Point this alias at the new version (repeatable).
    #[arg(long)]
    pub alias: Vec<String>,
    /// Print the new version as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args)]
pub struct AliasArgs {
    pub name: String,
    pub alias: String,
    pub version: i64,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this model.
    pub name: Option<String>,
    /// Print a JSON array of versions.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args)]
pub struct ShowArgs {
    /// NAME, NAME@ALIAS or NAME/VERSION.
    pub reference: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args)]
pub struct ServeArgs {
    /// A registered model to serve: NAME (latest version) or NAME@ALIAS, followed as it
    /// moves; NAME/VERSION pins one version. Repeatable, one per name.
    #[arg(long, required = true)]
    pub model: Vec<String>,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Seconds between asking the store where aliases point.
    #[arg(long, default_value_t = 1.0)]
    pub poll: f64,
    #[command(flatten)]
    pub store: StoreArg,
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
        Command::Predict(args) => predict_cmd(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Serve(args) => serve_cmd(args),
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
    let progress = output::for_terminal(args.quiet || args.json);
    let summary = sweep::run(&spec, &SweepOptions { store_dir, jobs }, progress.as_ref())?;
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
    println!("store: {}", s.store.display());
}

/// The report at the end of a sweep; a failure to write it is a warning, not a failed sweep.
fn write_sweep_report(s: &SweepSummary, quiet: bool, json: bool) {
    let written = Store::open_existing(&s.store).and_then(|store| {
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

pub(crate) fn open_store(arg: &StoreArg) -> Result<Store> {
    let dir = arg
        .store
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    Store::open_existing(Path::new(&dir))
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

fn predict_cmd(args: PredictArgs) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    let source = which_source(&args.which, args.experiment)?;
    let opts = predict::PredictOptions {
        source,
        data: args.data,
        steps: args.steps,
        backtest: args.backtest,
    };
    let p = predict::run(&store, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&predict::to_json(&p))?);
    } else if args.csv {
        print!("{}", predict::to_csv(&p)?);
    } else {
        print!("{}", predict::to_text(&p));
    }
    if let (Some(n), true) = (&p.note, args.json || args.csv) {
        eprintln!("note: {n}");
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn which_source(w: &WhichModel, experiment: Option<String>) -> Result<predict::Source> {
    Ok(match (&w.run, &w.model) {
        (Some(r), _) => predict::Source::Run(r.clone()),
        (None, Some(m)) => predict::Source::Model(ModelRef::parse(m)?),
        (None, None) => predict::Source::Best(experiment),
    })
}

fn serve_cmd(args: ServeArgs) -> Result<ExitCode> {
    let models = args
        .model
        .iter()
        .map(|m| ModelRef::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.poll.is_finite() && args.poll > 0.0) {
        return Err(InputError::usage("--poll", "must be a positive number of seconds").into());
    }
    let store_dir = args
        .store
        .store
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    serve::run(serve::ServeOptions {
        models,
        addr: args.addr,
        store_dir,
        poll: std::time::Duration::from_secs_f64(args.poll),
    })?;
    Ok(ExitCode::from(EXIT_OK))
}
