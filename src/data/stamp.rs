//! Time stamps as numbers on one axis: whole numbers, dates (`2012-01-31`, `2012/01/31`) and
//! date-times (`2012-01-31 06:00:00`, `2012-01-31T06:00:00`, RFC 3339 with an offset). The
//! loader finds gaps with them; forecasts name the times after the last row with them.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeDelta};

#[derive(Debug, Clone, PartialEq)]
pub enum Stamp {
    Int(i64),
    Date(NaiveDate, &'static str),
    DateTime(NaiveDateTime, &'static str),
    Offset(DateTime<FixedOffset>),
}

const DATE_FORMATS: [&str; 2] = ["%Y-%m-%d", "%Y/%m/%d"];
const DATETIME_FORMATS: [&str; 3] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
];

pub fn parse(text: &str) -> Option<Stamp> {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Stamp::Int(i));
    }
    for fmt in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
            return Some(Stamp::Date(d, fmt));
        }
    }
    for fmt in DATETIME_FORMATS {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(Stamp::DateTime(d, fmt));
        }
    }
    DateTime::parse_from_rfc3339(t).ok().map(Stamp::Offset)
}

impl Stamp {
    /// Position on one axis: the integer itself, days for dates, seconds for date-times.
    pub fn ordinal(&self) -> i64 {
        match self {
            Stamp::Int(i) => *i,
            Stamp::Date(d, _) => d.signed_duration_since(NaiveDate::MIN).num_days(),
            Stamp::DateTime(d, _) => d.and_utc().timestamp(),
            Stamp::Offset(d) => d.timestamp(),
        }
    }

    pub fn same_kind(&self, other: &Stamp) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    pub fn plus(&self, n: i64) -> Option<String> {
        Some(match self {
            Stamp::Int(i) => i.checked_add(n)?.to_string(),
            Stamp::Date(d, fmt) => d
                .checked_add_signed(TimeDelta::try_days(n)?)?
                .format(fmt)
                .to_string(),
            Stamp::DateTime(d, fmt) => d
                .checked_add_signed(TimeDelta::try_seconds(n)?)?
                .format(fmt)
                .to_string(),
            Stamp::Offset(d) => d
                .checked_add_signed(TimeDelta::try_seconds(n)?)?
                .to_rfc3339(),
        })
    }
}

/// The rows that follow a gap: `i` where the step from row `i - 1` is longer than the times'
/// regular spacing (their most common step, the shorter on a tie). Empty when the times are
/// not all stamps of one kind, since no spacing can be told then.
pub fn gaps<'a>(times: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut ordinals = Vec::new();
    let mut first: Option<Stamp> = None;
    for t in times {
        let Some(stamp) = parse(t) else {
            return Vec::new();
        };
        if first.get_or_insert_with(|| stamp.clone()).same_kind(&stamp) {
            ordinals.push(stamp.ordinal());
        } else {
            return Vec::new();
        }
    }
    let steps: Vec<i64> = ordinals.windows(2).map(|p| p[1] - p[0]).collect();
    let mut counts = std::collections::BTreeMap::new();
    for &s in steps.iter().filter(|&&s| s > 0) {
        *counts.entry(s).or_insert(0usize) += 1;
    }
    let Some(spacing) = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(&s, _)| s)
    else {
        return Vec::new();
    };
    steps
        .iter()
        .enumerate()
        .filter(|&(_, &s)| s > spacing)
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_steps_longer_than_the_usual_one() {
        let hours = [
            "2013-01-01T01:00:00Z",
            "2013-01-01T02:00:00Z",
            "2013-01-01T03:00:00Z",
            "2013-01-01T06:00:00Z",
            "2013-01-01T07:00:00Z",
        ];
        assert_eq!(gaps(hours.into_iter()), vec![3]);
        let days = ["2012/01/01", "2012/01/02", "2012/01/04", "2012/01/05"];
        assert_eq!(gaps(days.into_iter()), vec![2]);
        assert_eq!(gaps(["1", "2", "3", "4"].into_iter()), Vec::<usize>::new());
        assert_eq!(gaps(["10", "20", "40", "50", "60"].into_iter()), vec![2]);
        // Months as text have no readable spacing: nothing is called a gap.
        assert!(gaps(["2012-01", "2012-03"].into_iter()).is_empty());
        assert!(gaps(["1", "2012-01-01"].into_iter()).is_empty());
    }
}
