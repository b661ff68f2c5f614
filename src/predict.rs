//! `aerocast predict`: a trained model's forecast past the end of its data (or of a given
//! CSV), optionally recursive over several steps, and a backtest over every window of the
//! validation span (or of the CSV). Everything goes through `forecast`, the module the
//! report and the server use, so the same rows give the same numbers everywhere.

use crate::error::InputError;
use crate::forecast::{self, Forecaster, SpanForecast, Timed};
use crate::metrics;
use crate::store::{ModelRef, ModelVersion, RunRecord, RunStatus, Store};
use anyhow::Result;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::PathBuf;

/// Which trained model to use.
pub enum Source {
    Run(String),
    Model(ModelRef),
    /// The best finished run of an experiment (default: the latest swept).
    Best(Option<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    Csv,
}

pub struct PredictOptions {
    pub source: Source,
    pub data: Option<PathBuf>,
    pub steps: Option<usize>,
    pub backtest: bool,
}

/// A run with a model, and the registered version it was reached through, if any.
pub struct Chosen {
    pub run: RunRecord,
    pub model: Option<ModelVersion>,
}

pub fn choose(store: &Store, source: &Source) -> Result<Chosen> {
    let (run_id, model) = match source {
        Source::Run(prefix) => (store.resolve_run_id(prefix)?, None),
        Source::Model(r) => {
            let v = store.resolve_model(r)?;
            (v.run_id.clone(), Some(v))
        }
        Source::Best(experiment) => {
            let exp = crate::export::resolve_experiment(store, experiment.as_deref())?;
            // As `report --best`: the best run on the experiment's latest data snapshot.
            let snapshot = store.latest_snapshot(&exp)?;
            let best = store.best_run(&exp, metrics::OBJECTIVE, snapshot.as_deref())?;
            let run = best.ok_or_else(|| {
                InputError::usage("--best", format!("experiment {exp:?} has no finished run"))
            })?;
            (run.run_id, None)
        }
    };
    let run = store
        .run(&run_id)?
        .ok_or_else(|| InputError::usage("--run", format!("no run {run_id}")))?;
    if !matches!(run.status, RunStatus::Finished | RunStatus::Pruned) {
        return Err(InputError::usage(
            "--run",
            format!("run {run_id} is {}: it has no trained model", run.status),
        )
        .into());
    }
    Ok(Chosen { run, model })
}

/// What `predict` found: forecasts past the data's end and, with `--backtest`, the span.
pub struct Prediction {
    pub chosen: Chosen,
    pub target: String,
    pub forecasts: Vec<Timed>,
    pub note: Option<String>,
    pub backtest: Option<SpanForecast>,
}

pub fn run(store: &Store, opts: &PredictOptions) -> Result<Prediction> {
    let chosen = choose(store, &opts.source)?;
    let run_model = forecast::load_model(store, &chosen.run.run_id)?;
    let spec = forecast::run_spec(store, &chosen.run)?;
    let (data, backtest) = match (&opts.data, opts.backtest) {
        (Some(path), _) => (forecast::read_csv(&spec, path)?, None),
        // The run's own validation span, read and checked exactly as it was scored.
        (None, true) => {
            let own = forecast::load_run_data(store, &chosen.run, &run_model.card)?;
            let span = forecast::validation_span(&run_model, &own)?;
            (own.data, Some(span))
        }
        (None, false) => (crate::data::load(&spec.data, &spec.lines)?, None),
    };
    let model = Forecaster::new(run_model);
    let backtest = match (backtest, opts.backtest) {
        (Some(span), _) => Some(span),
        (None, true) => Some(forecast::backtest(&model, &data)?),
        (None, false) => None,
    };
    let steps = opts.steps.unwrap_or(model.card.horizon);
    let what = data.path.display().to_string();
    model.check(data.rows(), steps, &what)?;
    let raw = model.forecast(&data.inputs, steps)?;
    let (forecasts, note) = forecast::stamp(&raw, data.times.as_deref());
    Ok(Prediction {
        chosen,
        target: model.card.target.clone(),
        forecasts,
        note,
        backtest,
    })
}

pub fn to_json(p: &Prediction) -> Value {
    let mut v = json!({
        "run_id": p.chosen.run.run_id,
        "target": p.target,
        "forecasts": p.forecasts,
    });
    if let Some(m) = &p.chosen.model {
        v["model"] = json!({"name": m.name, "version": m.version});
    }
    if let Some(n) = &p.note {
        v["note"] = json!(n);
    }
    if let Some(b) = &p.backtest {
        let rows: Vec<Value> = (0..b.actual.len())
            .map(|i| {
                let mut r = json!({
                    "actual": b.actual[i],
                    "forecast": b.predicted[i],
                    "naive": b.naive[i],
                });
                if let Some(t) = &b.times {
                    r["time"] = json!(t[i]);
                }
                r
            })
            .collect();
        let (rmse, mae) = b.rmse_mae();
        let (naive_rmse, naive_mae) = b.naive_rmse_mae();
        v["rows"] = json!(rows);
        v["metrics"] = json!({
            "rmse": rmse, "mae": mae, "naive_rmse": naive_rmse, "naive_mae": naive_mae,
        });
    }
    v
}

pub fn to_csv(p: &Prediction) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    match &p.backtest {
        Some(b) => {
            w.write_record(["time", "actual", "forecast", "naive"])?;
            for i in 0..b.actual.len() {
                let time = b.times.as_ref().map_or(String::new(), |t| t[i].clone());
                w.write_record([
                    time,
                    b.actual[i].to_string(),
                    b.predicted[i].to_string(),
                    b.naive[i].to_string(),
                ])?;
            }
        }
        None => {
            w.write_record(["step", "time", "value"])?;
            for f in &p.forecasts {
                let time = f.time.clone().unwrap_or_default();
                w.write_record([f.step.to_string(), time, f.value.to_string()])?;
            }
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

pub fn to_text(p: &Prediction) -> String {
    let mut s = String::new();
    let via = p.chosen.model.as_ref().map_or(String::new(), |m| {
        format!(" (model {} version {})", m.name, m.version)
    });
    let _ = writeln!(s, "run {}{via}: {}", p.chosen.run.run_id, p.target);
    if let Some(b) = &p.backtest {
        let (rmse, mae) = b.rmse_mae();
        let (naive_rmse, _) = b.naive_rmse_mae();
        let _ = writeln!(
            s,
            "backtest over {} windows: rmse {rmse:.6}, mae {mae:.6}, naive rmse {naive_rmse:.6}",
            b.actual.len()
        );
    }
    if let Some(n) = &p.note {
        let _ = writeln!(s, "note: {n}");
    }
    let _ = writeln!(s, "{:>5}  {:<26} {:>12}", "step", "time", "forecast");
    for f in &p.forecasts {
        let time = f.time.as_deref().unwrap_or("-");
        let _ = writeln!(s, "{:>5}  {time:<26} {:>12.4}", f.step, f.value);
    }
    s
}
