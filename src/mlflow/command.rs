//! `aerocast export mlflow`: picks the runs, exports them, prints what happened. The store is
//! only read.

use super::client::{Client, Timeouts};
use super::export::{Experiments, ExportReport, Scope, export_runs};
use super::tracking::{Tracking, process_env};
use crate::error::InputError;
use crate::store::{RunFilter, Store};
use anyhow::Result;
use clap::Args;
use std::time::Duration;

const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(10),
    // Model files go up in one request each.
    request: Duration::from_secs(300),
};

#[derive(Args)]
pub struct MlflowArgs {
    /// MLflow tracking server, http(s)://host:port [default: $MLFLOW_TRACKING_URI]
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// aerocast experiment to export; its MLflow experiment has the same name
    /// [default: the one swept most recently]
    #[arg(long, conflicts_with = "all")]
    pub experiment: Option<String>,
    /// Only the runs of this sweep (its id)
    #[arg(long, conflicts_with = "all")]
    pub sweep: Option<String>,
    /// Every run of every experiment in the store
    #[arg(long)]
    pub all: bool,
    /// Print what was exported as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Exports what `args` selects from `store`; whether every selected run that has ended is now
/// complete in MLflow.
pub fn run(store: &Store, args: MlflowArgs) -> Result<bool> {
    let tracking = Tracking::new(args.tracking_uri.as_deref(), &process_env)?;
    let (filter, scope) = select(store, &args)?;
    let runs = store.runs(&filter)?;
    let client = Client::new(tracking, TIMEOUTS);
    let report = export_runs(&client, &Experiments::default(), store, &runs, scope)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    for f in &report.failed {
        eprintln!("error: run {}: {}", f.run_id, f.error);
    }
    if report.complete() {
        return Ok(true);
    }
    eprintln!(
        "error: {} run(s) not exported{}; rerun `aerocast export mlflow` to send them",
        report.unsent(),
        report
            .aborted
            .as_ref()
            .map_or(String::new(), |why| format!(" ({why})"))
    );
    Ok(false)
}

/// The runs to export and the MLflow runs to compare them with.
fn select<'a>(store: &Store, args: &'a MlflowArgs) -> Result<(RunFilter, Scope<'a>)> {
    if args.all {
        return Ok((RunFilter::default(), Scope::Experiment));
    }
    if let Some(id) = &args.sweep {
        let Some(sweep) = store.sweep(id)? else {
            return Err(InputError::usage("--sweep", format!("no sweep {id} in the store")).into());
        };
        if args
            .experiment
            .as_ref()
            .is_some_and(|e| *e != sweep.experiment)
        {
            return Err(InputError::usage(
                "--sweep",
                format!("sweep {id} belongs to experiment \"{}\"", sweep.experiment),
            )
            .into());
        }
        let filter = RunFilter {
            sweep_id: Some(id.clone()),
            ..Default::default()
        };
        return Ok((filter, Scope::Sweep(id)));
    }
    let experiment = match &args.experiment {
        Some(e) if store.experiments()?.contains(e) => e.clone(),
        Some(e) => {
            return Err(InputError::usage(
                "--experiment",
                format!("no experiment named \"{e}\" in the store"),
            )
            .into());
        }
        None => match store.latest_experiment()? {
            Some(e) => e,
            None => {
                return Err(InputError::usage("export", "the store has no experiments yet").into());
            }
        },
    };
    let filter = RunFilter {
        experiment: Some(experiment),
        ..Default::default()
    };
    Ok((filter, Scope::Experiment))
}

fn text(r: &ExportReport) -> String {
    let experiments: Vec<String> = r
        .experiments
        .iter()
        .map(|(name, id)| format!("\"{name}\" (MLflow id {id})"))
        .collect();
    let mut out = format!(
        "exported to {}: experiment {}\n",
        r.tracking_uri,
        if experiments.is_empty() {
            "-".to_string()
        } else {
            experiments.join(", ")
        }
    );
    out += &format!(
        "runs: {} created, {} completed (left unfinished by an earlier export), {} already there, {} still running (not exported)\n",
        r.created, r.completed, r.unchanged, r.running
    );
    out += &format!(
        "sent {} metric points, {} params, {} artifacts in {} requests, {:.2}s\n",
        r.metric_points, r.params, r.artifacts, r.requests, r.seconds
    );
    out
}
