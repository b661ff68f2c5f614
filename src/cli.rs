//! Command-line interface: parses flags, resolves the store, and hands off to the modules.

use crate::annotate;
use crate::error::InputError;
use crate::export::{self, Format, Report, Scope, json, terminal};
use crate::filter::{Filter, SortKey};
use crate::metrics;
use crate::output;
use crate::predict;
use crate::serve;
use crate::slurm;
use crate::spec::Spec;
use crate::store::{Location, ModelRef, RunFilter, RunStatus, Store};
use crate::sweep::{self, SweepOptions, SweepSummary};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod model;

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
    pub store: StoreArg,
    #[command(flatten)]
    pub spec: SpecArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Experiment [default: the one swept most recently]
    #[arg(long)]
    pub experiment: Option<String>,
    /// Print a JSON array of sweeps, oldest first.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub spec: SpecArg,
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

/// For commands that read a store: find it as `aerocast sweep SPEC` would.
#[derive(Args)]
pub struct SpecArg {
    /// The sweep spec whose `[store] path` names the store, used when neither --store nor
    /// AEROCAST_STORE is set (so `report --spec dir/spec.toml` finds what `sweep dir/spec.toml`
    /// wrote).
    #[arg(long)]
    pub spec: Option<PathBuf>,
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
    /// After the sweep, compare its best run with the registered model NAME@ALIAS on the same
    /// rows and promote it (register a new version, move the alias) when it is better.
    #[arg(long, value_name = "NAME")]
    pub promote: Option<String>,
    /// The alias --promote compares with and moves.
    #[arg(long, default_value = "production", requires = "promote")]
    pub alias: String,
    /// How much better (relative RMSE) the challenger must be: 0.01 = 1%.
    #[arg(long, default_value_t = 0.0, requires = "promote", value_parser = non_negative)]
    pub min_improvement: f64,
    /// Exit 4 when the champion beats tonight's best.
    #[arg(long, requires = "promote")]
    pub fail_on_regression: bool,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s} is not a fraction in [0, 1)")),
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

#[derive(Args)]
pub struct ReportArgs {
    /// Show only the best finished run.
    #[arg(long)]
    pub best: bool,
    /// Metric to rank by (lower is better) [default: cv_val_rmse when the experiment's runs
    /// record it (rolling-origin evaluation), else val_rmse]
    #[arg(long)]
    pub metric: Option<String>,
    /// Print JSON (the best run, or the leaderboard as in leaderboard.json) instead of writing
    /// the report folder.
    #[arg(long)]
    pub json: bool,
    /// Report folder [default: <store>/reports/<experiment>/]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub spec: SpecArg,
}

#[derive(Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// Only runs with this status.
    #[arg(long, value_enum)]
    pub status: Option<RunStatus>,
    /// Only runs matching, in MLflow's search syntax: "params.lr < 0.01 and metrics.val_rmse <
    /// 3 and status = 'finished'" (fields params.X, metrics.X, tags.X, status, experiment,
    /// sweep; = != < <= > >=; joined by `and`).
    #[arg(long)]
    pub filter: Option<String>,
    /// Order: a field (metrics.val_rmse, params.lr, status, start_time…), then `desc` if wanted
    /// [default: start_time]
    #[arg(long)]
    pub sort: Option<String>,
    /// At most this many runs (after sorting).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format [default: table]
    #[arg(long, value_enum, conflicts_with = "json")]
    pub format: Option<ListFormat>,
    /// Print a JSON array in the table's order (same as --format json).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub spec: SpecArg,
}

#[derive(Subcommand)]
pub enum RunsAction {
    /// Set a tag on a run: `aerocast runs tag RUN_ID key=value` (replaces the key's value).
    Tag {
        /// The run id, or any unique prefix of it (8 characters are printed everywhere).
        run: String,
        /// `key=value`.
        tag: String,
    },
    /// Attach a note to a run (stored as the tag `note`; a new note replaces the old).
    Note {
        /// The run id, or any unique prefix of it.
        run: String,
        /// The note's text.
        text: String,
    },
    /// Everything about one run: params, metrics, per-epoch history, tags, artifacts, its
    /// sweep and data, and the registered versions that point at it.
    Show {
        /// The run id, or any unique prefix of it.
        run: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
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
    #[command(flatten)]
    pub spec: SpecArg,
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
    #[command(flatten)]
    pub spec: SpecArg,
}

#[derive(Args)]
pub struct AliasArgs {
    pub name: String,
    pub alias: String,
    pub version: i64,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub spec: SpecArg,
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
    #[command(flatten)]
    pub spec: SpecArg,
}

#[derive(Args)]
pub struct ShowArgs {
    /// NAME, NAME@ALIAS or NAME/VERSION.
    pub reference: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub spec: SpecArg,
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
    #[command(flatten)]
    pub spec: SpecArg,
}

/// Runs trained at once can be at most this many (`--jobs`): past it, threads only fight.
pub const MAX_JOBS_FLAG: usize = 256;

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
            let store = open_store(&args.store, &SpecArg { spec: None })?;
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

fn copy_cmd(src: &str, dst: &str, json: bool) -> Result<ExitCode> {
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

/// `runs tag` and `runs note`.
fn runs_action(action: RunsAction, store: &StoreArg) -> Result<ExitCode> {
    if let RunsAction::Show { run, json } = &action {
        let store = open_store(store, &SpecArg { spec: None })?;
        let detail = export::json::run_detail(&store, &store.resolve_run_id(run)?)?;
        if *json {
            crate::outln!("{}", serde_json::to_string_pretty(&detail)?);
        } else {
            crate::out!("{}", terminal::run_detail_text(&detail));
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    let at = store.location(None)?;
    let (done, run_id) = match action {
        RunsAction::Tag { run, tag } => ("tagged", annotate::tag(&at, &run, &tag)?),
        RunsAction::Note { run, text } => ("noted", annotate::note(&at, &run, &text)?),
        RunsAction::Show { .. } => unreachable!("answered above"),
    };
    crate::outln!("{done} run {}", &run_id[..8.min(run_id.len())]);
    Ok(ExitCode::from(EXIT_OK))
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

fn sweep_cmd(args: SweepArgs) -> Result<ExitCode> {
    crate::signals::install()?;
    let spec = Spec::load(&args.spec)?;
    let jobs = match args.jobs {
        Some(0) => return Err(InputError::usage("--jobs", "must be at least 1").into()),
        Some(n) if n > MAX_JOBS_FLAG => {
            return Err(InputError::usage(
                "--jobs",
                format!("{n} is more than {MAX_JOBS_FLAG} runs at once; each run is one thread (the sweep never starts more than it has trials)"),
            )
            .into());
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let store = args.store.location(spec.store.as_deref())?;
    let mlflow = match args.mlflow.as_deref().or(spec.mlflow.as_deref()) {
        Some(uri) => Some(crate::mlflow::Tracking::new(
            Some(uri),
            &crate::mlflow::tracking::process_env,
        )?),
        None => None,
    };
    let progress = output::for_terminal(args.quiet || args.json);
    let opts = SweepOptions {
        store,
        jobs,
        mlflow,
    };
    let mut summary = sweep::run(&spec, &opts, progress.as_ref())?;
    if let Some(model) = &args.promote {
        summary.promotion = promote(&spec, &summary, model, &args)?;
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        print_summary(&summary);
    }
    // A stopped sweep gets its report too (the sweep is recorded `interrupted`); the exit
    // status then says why it stopped.
    write_sweep_report(&summary, args.quiet, args.json);
    if let Some(sig) = crate::signals::received() {
        return Ok(ExitCode::from(crate::signals::exit_status(sig)));
    }
    let regressed = summary.promotion.as_ref().is_some_and(|p| p.regressed());
    Ok(ExitCode::from(if args.fail_on_regression && regressed {
        EXIT_REGRESSION
    } else if summary.failed > 0 {
        EXIT_RUNS_FAILED
    } else {
        EXIT_OK
    }))
}

/// Champion against tonight's best; nothing to decide when no run finished.
fn promote(
    spec: &Spec,
    summary: &SweepSummary,
    model: &str,
    args: &SweepArgs,
) -> Result<Option<crate::promote::Promotion>> {
    let Some(best) = &summary.best else {
        crate::errln!("promotion skipped: no finished run on tonight's data");
        return Ok(None);
    };
    crate::store::check_name(model, "model name").map_err(|m| InputError::usage("--promote", m))?;
    let store = Store::open_existing(&summary.location)?;
    let opts = crate::promote::PromoteOptions {
        model: model.to_string(),
        alias: args.alias.clone(),
        min_improvement: args.min_improvement,
    };
    Ok(Some(crate::promote::promote(
        &store,
        spec,
        &best.run_id,
        &opts,
    )?))
}

fn print_summary(s: &SweepSummary) {
    crate::outln!(
        "sweep {} of \"{}\" ({}): {} — {} finished, {} pruned, {} failed, {} skipped (already finished){} in {:.1}s",
        &s.sweep_id[..8],
        s.experiment,
        format!("{:?}", s.method).to_lowercase(),
        plural(s.total, "trial"),
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
    if s.gave_up > 0 {
        crate::outln!(
            "{} not run: failed or killed max_attempts times (see `aerocast runs --status failed`)",
            plural(s.gave_up, "job")
        );
    }
    if s.dropped_rows > 0 {
        crate::outln!(
            "data: {} with missing values dropped (missing = \"drop\"); no window spans them",
            plural(s.dropped_rows, "row")
        );
    }
    if s.pruned > 0 {
        crate::outln!("pruning saved {} epochs of training", s.epochs_saved);
    }
    let t = &s.time;
    if t.run_seconds > 0.0 {
        let share = |x: f64| 100.0 * x / t.run_seconds;
        crate::outln!(
            "tracking: {:.2}s writing the store ({:.2}% of run time), {:.2}s saving models and plots ({:.1}%)",
            t.store_seconds,
            share(t.store_seconds),
            t.artifact_seconds,
            share(t.artifact_seconds)
        );
    }
    if let Some(sig) = crate::signals::received() {
        crate::outln!(
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
        crate::outln!(
            "marked {} stale run(s) of dead processes as killed",
            s.reaped
        );
    }
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    match &s.best {
        Some(b) => {
            // The linear baseline is scored on the validation span: beside val_rmse only.
            let linear = if b.metric == metrics::VAL_RMSE {
                format!(", linear {}", num(b.linear_val_rmse))
            } else {
                String::new()
            };
            crate::outln!(
                "best: {} {} {}={:.4} (naive {}{linear}){}",
                b.run_id,
                b.label,
                b.metric,
                b.score,
                num(b.naive_score),
                b.test_rmse.map_or(String::new(), |v| format!(
                    "; test_rmse={v:.4} (not used for selection)"
                ))
            );
            if let Some(linear) = b.linear_val_rmse.filter(|l| b.val_rmse >= *l) {
                crate::outln!(
                    "warning: the best GRU does not beat the linear baseline ({:.4} vs {linear:.4}): not worth deploying over it",
                    b.val_rmse
                );
            }
        }
        None => crate::outln!("no finished run yet"),
    }
    if let Some(p) = &s.promotion {
        crate::outln!(
            "promotion of {}@{} on the {} span: {} — {}",
            p.model,
            p.alias,
            p.span,
            if p.promoted() {
                format!(
                    "promoted run {} as version {}",
                    &p.challenger.run_id[..8],
                    p.version.unwrap_or(0)
                )
            } else {
                "champion kept".to_string()
            },
            p.reason
        );
    }
    crate::outln!("store: {}", s.store);
}

/// The report at the end of a sweep; a failure to write it is a warning, not a failed sweep.
fn write_sweep_report(s: &SweepSummary, quiet: bool, json: bool) {
    let written = Store::open_existing(&s.location).and_then(|store| {
        let report = Report::load(&store, &Scope::experiment(&store, &s.experiment)?)?;
        let dir = export::default_dir(&store, &report.experiment);
        export::write(&store, &report, Format::Html, &dir)
    });
    match written {
        // stdout stays one JSON object under --json.
        Ok(path) if json && !quiet => crate::errln!("report: {}", path.display()),
        Ok(path) if !quiet => crate::outln!("report: {}", path.display()),
        Ok(_) => {}
        Err(e) => crate::errln!("warning: the report could not be written: {e:#}"),
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

/// The store a command that deletes or changes records works on.
pub(crate) fn open_store_to_write(arg: &StoreArg, spec: &SpecArg) -> Result<Store> {
    let (at, from) = store_location(arg, spec)?;
    Store::open_existing(&at).map_err(|e| looked_at(e, &at, &from))
}

/// The store a read command reads, opened read-only.
pub(crate) fn open_store(arg: &StoreArg, spec: &SpecArg) -> Result<Store> {
    let (at, from) = store_location(arg, spec)?;
    Store::open_read_only(&at).map_err(|e| looked_at(e, &at, &from))
}

/// Where a read command looks, first match wins: --store, AEROCAST_STORE, the `[store] path`
/// or `url` of --spec, ./aerocast-runs. Returns the store and what named it.
fn store_location(arg: &StoreArg, spec: &SpecArg) -> Result<(Location, String)> {
    if arg.given().is_some() {
        return Ok((arg.location(None)?, "--store or AEROCAST_STORE".into()));
    }
    if let Some(path) = &spec.spec {
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

fn report_cmd(args: ReportArgs) -> Result<ExitCode> {
    let store = open_store(&args.store, &args.spec)?;
    if args.best {
        return best_cmd(&store, &args);
    }
    let metric = match args.metric {
        Some(m) => m,
        None => {
            let experiment = export::resolve_experiment(&store, args.scope.experiment.as_deref())?;
            export::default_metric(&store, &experiment)?
        }
    };
    let scope = Scope {
        experiment: args.scope.experiment,
        sweep: args.scope.sweep,
        metric,
        all_data: args.scope.all_data,
    };
    let report = Report::load(&store, &scope)?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&json::leaderboard(&report))?
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    crate::out!("{}", terminal::text_table(&report));
    let dir = args
        .out
        .unwrap_or_else(|| export::default_dir(&store, &report.experiment));
    let path = export::write(&store, &report, args.format, &dir)?;
    crate::outln!("report: {}", path.display());
    Ok(ExitCode::from(EXIT_OK))
}

/// `report --best` asks the store for one run, so it stays fast on stores of any size; the
/// store's ordering (lowest metric among finished runs, ties by run id) is the report's.
fn best_cmd(store: &Store, args: &ReportArgs) -> Result<ExitCode> {
    let experiment = export::resolve_experiment(store, args.scope.experiment.as_deref())?;
    let metric = match &args.metric {
        Some(m) => m.clone(),
        None => export::default_metric(store, &experiment)?,
    };
    let data_id = if args.scope.all_data {
        None
    } else {
        store.latest_snapshot(&experiment)?
    };
    let Some(run) = store.best_run(&experiment, &metric, data_id.as_deref())? else {
        return Err(InputError::usage(
            "report --best",
            format!("no finished run of \"{experiment}\" has metric `{metric}`"),
        )
        .into());
    };
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&json::best(&run, &metric))?
        );
    } else {
        crate::out!("{}", terminal::best_text(&run, &metric));
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn runs_cmd(args: RunsArgs) -> Result<ExitCode> {
    let filter = args
        .filter
        .as_deref()
        .map(|f| Filter::parse(f).map_err(|e| InputError::usage("--filter", e.render(f))))
        .transpose()?;
    let sort = args
        .sort
        .as_deref()
        .map(|s| SortKey::parse(s).map_err(|e| InputError::usage("--sort", e.render(s))))
        .transpose()?;
    let store = open_store(&args.store, &args.spec)?;
    let experiment = export::resolve_experiment(&store, args.scope.experiment.as_deref())?;
    let sweep_id = export::model::resolve_sweep(&store, &experiment, args.scope.sweep.as_deref())?;
    let data_id = export::model::snapshot_scope(
        &store,
        &experiment,
        &Scope {
            experiment: Some(experiment.clone()),
            sweep: sweep_id.clone(),
            metric: String::new(),
            all_data: args.scope.all_data,
        },
    )?;
    let selection = RunFilter {
        experiment: Some(experiment.clone()),
        status: args.status,
        sweep_id,
        data_id,
    };
    let mut runs = store.runs(&selection)?;
    if let Some(f) = &filter {
        let tags = if f.reads_tags() {
            let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
            store.tags(&ids)?
        } else {
            Default::default()
        };
        let none = Default::default();
        runs.retain(|r| f.matches(r, tags.get(&r.run_id).unwrap_or(&none)));
    }
    if let Some(key) = &sort {
        key.sort(&mut runs);
    }
    runs.truncate(args.limit.unwrap_or(usize::MAX));
    let metric = export::default_metric(&store, &experiment)?;
    let listing = Report::listing(experiment, &metric, runs);
    let format = match (args.format, args.json) {
        (Some(f), _) => f,
        (None, true) => ListFormat::Json,
        (None, false) => ListFormat::Table,
    };
    match format {
        ListFormat::Json => {
            let list: Vec<serde_json::Value> = listing.runs.iter().map(json::run).collect();
            let list = annotate::with_tags(&store, serde_json::Value::Array(list), &listing.runs)?;
            crate::outln!("{}", serde_json::to_string_pretty(&list)?);
        }
        ListFormat::Csv => crate::out!(
            "{}",
            String::from_utf8(export::csv::leaderboard(&listing)?)?
        ),
        ListFormat::Table => crate::out!("{}", terminal::text_table(&listing)),
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn history_cmd(args: HistoryArgs) -> Result<ExitCode> {
    let store = open_store(&args.store, &args.spec)?;
    let experiment = export::resolve_experiment(&store, args.experiment.as_deref())?;
    let nights = export::history::nights(&store, &experiment)?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&nights)?);
    } else {
        crate::out!("{}", export::history::text_table(&nights));
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn gc_cmd(args: GcArgs) -> Result<ExitCode> {
    let store = open_store_to_write(&args.store, &args.spec)?;
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
    crate::outln!(
        "gc of \"{experiment}\"{}: {} run(s) {}, {:.1} MB {} ({:.1} MB of artifacts, {:.1} MB of database)",
        if args.dry_run { " (dry run)" } else { "" },
        p.runs.len(),
        if args.dry_run {
            "would be deleted"
        } else {
            "deleted"
        },
        mb(outcome.bytes_freed()),
        if args.dry_run {
            "would be freed"
        } else {
            "freed"
        },
        mb(outcome.artifact_bytes()),
        mb(outcome
            .db_bytes_before
            .saturating_sub(outcome.db_bytes_after)),
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

fn predict_cmd(args: PredictArgs) -> Result<ExitCode> {
    let store = open_store(&args.store, &args.spec)?;
    let source = which_source(&args.which, args.experiment)?;
    let opts = predict::PredictOptions {
        source,
        data: args.data,
        steps: args.steps,
        backtest: args.backtest,
    };
    let p = predict::run(&store, &opts)?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&predict::to_json(&p))?);
    } else if args.csv {
        crate::out!("{}", predict::to_csv(&p)?);
    } else {
        crate::out!("{}", predict::to_text(&p));
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
    let store = open_store(&args.store, &args.spec)?;
    serve::run(serve::ServeOptions {
        models,
        addr: args.addr,
        store,
        poll: std::time::Duration::from_secs_f64(args.poll),
    })?;
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
