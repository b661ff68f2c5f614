//! `aerocast runs`: listing runs, and its `tag`, `note` and `show` actions.

use super::{EXIT_OK, ScopeArgs, StoreAt};
use crate::annotate;
use crate::error::InputError;
use crate::export::{self, Report, Scope, json, terminal};
use crate::filter::{Filter, SortKey};
use crate::store::{RunFilter, RunStatus};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;

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
    pub store: StoreAt,
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
    /// Write a run's artifacts (model.safetensors, model.json, loss.svg) to a folder, as
    /// `mlflow artifacts download` does, and print their paths.
    Artifacts {
        /// The run id, or any unique prefix of it.
        run: String,
        /// The folder to write them to (created if missing) [default: the run's folder in the
        /// store, artifacts/<run_id>/]
        #[arg(long)]
        dest: Option<std::path::PathBuf>,
        /// Print a JSON array of the files' paths.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one run: params, metrics, per-epoch history, tags, artifacts (written
    /// out to the run's folder in the store), its sweep and data, and the registered versions
    /// that point at it.
    Show {
        /// The run id, or any unique prefix of it.
        run: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

pub(super) fn runs_cmd(args: RunsArgs) -> Result<ExitCode> {
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
    let store = args.store.open()?;
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

/// `runs tag`, `runs note`, `runs artifacts` and `runs show`.
pub(super) fn runs_action(action: RunsAction, store: &StoreAt) -> Result<ExitCode> {
    if let RunsAction::Artifacts { run, dest, json } = &action {
        let store = store.open()?;
        let id = store.resolve_run_id(run)?;
        let dest = dest.clone().unwrap_or_else(|| store.artifact_dir(&id));
        let files = store.write_artifacts(&id, &dest)?;
        if *json {
            crate::outln!("{}", serde_json::to_string_pretty(&files)?);
        } else {
            for f in &files {
                crate::outln!("{}", f.display());
            }
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    if let RunsAction::Show { run, json } = &action {
        let store = store.open()?;
        let id = store.resolve_run_id(run)?;
        write_out_artifacts(&store, &id);
        let detail = export::json::run_detail(&store, &id)?;
        if *json {
            crate::outln!("{}", serde_json::to_string_pretty(&detail)?);
        } else {
            crate::out!("{}", terminal::run_detail_text(&detail));
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    let at = store.location()?;
    let (done, run_id) = match action {
        RunsAction::Tag { run, tag } => ("tagged", annotate::tag(&at, &run, &tag)?),
        RunsAction::Note { run, text } => ("noted", annotate::note(&at, &run, &text)?),
        RunsAction::Show { .. } | RunsAction::Artifacts { .. } => unreachable!("answered above"),
    };
    crate::outln!("{done} run {}", &run_id[..8.min(run_id.len())]);
    Ok(ExitCode::from(EXIT_OK))
}

/// Writes a run's artifacts out to its folder in the store, so the paths a command prints are
/// files; a store folder this user may not write gets a warning pointing at `runs artifacts`.
pub(super) fn write_out_artifacts(store: &crate::store::Store, run_id: &str) {
    if let Err(e) = store.fetch_artifacts(run_id) {
        crate::errln!(
            "warning: the artifacts of run {} could not be written out: {e:#} (`aerocast runs artifacts {} --dest DIR` writes them elsewhere)",
            &run_id[..8.min(run_id.len())],
            &run_id[..8.min(run_id.len())]
        );
    }
}
