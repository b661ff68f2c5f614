//! How values read in tables: the one set of rules every human-readable output uses. JSON and
//! CSV keep full precision.

use super::model::{Report, Setting};
use crate::jobs::Params;
use crate::spec::knobs::{ParamValue, significant};
use crate::store::RunRecord;

/// A param value as tables show it: strings bare, floats to 4 significant digits.
pub fn param_text(v: Option<&ParamValue>) -> String {
    v.map_or("-".to_string(), ParamValue::short)
}

/// A metric as tables show it: whole numbers as such, 4 decimals in the usual range,
/// scientific notation for huge or tiny values.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e9 => format!("{v}"),
        Some(v) if v.is_finite() && v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) => {
            significant(v, 4)
        }
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "-".to_string(),
    }
}

/// Full precision, empty when missing: CSV cells and sort keys.
pub fn raw(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

pub fn mean_pm_std(s: &Setting) -> String {
    match (s.mean, s.std) {
        (Some(m), Some(sd)) => format!("{m:.4} ± {sd:.4}"),
        (Some(m), None) => format!("{m:.4}"),
        _ => "-".to_string(),
    }
}

/// `hidden_dim=16 lr=0.003`
pub fn setting_label(params: &Params) -> String {
    if params.is_empty() {
        return "(all runs)".to_string();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.short()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn timestamp(t: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}

pub fn short_id(id: &str) -> &str {
    &id[..8.min(id.len())]
}

fn short_hash(h: &str) -> &str {
    &h[..12.min(h.len())]
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

/// The header facts, shared by the HTML and markdown formats.
pub fn header_facts(r: &Report) -> Vec<(&'static str, String)> {
    use crate::store::RunStatus;
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
        "data snapshot",
        if !r.snapshots.is_empty() {
            "every snapshot (runs scored on different rows, ranked together)".to_string()
        } else if r.data_id.is_some() {
            "the latest sweep's (earlier snapshots: --all-data)".to_string()
        } else {
            "as recorded".to_string()
        },
    ));
    facts.push((
        "runs in this report",
        format!(
            "{} — {} finished, {} pruned, {} failed or killed, {} interrupted, {} running",
            r.runs.len(),
            r.count(RunStatus::Finished),
            r.count(RunStatus::Pruned),
            r.unfinished(),
            r.count(RunStatus::Interrupted),
            r.count(RunStatus::Running)
        ),
    ));
    if let Some(best) = r.best_run() {
        facts.push(("best run", best_verdict(r, best)));
    }
    facts.push((
        "ranked by",
        format!(
            "{} (lower is better): finished runs first, then pruned, then the rest",
            r.metric
        ),
    ));
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

/// `8c2f… val_rmse 2.7232: beats naive (3.0626), does NOT beat linear (2.6900)`
fn best_verdict(r: &Report, best: &RunRecord) -> String {
    let verdicts: Vec<String> = crate::metrics::BASELINES
        .iter()
        .filter_map(|b| {
            let theirs = best.metric(&crate::metrics::baseline_of(b, &r.metric))?;
            let word = if super::model::beats(best, b, &r.metric)? {
                "beats"
            } else {
                "does NOT beat"
            };
            Some(format!(
                "{word} {} ({})",
                b.replace('_', " "),
                num(Some(theirs))
            ))
        })
        .collect();
    format!(
        "{} {} {}: {}",
        short_id(&best.run_id),
        r.metric,
        num(r.metric_of(best)),
        if verdicts.is_empty() {
            "no baseline recorded".to_string()
        } else {
            verdicts.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_short() {
        assert_eq!(num(Some(2.72324)), "2.7232");
        assert_eq!(num(Some(30.0)), "30");
        assert_eq!(num(Some(5.099821353242664e26)), "5.1e26");
        assert_eq!(num(None), "-");
        assert_eq!(num(Some(f64::NAN)), "-");
        assert_eq!(
            param_text(Some(&ParamValue::Float(0.02953225324394119))),
            "0.02953"
        );
        assert_eq!(raw(Some(0.02953225324394119)), "0.02953225324394119");
    }
}
