//! Time stamps as numbers on one axis: whole numbers, months (`2012-01`, `2012/01`), dates
//! (`2012-01-31`, `2012/01/31`) and date-times (`2012-01-31 06:00:00`, `2012-01-31T06:00:00`,
//! RFC 3339 with an offset). The loader finds gaps with them; forecasts name the times after
//! the last row with them. Months are calendar months, not a number of days: a column of
//! months, or of dates that all fall on the first of a month, is spaced in months.

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeDelta};

#[derive(Debug, Clone, PartialEq)]
pub enum Stamp {
    Int(i64),
    /// A calendar month, held as its first day, with the format it was written in.
    Month(NaiveDate, &'static str),
    Date(NaiveDate, &'static str),
    DateTime(NaiveDateTime, &'static str),
    Offset(DateTime<FixedOffset>),
}

const MONTH_FORMATS: [&str; 2] = ["%Y-%m", "%Y/%m"];
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
    if let Some(month) = parse_month(t) {
        return Some(month);
    }
    for fmt in DATETIME_FORMATS {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(Stamp::DateTime(d, fmt));
        }
    }
    DateTime::parse_from_rfc3339(t).ok().map(Stamp::Offset)
}

/// `YYYY-MM` or `YYYY/MM`. chrono reads no date without its day, so the month is read as its
/// first day.
fn parse_month(t: &str) -> Option<Stamp> {
    if t.len() != 7 {
        return None;
    }
    MONTH_FORMATS.into_iter().find_map(|fmt| {
        let sep = &fmt[2..3];
        let first = NaiveDate::parse_from_str(&format!("{t}{sep}01"), &format!("{fmt}{sep}%d"));
        first.ok().map(|d| Stamp::Month(d, fmt))
    })
}

impl Stamp {
    /// Position on one axis: the integer itself, days for dates, seconds for date-times.
    pub fn ordinal(&self) -> i64 {
        match self {
            Stamp::Int(i) => *i,
            Stamp::Month(d, _) => month_index(d),
            Stamp::Date(d, _) => d.signed_duration_since(NaiveDate::MIN).num_days(),
            Stamp::DateTime(d, _) => d.and_utc().timestamp(),
            Stamp::Offset(d) => d.timestamp(),
        }
    }

    pub fn same_kind(&self, other: &Stamp) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// Position in calendar months, for a month or a date on the first of one.
    pub fn month(&self) -> Option<i64> {
        match self {
            Stamp::Month(d, _) => Some(month_index(d)),
            Stamp::Date(d, _) if d.day() == 1 => Some(month_index(d)),
            _ => None,
        }
    }

    /// The stamp `n` calendar months later, in the same format: for monthly columns.
    pub fn plus_months(&self, n: i64) -> Option<String> {
        let shift = |d: &NaiveDate| match n >= 0 {
            true => d.checked_add_months(Months::new(u32::try_from(n).ok()?)),
            false => d.checked_sub_months(Months::new(u32::try_from(-n).ok()?)),
        };
        match self {
            Stamp::Month(d, fmt) | Stamp::Date(d, fmt) => Some(shift(d)?.format(fmt).to_string()),
            _ => None,
        }
    }

    pub fn plus(&self, n: i64) -> Option<String> {
        Some(match self {
            Stamp::Int(i) => i.checked_add(n)?.to_string(),
            Stamp::Month(..) => self.plus_months(n)?,
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

fn month_index(d: &NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// The stamps' positions on one axis, and whether it counts calendar months: `None` when
/// the stamps are not all of one kind. Dates count months when every one is the first of a
/// month, as monthly data is written; otherwise days.
pub fn ordinals(stamps: &[Stamp]) -> Option<(Vec<i64>, bool)> {
    let first = stamps.first()?;
    if !stamps.iter().all(|s| s.same_kind(first)) {
        return None;
    }
    if let Some(months) = stamps.iter().map(Stamp::month).collect::<Option<Vec<_>>>() {
        return Some((months, true));
    }
    Some((stamps.iter().map(Stamp::ordinal).collect(), false))
}

/// The rows that follow a gap: `i` where the step from row `i - 1` is longer than the times'
/// regular spacing (their most common step, the shorter on a tie). Empty when the times are
/// not all stamps of one kind, since no spacing can be told then.
pub fn gaps<'a>(times: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let Some(stamps) = times.map(parse).collect::<Option<Vec<_>>>() else {
        return Vec::new();
    };
    let Some((ordinals, _)) = ordinals(&stamps) else {
        return Vec::new();
    };
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
        // Calendar months, written as months or as first days: 31, 29 or 30 days are one step.
        let months = ["2012-01", "2012-02", "2012-03", "2012-05", "2012-06"];
        assert_eq!(gaps(months.into_iter()), vec![3]);
        let firsts = [
            "2012-01-01",
            "2012-02-01",
            "2012-03-01",
            "2012-04-01",
            "2012-06-01",
        ];
        assert_eq!(gaps(firsts.into_iter()), vec![4]);
        assert!(gaps(["2012-01", "2012-01-05"].into_iter()).is_empty());
        assert!(gaps(["1", "2012-01-01"].into_iter()).is_empty());
    }
}
