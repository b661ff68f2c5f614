//! Long-format data: one row per series and time. The rows are grouped by the series column
//! (series in name order, rows in file order within each), so every series is one stretch
//! of consecutive rows that windows never leave.

use crate::error::InputError;
use std::collections::BTreeMap;
use std::path::Path;

/// One series' rows `start..end` among a dataset's kept rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRows {
    /// The series column's value; empty for data without a series column.
    pub name: String,
    pub start: usize,
    pub end: usize,
}

impl SeriesRows {
    /// All `rows` rows as one unnamed series.
    pub fn whole(rows: usize) -> SeriesRows {
        SeriesRows {
            name: String::new(),
            start: 0,
            end: rows,
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    pub fn rows(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

type Records = Vec<(usize, csv::StringRecord)>;

/// Splits `(line, record)` pairs by the value of column `col`; without a series column, one
/// unnamed group of every record. A row without its series names its line.
pub fn group(
    records: Records,
    col: Option<usize>,
    file: &Path,
) -> Result<Vec<(String, Records)>, InputError> {
    let Some(col) = col else {
        return Ok(vec![(String::new(), records)]);
    };
    let mut groups: BTreeMap<String, Records> = BTreeMap::new();
    for (line, record) in records {
        let name = record.get(col).unwrap_or("").to_string();
        if name.is_empty() {
            return Err(InputError::at_line(
                file,
                line,
                "the series column is empty; every row needs its series",
            ));
        }
        groups.entry(name).or_default().push((line, record));
    }
    Ok(groups.into_iter().collect())
}

/// A time-order error in a file of one series may mean a long-format file read as one: say
/// how to read it as several.
pub fn hint_long_format(mut e: InputError, has_series: bool) -> InputError {
    if !has_series && (e.message.contains("appears twice") || e.message.contains("time order")) {
        e.message.push_str(
            "; if the file holds several series, one row per series and time, set [data] series to the column naming them",
        );
    }
    e
}

/// The input column that marks the rows of series `name`.
pub fn indicator_name(name: &str) -> String {
    format!("series={name}")
}

/// Row-major `inputs` of `f` columns with one indicator column per series appended.
pub fn with_indicators(inputs: &[f32], f: usize, series: &[SeriesRows]) -> Vec<f32> {
    let k = series.len();
    let mut out = Vec::with_capacity(inputs.len() / f.max(1) * (f + k));
    for (i, s) in series.iter().enumerate() {
        for r in s.rows() {
            out.extend_from_slice(&inputs[r * f..(r + 1) * f]);
            out.extend((0..k).map(|j| if j == i { 1.0 } else { 0.0 }));
        }
    }
    out
}
