//! The comparison report: one folder per experiment with a leaderboard, charts and
//! seed-aggregated tables. The data is gathered once into a [`Report`]; each output format is an
//! [`Exporter`] in its own file that renders it.

mod csv;
mod html;
mod json;
mod markdown;

use crate::error::InputError;
use crate::plot::report_charts::{self, Charts};
use crate::store::{HistoryPoint, RunFilter, RunRecord, Store, SweepDetail};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The folder under the store where reports go by default.
pub const REPORTS_DIR: &str = "reports";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Html,
    Md,
    Json,
    Csv,
}

/// One output format.
pub trait Exporter {
    /// The file written in the report folder.
    fn file_name(&self) -> &'static str;
    /// Whether the format shows the charts (they are drawn only if so).
    fn wants_charts(&self) -> bool;
    fn render(&self, report: &Report, charts: &Charts) -> Result<Vec<u8>>;
}

fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Html => Box::new(html::Html),
        Format::Md => Box::new(markdown::Markdown),
        Format::Json => Box::new(json::Json),
        Format::Csv => Box::new(csv::Csv),
    }
}

#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Default: the experiment swept most recently.
    pub experiment: Option<String>,
    /// Only the runs of this sweep (default: every run of the experiment).
    pub sweep: Option<String>,
    /// Default: `<store>/reports/<experiment slug>/`.
    pub out: Option<PathBuf>,
    /// Ranks runs; lower is better.
    pub metric: String,
    pub format: Format,
}

impl ReportOptions {
    pub fn new(experiment: &str) -> ReportOptions {
        ReportOptions {
            experiment: Some(experiment.to_string()),
            sweep: None,
            out: None,
            metric: "val_rmse".to_string(),
            format: Format::Html,
        }
    }
}

/// Writes the report; returns the path of its main file.
pub fn write(store: &Store, opts: &ReportOptions) -> Result<PathBuf> {
    let report = Report::load(store, opts)?;
    let dir = match &opts.out {
        Some(d) => d.clone(),
        None => store.dir().join(REPORTS_DIR).join(slug(&report.experiment)),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exporter = exporter(opts.format);
    let charts = if exporter.wants_charts() {
        report_charts::draw(store, &report, &dir)
    } else {
        Charts::default()
    };
    let path = dir.join(exporter.file_name());
    let bytes = exporter.render(&report, &charts)?;
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A folder name from user text: only `[A-Za-z0-9_-]`, so no name can reach outside the
/// reports folder. A name that had to change gets a short hash, so two names never share one.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let mut s: String = s.trim_matches('-').chars().take(60).collect();
    if s.is_empty() {
        s = "experiment".to_string();
    }
    if s != name {
        let h = crate::spec::hex(&Sha256::digest(name.as_bytes()));
        s = format!("{s}-{}", &h[..8]);
    }
    s
}

/// Everything a report shows, gathered with a fixed number of store queries.
pub struct Report {
    pub experiment: String,
    pub metric: String,
    /// The sweep the header describes: the one asked for, else the latest.
    pub sweep: Option<SweepDetail>,
    /// Ranked by the metric; runs without it (failed, killed) last.
    pub runs: Vec<RunRecord>,
    /// Params that differ between runs, in display order (seed last).
    pub swept: Vec<String>,
    /// Index into `runs` of the best finished run.
    pub best: Option<usize>,
    pub settings: Vec<Setting>,
    /// run id → metric key → points (`train_loss`, `val_loss`).
    pub histories: HashMap<String, HashMap<String, Vec<HistoryPoint>>>,
    pub generated_at: f64,
}

/// One hyperparameter setting with its seeds collapsed.
pub struct Setting {
    /// The swept params other than the seed.
    pub params: BTreeMap<String, serde_json::Value>,
    pub runs: usize,
    /// Final metric of each finished run.
    pub values: Vec<f64>,
    pub mean: Option<f64>,
    /// Sample standard deviation; `None` below two values.
    pub std: Option<f64>,
    pub beat_naive: usize,
    /// Every run finished, beats naive, and the spread across seeds is small.
    pub robust: bool,
}

/// A setting counts as robust when its seeds' spread is under this fraction of their mean.
pub const ROBUST_REL_STD: f64 = 0.05;

impl Report {
    pub fn load(store: &Store, opts: &ReportOptions) -> Result<Report> {
        let experiment = match &opts.experiment {
            Some(e) => e.clone(),
            None => store
                .latest_experiment()?
                .ok_or_else(|| InputError::usage("report", "the store has no experiments yet"))?,
        };
        if !store.experiments()?.contains(&experiment) {
            return Err(InputError::usage(
                "--experiment",
                format!("no experiment named \"{experiment}\" in the store"),
            )
            .into());
        }
        let sweep_id = match &opts.sweep {
            Some(s) => Some(s.clone()),
            None => store.latest_sweep_id(&experiment)?,
        };
        let sweep = match &sweep_id {
            Some(id) => store.sweep_detail(id)?,
            None => None,
        };
        if let (Some(id), None) = (&opts.sweep, &sweep) {
            return Err(InputError::usage("--sweep", format!("no sweep {id} in the store")).into());
        }
        if let Some(s) = sweep.as_ref().filter(|s| s.record.experiment != experiment) {
            return Err(InputError::usage(
                "--sweep",
                format!(
                    "sweep {} belongs to experiment \"{}\", not \"{experiment}\"",
                    s.record.sweep_id, s.record.experiment
                ),
            )
            .into());
        }
        let filter = RunFilter {
            experiment: Some(experiment.clone()),
            status: None,
            sweep_id: opts.sweep.clone(),
        };
        let mut runs = store.runs(&filter)?;
        let metric = opts.metric.clone();
        let key = |r: &RunRecord| {
            r.metric(&metric)
                .filter(|_| r.status == "finished")
                .unwrap_or(f64::INFINITY)
        };
        runs.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.run_id.cmp(&b.run_id)));
        let best = runs.first().filter(|r| key(r).is_finite()).map(|_| 0);
        let histories = store.histories(&filter, &["train_loss", "val_loss"])?;
        let swept = swept_params(&runs);
        let mut report = Report {
            experiment,
            metric,
            sweep,
            runs,
            swept,
            best,
            settings: Vec::new(),
            histories,
            generated_at: crate::store::now(),
        };
        report.settings = report.aggregate_seeds();
        Ok(report)
    }

    pub fn best_run(&self) -> Option<&RunRecord> {
        self.best.map(|i| &self.runs[i])
    }

    pub fn count(&self, status: &str) -> usize {
        self.runs.iter().filter(|r| r.status == status).count()
    }

    /// Failed or killed.
    pub fn unfinished(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.status == "failed" || r.status == "killed")
            .count()
    }

    /// The naive baseline's name for the metric, when the store has one (`naive_val_rmse`).
    pub fn naive_metric(&self) -> String {
        format!("naive_{}", self.metric)
    }

    pub fn metric_of(&self, run: &RunRecord) -> Option<f64> {
        if run.status == "finished" {
            run.metric(&self.metric)
        } else {
            None
        }
    }

    pub fn naive_of(&self, run: &RunRecord) -> Option<f64> {
        run.metric(&self.naive_metric())
    }

    pub fn beats_naive(&self, run: &RunRecord) -> Option<bool> {
        Some(self.metric_of(run)? < self.naive_of(run)?)
    }

    /// The swept params other than the seed: the knobs a sensitivity chart is drawn for.
    pub fn knobs(&self) -> Vec<&str> {
        self.swept
            .iter()
            .map(String::as_str)
            .filter(|k| *k != "seed")
            .collect()
    }

    pub fn has_seeds(&self) -> bool {
        self.swept.iter().any(|k| k == "seed")
    }

    fn aggregate_seeds(&self) -> Vec<Setting> {
        let knobs = self.knobs();
        let mut groups: BTreeMap<String, Vec<&RunRecord>> = BTreeMap::new();
        for r in &self.runs {
            let key = knobs
                .iter()
                .map(|k| r.params.get(*k).map_or("-".into(), |v| v.to_string()))
                .collect::<Vec<_>>()
                .join("\u{1f}");
            groups.entry(key).or_default().push(r);
        }
        let mut settings: Vec<Setting> = groups
            .into_values()
            .map(|runs| {
                let values: Vec<f64> = runs.iter().filter_map(|r| self.metric_of(r)).collect();
                let (mean, std) = mean_std(&values);
                let beat_naive = runs
                    .iter()
                    .filter(|r| self.beats_naive(r) == Some(true))
                    .count();
                let robust = values.len() == runs.len()
                    && beat_naive == runs.len()
                    && match (mean, std) {
                        (Some(m), Some(s)) => s <= ROBUST_REL_STD * m.abs(),
                        _ => false,
                    };
                Setting {
                    params: knobs
                        .iter()
                        .filter_map(|k| Some((k.to_string(), runs[0].params.get(*k)?.clone())))
                        .collect(),
                    runs: runs.len(),
                    values,
                    mean,
                    std,
                    beat_naive,
                    robust,
                }
            })
            .collect();
        settings.sort_by(|a, b| {
            let k = |s: &Setting| s.mean.unwrap_or(f64::INFINITY);
            k(a).total_cmp(&k(b))
        });
        settings
    }
}

/// Params whose value differs between runs, in the store's knob order with the seed last.
fn swept_params(runs: &[RunRecord]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in runs {
        for k in r.params.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys.retain(|k| {
        let first = runs.first().and_then(|r| r.params.get(k));
        runs.iter().any(|r| r.params.get(k) != first)
    });
    let order = |k: &str| {
        crate::spec::knobs::KNOBS
            .iter()
            .position(|n| n.name == k)
            .unwrap_or(usize::MAX)
    };
    keys.sort_by_key(|k| (k == "seed", order(k), k.clone()));
    keys
}

pub fn mean_std(values: &[f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (Some(mean), None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (Some(mean), Some(var.sqrt()))
}

/// A param value as shown in tables: strings without their JSON quotes.
pub fn param_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "-".to_string(),
    }
}

/// A metric as shown in tables.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e9 => format!("{v}"),
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "-".to_string(),
    }
}

pub fn mean_pm_std(s: &Setting) -> String {
    match (s.mean, s.std) {
        (Some(m), Some(sd)) => format!("{m:.4} ± {sd:.4}"),
        (Some(m), None) => format!("{m:.4}"),
        _ => "-".to_string(),
    }
}

/// `hidden_dim=16 lr=0.003`
pub fn setting_label(params: &BTreeMap<String, serde_json::Value>) -> String {
    if params.is_empty() {
        return "(all runs)".to_string();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", param_text(Some(v))))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn timestamp(t: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The header facts, shared by the HTML and markdown formats.
pub fn header_facts(r: &Report) -> Vec<(&'static str, String)> {
    let mut facts = vec![("experiment", r.experiment.clone())];
    if let Some(s) = &r.sweep {
        let rec = &s.record;
        facts.push(("sweep", rec.sweep_id.clone()));
        facts.push((
            "spec",
            format!("{} (sha256 {})", rec.spec_path, short_hash(&rec.spec_hash)),
        ));
        facts.push((
            "data",
            format!("{} (sha256 {})", rec.data_path, short_hash(&rec.data_hash)),
        ));
        facts.push(("started", timestamp(rec.started_at)));
        facts.push((
            "duration",
            rec.ended_at
                .map_or(format!("unfinished ({})", rec.status), |e| {
                    format!("{:.1} s", e - rec.started_at)
                }),
        ));
        facts.push((
            "sweep runs",
            format!(
                "{} jobs: {} finished, {} failed, {} skipped (already finished)",
                s.n_jobs,
                s.n_finished.unwrap_or(0),
                s.n_failed.unwrap_or(0),
                s.n_skipped.unwrap_or(0)
            ),
        ));
        facts.push(("aerocast (sweep)", rec.aerocast_version.clone()));
    }
    facts.push((
        "runs in this report",
        format!(
            "{} — {} finished, {} pruned, {} failed or killed, {} running",
            r.runs.len(),
            r.count("finished"),
            r.count("pruned"),
            r.unfinished(),
            r.count("running")
        ),
    ));
    facts.push(("ranked by", format!("{} (lower is better)", r.metric)));
    facts.push((
        "generated",
        format!(
            "{} by aerocast {}",
            timestamp(r.generated_at),
            crate::VERSION
        ),
    ));
    facts
}

fn short_hash(h: &str) -> &str {
    &h[..12.min(h.len())]
}

/// Leaderboard columns after the params, shared by the table formats.
pub fn metric_columns(r: &Report) -> Vec<String> {
    let mut cols = vec![r.metric.clone()];
    for m in ["val_rmse", "val_mae"] {
        if !cols.iter().any(|c| c == m) {
            cols.push(m.to_string());
        }
    }
    let naive = r.naive_metric();
    cols.insert(1, naive);
    cols
}

pub fn duration_text(run: &RunRecord) -> String {
    run.duration().map_or("-".into(), |d| format!("{d:.1}"))
}

pub fn check(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// Path of a file in the report folder, as written in links.
pub fn rel(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_stay_inside_the_folder() {
        assert_eq!(slug("AeroCast-GRU_1"), "AeroCast-GRU_1");
        let s = slug("../../etc/passwd");
        assert!(s.starts_with("etc-passwd-"), "{s}");
        let s = slug("<script>alert(1)</script>");
        assert!(s.starts_with("script-alert-1-script-"), "{s}");
        assert!(slug("...").starts_with("experiment-"));
        assert_ne!(slug("a b"), slug("a_b"));
        for name in ["..", "/", "a/../../b", "\u{0}", "ü"] {
            let s = slug(name);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
    }

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), (None, None));
        assert_eq!(mean_std(&[2.0]), (Some(2.0), None));
        let (m, s) = mean_std(&[1.0, 3.0]);
        assert_eq!(m, Some(2.0));
        assert!((s.unwrap() - 2f64.sqrt()).abs() < 1e-12);
    }
}
