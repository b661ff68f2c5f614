//! Prediction intervals by split conformal prediction: a model's absolute errors on windows it
//! did not train on (its validation span, or every fold's with rolling origins) calibrate how
//! far a forecast may miss. For a level L, the half-width is the ⌈(n + 1)·L⌉-th smallest of
//! the n errors, which covers a new window's actual with probability at least L when errors
//! are exchangeable; the test span's `test_coverage_<L>` measures how far that holds for the
//! series at hand. Widths are per series (each in its own units) and per lead time.

use crate::metrics;
use crate::train::Prepared;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The levels a model card calibrates, in percent: `predict --level` and `serve`'s `level`
/// choose among them.
pub const LEVELS: [u32; 5] = [50, 80, 90, 95, 99];

/// The levels whose test-span coverage a run records.
pub const COVERAGE_METRICS: [(u32, &str); 2] = [
    (80, metrics::TEST_COVERAGE_80),
    (95, metrics::TEST_COVERAGE_95),
];

/// One series' half-widths at one level, as a model card keeps them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Widths {
    /// The series, for a model of several; none for a model of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Percent.
    pub level: u32,
    /// Per lead time, in the target's units.
    pub half_width: Vec<f64>,
    /// Windows whose errors calibrated them.
    pub windows: usize,
}

/// Absolute forecast errors by series and lead time, in the target's units.
#[derive(Debug, Default)]
pub struct Residuals {
    by_series: BTreeMap<String, Vec<Vec<f64>>>,
}

impl Residuals {
    /// Adds the errors of `predicted` (`leads` values per anchor of `anchors`) on `p`'s rows.
    pub fn add(&mut self, p: &Prepared, anchors: &[usize], predicted: &[f64], leads: usize) {
        for (seg, r) in p.series_ranges(anchors) {
            let errors = self
                .by_series
                .entry(seg.name.clone())
                .or_insert_with(|| vec![Vec::new(); leads]);
            for i in r {
                for (k, lead) in errors.iter_mut().enumerate() {
                    let actual = f64::from(p.raw_targets[anchors[i] + k]);
                    lead.push((actual - predicted[i * leads + k]).abs());
                }
            }
        }
    }

    /// Each series' half-widths at every level its errors can calibrate; `several` names the
    /// series (a model of several).
    pub fn widths(&self, several: bool) -> Vec<Widths> {
        let mut out = Vec::new();
        for (name, leads) in &self.by_series {
            let sorted: Vec<Vec<f64>> = leads
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e.sort_by(f64::total_cmp);
                    e
                })
                .collect();
            for level in LEVELS {
                let half_width: Option<Vec<f64>> = sorted
                    .iter()
                    .map(|e| conformal_quantile(e, level))
                    .collect();
                if let Some(half_width) = half_width {
                    out.push(Widths {
                        series: several.then(|| name.clone()),
                        level,
                        half_width,
                        windows: sorted.first().map_or(0, Vec::len),
                    });
                }
            }
        }
        out
    }
}

/// The ⌈(n + 1)·level⌉-th smallest of `sorted` (ascending, finite), or none when there are
/// too few errors for that level (the interval would be unbounded).
fn conformal_quantile(sorted: &[f64], level: u32) -> Option<f64> {
    let n = sorted.len();
    let k = ((n + 1) * level as usize).div_ceil(100);
    if n == 0 || k > n || sorted.iter().any(|e| !e.is_finite()) {
        return None;
    }
    Some(sorted[k.max(1) - 1])
}

/// The half-width for series `series` at `level` and lead time `lead` (from 0).
pub fn half_width(widths: &[Widths], series: &str, level: u32, lead: usize) -> Option<f64> {
    widths
        .iter()
        .find(|w| w.level == level && w.series.as_deref().is_none_or(|s| s == series))
        .and_then(|w| w.half_width.get(lead).copied())
}

/// The share of `p`'s actuals at `anchors` (`leads` per anchor) inside `predicted ± half-width`
/// at `level`; none when no window has an interval at that level.
pub fn coverage(
    widths: &[Widths],
    p: &Prepared,
    anchors: &[usize],
    predicted: &[f64],
    leads: usize,
    level: u32,
) -> Option<f64> {
    let points = p.series_ranges(anchors).into_iter().flat_map(|(seg, r)| {
        r.flat_map(move |i| {
            (0..leads).map(move |k| {
                let actual = f64::from(p.raw_targets[anchors[i] + k]);
                (seg.name.as_str(), k, actual, predicted[i * leads + k])
            })
        })
    });
    share_inside(widths, level, points)
}

/// The share of `(series, lead, actual, forecast)` points whose actual lies within the
/// forecast ± its series' and lead's half-width at `level`; points without one are not
/// counted, and none has one: none.
pub fn share_inside<'a>(
    widths: &[Widths],
    level: u32,
    points: impl Iterator<Item = (&'a str, usize, f64, f64)>,
) -> Option<f64> {
    let (mut inside, mut counted) = (0usize, 0usize);
    for (series, lead, actual, forecast) in points {
        if let Some(h) = half_width(widths, series, level, lead) {
            counted += 1;
            inside += usize::from((actual - forecast).abs() <= h);
        }
    }
    (counted > 0).then(|| inside as f64 / counted as f64)
}

/// A forecast's interval at one level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub level: u32,
    pub lower: f64,
    pub upper: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantile_is_the_conformal_rank_and_needs_enough_errors() {
        let errors: Vec<f64> = (1..=19).map(f64::from).collect();
        // n = 19: ⌈20 · 0.8⌉ = 16, ⌈20 · 0.95⌉ = 19, ⌈20 · 0.5⌉ = 10.
        assert_eq!(conformal_quantile(&errors, 80), Some(16.0));
        assert_eq!(conformal_quantile(&errors, 95), Some(19.0));
        assert_eq!(conformal_quantile(&errors, 50), Some(10.0));
        // ⌈20 · 0.99⌉ = 20 > 19: too few errors for a bounded 99% interval.
        assert_eq!(conformal_quantile(&errors, 99), None);
        assert_eq!(conformal_quantile(&[], 50), None);
        assert_eq!(conformal_quantile(&[1.0, f64::NAN, 3.0], 50), None);
    }

    #[test]
    fn half_widths_are_found_by_series_level_and_lead() {
        let w = |series: Option<&str>, level, h: &[f64]| Widths {
            series: series.map(String::from),
            level,
            half_width: h.to_vec(),
            windows: 10,
        };
        let many = [w(Some("a"), 80, &[1.0, 2.0]), w(Some("b"), 80, &[5.0, 6.0])];
        assert_eq!(half_width(&many, "b", 80, 1), Some(6.0));
        assert_eq!(half_width(&many, "a", 80, 0), Some(1.0));
        assert_eq!(half_width(&many, "a", 95, 0), None);
        assert_eq!(half_width(&many, "c", 80, 0), None);
        assert_eq!(half_width(&many, "a", 80, 2), None);
        let one = [w(None, 95, &[3.0])];
        assert_eq!(half_width(&one, "", 95, 0), Some(3.0));
    }
}
