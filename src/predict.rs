//! `aerocast predict`: a trained model's forecast past the end of its data (or of a given
//! CSV), optionally recursive over several steps, and a backtest over every window of the
//! validation span (or of the CSV). Everything goes through `forecast`, the module the
//! report and the server use, so the same rows give the same numbers everywhere.

use crate::error::InputError;
use crate::forecast::{self, Bounds, Forecaster, SpanForecast, Timed};
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
    /// Forecast this series only (a model of several series forecasts each by default).
    pub series: Option<String>,
    /// Prediction intervals at these levels (percent), beside each forecast.
    pub levels: Vec<u32>,
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
            let metric = crate::export::default_metric(store, &exp)?;
            let best = store.best_run(&exp, &metric, snapshot.as_deref())?;
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
    /// One entry per series forecast; one unnamed entry for data of one series.
    pub series: Vec<SeriesForecasts>,
    pub backtest: Option<SpanForecast>,
    /// The interval levels asked for, ascending.
    pub levels: Vec<u32>,
    /// With `--backtest`: the share of its rows inside each level's interval.
    pub coverage: Vec<(u32, f64)>,
}

/// Forecasts past the end of one series' rows.
pub struct SeriesForecasts {
    /// Empty for data of one series.
    pub name: String,
    pub forecasts: Vec<Timed>,
    pub note: Option<String>,
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
    let mut data = data;
    if model.card.indicator_columns > 0 {
        data.set_indicators(&model.series_names())
            .map_err(|m| InputError::usage("--data", m))?;
    }
    let backtest = match (backtest, opts.backtest) {
        (Some(span), _) => Some(span),
        (None, true) => Some(forecast::backtest(&model, &data)?),
        (None, false) => None,
    };
    let steps = opts.steps.unwrap_or(model.card.horizon);
    let mut levels = opts.levels.clone();
    levels.sort_unstable();
    levels.dedup();
    let series = forecast_each(&model, &data, steps, opts.series.as_deref(), &levels)?;
    let coverage = backtest.as_ref().map_or(Vec::new(), |b| {
        levels
            .iter()
            .filter_map(|&l| Some((l, b.coverage(&model.card.intervals, l)?)))
            .collect()
    });
    Ok(Prediction {
        chosen,
        target: model.card.target.clone(),
        series,
        backtest,
        levels,
        coverage,
    })
}

/// Forecasts past the end of each series of `data` (or of the one named `only`), with their
/// intervals at `levels`.
fn forecast_each(
    model: &Forecaster,
    data: &crate::data::Dataset,
    steps: usize,
    only: Option<&str>,
    levels: &[u32],
) -> Result<Vec<SeriesForecasts>> {
    if let Some(name) = only
        && !data.series.iter().any(|s| s.name == name)
    {
        let names: Vec<&str> = data.series.iter().map(|s| s.name.as_str()).collect();
        let message = if data.has_series() {
            format!(
                "no series \"{name}\" in {} (it has {})",
                data.path.display(),
                names.join(", ")
            )
        } else {
            format!(
                "{} holds one series: --series applies to data of several",
                data.path.display()
            )
        };
        return Err(InputError::usage("--series", message).into());
    }
    let f = data.features.len();
    let mut out = Vec::new();
    for s in data
        .series
        .iter()
        .filter(|s| only.is_none_or(|n| n == s.name))
    {
        let what = match s.name.as_str() {
            "" => data.path.display().to_string(),
            name => format!("{} (series {name})", data.path.display()),
        };
        model.check(s.len(), steps, &what)?;
        model.check_levels(levels, &s.name, "--level")?;
        let raw = model.forecast(&data.inputs[s.start * f..s.end * f], steps, &s.name)?;
        // The window's own times name the next ones: a gap earlier in the file is no matter.
        let window = s.end - model.card.window.max(2).min(s.len())..s.end;
        let times = data.times.as_ref().map(|t| &t[window]);
        let (mut forecasts, mut note) = forecast::stamp(&raw, times);
        for t in &mut forecasts {
            t.bounds = Bounds(model.bounds(&s.name, t.step, t.value, levels));
        }
        if forecasts.iter().any(|t| t.bounds.0.len() < levels.len()) {
            let past = format!(
                "steps past the model's horizon ({}) have no interval: its errors were measured \
                 at that horizon only",
                model.card.horizon
            );
            note = Some(note.map_or(past.clone(), |n| format!("{n}; {past}")));
        }
        out.push(SeriesForecasts {
            name: s.name.clone(),
            forecasts,
            note,
        });
    }
    Ok(out)
}

pub fn to_json(p: &Prediction) -> Value {
    let mut v = json!({
        "run_id": p.chosen.run.run_id,
        "target": p.target,
    });
    match p.series.as_slice() {
        [one] if one.name.is_empty() => {
            v["forecasts"] = json!(one.forecasts);
            if let Some(n) = &one.note {
                v["note"] = json!(n);
            }
        }
        many => {
            let list: Vec<Value> = many
                .iter()
                .map(|s| {
                    let mut e = json!({"series": s.name, "forecasts": s.forecasts});
                    if let Some(n) = &s.note {
                        e["note"] = json!(n);
                    }
                    e
                })
                .collect();
            v["series"] = json!(list);
        }
    }
    if let Some(m) = &p.chosen.model {
        v["model"] = json!({"name": m.name, "version": m.version});
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
                if let Some(s) = &b.series {
                    r["series"] = json!(s[i]);
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
        for (level, share) in &p.coverage {
            v["metrics"][format!("coverage_{level}")] = json!(share);
        }
    }
    v
}

pub fn to_csv(p: &Prediction) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    match &p.backtest {
        Some(b) => {
            let named = b.series.is_some();
            let header = ["series", "time", "actual", "forecast", "naive"];
            w.write_record(&header[usize::from(!named)..])?;
            for i in 0..b.actual.len() {
                let time = b.times.as_ref().map_or(String::new(), |t| t[i].clone());
                let series = b.series.as_ref().map(|s| s[i].clone());
                let row = [
                    time,
                    b.actual[i].to_string(),
                    b.predicted[i].to_string(),
                    b.naive[i].to_string(),
                ];
                w.write_record(series.into_iter().chain(row))?;
            }
        }
        None => {
            let named = p.series.iter().any(|s| !s.name.is_empty());
            let header = ["series", "step", "time", "value"];
            let bounds = bound_columns(&p.levels);
            w.write_record(
                header[usize::from(!named)..]
                    .iter()
                    .copied()
                    .chain(bounds.iter().map(String::as_str)),
            )?;
            for s in &p.series {
                for f in &s.forecasts {
                    let time = f.time.clone().unwrap_or_default();
                    let row = [f.step.to_string(), time, f.value.to_string()];
                    let series = named.then(|| s.name.clone());
                    let cells = p.levels.iter().flat_map(|&level| {
                        let b = f.bounds.0.iter().find(|b| b.level == level);
                        [b.map(|b| b.lower), b.map(|b| b.upper)]
                            .map(|v| v.map_or(String::new(), |v| v.to_string()))
                    });
                    w.write_record(series.into_iter().chain(row).chain(cells))?;
                }
            }
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// `lower_80`, `upper_80`, … for `levels`.
fn bound_columns(levels: &[u32]) -> Vec<String> {
    levels
        .iter()
        .flat_map(|l| [format!("lower_{l}"), format!("upper_{l}")])
        .collect()
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
        for (level, share) in &p.coverage {
            let _ = writeln!(s, "{level}% interval covers {:.1}% of them", 100.0 * share);
        }
    }
    for series in &p.series {
        if !series.name.is_empty() {
            let _ = writeln!(s, "series {}:", series.name);
        }
        if let Some(n) = &series.note {
            let _ = writeln!(s, "note: {n}");
        }
        let _ = write!(s, "{:>5}  {:<26} {:>12}", "step", "time", "forecast");
        for l in &p.levels {
            let _ = write!(s, " {:>23}", format!("{l}% interval"));
        }
        s.push('\n');
        for f in &series.forecasts {
            let time = f.time.as_deref().unwrap_or("-");
            let _ = write!(s, "{:>5}  {time:<26} {:>12.4}", f.step, f.value);
            for &l in &p.levels {
                let cell = match f.bounds.0.iter().find(|b| b.level == l) {
                    Some(b) => format!("{:.4} – {:.4}", b.lower, b.upper),
                    None => "-".into(),
                };
                let _ = write!(s, " {cell:>23}");
            }
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Job, Params};
    use crate::metrics;
    use crate::store::{Claim, SweepInfo};

    /// Runs finished with `(val_rmse, cv_val_rmse)`: their ids in order.
    fn finished(store: &Store, scores: &[(f64, f64)]) -> Vec<String> {
        let (experiment, sweep) = store
            .begin_sweep(&SweepInfo {
                experiment: "e",
                spec_path: "s.toml",
                spec_text: "",
                spec_hash: "0",
                data_path: "d.csv",
                data_hash: "0",
                data_id: None,
                data_rows: 0,
                n_jobs: scores.len(),
            })
            .unwrap();
        scores
            .iter()
            .enumerate()
            .map(|(index, &(val, cv))| {
                let job = Job {
                    index,
                    params: Params::new(),
                    key: format!("job-{index}"),
                };
                let Claim::Run(id) = store.claim(experiment, &sweep, "0", &job, &[]).unwrap()
                else {
                    panic!("job {index} not claimed");
                };
                let finals = [(metrics::VAL_RMSE, val), (metrics::CV_VAL_RMSE, cv)];
                store.finish_run(&id, &finals, &[]).unwrap();
                id
            })
            .collect()
    }

    /// `--best` of a cross-validated experiment is the run with the lowest mean over folds,
    /// as `report --best` says, not the one whose last fold (`val_rmse`) happened to be best.
    #[test]
    fn best_of_a_cross_validated_experiment_is_chosen_by_cv_val_rmse() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ids = finished(&store, &[(1.0, 3.0), (2.0, 2.0)]);
        let chosen = choose(&store, &Source::Best(Some("e".into()))).unwrap();
        assert_eq!(chosen.run.run_id, ids[1]);
    }
}
