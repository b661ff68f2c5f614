//! Loads the sweep's CSV: the used columns as numbers, checked cell by cell, plus the file's
//! content hash so every run records exactly what it trained on.

use crate::error::InputError;
use crate::spec::{DataSpec, GapPolicy, KeyLines, MissingPolicy};
use std::path::{Path, PathBuf};

mod series;
pub mod stamp;
mod time;

pub use time::Timeline;

pub use series::SeriesRows;

#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    /// sha256 of the file's bytes.
    pub hash: String,
    pub features: Vec<String>,
    pub target: String,
    /// Row-major `[rows, features]`.
    pub inputs: Vec<f32>,
    pub targets: Vec<f32>,
    /// The `time` column as written, when the spec names one.
    pub times: Option<Vec<String>>,
    /// Rows removed by `missing = "drop"`.
    pub dropped_rows: usize,
    /// Row indices (into the kept rows), ascending, that no window may reach across: rows
    /// after dropped rows, rows after a gap in the time column, and each series' first row.
    pub breaks: Vec<usize>,
    /// The rows that follow a gap in the time column (a subset of `breaks`).
    pub gaps: Vec<usize>,
    /// Each series' rows, in row order: several with `[data] series`, else one unnamed.
    pub series: Vec<SeriesRows>,
    /// Trailing feature columns that say which series a row is of (`series_feature`): one
    /// per series, 1 in its own rows and 0 elsewhere. They are inputs as they are, never
    /// normalised.
    pub indicator_columns: usize,
    /// Things that are legal but look like a mistake (a wide table, say), for the user.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// One series of rows, read from nowhere: for tools and tests that build data in memory.
    pub fn in_memory(
        features: Vec<String>,
        target: &str,
        inputs: Vec<f32>,
        targets: Vec<f32>,
    ) -> Self {
        let rows = targets.len();
        Dataset {
            path: PathBuf::from("memory"),
            hash: String::new(),
            features,
            target: target.to_string(),
            inputs,
            targets,
            times: None,
            dropped_rows: 0,
            breaks: Vec::new(),
            gaps: Vec::new(),
            series: vec![SeriesRows::whole(rows)],
            indicator_columns: 0,
            warnings: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.targets.len()
    }

    /// The time axis shared by several series, when the data has them and a time column;
    /// `None` for one series, whose rows are its axis.
    pub fn timeline(&self) -> Option<Timeline> {
        match (&self.times, self.series.len()) {
            (Some(times), 2..) => Some(Timeline::new(times)),
            _ => None,
        }
    }

    /// Rebuilds the series indicator columns over `names` (a model's series, in its order)
    /// instead of the series this file happens to hold, so a file of fewer series feeds the
    /// model the columns it trained with. An error names a series the list lacks.
    pub fn set_indicators(&mut self, names: &[&str]) -> Result<(), String> {
        let measured = self.features.len() - self.indicator_columns;
        let mut inputs = Vec::with_capacity(self.rows() * (measured + names.len()));
        for s in &self.series {
            let Some(j) = names.iter().position(|n| *n == s.name) else {
                return Err(format!(
                    "series \"{}\" is not one the model trained on ({})",
                    s.name,
                    names.join(", ")
                ));
            };
            let f = self.features.len();
            for r in s.rows() {
                inputs.extend_from_slice(&self.inputs[r * f..r * f + measured]);
                inputs.extend((0..names.len()).map(|i| if i == j { 1.0 } else { 0.0 }));
            }
        }
        self.inputs = inputs;
        self.features.truncate(measured);
        self.features
            .extend(names.iter().map(|n| series::indicator_name(n)));
        self.indicator_columns = names.len();
        Ok(())
    }

    /// Whether the rows hold several named series (`[data] series`).
    pub fn has_series(&self) -> bool {
        self.series.iter().any(|s| !s.name.is_empty())
    }
}

/// The longest line the loader accepts. A CSV row of this project's data is tens of bytes; a
/// longer line means the wrong file (or a corrupt one), and refusing it early keeps the error
/// message and the memory use small.
pub const MAX_LINE_BYTES: usize = 1 << 20;

pub fn load(spec: &DataSpec, lines: &KeyLines) -> Result<Dataset, InputError> {
    let cannot = |e: &dyn std::fmt::Display| {
        lines.error(
            "data.path",
            format!("cannot read data file {}: {e}", spec.path.display()),
        )
    };
    // A folder, FIFO or device (say /dev/zero) would fail oddly or never end: refuse it.
    let meta = std::fs::metadata(&spec.path).map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(cannot(&"not a regular file"));
    }
    let bytes = std::fs::read(&spec.path).map_err(|e| cannot(&e))?;
    load_bytes(spec, lines, &bytes)
}

/// Parses CSV `bytes` as if read from `spec.path` (which names the file in errors).
pub fn load_bytes(spec: &DataSpec, lines: &KeyLines, bytes: &[u8]) -> Result<Dataset, InputError> {
    let file = spec.path.as_path();
    if let Some((line, len)) = overlong_line(bytes) {
        return Err(InputError::at_line(
            file,
            line,
            format!(
                "line {line} is {len} bytes long; aerocast reads CSV lines of at most {} KiB (is this the right file?)",
                MAX_LINE_BYTES / 1024
            ),
        ));
    }
    let hash = crate::hash::sha256_hex(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(spec.delimiter)
        .trim(csv::Trim::All)
        .from_reader(bytes);

    let header = reader
        .headers()
        .map_err(|e| csv_error(file, &e))?
        .iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    if header.iter().all(String::is_empty) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(InputError::in_file(
                file,
                "the file is empty (no header row)",
            ));
        }
        return Err(InputError::at_line(
            file,
            1,
            "the header row has no column names",
        ));
    }
    if let Some(dup) = header
        .iter()
        .enumerate()
        .find(|(i, h)| header[..*i].contains(h))
    {
        return Err(InputError::at_line(
            file,
            1,
            format!("column \"{}\" appears twice in the header", shown(dup.1)),
        ));
    }

    let column = |name: &str, key: &str| -> Result<usize, InputError> {
        header.iter().position(|h| h == name).ok_or_else(|| {
            lines.error(
                key,
                format!(
                    "column \"{name}\" is not in {} (columns: {}){}",
                    file.display(),
                    shown(&header.join(", ")),
                    delimiter_hint(&header, spec.delimiter)
                ),
            )
        })
    };
    let target_col = column(&spec.target, "data.target")?;
    let feature_cols = spec
        .features
        .iter()
        .map(|f| column(f, "data.features"))
        .collect::<Result<Vec<_>, _>>()?;
    let time_col = spec
        .time
        .as_deref()
        .map(|t| column(t, "data.time"))
        .transpose()?;

    let series_col = spec
        .series
        .as_deref()
        .map(|c| column(c, "data.series"))
        .transpose()?;

    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(file, &e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        records.push((line, record));
    }
    let mut table = Table::new(spec, feature_cols, target_col, time_col);
    let mut series = Vec::new();
    for (name, mut group) in series::group(records, series_col, file)? {
        if let Some(col) = time_col {
            time::order(&mut group, col, &header[col], spec.sort, file)
                .map_err(|e| series::hint_long_format(e, spec.series.is_some()))?;
        }
        let gaps = match (time_col, spec.gaps) {
            (Some(col), GapPolicy::Drop) => {
                stamp::gaps(group.iter().map(|(_, r)| r.get(col).unwrap_or("")))
            }
            _ => Vec::new(),
        };
        let start = table.start_series();
        let mut gaps = gaps.into_iter().peekable();
        for (i, (line, record)) in group.iter().enumerate() {
            if gaps.next_if_eq(&i).is_some() {
                table.after_gap = true;
            }
            table.push(record, *line, &header, file)?;
        }
        if table.targets.len() > start {
            series.push(SeriesRows {
                name,
                start,
                end: table.targets.len(),
            });
        }
    }
    if table.targets.is_empty() {
        return Err(InputError::in_file(
            file,
            "the file has a header but no data rows",
        ));
    }
    let mut features = spec.features.clone();
    let mut inputs = table.inputs;
    let indicator_columns = if spec.series_feature {
        inputs = series::with_indicators(&inputs, features.len(), &series);
        features.extend(series.iter().map(|s| series::indicator_name(&s.name)));
        series.len()
    } else {
        0
    };
    Ok(Dataset {
        path: spec.path.clone(),
        hash,
        features,
        target: spec.target.clone(),
        inputs,
        targets: table.targets,
        times: time_col.map(|_| table.times),
        dropped_rows: table.dropped,
        breaks: table.breaks,
        gaps: table.gaps,
        series,
        indicator_columns,
        warnings: wide_table_warning(&header, file).into_iter().collect(),
    })
}

/// Accumulates parsed rows, applying the missing-value policy.
struct Table {
    policy: MissingPolicy,
    feature_cols: Vec<usize>,
    target_col: usize,
    time_col: Option<usize>,
    inputs: Vec<f32>,
    targets: Vec<f32>,
    times: Vec<String>,
    dropped: usize,
    breaks: Vec<usize>,
    gaps: Vec<usize>,
    /// A row was dropped since the last kept one.
    after_drop: bool,
    /// The time column stepped over a gap since the last kept row.
    after_gap: bool,
    /// The current series' first row.
    series_start: usize,
    /// Last seen value per used column (features, then target), for forward fill.
    last: Vec<Option<f32>>,
}

impl Table {
    fn new(
        spec: &DataSpec,
        feature_cols: Vec<usize>,
        target_col: usize,
        time_col: Option<usize>,
    ) -> Self {
        let used = feature_cols.len() + 1;
        Table {
            policy: spec.missing,
            feature_cols,
            target_col,
            time_col,
            inputs: Vec::new(),
            targets: Vec::new(),
            times: Vec::new(),
            dropped: 0,
            breaks: Vec::new(),
            gaps: Vec::new(),
            after_drop: false,
            after_gap: false,
            series_start: 0,
            last: vec![None; used],
        }
    }

    /// Starts a new series at the next kept row, which no window may reach behind and which
    /// forward-fills nothing from the series before; returns that row.
    fn start_series(&mut self) -> usize {
        let start = self.targets.len();
        if start > 0 && self.breaks.last() != Some(&start) {
            self.breaks.push(start);
        }
        self.last.iter_mut().for_each(|v| *v = None);
        self.after_drop = false;
        self.after_gap = false;
        self.series_start = start;
        start
    }

    fn push(
        &mut self,
        record: &csv::StringRecord,
        line: usize,
        header: &[String],
        file: &Path,
    ) -> Result<(), InputError> {
        let cols: Vec<usize> = self
            .feature_cols
            .iter()
            .copied()
            .chain([self.target_col])
            .collect();
        let mut values = Vec::with_capacity(cols.len());
        for (slot, &col) in cols.iter().enumerate() {
            let cell = record.get(col).unwrap_or("");
            let value = match parse_cell(cell) {
                Ok(Some(v)) => v,
                Ok(None) => match self.policy {
                    MissingPolicy::Drop => {
                        self.dropped += 1;
                        self.after_drop = true;
                        return Ok(());
                    }
                    MissingPolicy::Ffill if self.last[slot].is_some() => self.last[slot].unwrap(),
                    MissingPolicy::Ffill => {
                        return Err(InputError::at_line(
                            file,
                            line,
                            format!(
                                "column \"{}\" is missing in the first row (of its series), so there is nothing to forward-fill",
                                shown(&header[col])
                            ),
                        ));
                    }
                    MissingPolicy::Error => {
                        return Err(InputError::at_line(
                            file,
                            line,
                            format!(
                                "column \"{}\" has a missing value (set [data] missing = \"drop\" or \"ffill\" to accept gaps)",
                                shown(&header[col])
                            ),
                        ));
                    }
                },
                Err(problem) => {
                    return Err(InputError::at_line(
                        file,
                        line,
                        format!(
                            "column \"{}\": \"{}\" {problem}",
                            shown(&header[col]),
                            shown(cell)
                        ),
                    ));
                }
            };
            values.push(value);
        }
        for (slot, v) in values.iter().enumerate() {
            self.last[slot] = Some(*v);
        }
        let row = self.targets.len();
        let after_gap = std::mem::take(&mut self.after_gap);
        if (std::mem::take(&mut self.after_drop) || after_gap)
            && row > 0
            && self.breaks.last() != Some(&row)
        {
            self.breaks.push(row);
        }
        if after_gap && row > self.series_start {
            self.gaps.push(row);
        }
        let target = values.pop().expect("target is the last used column");
        self.inputs.extend(values);
        self.targets.push(target);
        if let Some(col) = self.time_col {
            self.times.push(record.get(col).unwrap_or("").to_string());
        }
        Ok(())
    }
}

/// A hint for a header read as one column that holds another separator.
fn delimiter_hint(header: &[String], delimiter: u8) -> String {
    let used = delimiter as char;
    [';', '\t', '|']
        .into_iter()
        .filter(|&c| c != used)
        .find(|&c| header.iter().any(|h| h.contains(c)))
        .map(|c| {
            format!(
                "; the header holds \"{}\": set [data] delimiter = \"{}\"",
                c.escape_default(),
                c.escape_default()
            )
        })
        .unwrap_or_default()
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A header with a column per month (`Year,Jan,Feb,…`) is a wide table: one row per year.
/// aerocast reads one row per time step, so such a file is most likely not what the user meant.
fn wide_table_warning(header: &[String], file: &Path) -> Option<String> {
    let month_columns = header
        .iter()
        .filter(|h| {
            let h = h.trim().to_ascii_lowercase();
            MONTHS
                .iter()
                .any(|m| h == *m || (h.len() > 3 && h.starts_with(m) && is_month_name(&h)))
        })
        .count();
    (month_columns >= 6).then(|| {
        format!(
            "{}:1: the header has {month_columns} month columns: this looks like a wide table (one row per year, one column per month); aerocast reads one row per time step, so reshape it to one row per month",
            file.display()
        )
    })
}

fn is_month_name(h: &str) -> bool {
    [
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "sept",
        "october",
        "november",
        "december",
    ]
    .contains(&h)
}

/// `Ok(None)` for a missing cell (empty or NaN), `Err` (saying why) for anything but a finite
/// number that fits the models' 32-bit floats.
fn parse_cell(cell: &str) -> Result<Option<f32>, &'static str> {
    if cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell.eq_ignore_ascii_case("na") {
        return Ok(None);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= f32::MAX as f64 => Ok(Some(v as f32)),
        Ok(_) => Err("is not a finite number within the 32-bit float range (±3.4e38)"),
        Err(_) => Err("is not a number"),
    }
}

/// The 1-based number and length of the first line longer than `MAX_LINE_BYTES`.
fn overlong_line(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.len() <= MAX_LINE_BYTES {
        return None;
    }
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .find(|(_, line)| line.len() > MAX_LINE_BYTES)
        .map(|(i, line)| (i + 1, line.len()))
}

/// Text from the data file as an error shows it: control characters escaped (no terminal
/// tricks), and cut short past 60 characters.
fn shown(text: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for c in text.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn csv_error(file: &Path, e: &csv::Error) -> InputError {
    match e.position() {
        Some(p) => InputError::at_line(file, p.line() as usize, csv_message(e)),
        None => InputError::in_file(file, csv_message(e)),
    }
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("row has {len} fields, but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    /// Writes `csv` and a spec reading it with `extra` spec lines; returns the load result.
    fn load_csv(csv: &str, extra: &str) -> Result<Dataset, InputError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.csv"), csv).unwrap();
        let text = format!(
            "[experiment]\nname = \"t\"\n[data]\npath = \"d.csv\"\ntarget = \"y\"\nwindow = 1\n{extra}\n\
             [train]\nepochs = 1\nhidden_dim = 2\nlr = 0.1\n"
        );
        let spec_path = dir.path().join("s.toml");
        let spec = Spec::parse(&spec_path, text).unwrap();
        load(&spec.data, &spec.lines)
    }

    #[test]
    fn loads_features_and_target_in_order() {
        let d = load_csv(
            "t,x,y\n2024-01,1,10\n2024-02,2,20\n",
            "features = [\"x\", \"y\"]\ntime = \"t\"",
        )
        .unwrap();
        assert_eq!(d.inputs, vec![1.0, 10.0, 2.0, 20.0]);
        assert_eq!(d.targets, vec![10.0, 20.0]);
        assert_eq!(d.times, Some(vec!["2024-01".into(), "2024-02".into()]));
        assert_eq!(d.hash.len(), 64);
    }

    #[test]
    fn non_numeric_cell_names_file_line_and_column() {
        let e = load_csv("x,y\n1,2\n3,abc\n", "").unwrap_err().to_string();
        assert!(e.contains("d.csv:3:"), "{e}");
        assert!(e.contains("column \"y\": \"abc\" is not a number"), "{e}");
    }

    #[test]
    fn missing_values_follow_the_policy() {
        let csv = "y\n1\n\n3\nNaN\n5\n";
        let csv_gap = "x,y\n1,1\n2,\n3,3\n";
        let e = load_csv(csv_gap, "").unwrap_err().to_string();
        assert!(e.contains("d.csv:3:") && e.contains("missing value"), "{e}");
        let d = load_csv(csv_gap, "missing = \"drop\"").unwrap();
        assert_eq!((d.targets.clone(), d.dropped_rows), (vec![1.0, 3.0], 1));
        let d = load_csv(csv_gap, "missing = \"ffill\"").unwrap();
        assert_eq!(d.targets, vec![1.0, 1.0, 3.0]);
        // blank lines are skipped by the CSV reader; NaN counts as missing
        let d = load_csv(csv, "missing = \"drop\"").unwrap();
        assert_eq!(d.targets, vec![1.0, 3.0, 5.0]);
    }

    #[test]
    fn structural_problems_are_input_errors() {
        let cases = [
            ("", "empty"),
            ("x,y\n", "no data rows"),
            ("y,y\n1,2\n", "appears twice"),
            ("x,y\n1,2,3\n", "3 fields"),
            ("x,z\n1,2\n", "column \"y\" is not in"),
            ("x,y\n1,1e999\n", "not a finite number"),
            ("x,y\n1,-1e39\n", "32-bit float range"),
        ];
        for (csv, needle) in cases {
            let e = load_csv(csv, "").unwrap_err().to_string();
            assert!(e.contains(needle), "{csv:?}: {e}");
        }
    }

    #[test]
    fn missing_column_error_points_at_the_spec_line() {
        let e = load_csv("x,y\n1,2\n", "features = [\"x\", \"wind\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml:7:"), "{e}");
        assert!(e.contains("columns: x, y"), "{e}");
    }
}
