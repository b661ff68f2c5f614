//! `aerocast predict`: which trained model to use, its flags, and the handler.

use super::{EXIT_OK, StoreAt};
use crate::predict;
use crate::store::ModelRef;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// The best finished run of the experiment (lowest val_rmse, or cv_val_rmse when it
    /// cross-validates), as `report --best` picks it.
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
    /// With data of several series ([data] series): forecast this one only (default: each).
    #[arg(long)]
    pub series: Option<String>,
    /// Prediction intervals at these levels, percent (50, 80, 90, 95 or 99): `--level 80,95`.
    /// Calibrated on the run's validation errors (split conformal).
    #[arg(long, value_delimiter = ',')]
    pub level: Vec<u32>,
    /// Print one JSON object.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (the forecasts, or the backtest rows with --backtest).
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub store: StoreAt,
}

pub(super) fn predict_cmd(args: PredictArgs) -> Result<ExitCode> {
    let store = args.store.open()?;
    let source = which_source(&args.which, args.experiment)?;
    let opts = predict::PredictOptions {
        source,
        data: args.data,
        steps: args.steps,
        backtest: args.backtest,
        series: args.series,
        levels: args.level,
    };
    let p = predict::run(&store, &opts)?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&predict::to_json(&p))?);
    } else if args.csv {
        crate::out!("{}", predict::to_csv(&p)?);
    } else {
        crate::out!("{}", predict::to_text(&p));
    }
    if args.json || args.csv {
        for s in &p.series {
            if let Some(n) = &s.note {
                eprintln!("note: {n}");
            }
        }
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
