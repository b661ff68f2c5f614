//! Time stamps of forecasts: the next times of a time column, inferred from its regular
//! spacing. Whole numbers, months (`2012-01`), dates (`2012-01-31`; dates all on the first of
//! a month are spaced in calendar months) and date-times (`2012-01-31 06:00:00`,
//! `2012-01-31T06:00:00`, RFC 3339 with an offset) are understood; anything else, or uneven
//! spacing, leaves forecasts with their step offset only.

use super::Forecast;
use crate::data::stamp::{Stamp, ordinals, parse};
use crate::intervals::Bound;
use serde::Serialize;
use serde::ser::SerializeMap;

/// A forecast as outputs show it: its step, its time when the rows had regular times, and
/// its intervals when asked for (`lower_80`, `upper_80`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timed {
    pub step: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub value: f64,
    #[serde(flatten)]
    pub bounds: Bounds,
}

/// A forecast's intervals, serialised beside its value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounds(pub Vec<Bound>);

impl Serialize for Bounds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2 * self.0.len()))?;
        for b in &self.0 {
            map.serialize_entry(&format!("lower_{}", b.level), &b.lower)?;
            map.serialize_entry(&format!("upper_{}", b.level), &b.upper)?;
        }
        map.end()
    }
}

/// Gives each forecast its time when `times` (the rows' times, oldest first) are regularly
/// spaced; otherwise the step offset alone and a note saying why.
pub fn stamp(forecasts: &[Forecast], times: Option<&[String]>) -> (Vec<Timed>, Option<String>) {
    let axis = times.map(TimeAxis::infer);
    let note = match &axis {
        Some(Err(why)) => Some(format!(
            "{why}; forecasts carry their step offset instead of a time"
        )),
        _ => None,
    };
    let timed = forecasts
        .iter()
        .map(|f| Timed {
            step: f.step,
            time: match &axis {
                Some(Ok(a)) => a.after(f.step),
                _ => None,
            },
            value: f.value,
            bounds: Bounds::default(),
        })
        .collect();
    (timed, note)
}

/// A regularly spaced time column, able to name the times after its last row.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeAxis {
    last: Stamp,
    step: i64,
    /// `step` counts calendar months rather than the stamps' own unit.
    monthly: bool,
}

impl TimeAxis {
    /// The axis of `times` (oldest first), or why there is none.
    pub fn infer(times: &[String]) -> Result<TimeAxis, String> {
        let stamps: Vec<Stamp> = times
            .iter()
            .map(|t| {
                parse(t).ok_or_else(|| format!("time {t:?} is not a number, date or date-time"))
            })
            .collect::<Result<_, _>>()?;
        let Some(last) = stamps.last() else {
            return Err("no time stamps".into());
        };
        if stamps.len() < 2 {
            return Err("one time stamp gives no spacing".into());
        }
        let Some((ordinals, monthly)) = ordinals(&stamps) else {
            return Err("the time stamps mix formats".into());
        };
        let step = ordinals[1] - ordinals[0];
        if step <= 0 || ordinals.windows(2).any(|p| p[1] - p[0] != step) {
            return Err("the time stamps are not evenly spaced".into());
        }
        Ok(TimeAxis {
            last: last.clone(),
            step,
            monthly,
        })
    }

    /// The time `k` steps after the last row.
    pub fn after(&self, k: usize) -> Option<String> {
        let n = self.step.checked_mul(k as i64)?;
        match self.monthly {
            true => self.last.plus_months(n),
            false => self.last.plus(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(times: &[&str]) -> Result<TimeAxis, String> {
        TimeAxis::infer(&times.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn regular_spacing_gives_the_next_times() {
        let a = axis(&["2012-12-30", "2012-12-31"]).unwrap();
        assert_eq!(a.after(1).unwrap(), "2013-01-01");
        assert_eq!(a.after(3).unwrap(), "2013-01-03");
        let a = axis(&["2012/10/25", "2012/10/26"]).unwrap();
        assert_eq!(a.after(1).unwrap(), "2012/10/27");
        let a = axis(&["10", "15", "20"]).unwrap();
        assert_eq!(a.after(2).unwrap(), "30");
        let a = axis(&["2020-01-01 00:00:00", "2020-01-01 06:00:00"]).unwrap();
        assert_eq!(a.after(3).unwrap(), "2020-01-02 00:00:00");
        let a = axis(&["2020-01-01T00:00:00+01:00", "2020-01-01T01:00:00+01:00"]).unwrap();
        assert_eq!(a.after(1).unwrap(), "2020-01-01T02:00:00+01:00");
    }

    /// Monthly data steps in calendar months, written as months or as first days (whose
    /// day counts differ: 31, 29, 31).
    #[test]
    fn monthly_times_step_in_calendar_months() {
        let a = axis(&["2011-11", "2011-12", "2012-01"]).unwrap();
        assert_eq!(a.after(1).unwrap(), "2012-02");
        assert_eq!(a.after(13).unwrap(), "2013-02");
        let a = axis(&["2012/01", "2012/04"]).unwrap();
        assert_eq!(a.after(1).unwrap(), "2012/07");
        let a = axis(&["2012-01-01", "2012-02-01", "2012-03-01", "2012-04-01"]).unwrap();
        assert_eq!(a.after(1).unwrap(), "2012-05-01");
        assert_eq!(a.after(10).unwrap(), "2013-02-01");
        // Days that are not all firsts stay days, and uneven ones stay unreadable.
        assert!(axis(&["2012-01-15", "2012-02-15", "2012-03-15"]).is_err());
    }

    #[test]
    fn irregular_or_unreadable_times_say_why() {
        assert!(
            axis(&["2012-01-01", "2012-01-02", "2012-01-04"])
                .unwrap_err()
                .contains("evenly")
        );
        assert!(axis(&["3", "2"]).unwrap_err().contains("evenly"));
        assert!(axis(&["monday", "tuesday"]).unwrap_err().contains("monday"));
        assert!(axis(&["1", "2012-01-01"]).unwrap_err().contains("mix"));
        assert!(axis(&["1"]).is_err());
    }
}
