//! The charts of the comparison report, drawn from a [`Report`] into its folder. A chart that
//! cannot be drawn (no finished runs, the data file gone) is replaced by a note saying why;
//! it never fails the report.

use super::format::{num, param_text};
use super::model::{Report, mean_std};
use super::ranges::{Ranges, log_scaled};
use crate::artifacts::ModelCard;
use crate::forecast::{self, SpanForecast};
use crate::intervals;
use crate::metrics;
use crate::plot::charts::{
    self, Band, ErrChart, ErrPoint, ErrSeries, Line, LineChart, PcAxis, XScale, color,
    error_bar_chart, line_chart, line_chart_with_band, parallel_coordinates,
};
use crate::spec::knobs::ParamValue;
use crate::store::{HistoryPoint, RunRecord, RunStatus, Store};
use anyhow::{Result, bail};
use plotters::prelude::SeriesLabelPosition;
use plotters::style::RGBColor;
use std::collections::BTreeMap;
use std::path::Path;

/// A chart file in the report folder, or why it is missing.
pub type Slot = Result<Chart, String>;

#[derive(Debug, Clone)]
pub struct Chart {
    /// File name, relative to the report folder.
    pub file: String,
    pub title: String,
    /// What to read from it.
    pub caption: String,
}

#[derive(Debug, Clone)]
pub struct Charts {
    pub loss_all: Slot,
    pub loss_best: Slot,
    pub sensitivity: Result<Vec<Chart>, String>,
    pub forecast: Slot,
    /// RMSE by lead time; `None` unless the runs forecast several lead times.
    pub by_lead: Option<Slot>,
    pub parallel: Slot,
    /// Skill per sweep over the nights; drawn only with more than one sweep.
    pub skill: Slot,
}

impl Default for Charts {
    fn default() -> Self {
        let why = "not drawn for this format".to_string();
        Charts {
            loss_all: Err(why.clone()),
            loss_best: Err(why.clone()),
            sensitivity: Err(why.clone()),
            forecast: Err(why.clone()),
            by_lead: None,
            parallel: Err(why.clone()),
            skill: Err(why),
        }
    }
}

impl Charts {
    /// Every chart drawn, in page order.
    pub fn all(&self) -> Vec<&Chart> {
        let mut out = Vec::new();
        out.extend(self.loss_all.as_ref().ok());
        out.extend(self.loss_best.as_ref().ok());
        if let Ok(s) = &self.sensitivity {
            out.extend(s);
        }
        out.extend(self.forecast.as_ref().ok());
        out.extend(self.by_lead.as_ref().and_then(|s| s.as_ref().ok()));
        out.extend(self.parallel.as_ref().ok());
        out.extend(self.skill.as_ref().ok());
        out
    }
}

pub fn draw(store: &Store, report: &Report, dir: &Path) -> Charts {
    remove_old_charts(dir);
    let note = |e: anyhow::Error| format!("{e:#}");
    Charts {
        loss_all: loss_all(report, dir).map_err(note),
        loss_best: loss_best(report, dir).map_err(note),
        sensitivity: sensitivity(report, dir).map_err(note),
        forecast: forecast(store, report, dir).map_err(note),
        by_lead: leads(report).map(|n| by_lead(report, n, dir).map_err(note)),
        parallel: parallel(report, dir).map_err(note),
        skill: skill(report, dir).map_err(note),
    }
}

/// Charts of an earlier report in the same folder that this one may not redraw. Only files
/// with the names this module writes are touched.
fn remove_old_charts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = matches!(
            name.as_str(),
            "loss_all.svg"
                | "loss_best.svg"
                | "forecast.svg"
                | "by_lead.svg"
                | "parallel.svg"
                | "skill.svg"
        ) || (name.starts_with("sensitivity_") && name.ends_with(".svg"));
        if ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn points(h: Option<&Vec<HistoryPoint>>) -> Vec<(f64, f64)> {
    h.map(|h| {
        h.iter()
            .filter_map(|p| Some((p.step as f64, p.value?)))
            .collect()
    })
    .unwrap_or_default()
}

fn history<'a>(report: &'a Report, run: &RunRecord, key: &str) -> Option<&'a Vec<HistoryPoint>> {
    report.histories.get(&run.run_id)?.get(key)
}

/// Log scale when the values span more than this ratio.
const LOG_RATIO: f64 = 30.0;

fn wants_log(lines: &[Line]) -> bool {
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (lo, hi) = ys
        .filter(|y| y.is_finite() && *y > 0.0)
        .fold((f64::INFINITY, 0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    lo.is_finite() && hi / lo > LOG_RATIO
}

/// A sampled knob takes a new value in every run: a colour per value would be a legend as long
/// as the leaderboard, so only knobs with at most this many values colour the curves.
const MAX_COLOURS: usize = 8;

/// The knob the overlaid loss curves are coloured by: lr when swept, else the first swept knob;
/// only knobs with few distinct values qualify.
fn colour_knob(report: &Report) -> Option<String> {
    let few = |k: &&str| distinct_values(report, k).len() <= MAX_COLOURS;
    let knobs: Vec<&str> = report.knobs().into_iter().filter(few).collect();
    knobs
        .iter()
        .find(|k| **k == "lr")
        .or(knobs.first())
        .map(|k| k.to_string())
        .or_else(|| report.has_seeds().then(|| "seed".to_string()))
}

/// Distinct values of a param over the runs, sorted (numbers numerically).
fn distinct_values(report: &Report, key: &str) -> Vec<ParamValue> {
    // Sorted, then deduplicated: searching a list of the values seen so far was quadratic
    // for a sampled knob of thousands of runs. Ties in number are ordered by their text, so
    // equal values end up next to each other.
    let mut values: Vec<ParamValue> = report
        .runs
        .iter()
        .filter_map(|r| r.params.get(key).cloned())
        .collect();
    values.sort_by(value_order);
    values.dedup();
    values
}

/// The order of [`distinct_values`].
fn value_order(a: &ParamValue, b: &ParamValue) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x
            .total_cmp(&y)
            .then_with(|| a.to_string().cmp(&b.to_string())),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Above this many runs a chart draws the best `TOP_LINES` runs and the spread of all of them,
/// not a line per run: thousands of lines make an SVG of megabytes that shows nothing more.
pub const MANY_RUNS: usize = 200;
/// Runs drawn one by one in a chart of many runs.
const TOP_LINES: usize = 50;

fn loss_all(report: &Report, dir: &Path) -> Result<Chart> {
    let all: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| history(report, r, metrics::VAL_LOSS).is_some_and(|h| !h.is_empty()))
        .collect();
    if all.is_empty() {
        bail!("no run has recorded a validation loss yet");
    }
    if all.len() > MANY_RUNS {
        return loss_spread(report, &all, dir);
    }
    let with_history = all;
    let knob = colour_knob(report);
    let values = knob
        .as_deref()
        .map(|k| distinct_values(report, k))
        .unwrap_or_default();
    let colour_of = |r: &RunRecord| {
        knob.as_deref()
            .and_then(|k| r.params.get(k))
            .and_then(|v| values.iter().position(|x| x == v))
            .unwrap_or(0)
    };
    // Drawn in value order, so the legend lists the values in order.
    let mut with_history = with_history;
    with_history.sort_by_key(|r| colour_of(r));
    let many = with_history.len() > 50;
    let mut labelled = vec![false; values.len().max(1)];
    let mut lines: Vec<Line> = Vec::new();
    for r in &with_history {
        let idx = colour_of(r);
        let mut line = Line::new(points(history(report, r, metrics::VAL_LOSS)), color(idx));
        line.width = if many { 1 } else { 2 };
        line.alpha = if many { 0.45 } else { 0.8 };
        line.dashed = r.status != RunStatus::Finished;
        if !labelled[idx] {
            labelled[idx] = true;
            line.legend = Some(match &knob {
                Some(k) => format!("{k} = {}", param_text(values.get(idx))),
                None => "val loss".to_string(),
            });
        }
        lines.push(line);
    }
    let (file, title) = draw_val_losses(report, lines, with_history.len(), dir)?;
    Ok(Chart {
        file,
        title,
        caption: format!(
            "One line per run{}; the best run in black; dashed lines are runs that did not finish.",
            knob.map_or(String::new(), |k| format!(", coloured by {k}"))
        ),
    })
}

/// The validation loss of many runs: the 10th, 50th and 90th percentile at each epoch over all
/// of them, and the best `TOP_LINES` runs (in ranking order) as thin lines.
fn loss_spread(report: &Report, runs: &[&RunRecord], dir: &Path) -> Result<Chart> {
    let mut by_epoch: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for p in history(report, r, metrics::VAL_LOSS).into_iter().flatten() {
            if let Some(v) = p.value.filter(|v| v.is_finite()) {
                by_epoch.entry(p.step).or_default().push(v);
            }
        }
    }
    for values in by_epoch.values_mut() {
        values.sort_by(f64::total_cmp);
    }
    let quantile = |q: f64| -> Vec<(f64, f64)> {
        by_epoch
            .iter()
            .map(|(step, values)| (*step as f64, sorted_quantile(values, q)))
            .collect()
    };
    let mut lines: Vec<Line> = Vec::new();
    for r in runs.iter().take(TOP_LINES) {
        let mut line = Line::new(points(history(report, r, metrics::VAL_LOSS)), color(0));
        line.width = 1;
        line.alpha = 0.35;
        if lines.is_empty() {
            line.legend = Some(format!("best {TOP_LINES} runs"));
        }
        lines.push(line);
    }
    for (q, name, dashed) in [
        (0.1, "10th percentile", true),
        (0.5, "median", false),
        (0.9, "90th percentile", true),
    ] {
        let mut line = Line::new(quantile(q), RGBColor(90, 90, 90));
        line.width = 2;
        line.dashed = dashed;
        line.legend = Some(format!("{name} of all {} runs", runs.len()));
        lines.push(line);
    }
    let (file, title) = draw_val_losses(report, lines, runs.len(), dir)?;
    Ok(Chart {
        file,
        title,
        caption: format!(
            "{} runs are too many to draw one by one: the grey lines are the 10th, 50th and 90th percentile of all runs at each epoch, the blue lines the {TOP_LINES} best, the best run in black.",
            runs.len()
        ),
    })
}

/// Draws `lines` with the best run's curve on top as `loss_all.svg`: (file, title).
fn draw_val_losses(
    report: &Report,
    mut lines: Vec<Line>,
    runs: usize,
    dir: &Path,
) -> Result<(String, String)> {
    if let Some(best) = report.best_run() {
        let mut line = Line::new(
            points(history(report, best, metrics::VAL_LOSS)),
            RGBColor(0, 0, 0),
        );
        line.width = 3;
        line.legend = Some("best run".to_string());
        lines.push(line);
    }
    let file = "loss_all.svg";
    let title = format!("Validation loss per epoch, {runs} runs");
    line_chart(
        &dir.join(file),
        &LineChart {
            title: &title,
            x_desc: "epoch",
            y_desc: "val loss (MSE, normalised)",
            log_y: wants_log(&lines),
            x_label: None,
            legend_at: SeriesLabelPosition::UpperRight,
        },
        &lines,
    )?;
    Ok((file.to_string(), title))
}

fn loss_best(report: &Report, dir: &Path) -> Result<Chart> {
    let Some(best) = report.best_run() else {
        bail!("no finished run");
    };
    let mut train = Line::new(points(history(report, best, metrics::TRAIN_LOSS)), color(0));
    train.legend = Some("train loss".into());
    let mut val = Line::new(points(history(report, best, metrics::VAL_LOSS)), color(3));
    val.legend = Some("val loss".into());
    let lines = [train, val];
    if lines.iter().all(|l| l.points.is_empty()) {
        bail!("the best run has no loss history");
    }
    let file = "loss_best.svg";
    let title = format!("Best run {}: train and val loss", short(&best.run_id));
    line_chart(
        &dir.join(file),
        &LineChart {
            title: &title,
            x_desc: "epoch",
            y_desc: "loss (MSE, normalised)",
            log_y: wants_log(&lines),
            x_label: None,
            legend_at: SeriesLabelPosition::UpperRight,
        },
        &lines,
    )?;
    Ok(Chart {
        file: file.into(),
        title,
        caption: format!("Best epoch {}.", num(best.metric(metrics::BEST_EPOCH))),
    })
}

/// How many lead times the runs record (`val_rmse_h1` …), when more than one.
fn leads(report: &Report) -> Option<usize> {
    let n = report
        .runs
        .iter()
        .map(|r| {
            (1..)
                .take_while(|&k| r.metric(metrics::at_lead(metrics::VAL_RMSE, k)).is_some())
                .count()
        })
        .max()?;
    (n > 1).then_some(n)
}

/// The best finished runs' validation RMSE at each lead time, beside the naive forecast's.
fn by_lead(report: &Report, leads: usize, dir: &Path) -> Result<Chart> {
    let curve = |run: &RunRecord, base: &str| -> Vec<(f64, f64)> {
        (1..=leads)
            .filter_map(|k| Some((k as f64, run.metric(metrics::at_lead(base, k))?)))
            .collect()
    };
    let best: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| r.status == crate::store::RunStatus::Finished)
        .take(3)
        .collect();
    let Some(first) = best.first() else {
        bail!("no finished run");
    };
    let mut lines: Vec<Line> = best
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let mut l = Line::new(curve(run, metrics::VAL_RMSE), color(i));
            l.legend = Some(format!("#{} {}", i + 1, short(&run.run_id)));
            l
        })
        .collect();
    let mut naive = Line::new(curve(first, metrics::NAIVE_VAL_RMSE), color(7));
    naive.dashed = true;
    naive.legend = Some("naive (last value)".into());
    lines.push(naive);
    let file = "by_lead.svg";
    let title = "Validation RMSE by lead time".to_string();
    line_chart(
        &dir.join(file),
        &LineChart {
            title: &title,
            x_desc: "lead time (rows ahead)",
            y_desc: "val RMSE (target units)",
            log_y: false,
            x_label: None,
            legend_at: SeriesLabelPosition::UpperLeft,
        },
        &lines,
    )?;
    Ok(Chart {
        file: file.into(),
        title,
        caption: format!(
            "The {} best finished runs and the naive forecast, each lead scored on the same windows; val_rmse is the mean over the {leads} lead times.",
            best.len()
        ),
    })
}

fn short(id: &str) -> &str {
    &id[..8.min(id.len())]
}

fn sensitivity(report: &Report, dir: &Path) -> Result<Vec<Chart>> {
    let knobs = report.knobs();
    if knobs.is_empty() {
        bail!("no hyperparameter other than the seed is swept");
    }
    if report.best.is_none() {
        bail!("no finished run has `{}`", report.metric);
    }
    let naive_values: Vec<f64> = report
        .runs
        .iter()
        .filter_map(|r| report.naive_of(r))
        .collect();
    let naive = mean_std(&naive_values).0;
    let mut out = Vec::new();
    for (ki, knob) in knobs.iter().enumerate() {
        let values = distinct_values(report, knob);
        let numeric = values.iter().all(|v| v.as_f64().is_some());
        let scale = if !numeric {
            XScale::Categorical
        } else if log_scaled(knob, values.iter().filter_map(ParamValue::as_f64)) {
            XScale::Log
        } else {
            XScale::Linear
        };
        let x_of = |v: &ParamValue| -> f64 {
            match scale {
                XScale::Categorical => values.iter().position(|x| x == v).unwrap_or(0) as f64,
                _ => v.as_f64().unwrap_or(f64::NAN),
            }
        };
        // Sampled knobs have a value per run: label a few evenly spaced positions instead.
        let continuous = scale != XScale::Categorical && values.len() > MAX_COLOURS;
        let ticks: Vec<(f64, String)> = if continuous {
            spaced_ticks(&values, scale)
        } else {
            values
                .iter()
                .map(|v| (x_of(v), param_text(Some(v))))
                .collect()
        };
        // One series per setting of the other knobs when that stays readable, else one
        // series over everything (the marginal).
        let others: Vec<&str> = knobs.iter().copied().filter(|k| k != knob).collect();
        let mut groups: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        let combos = report
            .settings
            .iter()
            .map(|s| {
                others
                    .iter()
                    .map(|k| param_text(s.params.get(*k)))
                    .collect::<Vec<_>>()
            })
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let split = !others.is_empty() && combos <= 6;
        for r in &report.runs {
            let Some(m) = report.finished_metric(r) else {
                continue;
            };
            let Some(v) = r.params.get(*knob) else {
                continue;
            };
            let name = if split {
                others
                    .iter()
                    .map(|k| format!("{k}={}", param_text(r.params.get(*k))))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else if others.is_empty() {
                "mean ± std".to_string()
            } else {
                "all other settings".to_string()
            };
            groups
                .entry(name)
                .or_default()
                .entry(serde_json::to_string(v)?)
                .or_default()
                .push(m);
        }
        let plotted: usize = groups.values().flat_map(|g| g.values()).map(Vec::len).sum();
        let binned = continuous && plotted > MANY_RUNS;
        let mut series: Vec<ErrSeries> = groups
            .into_iter()
            .map(|(name, by_value)| {
                let at: Vec<(f64, Vec<f64>)> = by_value
                    .into_iter()
                    .filter_map(|(v, ms)| Some((x_of(&serde_json::from_str(&v).ok()?), ms)))
                    .collect();
                let points = if binned {
                    binned_points(at, scale)
                } else {
                    mean_points(at)
                };
                ErrSeries { name, points }
            })
            .collect();
        series.sort_by(|a, b| {
            let (x, y) = (natural(&a.name), natural(&b.name));
            x.iter()
                .zip(&y)
                .map(|(p, q)| p.0.cmp(&q.0).then(p.1.total_cmp(&q.1)))
                .find(|o| o.is_ne())
                .unwrap_or(x.len().cmp(&y.len()))
        });
        let file = format!("sensitivity_{ki}_{}.svg", crate::export::slug(knob));
        let title = format!("{} vs {knob}", report.metric);
        let x_desc = format!(
            "{knob}{}",
            if scale == XScale::Log {
                " (log scale)"
            } else {
                ""
            }
        );
        let naive_label = format!("naive {}", report.metric);
        error_bar_chart(
            &dir.join(&file),
            &ErrChart {
                title: &title,
                x_desc: &x_desc,
                y_desc: &format!("final {} (lower is better)", report.metric),
                scale,
                ticks: &ticks,
                baseline: naive.map(|n| (n, naive_label.as_str())),
                connect: binned || !continuous,
            },
            &series,
        )?;
        let over = if report.has_seeds() {
            "mean ± std over seeds"
        } else {
            "mean ± std over runs"
        };
        out.push(Chart {
            file,
            title,
            caption: if binned {
                format!(
                    "{plotted} runs are too many to show one by one: the {knob} axis is cut into \
                     {BINS} equal ranges{}; points are each range's median, bars its 10th to 90th \
                     percentile{}.",
                    if scale == XScale::Log {
                        " on the log scale"
                    } else {
                        ""
                    },
                    if split {
                        ", one line per setting of the other knobs"
                    } else {
                        ""
                    },
                )
            } else if split {
                format!("Points are the {over}, one line per setting of the other knobs.")
            } else if others.is_empty() {
                format!("Points are the {over}.")
            } else {
                format!(
                    "Points are the mean ± std over every run with that {knob} value \
                     ({combos} settings of the other knobs are too many for one line each)."
                )
            },
        });
    }
    Ok(out)
}

/// Ranges a sampled knob's axis is cut into when its runs are too many to show one by one.
const BINS: usize = 20;

/// A point per knob value: the mean of its runs, with a bar of ± one standard deviation.
fn mean_points(at: Vec<(f64, Vec<f64>)>) -> Vec<ErrPoint> {
    at.into_iter()
        .filter_map(|(x, ms)| {
            let (m, s) = mean_std(&ms);
            let (m, s) = (m?, s.unwrap_or(0.0));
            Some(ErrPoint {
                x,
                y: m,
                low: m - s,
                high: m + s,
            })
        })
        .collect()
}

/// A point per non-empty range of [`BINS`] equal ranges of x (equal on the log scale for a log
/// axis), at the range's middle: the median of its runs, with a bar from the 10th to the 90th
/// percentile, as the loss chart's spread of many runs.
fn binned_points(at: Vec<(f64, Vec<f64>)>, scale: XScale) -> Vec<ErrPoint> {
    let ranges = Ranges::new(at.iter().map(|(x, _)| *x), BINS, scale == XScale::Log);
    let mut bins: Vec<Vec<f64>> = vec![Vec::new(); BINS];
    for (x, ms) in at {
        bins[ranges.index(x)].extend(ms.into_iter().filter(|m| m.is_finite()));
    }
    bins.into_iter()
        .enumerate()
        .filter(|(_, ms)| !ms.is_empty())
        .map(|(i, mut ms)| {
            ms.sort_by(f64::total_cmp);
            ErrPoint {
                x: ranges.middle(i),
                y: sorted_quantile(&ms, 0.5),
                low: sorted_quantile(&ms, 0.1),
                high: sorted_quantile(&ms, 0.9),
            }
        })
        .collect()
}

/// The q-quantile of sorted, non-empty `values`: the nearest element, no interpolation.
fn sorted_quantile(values: &[f64], q: f64) -> f64 {
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Five ticks evenly spaced (in log space on a log axis) from the smallest value to the largest.
fn spaced_ticks(values: &[ParamValue], scale: XScale) -> Vec<(f64, String)> {
    let xs: Vec<f64> = values.iter().filter_map(ParamValue::as_f64).collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let log = scale == XScale::Log;
    let to = |x: f64| if log { x.log10() } else { x };
    let from = |t: f64| if log { 10f64.powf(t) } else { t };
    (0..5)
        .map(|i| {
            let x = from(to(lo) + (to(hi) - to(lo)) * i as f64 / 4.0);
            (x, crate::spec::knobs::significant(x, 3))
        })
        .collect()
}

/// Sorts "hidden_dim=8" before "hidden_dim=16".
fn natural(s: &str) -> Vec<(String, f64)> {
    s.split(' ')
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (k.to_string(), v.parse().unwrap_or(f64::INFINITY))
        })
        .collect()
}

fn forecast(store: &Store, report: &Report, dir: &Path) -> Result<Chart> {
    let Some(best) = report.best_run() else {
        bail!("no finished run");
    };
    let model = forecast::load_model(store, &best.run_id)?;
    let data = forecast::load_run_data(store, best, &model.card)?;
    let mut span = forecast::validation_span(&model, &data)?;
    // Series follow one another in the span: draw the worst one alone, as the table ranks.
    let worst = super::series::rows(best).into_iter().next();
    let (series, of_series) = match &worst {
        Some(w) if span.series.is_some() => {
            span = span.only_series(&w.name);
            (
                w.name.as_str(),
                format!(" of series {} (the worst)", w.name),
            )
        }
        _ => ("", String::new()),
    };
    let (rmse, _) = span.rmse_mae();
    let (naive_rmse, _) = span.naive_rmse_mae();
    let xs = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect()
    };
    let mut a = Line::new(xs(&span.actual), RGBColor(0, 0, 0));
    a.legend = Some("actual".into());
    a.width = 2;
    let mut n = Line::new(xs(&span.naive), RGBColor(150, 150, 150));
    n.legend = Some(format!("naive last value (RMSE {naive_rmse:.3})"));
    n.dashed = true;
    let mut g = Line::new(xs(&span.predicted), color(0));
    g.legend = Some(format!("GRU forecast (RMSE {rmse:.3})"));
    let band = interval_band(&model.card, series, &span);
    let times = span.times.clone();
    let x_label = move |x: f64| -> String {
        match &times {
            Some(t) if x >= 0.0 => t.get(x.round() as usize).cloned().unwrap_or_default(),
            _ => charts::tick(x),
        }
    };
    let file = "forecast.svg";
    let card = &model.card;
    let title = format!(
        "Best run {}: {} on the validation span{of_series}",
        short(&best.run_id),
        card.target
    );
    let x_desc = match (&data.spec.data.time, &span.times) {
        (Some(column), Some(_)) => column.as_str(),
        _ => "validation row",
    };
    line_chart_with_band(
        &dir.join(file),
        &LineChart {
            title: &title,
            x_desc,
            y_desc: &card.target,
            log_y: false,
            x_label: Some(&x_label),
            legend_at: SeriesLabelPosition::LowerLeft,
        },
        band.as_ref(),
        &[a, n, g],
    )?;
    let shaded = if band.is_some() {
        " Shaded: the 80% prediction interval, calibrated on errors of rows the model did not train on."
    } else {
        ""
    };
    Ok(Chart {
        file: file.into(),
        title,
        caption: format!(
            "Forecast horizon {} row(s), {} validation points; the model was reloaded from its artifacts.{shaded}",
            card.horizon,
            span.actual.len()
        ),
    })
}

/// The forecast ± the card's 80% half-width, with the share of the span's actuals inside it;
/// none for a model whose card has no such interval.
fn interval_band(card: &ModelCard, series: &str, span: &SpanForecast) -> Option<Band> {
    const LEVEL: u32 = 80;
    let h = intervals::half_width(&card.intervals, series, LEVEL, span.lead)?;
    let at = |sign: f64| -> Vec<(f64, f64)> {
        let shifted = span.predicted.iter().map(|&y| y + sign * h);
        shifted.enumerate().map(|(i, y)| (i as f64, y)).collect()
    };
    let covered = span.coverage(&card.intervals, LEVEL).unwrap_or(0.0);
    Some(Band {
        lower: at(-1.0),
        upper: at(1.0),
        color: color(0),
        legend: format!("{LEVEL}% interval (covers {:.0}% here)", 100.0 * covered),
    })
}

/// Values labelled on a parallel-coordinates axis: all of a grid's few, five spread evenly
/// of a sampled knob's many (a label per value of 10,000 trials made a 3 MB chart).
fn axis_ticks(values: &[ParamValue]) -> impl Iterator<Item = &ParamValue> {
    const MAX_TICKS: usize = 12;
    let step = if values.len() > MAX_TICKS {
        (values.len() - 1) as f64 / 4.0
    } else {
        1.0
    };
    let count = if values.len() > MAX_TICKS {
        5
    } else {
        values.len()
    };
    (0..count).map(move |k| &values[(k as f64 * step).round() as usize])
}

fn parallel(report: &Report, dir: &Path) -> Result<Chart> {
    let knobs = report.knobs();
    if knobs.is_empty() {
        bail!("no hyperparameter other than the seed is swept");
    }
    // Ranked order: with many runs, the best MANY_RUNS are drawn.
    let finished: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| report.finished_metric(r).is_some())
        .take(MANY_RUNS)
        .collect();
    if finished.len() < 2 {
        bail!("fewer than two finished runs");
    }
    let mut axes = Vec::new();
    let mut positions: Vec<Vec<f64>> = vec![Vec::new(); finished.len()];
    for knob in &knobs {
        let values = distinct_values(report, knob);
        let n = values.len().max(2) - 1;
        // Swept values are spread evenly: grids are usually log- or doubling-spaced.
        let pos = |v: Option<&ParamValue>| {
            let i = v
                .and_then(|v| values.binary_search_by(|x| value_order(x, v)).ok())
                .unwrap_or(0);
            if values.len() == 1 {
                0.5
            } else {
                i as f64 / n as f64
            }
        };
        axes.push(PcAxis {
            name: knob.to_string(),
            ticks: axis_ticks(&values)
                .map(|v| (pos(Some(v)), param_text(Some(v))))
                .collect(),
        });
        for (i, r) in finished.iter().enumerate() {
            positions[i].push(pos(r.params.get(*knob)));
        }
    }
    let metrics: Vec<f64> = finished
        .iter()
        .map(|r| report.finished_metric(r).unwrap_or(f64::NAN))
        .collect();
    let (lo, hi) = metrics
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &m| {
            (lo.min(m), hi.max(m))
        });
    let scale = |m: f64| if hi > lo { (m - lo) / (hi - lo) } else { 0.5 };
    axes.push(PcAxis {
        name: report.metric.clone(),
        ticks: (0..=4)
            .map(|i| {
                let f = i as f64 / 4.0;
                (f, charts::tick(lo + f * (hi - lo)))
            })
            .collect(),
    });
    let lines: Vec<(Vec<f64>, f64)> = positions
        .into_iter()
        .zip(&metrics)
        .map(|(mut p, &m)| {
            p.push(scale(m));
            (p, scale(m))
        })
        .collect();
    let best = report
        .best_run()
        .and_then(|b| finished.iter().position(|r| r.run_id == b.run_id));
    let file = "parallel.svg";
    let title = format!("Hyperparameters → {}", report.metric);
    let note = format!(
        "Colour: {} from {} (blue, best) to {} (red); the best run in black.",
        report.metric,
        charts::tick(lo),
        charts::tick(hi)
    );
    parallel_coordinates(&dir.join(file), &title, &note, &axes, &lines, best)?;
    Ok(Chart {
        file: file.into(),
        title,
        caption: format!(
            "One line per run with {}{}; swept values are evenly spaced on each axis.",
            report.metric,
            if finished.len() == MANY_RUNS {
                format!(", the best {MANY_RUNS} of them")
            } else {
                String::new()
            }
        ),
    })
}

/// Skill (1 − best/naive val_rmse) of each sweep's best run, in sweep order.
fn skill(report: &Report, dir: &Path) -> Result<Chart> {
    if report.nights.len() < 2 {
        bail!("one sweep so far");
    }
    let points: Vec<(f64, f64)> = report
        .nights
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i as f64, n.skill? * 100.0)))
        .collect();
    if points.is_empty() {
        bail!("no sweep has a finished run with a naive baseline");
    }
    let dates: Vec<String> = report
        .nights
        .iter()
        .map(|n| super::format::timestamp(n.started_at)[..10].to_string())
        .collect();
    let x_label = move |x: f64| dates.get(x.round() as usize).cloned().unwrap_or_default();
    let mut line = Line::new(points, color(0));
    line.width = 2;
    line.legend = Some("skill of the best run".into());
    let file = "skill.svg";
    let title = "Skill per sweep: how much of the naive forecast's error the best run removes";
    line_chart(
        &dir.join(file),
        &LineChart {
            title,
            x_desc: "sweep",
            y_desc: "skill (%)",
            log_y: false,
            x_label: Some(&x_label),
            legend_at: SeriesLabelPosition::LowerRight,
        },
        &[line],
    )?;
    Ok(Chart {
        file: file.into(),
        title: title.into(),
        caption: "Skill = 1 − best val_rmse / naive val_rmse on the same validation rows; each sweep is scored on its own data snapshot.".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunRecord, RunStatus};

    fn run(i: usize, lr: ParamValue) -> RunRecord {
        RunRecord {
            run_id: format!("{i:04}"),
            experiment: "e".into(),
            sweep_id: "s".into(),
            job_key: format!("k{i}"),
            status: RunStatus::Finished,
            start_time: i as f64,
            end_time: Some(i as f64 + 1.0),
            failure_reason: None,
            data_hash: String::new(),
            aerocast_version: String::new(),
            params: [("lr".to_string(), lr)].into_iter().collect(),
            metrics: [("val_rmse".to_string(), Some(1.0 + i as f64))]
                .into_iter()
                .collect(),
            artifacts: Vec::new(),
        }
    }

    /// Each value once, in numeric order, whatever order and repetition the runs have.
    #[test]
    fn distinct_values_are_sorted_and_each_listed_once() {
        let lrs = [0.3, 0.01, 0.3, 0.1, 0.01, 0.003];
        let runs = lrs
            .iter()
            .enumerate()
            .map(|(i, &lr)| run(i, ParamValue::Float(lr)))
            .chain([run(6, ParamValue::Int(1)), run(7, ParamValue::Int(1))])
            .collect();
        let report = Report::from_runs("e".into(), "val_rmse", runs);
        let got = distinct_values(&report, "lr");
        let want: Vec<ParamValue> = [0.003, 0.01, 0.1, 0.3]
            .map(ParamValue::Float)
            .into_iter()
            .chain([ParamValue::Int(1)])
            .collect();
        assert_eq!(got, want);
    }

    /// A grid's axis names every value; a sampled knob's names five, first and last among
    /// them, so the chart stays small however many trials there are.
    #[test]
    fn parallel_axes_label_every_grid_value_but_five_sampled_ones() {
        let grid: Vec<ParamValue> = [16, 32, 64].map(ParamValue::Int).to_vec();
        assert_eq!(
            axis_ticks(&grid).collect::<Vec<_>>(),
            grid.iter().collect::<Vec<_>>()
        );
        let sampled: Vec<ParamValue> = (0..1000).map(|i| ParamValue::Float(i as f64)).collect();
        let ticks: Vec<&ParamValue> = axis_ticks(&sampled).collect();
        let at = [0, 250, 500, 749, 999].map(|i| &sampled[i]);
        assert_eq!(ticks, at);
    }

    /// Many sampled values are cut into equal log ranges: one point per range, the metric's
    /// median there inside its 10th–90th percentile bar, following the metric's trend.
    #[test]
    fn many_sampled_values_are_binned_into_equal_log_ranges() {
        let n = 1000;
        let at: Vec<(f64, Vec<f64>)> = (0..n)
            .map(|i| {
                let x = 10f64.powf(-4.0 + 2.0 * i as f64 / (n - 1) as f64);
                (x, vec![i as f64])
            })
            .collect();
        let points = binned_points(at, XScale::Log);
        assert_eq!(points.len(), BINS);
        let first = points[0].x.log10();
        assert!((first - (-4.0 + 0.05)).abs() < 1e-9, "{first}");
        for p in &points {
            assert!(p.low < p.y && p.y < p.high, "{p:?}");
            // 50 runs a range, so the bar spans the middle 80% of them: about 40.
            assert!((p.high - p.low - 40.0).abs() <= 2.0, "{p:?}");
        }
        assert!(
            points
                .windows(2)
                .all(|w| w[0].y < w[1].y && w[0].x < w[1].x)
        );
    }

    /// Past `MANY_RUNS` runs the chart of a sampled knob has a point per range, not per run,
    /// so its file stays small; a few runs keep a point each.
    #[test]
    fn sensitivity_of_many_sampled_runs_stays_small() {
        let draw = |n: usize| {
            let runs = (0..n)
                .map(|i| run(i, ParamValue::Float(1e-4 * (1.0 + i as f64))))
                .collect();
            let report = Report::from_runs("e".into(), "val_rmse", runs);
            let dir = tempfile::tempdir().unwrap();
            let charts = sensitivity(&report, dir.path()).unwrap();
            let svg = std::fs::read_to_string(dir.path().join(&charts[0].file)).unwrap();
            (
                svg.matches("<circle").count(),
                svg.len(),
                charts[0].caption.clone(),
            )
        };
        let (circles, _, caption) = draw(50);
        assert_eq!(circles, 50);
        assert!(caption.starts_with("Points are"), "{caption}");
        let (circles, bytes, caption) = draw(2000);
        assert_eq!(circles, BINS);
        assert!(bytes < 40_000, "{bytes} bytes");
        assert!(caption.contains("2000 runs are too many"), "{caption}");
    }
}
