//! The time column's one job: the rows' order. Windows are cut from consecutive rows, so a
//! reversed or shuffled file would train on nonsense without a word; rows must be in strictly
//! increasing time, or be sorted on request (`[data] sort = true`).

use super::shown;
use crate::error::InputError;
use std::cmp::Ordering;
use std::path::Path;

/// A time value aerocast can order: a number (a year, a unix time, a step) or an ISO 8601
/// date or date-time (`2012-01-31`, `2012-01`, `2012-01-31T06:00`), which sorts as text.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Key {
    Number(f64),
    Iso(String),
}

/// Checks (or, with `sort`, establishes) strictly increasing time over `records`, each
/// `(line, record)`. Errors name the line.
pub fn order(
    records: &mut [(usize, csv::StringRecord)],
    col: usize,
    name: &str,
    sort: bool,
    file: &Path,
) -> Result<(), InputError> {
    let mut keys = Vec::with_capacity(records.len());
    let mut numeric = None;
    for (line, record) in records.iter() {
        let cell = record.get(col).unwrap_or("");
        let key = key(cell, &mut numeric).map_err(|why| {
            InputError::at_line(
                file,
                *line,
                format!("time column \"{}\": \"{}\" {why}", shown(name), shown(cell)),
            )
        })?;
        keys.push(key);
    }
    if sort {
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by(|&a, &b| keys[a].partial_cmp(&keys[b]).unwrap_or(Ordering::Equal));
        let sorted_records: Vec<_> = order.iter().map(|&i| records[i].clone()).collect();
        let sorted_keys: Vec<_> = order.iter().map(|&i| keys[i].clone()).collect();
        records.clone_from_slice(&sorted_records);
        keys = sorted_keys;
    }
    for i in 1..records.len() {
        if keys[i] > keys[i - 1] {
            continue;
        }
        let (line, prev_line) = (records[i].0, records[i - 1].0);
        let cell = |r: usize| shown(records[r].1.get(col).unwrap_or(""));
        let message = if keys[i] == keys[i - 1] {
            format!(
                "time \"{}\" appears twice (lines {prev_line} and {line}); each row must be one time step",
                cell(i)
            )
        } else {
            format!(
                "rows are not in time order: \"{}\" comes after \"{}\" (line {prev_line}); sort the file or set [data] sort = true",
                cell(i),
                cell(i - 1)
            )
        };
        return Err(InputError::at_line(file, line, message));
    }
    Ok(())
}

/// Parses one time cell. The first cell decides the kind (number or ISO date) for the rest.
fn key(cell: &str, numeric: &mut Option<bool>) -> Result<Key, &'static str> {
    if cell.is_empty() {
        return Err("is empty; every row needs its time");
    }
    let as_number = cell.parse::<f64>().ok().filter(|v| v.is_finite());
    let is_numeric = *numeric.get_or_insert(as_number.is_some());
    match (is_numeric, as_number) {
        (true, Some(v)) => Ok(Key::Number(v)),
        (true, None) => Err("is not a number like the column's first value"),
        (false, _) if looks_iso(cell) => Ok(Key::Iso(cell.to_string())),
        (false, _) => Err(
            "is neither a number nor an ISO 8601 date (YYYY-MM-DD…, or YYYY/MM/DD), so the rows' order cannot be checked",
        ),
    }
}

/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, then optionally `T` or a space and a time of day; `/` or
/// `.` may separate the date's parts instead of `-`. Year first with two-digit months and days,
/// such values sort as text in time order.
fn looks_iso(cell: &str) -> bool {
    let b = cell.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    if !digits(0..4) {
        return false;
    }
    let sep = b.get(4).copied().unwrap_or(b'-');
    if !matches!(sep, b'-' | b'/' | b'.') {
        return false;
    }
    match b.len() {
        4 => true,
        7 => digits(5..7),
        n if n >= 10 => {
            digits(5..7)
                && b[7] == sep
                && digits(8..10)
                && (n == 10 || b[10] == b'T' || b[10] == b' ')
        }
        _ => false,
    }
}

/// The time axis several series share: their distinct times in order, and each row's place
/// on it. Spans and folds cut every series at the same times with it, so no series trains on
/// a time at which another is scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Per row, the index of its time among the distinct times.
    at: Vec<usize>,
    len: usize,
}

impl Timeline {
    /// The axis of `times` (one per row, each series' rows in increasing time, as the loader
    /// leaves them). Cells are ordered as the loader orders them: as numbers when the first
    /// is one, else as ISO 8601 text.
    pub fn new(times: &[String]) -> Timeline {
        let mut numeric = None;
        let keys: Vec<Key> = times
            .iter()
            .map(|t| key(t, &mut numeric).unwrap_or(Key::Iso(t.clone())))
            .collect();
        let mut distinct = keys.clone();
        distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
        distinct.dedup();
        let at = keys
            .iter()
            .map(|k| distinct.partition_point(|d| d < k))
            .collect();
        Timeline {
            at,
            len: distinct.len(),
        }
    }

    /// How many distinct times the rows have.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of `rows` (one series, in time order) come before distinct time `t`: the
    /// offset of its first row at or after `t`.
    pub fn rows_before(&self, rows: std::ops::Range<usize>, t: usize) -> usize {
        self.at[rows].partition_point(|&i| i < t)
    }

    /// The distinct time of row `row`.
    pub fn index_of(&self, row: usize) -> usize {
        self.at[row]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(times: &[&str]) -> Vec<(usize, csv::StringRecord)> {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| (i + 2, csv::StringRecord::from(vec![*t, "1"])))
            .collect()
    }

    fn check(times: &[&str], sort: bool) -> Result<Vec<String>, String> {
        let mut r = records(times);
        order(&mut r, 0, "t", sort, Path::new("d.csv")).map_err(|e| e.to_string())?;
        Ok(r.iter().map(|(_, rec)| rec[0].to_string()).collect())
    }

    #[test]
    fn increasing_times_pass_and_others_name_the_line() {
        assert!(check(&["2012-01-01", "2012-01-02", "2012-02-01"], false).is_ok());
        assert!(check(&["1999", "2000", "2001"], false).is_ok());
        assert!(check(&["2012/01/31", "2012/02/01"], false).is_ok());
        assert!(
            check(&["9", "10", "11"], false).is_ok(),
            "numbers compare as numbers"
        );
        let e = check(&["2012-01-03", "2012-01-02"], false).unwrap_err();
        assert!(
            e.starts_with("d.csv:3:") && e.contains("not in time order"),
            "{e}"
        );
        let e = check(&["2012-01-01", "2012-01-01"], false).unwrap_err();
        assert!(e.contains("appears twice (lines 2 and 3)"), "{e}");
        let e = check(&["01/02/2012"], false).unwrap_err();
        assert!(e.contains("ISO 8601"), "{e}");
        let e = check(&["2012-01-01", ""], false).unwrap_err();
        assert!(e.starts_with("d.csv:3:") && e.contains("empty"), "{e}");
    }

    #[test]
    fn sort_puts_rows_in_time_order() {
        let sorted = check(&["2012-03", "2012-01", "2012-02"], true).unwrap();
        assert_eq!(sorted, ["2012-01", "2012-02", "2012-03"]);
        assert!(check(&["3", "1", "1"], true).unwrap_err().contains("twice"));
    }
}
