//! How much of the metric's spread across finished runs each swept knob accounts for, the
//! question Optuna's parameter importances answer, read straight from the runs: the runs are
//! grouped by the knob's value and ω² (one-way analysis of variance, corrected for the
//! number of groups) is the share of the metric's variance between the groups. The seed's
//! share is the noise floor: a knob that explains no more than the seed does not matter.
//!
//! Each share is of one knob alone, so shares need not add up to 1: knobs interact, and the
//! values of a random search are not balanced across each other.

use super::model::Report;
use super::ranges::{Ranges, log_scaled};
use crate::spec::knobs::ParamValue;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct KnobShare {
    pub knob: String,
    /// ω², in [0, 1]: 0 when the groups differ no more than chance would make them.
    pub share: f64,
    /// Groups the runs fell into: the knob's values, or ranges of a sampled knob's values.
    pub groups: usize,
}

/// A sampled knob (more distinct values than this) is grouped into this many equal ranges of
/// its values (on the log scale for `lr` and `weight_decay`), so each group holds several runs.
const RANGES: usize = 10;

/// Every swept knob's share, the seed's included, largest first; empty when fewer than three
/// finished runs have the metric.
pub fn shares(report: &Report) -> Vec<KnobShare> {
    let runs: Vec<(&crate::jobs::Params, f64)> = report
        .runs
        .iter()
        .filter_map(|r| Some((&r.params, report.finished_metric(r)?)))
        .filter(|(_, m)| m.is_finite())
        .collect();
    let mut knobs: Vec<&str> = report.knobs();
    if report.has_seeds() {
        knobs.push("seed");
    }
    let mut out: Vec<KnobShare> = knobs
        .into_iter()
        .filter_map(|knob| {
            let values: Vec<(Option<&ParamValue>, f64)> =
                runs.iter().map(|(p, m)| (p.get(knob), *m)).collect();
            let groups = group(knob, &values);
            let share = omega_squared(&groups)?;
            Some(KnobShare {
                knob: knob.to_string(),
                share,
                groups: groups.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.knob.cmp(&b.knob)));
    out
}

/// The metrics grouped by the knob's value; a sampled numeric knob by ranges of values.
fn group(knob: &str, values: &[(Option<&ParamValue>, f64)]) -> Vec<Vec<f64>> {
    let numbers: Option<Vec<f64>> = values.iter().map(|(v, _)| (*v)?.as_f64()).collect();
    let mut distinct: Vec<String> = values.iter().map(|(v, _)| key(*v)).collect();
    distinct.sort();
    distinct.dedup();
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    match numbers {
        Some(xs) if distinct.len() > RANGES => {
            let ranges = Ranges::new(
                xs.iter().copied(),
                RANGES,
                log_scaled(knob, xs.iter().copied()),
            );
            for (x, (_, m)) in xs.iter().zip(values) {
                groups
                    .entry(format!("{:03}", ranges.index(*x)))
                    .or_default()
                    .push(*m);
            }
        }
        _ => {
            for (v, m) in values {
                groups.entry(key(*v)).or_default().push(*m);
            }
        }
    }
    groups.into_values().collect()
}

fn key(v: Option<&ParamValue>) -> String {
    v.map_or_else(String::new, |v| {
        serde_json::to_string(v).unwrap_or_default()
    })
}

/// ω² of `groups`: `(SS_between − (k − 1)·MS_within) / (SS_total + MS_within)`, at least 0.
/// `None` when it cannot be told: one group, no run left to estimate the noise within
/// groups (every run its own group), or no spread at all.
fn omega_squared(groups: &[Vec<f64>]) -> Option<f64> {
    let k = groups.len();
    let n: usize = groups.iter().map(Vec::len).sum();
    if k < 2 || n <= k {
        return None;
    }
    let mean = groups.iter().flatten().sum::<f64>() / n as f64;
    let ss_total: f64 = groups.iter().flatten().map(|m| (m - mean).powi(2)).sum();
    let ss_within: f64 = groups
        .iter()
        .map(|g| {
            let gm = g.iter().sum::<f64>() / g.len() as f64;
            g.iter().map(|m| (m - gm).powi(2)).sum::<f64>()
        })
        .sum();
    if ss_total <= 0.0 {
        return None;
    }
    let ms_within = ss_within / (n - k) as f64;
    let ss_between = ss_total - ss_within;
    Some(((ss_between - (k - 1) as f64 * ms_within) / (ss_total + ms_within)).clamp(0.0, 1.0))
}

/// `hidden_dim 0.62 · lr 0.30 · seed 0.00`.
pub fn summary(shares: &[KnobShare]) -> String {
    shares
        .iter()
        .map(|s| format!("{} {:.2}", s.knob, s.share))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The sentence the report prints before the shares.
pub const EXPLAINED: &str = "Share of the metric's variance across finished runs explained by each knob alone (ω²; \
     a swept seed's share is the noise floor)";

#[cfg(test)]
mod tests {
    use super::*;

    /// A knob that moves the metric gets a large share, one that does not a share near 0.
    #[test]
    fn a_knob_that_moves_the_metric_explains_its_variance() {
        // 4 hidden sizes × 3 seeds: hidden shifts the metric by 1 per step, the seed by 0.05.
        let metric = |h: usize, s: usize| h as f64 + 0.05 * s as f64;
        let by_hidden: Vec<Vec<f64>> = (0..4)
            .map(|h| (0..3).map(|s| metric(h, s)).collect())
            .collect();
        let by_seed: Vec<Vec<f64>> = (0..3)
            .map(|s| (0..4).map(|h| metric(h, s)).collect())
            .collect();
        let hidden = omega_squared(&by_hidden).unwrap();
        let seed = omega_squared(&by_seed).unwrap();
        assert!(hidden > 0.95, "{hidden}");
        assert!(seed < 0.01, "{seed}");
        // Every run its own group leaves no noise estimate: no share.
        assert_eq!(omega_squared(&[vec![1.0], vec![2.0]]), None);
        assert_eq!(omega_squared(&[vec![1.0, 1.0], vec![1.0]]), None);
    }

    /// A sampled knob's many values are grouped into ranges, so each group has several runs.
    #[test]
    fn sampled_values_are_grouped_into_ranges() {
        let values: Vec<ParamValue> = (0..100)
            .map(|i| ParamValue::Float(1e-4 * 10f64.powf(i as f64 / 50.0)))
            .collect();
        let runs: Vec<(Option<&ParamValue>, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (Some(v), i as f64))
            .collect();
        let groups = group("lr", &runs);
        assert_eq!(groups.len(), RANGES);
        assert!(
            groups.iter().all(|g| (9..=11).contains(&g.len())),
            "{groups:?}"
        );
        let share = omega_squared(&groups).unwrap();
        assert!(share > 0.9, "a monotone effect: {share}");
    }
}
