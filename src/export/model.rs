//! The one model of a report: the runs it covers, ranked by one rule, with what every output
//! shows beside them. The terminal table, HTML, markdown, JSON and CSV all render this.

use crate::error::InputError;
use crate::jobs::Params;
use crate::metrics;
use crate::store::{HistoryPoint, RunFilter, RunRecord, RunStatus, Store, SweepDetail};
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};

/// Everything a report shows, gathered with a fixed number of store queries.
pub struct Report {
    pub experiment: String,
    pub metric: String,
    /// The sweep the header describes: the one asked for, else the latest.
    pub sweep: Option<SweepDetail>,
    /// Ranked by [`rank`]: the order of every output.
    pub runs: Vec<RunRecord>,
    /// Params that differ between runs, in display order (seed last).
    pub swept: Vec<String>,
    /// Index into `runs` of the best finished run.
    pub best: Option<usize>,
    pub settings: Vec<Setting>,
    /// run id → metric key → points (`train_loss`, `val_loss`).
    pub histories: HashMap<String, HashMap<String, Vec<HistoryPoint>>>,
    pub generated_at: f64,
    /// The data snapshot the report is limited to, if any.
    pub data_id: Option<String>,
    /// With every snapshot in one report: run id → its snapshot, as a column shows it.
    pub snapshots: HashMap<String, String>,
    /// Each run's own tags and note (`[experiment] tags`, `runs tag`, `runs note`) as one text,
    /// for runs that have any; aerocast's `aerocast.*` tags are left out.
    pub user_tags: HashMap<String, String>,
    /// Every sweep of the experiment, oldest first (loaded for full reports only).
    pub nights: Vec<super::history::Night>,
}

/// Runs that differ only in their seed, collapsed into one row.
pub struct Setting {
    /// The swept params other than the seed.
    pub params: Params,
    pub runs: usize,
    /// The metric of each finished run.
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

/// Which runs a report covers and how it ranks them.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Default: the experiment swept most recently.
    pub experiment: Option<String>,
    /// Only the runs of this sweep (default: every run of the experiment).
    pub sweep: Option<String>,
    /// Ranks runs; lower is better.
    pub metric: String,
    /// Every data snapshot, not only the latest: ranks runs scored on different rows
    /// together, so the report then shows each run's snapshot.
    pub all_data: bool,
}

impl Scope {
    /// Every run of `name`, ranked by its objective.
    pub fn experiment(store: &Store, name: &str) -> Result<Scope> {
        Ok(Scope {
            experiment: Some(name.to_string()),
            sweep: None,
            metric: default_metric(store, name)?,
            all_data: false,
        })
    }
}

/// What ranks an experiment's runs when no `--metric` says: `cv_val_rmse` once a finished
/// run records it (rolling-origin evaluation), else `val_rmse`.
pub fn default_metric(store: &Store, experiment: &str) -> Result<String> {
    let cross_validated = store
        .best_run(experiment, metrics::CV_VAL_RMSE, None)?
        .is_some();
    Ok(metrics::objective(cross_validated).to_string())
}

/// The snapshot a report is limited to: the one the experiment's latest sweep used. `None`
/// with `all_data`, when a sweep is named (its runs are one snapshot), or for stores from
/// before snapshots were recorded.
pub fn snapshot_scope(store: &Store, experiment: &str, scope: &Scope) -> Result<Option<String>> {
    if scope.all_data || scope.sweep.is_some() {
        return Ok(None);
    }
    store.latest_snapshot(experiment)
}

/// The ranking rule of every output: finished runs by the metric (lower first), then pruned
/// runs by the metric they had when stopped, then every other run (failed, killed,
/// interrupted, running, or without the metric) by start time. Ties go by run id.
pub fn rank(runs: &mut [RunRecord], metric: &str) {
    runs.sort_by(|a, b| rank_order(a, b, metric));
}

fn rank_order(a: &RunRecord, b: &RunRecord, metric: &str) -> std::cmp::Ordering {
    let key = |r: &RunRecord| -> (u8, f64) {
        match (r.status, r.metric(metric)) {
            (RunStatus::Finished, Some(v)) => (0, v),
            (RunStatus::Pruned, Some(v)) => (1, v),
            _ => (2, r.start_time),
        }
    };
    let (ta, va) = key(a);
    let (tb, vb) = key(b);
    ta.cmp(&tb)
        .then(va.total_cmp(&vb))
        .then(a.run_id.cmp(&b.run_id))
}

/// Whether the run's `metric` is below its naive baseline's; `None` when either is missing.
pub fn beats_naive(run: &RunRecord, metric: &str) -> Option<bool> {
    beats(run, "naive", metric)
}

/// Whether the run's `metric` is below `baseline`'s on the same rows; `None` when either is
/// missing.
pub fn beats(run: &RunRecord, baseline: &str, metric: &str) -> Option<bool> {
    Some(run.metric(metric)? < run.metric(&metrics::baseline_of(baseline, metric))?)
}

/// The baselines (other than naive, always shown) that some run records for `metric`.
pub fn extra_baselines(runs: &[RunRecord], metric: &str) -> Vec<&'static str> {
    metrics::BASELINES
        .iter()
        .copied()
        .filter(|b| *b != "naive")
        .filter(|b| {
            let name = metrics::baseline_of(b, metric);
            runs.iter().any(|r| r.metric(&name).is_some())
        })
        .collect()
}

/// The experiment a command is about: the one named (which must exist), else the latest swept.
pub fn resolve_experiment(store: &Store, asked: Option<&str>) -> Result<String> {
    let known = store.experiments()?;
    match asked {
        Some(name) if known.iter().any(|k| k == name) => Ok(name.to_string()),
        Some(name) => Err(InputError::usage(
            "--experiment",
            format!(
                "no experiment named \"{name}\" in the store (experiments: {})",
                list_or_none(&known)
            ),
        )
        .into()),
        None => Ok(store.latest_experiment()?.ok_or_else(|| {
            InputError::usage("--experiment", "the store has no experiments yet")
        })?),
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Report {
    pub fn load(store: &Store, scope: &Scope) -> Result<Report> {
        let experiment = resolve_experiment(store, scope.experiment.as_deref())?;
        let sweep = match &scope.sweep {
            Some(asked) => Some(sweep_of(store, asked, &experiment)?),
            None => match store.latest_sweep_id(&experiment)? {
                Some(id) => store.sweep_detail(&id)?,
                None => None,
            },
        };
        let data_id = snapshot_scope(store, &experiment, scope)?;
        let filter = RunFilter {
            experiment: Some(experiment.clone()),
            status: None,
            sweep_id: scope
                .sweep
                .as_ref()
                .and(sweep.as_ref())
                .map(|s| s.record.sweep_id.clone()),
            data_id: data_id.clone(),
        };
        // The nights table needs every run of the experiment; the report's runs are those
        // of its scope among them, filtered here rather than loaded a second time.
        let everything = RunFilter {
            experiment: Some(experiment.clone()),
            ..RunFilter::default()
        };
        let all = store.runs(&everything)?;
        let snapshot_of = store.run_tags(&everything, crate::store::DATA_TAG)?;
        let nights = super::history::nights_of(store, &experiment, &all, &snapshot_of)?;
        let runs: Vec<RunRecord> = all
            .into_iter()
            .filter(|r| filter.sweep_id.as_ref().is_none_or(|s| *s == r.sweep_id))
            .filter(|r| {
                filter
                    .data_id
                    .as_ref()
                    .is_none_or(|d| snapshot_of.get(&r.run_id) == Some(d))
            })
            .collect();
        check_metric(&runs, &scope.metric)?;
        let histories = store.histories(&filter, &[metrics::TRAIN_LOSS, metrics::VAL_LOSS])?;
        let groups = store.run_tags(&filter, crate::store::SETTING_TAG)?;
        let snapshots = if scope.all_data {
            snapshot_labels(store, &experiment, &filter)?
        } else {
            HashMap::new()
        };
        let mut report = Report::from_runs(experiment, &scope.metric, runs);
        report.sweep = sweep;
        report.snapshots = snapshots;
        report.data_id = data_id;
        report.nights = nights;
        report.user_tags = user_tags(store, &report.runs)?;
        report.histories = histories;
        report.settings = report.aggregate_seeds(&groups);
        Ok(report)
    }

    /// A report over the given runs alone: ranked, with swept params and the best run, but no
    /// sweep header, histories or seed aggregation.
    pub fn from_runs(experiment: String, metric: &str, mut runs: Vec<RunRecord>) -> Report {
        rank(&mut runs, metric);
        Report::listing(experiment, metric, runs)
    }

    /// Like [`Report::from_runs`], but the runs keep the order given (a listing, oldest first);
    /// the best run is still the one the ranking rule picks.
    pub fn listing(experiment: String, metric: &str, runs: Vec<RunRecord>) -> Report {
        let mut ranked: Vec<&RunRecord> = runs.iter().collect();
        ranked.sort_by(|a, b| rank_order(a, b, metric));
        let best = ranked
            .first()
            .filter(|r| r.status == RunStatus::Finished && r.metric(metric).is_some())
            .and_then(|b| runs.iter().position(|r| r.run_id == b.run_id));
        let swept = swept_params(&runs);
        Report {
            experiment,
            metric: metric.to_string(),
            sweep: None,
            runs,
            swept,
            best,
            settings: Vec::new(),
            histories: HashMap::new(),
            generated_at: crate::store::now(),
            data_id: None,
            snapshots: HashMap::new(),
            user_tags: HashMap::new(),
            nights: Vec::new(),
        }
    }

    pub fn best_run(&self) -> Option<&RunRecord> {
        self.best.map(|i| &self.runs[i])
    }

    pub fn count(&self, status: RunStatus) -> usize {
        self.runs.iter().filter(|r| r.status == status).count()
    }

    /// Failed or killed.
    pub fn unfinished(&self) -> usize {
        self.runs.iter().filter(|r| r.status.is_failure()).count()
    }

    /// The naive baseline's name for the metric, when the store has one (`naive_val_rmse`).
    pub fn naive_metric(&self) -> String {
        metrics::naive_of(&self.metric)
    }

    /// The run's value of the ranking metric, as recorded. Every output shows this same value
    /// whatever the status: a pruned run's is its score at the epoch it was stopped.
    pub fn metric_of(&self, run: &RunRecord) -> Option<f64> {
        run.metric(&self.metric)
    }

    /// The metric of a finished run; `None` for any other. Aggregates (seed means, sensitivity,
    /// parallel coordinates) use this: a pruned run's score is from an earlier epoch.
    pub fn finished_metric(&self, run: &RunRecord) -> Option<f64> {
        self.metric_of(run)
            .filter(|_| run.status == RunStatus::Finished)
    }

    pub fn naive_of(&self, run: &RunRecord) -> Option<f64> {
        run.metric(&self.naive_metric())
    }

    pub fn beats_naive(&self, run: &RunRecord) -> Option<bool> {
        beats_naive(run, &self.metric)
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

    /// Collapses runs that differ only in their seed. Runs are replicates only when they
    /// trained on the same data read the same way (the setting tag of their sweep); runs
    /// recorded before that tag existed fall back to their data hash.
    fn aggregate_seeds(&self, setting_tags: &HashMap<String, String>) -> Vec<Setting> {
        let knobs = self.knobs();
        let mut groups: BTreeMap<String, Vec<&RunRecord>> = BTreeMap::new();
        for r in &self.runs {
            let mut without_seed = r.params.clone();
            without_seed.remove("seed");
            let key = setting_tags.get(&r.run_id).cloned().unwrap_or_else(|| {
                format!(
                    "{}\u{1f}{}",
                    r.data_hash,
                    serde_json::to_string(&without_seed).unwrap_or_default()
                )
            });
            groups.entry(key).or_default().push(r);
        }
        let mut settings: Vec<Setting> = groups
            .into_values()
            .map(|runs| self.setting(&knobs, &runs))
            .collect();
        settings.sort_by(|a, b| {
            let k = |s: &Setting| s.mean.unwrap_or(f64::INFINITY);
            k(a).total_cmp(&k(b))
        });
        settings
    }

    fn setting(&self, knobs: &[&str], runs: &[&RunRecord]) -> Setting {
        // Pruned runs stopped early: their scores are not replicates of a finished run's.
        let values: Vec<f64> = runs
            .iter()
            .filter(|r| r.status == RunStatus::Finished)
            .filter_map(|r| self.metric_of(r))
            .collect();
        let (mean, std) = mean_std(&values);
        let beat_naive = runs
            .iter()
            .filter(|r| self.beats_naive(r) == Some(true))
            .count();
        let all_finished = runs.iter().all(|r| r.status == RunStatus::Finished);
        let robust = all_finished
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
    }
}

/// Run id → `2026-11-28 1300 rows 3f2a9c1b`: when the snapshot was first swept, its rows and
/// the data file's short hash.
fn snapshot_labels(
    store: &Store,
    experiment: &str,
    filter: &RunFilter,
) -> Result<HashMap<String, String>> {
    let mut label_of: HashMap<String, String> = HashMap::new();
    for s in store.sweeps(experiment)? {
        let Some(id) = s.data_id else { continue };
        label_of.entry(id).or_insert_with(|| {
            format!(
                "{} {} rows {}",
                &super::format::timestamp(s.started_at)[..10],
                s.data_rows.unwrap_or(0),
                &s.data_hash[..8.min(s.data_hash.len())]
            )
        });
    }
    let tags = store.run_tags(filter, crate::store::DATA_TAG)?;
    Ok(tags
        .into_iter()
        .filter_map(|(run, id)| Some((run, label_of.get(&id)?.clone())))
        .collect())
}

/// `team=ops note: retrained after the sensor fix`, per run with any tag of its own.
fn user_tags(store: &Store, runs: &[RunRecord]) -> Result<HashMap<String, String>> {
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    Ok(store
        .tags(&ids)?
        .into_iter()
        .filter_map(|(id, tags)| {
            let text: Vec<String> = tags
                .iter()
                .filter(|(k, _)| !k.starts_with("aerocast."))
                .map(|(k, v)| format!("{k}={v}"))
                .chain(
                    tags.get(crate::annotate::NOTE_TAG)
                        .map(|n| format!("note: {n}")),
                )
                .collect();
            (!text.is_empty()).then(|| (id, text.join(" ")))
        })
        .collect())
}

/// The sweep a `--sweep` names: `latest` (the experiment's most recent), or an id or unique
/// prefix of one.
pub fn resolve_sweep(
    store: &Store,
    experiment: &str,
    asked: Option<&str>,
) -> Result<Option<String>> {
    match asked {
        Some("latest") => store.latest_sweep_id(experiment),
        Some(prefix) => Ok(Some(store.resolve_sweep_id(prefix)?)),
        None => Ok(None),
    }
}

fn sweep_of(store: &Store, asked: &str, experiment: &str) -> Result<SweepDetail> {
    let id = resolve_sweep(store, experiment, Some(asked))?
        .ok_or_else(|| InputError::usage("--sweep", "the experiment has no sweep yet"))?;
    let detail = store
        .sweep_detail(&id)?
        .ok_or_else(|| InputError::usage("--sweep", format!("no sweep {asked} in the store")))?;
    if detail.record.experiment != experiment {
        return Err(InputError::usage(
            "--sweep",
            format!(
                "sweep {} belongs to experiment \"{}\", not \"{experiment}\"",
                detail.record.sweep_id, detail.record.experiment
            ),
        )
        .into());
    }
    Ok(detail)
}

/// A metric no run recorded is a typo, not an empty ranking.
fn check_metric(runs: &[RunRecord], metric: &str) -> Result<()> {
    if metrics::RECORDED.contains(&metric) || runs.iter().any(|r| r.metrics.contains_key(metric)) {
        return Ok(());
    }
    let mut known: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.metrics.keys().map(String::as_str))
        .chain(metrics::RECORDED.iter().copied())
        .collect();
    known.sort();
    known.dedup();
    Err(InputError::usage(
        "--metric",
        format!(
            "no run records a metric `{metric}` (recorded: {})",
            known.join(", ")
        ),
    )
    .into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: RunStatus, metric: Option<f64>, start: f64) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            experiment: "e".into(),
            sweep_id: "s".into(),
            job_key: id.into(),
            status,
            start_time: start,
            end_time: None,
            failure_reason: None,
            data_hash: "h".into(),
            aerocast_version: "0".into(),
            params: Params::new(),
            metrics: metric
                .map(|v| (metrics::VAL_RMSE.to_string(), Some(v)))
                .into_iter()
                .collect(),
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn finished_first_then_pruned_then_the_rest_by_start() {
        let mut runs = vec![
            run("failed", RunStatus::Failed, None, 1.0),
            run("pruned-good", RunStatus::Pruned, Some(1.0), 2.0),
            run("fin-bad", RunStatus::Finished, Some(3.0), 3.0),
            run("killed", RunStatus::Killed, None, 0.5),
            run("fin-good", RunStatus::Finished, Some(2.0), 4.0),
            run("pruned-bad", RunStatus::Pruned, Some(5.0), 5.0),
        ];
        rank(&mut runs, metrics::VAL_RMSE);
        let order: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(
            order,
            [
                "fin-good",
                "fin-bad",
                "pruned-good",
                "pruned-bad",
                "killed",
                "failed"
            ]
        );
        let report = Report::from_runs("e".into(), metrics::VAL_RMSE, runs);
        assert_eq!(report.best_run().unwrap().run_id, "fin-good");
    }

    #[test]
    fn no_best_without_a_finished_run() {
        let runs = vec![run("p", RunStatus::Pruned, Some(1.0), 0.0)];
        let report = Report::from_runs("e".into(), metrics::VAL_RMSE, runs);
        assert!(report.best.is_none());
        assert_eq!(report.metric_of(&report.runs[0]), Some(1.0));
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
