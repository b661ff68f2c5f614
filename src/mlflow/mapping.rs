//! What one aerocast run becomes in MLflow: name, times, status, params, tags, metric points
//! and artifact files. Pure: no store, no network.

use super::wire::{KeyValue, Metric};
use crate::spec::knobs::ParamValue;
use crate::store::{RunRecord, RunStatus, TimedPoint};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The tag that ties an MLflow run to its aerocast run; exports find runs by it.
pub const RUN_ID_TAG: &str = "aerocast.run_id";
pub const SWEEP_ID_TAG: &str = "aerocast.sweep_id";

/// MLflow caps tag values (8,000 characters in MLflow 3, 5,000 before).
const MAX_TAG_CHARS: usize = 5000;

/// An aerocast run as MLflow will hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct MlflowRun {
    pub aerocast_id: String,
    pub experiment: String,
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// FINISHED, FAILED or KILLED.
    pub status: &'static str,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    /// Every point, histories and final values, in the order they were recorded.
    pub metrics: Vec<Metric>,
    /// Local files, uploaded under the run's artifact root by file name.
    pub artifacts: Vec<PathBuf>,
}

/// The MLflow status of an aerocast status; `None` for a run still running, which is mirrored
/// only once it has ended.
pub fn status(aerocast: RunStatus) -> Option<&'static str> {
    match aerocast {
        RunStatus::Finished | RunStatus::Pruned => Some("FINISHED"),
        RunStatus::Failed => Some("FAILED"),
        RunStatus::Killed | RunStatus::Interrupted => Some("KILLED"),
        RunStatus::Running => None,
    }
}

/// MLflow params are strings: text as is, numbers as the store writes them (JSON).
pub fn param_value(v: &ParamValue) -> String {
    match v {
        ParamValue::Str(s) => s.clone(),
        other => serde_json::to_string(other).expect("params serialise"),
    }
}

pub fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Maps one run. `history` holds its per-epoch points, `store_tags` the tags the store keeps
/// for it (study, trial). Returns `None` for a run that has not ended.
pub fn map_run(
    run: &RunRecord,
    name: &str,
    history: &[TimedPoint],
    store_tags: &BTreeMap<String, String>,
) -> Option<MlflowRun> {
    let status = status(run.status)?;
    let start_ms = millis(run.start_time);
    let end_ms = run.end_time.map_or(start_ms, millis);
    let params = run
        .params
        .iter()
        .map(|(k, v)| KeyValue::new(k, param_value(v)))
        .collect();
    Some(MlflowRun {
        aerocast_id: run.run_id.clone(),
        experiment: run.experiment.clone(),
        name: name.to_string(),
        start_ms,
        end_ms,
        status,
        params,
        tags: tags(run, store_tags),
        metrics: metrics(run, history, end_ms),
        artifacts: run.artifacts.iter().map(PathBuf::from).collect(),
    })
}

fn tags(run: &RunRecord, store_tags: &BTreeMap<String, String>) -> Vec<KeyValue> {
    let mut tags = vec![
        KeyValue::new(RUN_ID_TAG, &run.run_id),
        KeyValue::new(SWEEP_ID_TAG, &run.sweep_id),
        KeyValue::new("aerocast.status", run.status.as_str()),
        KeyValue::new("aerocast.job_key", &run.job_key),
        KeyValue::new("aerocast.data_sha256", &run.data_hash),
        KeyValue::new("aerocast.version", &run.aerocast_version),
    ];
    if let Some(reason) = &run.failure_reason {
        tags.push(KeyValue::new("aerocast.reason", truncate(reason)));
    }
    for (k, v) in store_tags {
        if !tags.iter().any(|t| &t.key == k) {
            tags.push(KeyValue::new(k, truncate(v)));
        }
    }
    tags
}

/// Histories point by point (step = epoch, the time it was recorded), then each final value
/// that the history does not already end with, at the run's end time. MLflow's latest value
/// of every key is then the store's final value.
fn metrics(run: &RunRecord, history: &[TimedPoint], end_ms: i64) -> Vec<Metric> {
    let mut out: Vec<Metric> = history
        .iter()
        .map(|p| Metric {
            key: p.key.clone(),
            value: p.value.unwrap_or(f64::NAN),
            timestamp: millis(p.timestamp),
            step: p.step,
        })
        .collect();
    for (key, value) in &run.metrics {
        let value = value.unwrap_or(f64::NAN);
        let last = out.iter().filter(|m| &m.key == key).max_by_key(|m| m.step);
        match last {
            Some(l) if same(l.value, value) => {}
            // A final value unlike the last epoch's goes at that step, after it in time.
            Some(l) => {
                let (step, timestamp) = (l.step, end_ms.max(l.timestamp + 1));
                out.push(Metric {
                    key: key.clone(),
                    value,
                    timestamp,
                    step,
                });
            }
            None => out.push(Metric {
                key: key.clone(),
                value,
                timestamp: end_ms,
                step: 0,
            }),
        }
    }
    out
}

/// Equal values, NaN equal to NaN (the store keeps non-finite values as NULL).
pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_TAG_CHARS) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: RunStatus) -> RunRecord {
        RunRecord {
            run_id: "r1".into(),
            experiment: "exp".into(),
            sweep_id: "s1".into(),
            job_key: "k1".into(),
            status,
            start_time: 100.0,
            end_time: Some(160.5),
            failure_reason: None,
            data_hash: "d".into(),
            aerocast_version: "0.1.0".into(),
            params: [
                ("lr".to_string(), ParamValue::Float(0.003)),
                ("hidden_dim".to_string(), ParamValue::Int(32)),
                ("optimizer".to_string(), ParamValue::Str("adam".into())),
            ]
            .into(),
            metrics: [
                ("val_loss".to_string(), Some(0.5)),
                ("val_rmse".to_string(), Some(2.7)),
                ("naive_val_rmse".to_string(), None),
            ]
            .into(),
            artifacts: vec!["/s/artifacts/r1/model.json".into()],
        }
    }

    fn point(key: &str, step: i64, value: f64, t: f64) -> TimedPoint {
        TimedPoint {
            key: key.into(),
            step,
            value: Some(value),
            timestamp: t,
        }
    }

    #[test]
    fn statuses_map_to_mlflow_and_running_runs_wait() {
        assert_eq!(status(RunStatus::Finished), Some("FINISHED"));
        assert_eq!(status(RunStatus::Pruned), Some("FINISHED"));
        assert_eq!(status(RunStatus::Failed), Some("FAILED"));
        assert_eq!(status(RunStatus::Killed), Some("KILLED"));
        assert_eq!(status(RunStatus::Interrupted), Some("KILLED"));
        assert_eq!(status(RunStatus::Running), None);
        let running = record(RunStatus::Running);
        assert!(map_run(&running, "n", &[], &BTreeMap::new()).is_none());
    }

    #[test]
    fn a_run_maps_with_params_as_strings_tags_and_times_in_ms() {
        let tags = BTreeMap::from([("aerocast.study".to_string(), "st".to_string())]);
        let m = map_run(&record(RunStatus::Pruned), "lr=0.003", &[], &tags).unwrap();
        assert_eq!(
            (m.start_ms, m.end_ms, m.status),
            (100_000, 160_500, "FINISHED")
        );
        assert_eq!(m.name, "lr=0.003");
        let p = |k: &str| m.params.iter().find(|p| p.key == k).unwrap().value.clone();
        assert_eq!(
            (p("lr"), p("hidden_dim"), p("optimizer")),
            ("0.003".into(), "32".into(), "adam".into())
        );
        let t = |k: &str| m.tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
        assert_eq!(t(RUN_ID_TAG).as_deref(), Some("r1"));
        assert_eq!(t("aerocast.status").as_deref(), Some("pruned"));
        assert_eq!(t("aerocast.data_sha256").as_deref(), Some("d"));
        assert_eq!(t("aerocast.study").as_deref(), Some("st"));
        assert_eq!(
            m.artifacts,
            vec![PathBuf::from("/s/artifacts/r1/model.json")]
        );
    }

    #[test]
    fn histories_keep_every_point_and_finals_are_the_latest_values() {
        let history = [
            point("val_loss", 1, 0.9, 101.0),
            point("val_loss", 2, 0.5, 102.0),
        ];
        let m = map_run(
            &record(RunStatus::Finished),
            "n",
            &history,
            &BTreeMap::new(),
        )
        .unwrap();
        let of = |k: &str| -> Vec<(i64, i64, f64)> {
            m.metrics
                .iter()
                .filter(|x| x.key == k)
                .map(|x| (x.step, x.timestamp, x.value))
                .collect()
        };
        // The final val_loss equals the last epoch's: no extra point.
        assert_eq!(of("val_loss"), vec![(1, 101_000, 0.9), (2, 102_000, 0.5)]);
        assert_eq!(of("val_rmse"), vec![(0, 160_500, 2.7)]);
        let naive = of("naive_val_rmse");
        assert_eq!(naive.len(), 1);
        assert!(naive[0].2.is_nan(), "a non-finite final is sent as NaN");
    }

    #[test]
    fn a_final_unlike_the_last_epoch_is_logged_after_it() {
        let history = [point("val_loss", 3, 0.7, 170.0)];
        let m = map_run(
            &record(RunStatus::Finished),
            "n",
            &history,
            &BTreeMap::new(),
        )
        .unwrap();
        let last = m.metrics.iter().rfind(|x| x.key == "val_loss").unwrap();
        assert_eq!((last.step, last.timestamp, last.value), (3, 170_001, 0.5));
    }

    #[test]
    fn long_reasons_are_cut_to_the_tag_limit() {
        let mut r = record(RunStatus::Failed);
        r.failure_reason = Some("é".repeat(6000));
        let m = map_run(&r, "n", &[], &BTreeMap::new()).unwrap();
        let reason = m.tags.iter().find(|t| t.key == "aerocast.reason").unwrap();
        assert_eq!(reason.value.chars().count(), MAX_TAG_CHARS);
        assert_eq!(m.status, "FAILED");
    }
}
