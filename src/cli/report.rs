//! `aerocast report` (with `--best`) and `aerocast history`: their flags and handlers.

use super::{EXIT_OK, ScopeArgs, StoreAt};
use crate::error::InputError;
use crate::export::{self, Format, Report, Scope, json, terminal};
use crate::store::Store;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

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
    pub store: StoreAt,
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
    pub store: StoreAt,
}

pub(super) fn report_cmd(args: ReportArgs) -> Result<ExitCode> {
    let store = args.store.open()?;
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
    let shares = export::importance::shares(&report);
    if !shares.is_empty() {
        crate::outln!(
            "{}: {}",
            export::importance::EXPLAINED,
            export::importance::summary(&shares)
        );
    }
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
    // The paths it prints are files: the best run's artifacts are written out of the store.
    super::runs::write_out_artifacts(store, &run.run_id);
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

pub(super) fn history_cmd(args: HistoryArgs) -> Result<ExitCode> {
    let store = args.store.open()?;
    let experiment = export::resolve_experiment(&store, args.experiment.as_deref())?;
    let nights = export::history::nights(&store, &experiment)?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&nights)?);
    } else {
        crate::out!("{}", export::history::text_table(&nights));
    }
    Ok(ExitCode::from(EXIT_OK))
}
