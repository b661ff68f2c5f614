//! The sweep spec: a TOML file naming an experiment, its data, fixed training settings and the
//! grid to sweep. Parsing is strict (unknown keys are errors) and every error names the file and
//! line, so a typo never silently becomes a default.

pub mod eval;
pub mod knobs;
mod raw;
pub mod search;
pub mod settings;

use crate::error::{InputError, line_of};
use knobs::{KNOBS, Knob, ParamValue, Section};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use eval::{EvalSpec, Refit};
pub use raw::{GapPolicy, MissingPolicy, OutputMode};
pub use search::{Method, PruneMethod, PruneSpec, SearchSpec};

#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub text: String,
    /// sha256 of the spec text: identifies the sweep definition in the store.
    pub hash: String,
    pub experiment: String,
    pub data: DataSpec,
    /// One dimension per knob, in `KNOBS` order.
    pub space: Vec<Dimension>,
    pub search: SearchSpec,
    pub prune: PruneSpec,
    pub eval: EvalSpec,
    /// `[store] path` (resolved against the spec's folder) or `[store] url`, as text.
    pub store: Option<String>,
    /// `[mlflow] tracking_uri`: the MLflow server runs are mirrored to as they end.
    pub mlflow: Option<String>,
    /// `[train] max_attempts`: a job that failed or was killed this many times is not retried.
    pub max_attempts: usize,
    /// `[experiment] tags`, given to every run.
    pub tags: Vec<(String, String)>,
    pub lines: KeyLines,
}

#[derive(Debug, Clone)]
pub struct DataSpec {
    /// Resolved against the spec's folder.
    pub path: PathBuf,
    pub target: String,
    /// Model inputs; defaults to the target alone.
    pub features: Vec<String>,
    pub time: Option<String>,
    /// Share of the rows before the test span that trains; the rest of them validate.
    pub train_fraction: f64,
    /// Share of all rows, at the end, held out as the test span (0: none).
    pub test_fraction: f64,
    pub output: OutputMode,
    pub missing: MissingPolicy,
    /// The CSV field separator.
    pub delimiter: u8,
    /// Sort rows by `time` rather than refuse rows out of order.
    pub sort: bool,
    /// Rows per season (7 for weekly in daily data): enables the seasonal naive baseline.
    pub season: Option<usize>,
    /// The column naming each row's series (long format); `None` for one series.
    pub series: Option<String>,
    /// One indicator input per series, so a global model can tell the series apart.
    pub series_feature: bool,
    /// Windows across gaps in the time column: dropped (the default) or allowed.
    pub gaps: GapPolicy,
    /// The sweep's longest window + horizon: how far back from a scored row its window and
    /// horizon reach (see `Prepared::score_reach`).
    pub reach: usize,
}

/// The values one knob takes in the sweep.
#[derive(Debug, Clone)]
pub struct Dimension {
    pub knob: &'static Knob,
    pub domain: Domain,
    /// Set in `[grid]` or `[space]` rather than fixed in its section.
    pub swept: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// A fixed value, a grid list, or categorical choices.
    Values(Vec<ParamValue>),
    Uniform {
        min: f64,
        max: f64,
    },
    LogUniform {
        min: f64,
        max: f64,
    },
    IntUniform {
        min: i64,
        max: i64,
    },
}

impl Dimension {
    /// The listed values; empty for a continuous range.
    pub fn values(&self) -> &[ParamValue] {
        match &self.domain {
            Domain::Values(v) => v,
            _ => &[],
        }
    }

    /// Values that bound what the dimension can produce, for checks against the data.
    pub fn extremes(&self) -> Vec<ParamValue> {
        match &self.domain {
            Domain::Values(v) => v.clone(),
            Domain::Uniform { min, max } | Domain::LogUniform { min, max } => {
                vec![ParamValue::Float(*min), ParamValue::Float(*max)]
            }
            Domain::IntUniform { min, max } => vec![ParamValue::Int(*min), ParamValue::Int(*max)],
        }
    }
}

/// Where each key of the spec was written, so later checks (against the data, say) can still
/// point at the right line.
#[derive(Debug, Clone, Default)]
pub struct KeyLines {
    pub file: PathBuf,
    lines: BTreeMap<String, usize>,
}

impl KeyLines {
    /// An error about `key` (e.g. `data.window`), at its line when known.
    pub fn error(&self, key: &str, message: impl Into<String>) -> InputError {
        let message = format!("[{key}] {}", message.into());
        match self.lines.get(key) {
            Some(&line) => InputError::at_line(&self.file, line, message),
            None => InputError::in_file(&self.file, message),
        }
    }

    /// The first of `keys` the spec wrote, else the last one.
    pub fn first_recorded<'a>(&self, keys: &[&'a str]) -> &'a str {
        keys.iter()
            .find(|k| self.lines.contains_key(**k))
            .or(keys.last())
            .copied()
            .unwrap_or("")
    }

    pub(crate) fn record(&mut self, key: String, text: &str, span: std::ops::Range<usize>) {
        self.lines.insert(key, line_of(text, span.start));
    }
}

/// A spec is a few dozen lines; anything past this is not one.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

impl Spec {
    pub fn load(path: &Path) -> Result<Spec, InputError> {
        let cannot =
            |e: &dyn std::fmt::Display| InputError::in_file(path, format!("cannot read spec: {e}"));
        // A folder, FIFO or device (say /dev/zero) would fail oddly or never end.
        let meta = std::fs::metadata(path).map_err(|e| cannot(&e))?;
        if !meta.is_file() {
            return Err(cannot(&"not a regular file"));
        }
        if meta.len() > MAX_SPEC_BYTES {
            return Err(cannot(&format!(
                "{} bytes is too large for a sweep spec (at most {} KiB)",
                meta.len(),
                MAX_SPEC_BYTES / 1024
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| cannot(&e))?;
        Spec::parse(path, text)
    }

    /// Parses spec text as if read from `path` (used for relative paths and error locations).
    pub fn parse(path: &Path, text: String) -> Result<Spec, InputError> {
        let mut raw = raw::parse(path, &text)?;
        let mut lines = KeyLines {
            file: path.to_path_buf(),
            ..KeyLines::default()
        };
        let base = path.parent().unwrap_or(Path::new(""));

        let experiment = raw.experiment.name.get_ref().trim().to_string();
        if experiment.is_empty() {
            let line = line_of(&text, raw.experiment.name.span().start);
            return Err(InputError::at_line(
                path,
                line,
                "[experiment] name must not be empty",
            ));
        }

        let mut data = data_spec(&raw.data, base, &text, &mut lines)?;
        let max_attempts = settings::max_attempts(&mut raw.train, &text, &mut lines)?;
        let tags = settings::tags(raw.experiment.tags.as_ref(), &text, &mut lines)?;
        let space = space(&raw, &text, &mut lines)?;
        data.reach = largest(&space, "window") + largest(&space, "horizon");
        let search = search::search(
            raw.search.as_ref(),
            !raw.grid.is_empty(),
            !raw.space.is_empty(),
            &lines,
            &text,
        )?;
        let prune = search::prune(raw.prune.as_ref(), &lines, &text)?;
        let eval = eval::eval(raw.eval.as_ref(), &mut lines, &text)?;
        let store = store_setting(raw.store, base, path)?;
        let mlflow = mlflow_uri(raw.mlflow.as_ref(), &text, &mut lines)?;
        let hash = crate::hash::sha256_hex(&text);
        Ok(Spec {
            path: path.to_path_buf(),
            text,
            hash,
            experiment,
            data,
            space,
            search,
            prune,
            eval,
            store,
            mlflow,
            max_attempts,
            tags,
            lines,
        })
    }

    pub fn dimension(&self, name: &str) -> &Dimension {
        self.space
            .iter()
            .find(|d| d.knob.name == name)
            .expect("every knob has a dimension")
    }
}

/// Only HTTP(S) servers have the REST API the mirror talks to.
fn mlflow_uri(
    raw: Option<&raw::RawMlflow>,
    text: &str,
    lines: &mut KeyLines,
) -> Result<Option<String>, InputError> {
    let Some(raw) = raw else { return Ok(None) };
    lines.record("mlflow.tracking_uri".into(), text, raw.tracking_uri.span());
    let uri = raw.tracking_uri.get_ref().trim();
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(lines.error(
            "mlflow.tracking_uri",
            "must be an http:// or https:// MLflow tracking server",
        ));
    }
    Ok(Some(uri.to_string()))
}

fn data_spec(
    raw: &raw::RawData,
    base: &Path,
    text: &str,
    lines: &mut KeyLines,
) -> Result<DataSpec, InputError> {
    lines.record("data.path".into(), text, raw.path.span());
    lines.record("data.target".into(), text, raw.target.span());
    if let Some(f) = &raw.features {
        lines.record("data.features".into(), text, f.span());
    }
    if let Some(t) = &raw.time {
        lines.record("data.time".into(), text, t.span());
    }
    let train_fraction = match &raw.train_fraction {
        Some(f) => {
            lines.record("data.train_fraction".into(), text, f.span());
            let v = *f.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(lines.error(
                    "data.train_fraction",
                    format!("train_fraction must be between 0 and 1 (exclusive), got {v}"),
                ));
            }
            v
        }
        None => 0.8,
    };
    let test_fraction = match &raw.test_fraction {
        Some(f) => {
            lines.record("data.test_fraction".into(), text, f.span());
            let v = *f.get_ref();
            if !(0.0..1.0).contains(&v) {
                return Err(lines.error(
                    "data.test_fraction",
                    format!("test_fraction must be at least 0 and below 1, got {v}"),
                ));
            }
            v
        }
        None => 0.0,
    };
    let target = raw.target.get_ref().clone();
    let features = match &raw.features {
        Some(f) if f.get_ref().is_empty() => {
            return Err(lines.error("data.features", "features must list at least one column"));
        }
        Some(f) => f.get_ref().clone(),
        None => vec![target.clone()],
    };
    if let Some(dup) = first_duplicate(&features) {
        return Err(lines.error("data.features", format!("column \"{dup}\" is listed twice")));
    }
    let time = raw.time.as_ref().map(|t| t.get_ref().clone());
    settings::check_time_column(time.as_deref(), &target, &features, lines)?;
    let delimiter = settings::delimiter(raw.delimiter.as_ref(), text, lines)?;
    let sort = match &raw.sort {
        Some(s) if *s.get_ref() && time.is_none() => {
            lines.record("data.sort".into(), text, s.span());
            return Err(lines.error(
                "data.sort",
                "sort = true needs a time column to sort by: set [data] time",
            ));
        }
        Some(s) => *s.get_ref(),
        None => false,
    };
    let season = match &raw.season {
        Some(s) => {
            lines.record("data.season".into(), text, s.span());
            match usize::try_from(*s.get_ref()) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    return Err(lines.error(
                        "data.season",
                        format!(
                            "season must be a whole number of rows ≥ 1, got {}",
                            s.get_ref()
                        ),
                    ));
                }
            }
        }
        None => None,
    };
    let series = raw.series.as_ref().map(|s| {
        lines.record("data.series".into(), text, s.span());
        s.get_ref().clone()
    });
    let series_feature = match &raw.series_feature {
        Some(f) => {
            lines.record("data.series_feature".into(), text, f.span());
            if *f.get_ref() && series.is_none() {
                return Err(lines.error(
                    "data.series_feature",
                    "series_feature = true needs a series column: set [data] series",
                ));
            }
            *f.get_ref()
        }
        None => false,
    };
    settings::check_series_column(
        series.as_deref(),
        &target,
        &features,
        time.as_deref(),
        lines,
    )?;
    Ok(DataSpec {
        path: base.join(raw.path.get_ref()),
        target,
        features,
        time,
        train_fraction,
        test_fraction,
        output: raw.output.unwrap_or_default(),
        missing: raw.missing.unwrap_or_default(),
        delimiter,
        sort,
        season,
        series,
        series_feature,
        gaps: raw.gaps.unwrap_or_default(),
        reach: 0,
    })
}

/// Builds one dimension per knob from `[data]`, `[train]`, `[grid]` and `[space]`.
fn space(
    raw: &raw::RawSpec,
    text: &str,
    lines: &mut KeyLines,
) -> Result<Vec<Dimension>, InputError> {
    let mut fixed: BTreeMap<String, &toml::Spanned<toml::Value>> = BTreeMap::new();
    for (name, value) in &raw.train {
        fixed.insert(name.clone(), value);
        lines.record(format!("train.{name}"), text, value.span());
    }
    for (name, value) in [("window", &raw.data.window), ("horizon", &raw.data.horizon)] {
        if let Some(v) = value {
            fixed.insert(name.to_string(), v);
            lines.record(format!("data.{name}"), text, v.span());
        }
    }
    for (name, value) in &raw.grid {
        lines.record(format!("grid.{name}"), text, value.span());
    }
    for (name, value) in &raw.space {
        lines.record(format!("space.{name}"), text, value.span());
    }
    check_names(raw, lines)?;

    let mut dims = Vec::with_capacity(KNOBS.len());
    for knob in KNOBS {
        let name = knob.name;
        let section_key = format!("{}.{name}", knob.section.name());
        let swept = [
            raw.grid.get(name).map(|_| "grid"),
            raw.space.get(name).map(|_| "space"),
        ];
        let mut places: Vec<&str> = swept.into_iter().flatten().collect();
        if fixed.contains_key(name) {
            places.insert(0, knob.section.name());
        }
        if places.len() > 1 {
            return Err(lines.error(
                &format!("{}.{name}", places[1]),
                format!(
                    "`{name}` is set both in [{}] and in [{}]; keep one",
                    places[0], places[1]
                ),
            ));
        }
        let (domain, swept) = if let Some(v) = fixed.get(name) {
            let value = knob
                .parse(v.get_ref())
                .map_err(|m| lines.error(&section_key, m))?;
            (Domain::Values(vec![value]), false)
        } else if let Some(list) = raw.grid.get(name) {
            let key = format!("grid.{name}");
            let values = grid_values(knob, list.get_ref()).map_err(|m| lines.error(&key, m))?;
            (Domain::Values(values), true)
        } else if let Some(dist) = raw.space.get(name) {
            let key = format!("space.{name}");
            (
                search::domain(knob, dist.get_ref()).map_err(|m| lines.error(&key, m))?,
                true,
            )
        } else if let Some(d) = knob.default {
            (Domain::Values(vec![d.into()]), false)
        } else {
            return Err(InputError::in_file(
                &lines.file,
                format!(
                    "missing `{name}`: set it in [{}] or sweep it in [grid] or [space]",
                    knob.section.name()
                ),
            ));
        };
        dims.push(Dimension {
            knob,
            domain,
            swept,
        });
    }
    if raw.space.is_empty() {
        check_size(&dims, lines)?;
    }
    Ok(dims)
}

/// The most jobs one sweep may expand to: far past any real grid, and small enough that the job
/// list (and a typo like `seed = [0, ..., 99999]` times a few more lists) cannot exhaust memory.
pub const MAX_JOBS: usize = 100_000;

fn check_size(dims: &[Dimension], lines: &KeyLines) -> Result<(), InputError> {
    let jobs = dims
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(d.values().len().max(1)));
    if jobs.is_some_and(|n| n <= MAX_JOBS) {
        return Ok(());
    }
    let largest = dims
        .iter()
        .filter(|d| d.swept)
        .max_by_key(|d| d.values().len())
        .expect("only swept dimensions have several values");
    let count = jobs.map_or("more than 2^64".to_string(), |n| n.to_string());
    Err(lines.error(
        &format!("grid.{}", largest.knob.name),
        format!("the grid expands to {count} jobs; a sweep takes at most {MAX_JOBS}"),
    ))
}

/// Unknown or misplaced knob names in `[train]`, `[grid]` and `[space]`.
fn check_names(raw: &raw::RawSpec, lines: &KeyLines) -> Result<(), InputError> {
    let sections = [
        ("train", raw.train.keys().collect::<Vec<_>>()),
        ("grid", raw.grid.keys().collect()),
        ("space", raw.space.keys().collect()),
    ];
    for (section, names) in sections {
        for name in names {
            let key = format!("{section}.{name}");
            match knobs::find(name) {
                None => {
                    let hint = knobs::suggest(name)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_else(|| format!(" (known: {})", known_names()));
                    return Err(lines.error(&key, format!("unknown key `{name}`{hint}")));
                }
                Some(k) if section == "train" && k.section != Section::Train => {
                    return Err(
                        lines.error(&key, format!("`{name}` belongs in [{}]", k.section.name()))
                    );
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn grid_values(knob: &Knob, value: &toml::Value) -> Result<Vec<ParamValue>, String> {
    let toml::Value::Array(items) = value else {
        return Err(format!(
            "`{}` in [grid] must be a list of values, e.g. {} = [1, 2]",
            knob.name, knob.name
        ));
    };
    if items.is_empty() {
        return Err(format!("`{}` in [grid] is an empty list", knob.name));
    }
    let values = items
        .iter()
        .map(|v| knob.parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!("`{}` in [grid] lists {v} twice", knob.name));
        }
    }
    Ok(values)
}

/// The largest value an integer knob takes in `space`.
pub fn largest(space: &[Dimension], knob: &str) -> usize {
    space
        .iter()
        .find(|d| d.knob.name == knob)
        .map(|d| d.extremes())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| match v {
            ParamValue::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

fn known_names() -> String {
    KNOBS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

fn first_duplicate(items: &[String]) -> Option<&String> {
    items
        .iter()
        .enumerate()
        .find(|(i, s)| items[..*i].contains(s))
        .map(|(_, s)| s)
}

/// `[store] path` or `[store] url`: a path is resolved against the spec's folder; a URL is
/// kept as written. A path with a URL scheme is refused rather than made a folder.
fn store_setting(
    raw: Option<raw::RawStore>,
    base: &Path,
    spec: &Path,
) -> Result<Option<String>, InputError> {
    let Some(raw) = raw else { return Ok(None) };
    match (raw.path, raw.url) {
        (Some(_), Some(_)) => Err(InputError::in_file(
            spec,
            "[store] takes `path` (a folder) or `url` (a database), not both",
        )),
        (Some(p), None) if url_scheme(&p).is_some() => Err(InputError::in_file(
            spec,
            "[store] path is a folder; write a database URL as `url = \"…\"`",
        )),
        (Some(p), None) => Ok(Some(base.join(p).display().to_string())),
        (None, Some(u)) if url_scheme(&u).is_none() => Err(InputError::in_file(
            spec,
            "[store] url must start with a scheme such as postgres://",
        )),
        (None, Some(u)) => Ok(Some(u)),
        (None, None) => Ok(None),
    }
}

/// The scheme of `text` when it starts like a URL (`scheme://`), per RFC 3986's scheme syntax.
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[experiment]
name = "t"

[data]
path = "d.csv"
target = "y"
window = 5

[train]
epochs = 2
optimizer = "AdamW"

[grid]
seed = [0, 1]
hidden_dim = [8, 16]
lr = [0.001, 0.01, 1]
"#;

    fn parse(text: &str) -> Result<Spec, InputError> {
        Spec::parse(Path::new("sweeps/s.toml"), text.to_string())
    }

    fn err(text: &str) -> String {
        parse(text)
            .expect_err("spec should be rejected")
            .to_string()
    }

    #[test]
    fn parses_fixed_and_swept_knobs_with_defaults() {
        let spec = parse(GOOD).unwrap();
        assert_eq!(spec.experiment, "t");
        assert_eq!(spec.data.path, Path::new("sweeps/d.csv"));
        assert_eq!(spec.data.features, vec!["y".to_string()]);
        assert_eq!(spec.data.train_fraction, 0.8);
        assert_eq!(spec.dimension("lr").values().len(), 3);
        assert_eq!(spec.dimension("lr").values()[2], ParamValue::Float(1.0));
        assert!(spec.dimension("seed").swept);
        assert!(!spec.dimension("epochs").swept);
        assert_eq!(
            spec.dimension("optimizer").values(),
            &[ParamValue::Str("adamw".into())]
        );
        assert_eq!(spec.dimension("horizon").values(), &[ParamValue::Int(1)]);
        assert_eq!(spec.search.method, Method::Grid);
        assert_eq!(spec.prune.method, PruneMethod::None);
    }

    const SEARCH: &str = r#"
[experiment]
name = "t"
[data]
path = "d.csv"
target = "y"
window = 5
[train]
epochs = 2
[search]
method = "tpe"
trials = 20
[space]
lr = { distribution = "log_uniform", min = 1e-4, max = 3e-2 }
hidden_dim = { values = [16, 32] }
[prune]
method = "median"
warmup_epochs = 3
"#;

    #[test]
    fn search_space_and_prune_sections_parse() {
        let spec = parse(SEARCH).unwrap();
        assert_eq!(spec.search.method, Method::Tpe);
        assert_eq!(spec.search.trials, Some(20));
        assert_eq!(
            spec.dimension("lr").domain,
            Domain::LogUniform {
                min: 1e-4,
                max: 3e-2
            }
        );
        assert!(spec.dimension("hidden_dim").swept);
        assert_eq!(spec.prune.method, PruneMethod::Median);
        assert_eq!(spec.prune.warmup_epochs, 3);
    }

    #[test]
    fn bad_search_specs_name_their_line() {
        let cases = [
            (
                "method = \"tpe\"",
                "method = \"bayes\"",
                "11:",
                "\"grid\", \"random\" or \"tpe\"",
            ),
            ("trials = 20", "trials = 0", "12:", "at least 1"),
            ("trials = 20\n", "", "11:", "trials is required"),
            ("min = 1e-4, max", "min = 0.0, max", "14:", "greater than 0"),
            ("max = 3e-2", "max = 1e-5", "14:", "below max"),
            (
                "hidden_dim = { values = [16, 32] }",
                "hidden_dim = { distribution = \"uniform\", min = 1, max = 9 }",
                "15:",
                "int_uniform",
            ),
            (
                "hidden_dim = { values = [16, 32] }",
                "hidden_dim = { values = [] }",
                "15:",
                "empty",
            ),
            (
                "hidden_dim = { values = [16, 32] }",
                "hiden = { values = [16] }",
                "15:",
                "unknown key",
            ),
            (
                "epochs = 2",
                "epochs = 2\nlr = 0.1",
                "15:",
                "both in [train] and in [space]",
            ),
            (
                "method = \"median\"",
                "method = \"hyperband\"",
                "17:",
                "\"none\", \"median\" or \"asha\"",
            ),
            (
                "warmup_epochs = 3",
                "warmup_epochs = -1",
                "18:",
                "at least 0",
            ),
            (
                "[prune]",
                "[prune]\nmetric = \"val_rmse\"",
                "17:",
                "val_loss",
            ),
        ];
        for (from, to, line, needle) in cases {
            let e = err(&SEARCH.replace(from, to));
            assert!(e.starts_with(&format!("sweeps/s.toml:{line}")), "{to}: {e}");
            assert!(e.contains(needle), "{to}: {e}");
        }
        let e = err(&SEARCH.replace("[search]\nmethod = \"tpe\"\ntrials = 20\n", ""));
        assert!(e.contains("[space] needs a sampler"), "{e}");
        let e = err(&SEARCH.replace("method = \"tpe\"", "method = \"grid\""));
        assert!(e.contains("[space] is for"), "{e}");
        let e = err(&GOOD.replace(
            "[grid]",
            "[search]\nmethod = \"random\"\ntrials = 3\n[grid]",
        ));
        assert!(e.contains("sample from [space]"), "{e}");
    }

    #[test]
    fn unknown_knob_names_line_and_suggests() {
        let text = GOOD.replace("hidden_dim = [8, 16]", "hiden_dim = [8, 16]");
        let e = err(&text);
        assert!(e.starts_with("sweeps/s.toml:16:"), "{e}");
        assert!(e.contains("did you mean `hidden_dim`"), "{e}");
    }

    #[test]
    fn unknown_section_key_is_rejected_with_line() {
        let e = err(&GOOD.replace("target = \"y\"", "target = \"y\"\ntargte = 1"));
        assert!(e.starts_with("sweeps/s.toml:8"), "{e}");
        assert!(e.contains("targte"), "{e}");
    }

    #[test]
    fn toml_syntax_error_names_line() {
        let e = err(&GOOD.replace("epochs = 2", "epochs = = 2"));
        assert!(e.starts_with("sweeps/s.toml:11"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        let cases = [
            (
                "lr = [0.001, 0.01, 1]",
                "lr = [0.001, -0.01]",
                "17",
                "greater than 0",
            ),
            ("lr = [0.001, 0.01, 1]", "lr = []", "17", "empty list"),
            ("lr = [0.001, 0.01, 1]", "lr = 0.01", "17", "must be a list"),
            ("lr = [0.001, 0.01, 1]", "lr = [0.1, 0.1]", "17", "twice"),
            ("lr = [0.001, 0.01, 1]", "lr = [nan]", "17", "finite"),
            (
                "hidden_dim = [8, 16]",
                "hidden_dim = [0]",
                "16",
                "at least 1",
            ),
            (
                "hidden_dim = [8, 16]",
                "hidden_dim = [8.5]",
                "16",
                "integer",
            ),
            ("epochs = 2", "epochs = \"two\"", "11", "integer"),
            (
                "optimizer = \"AdamW\"",
                "optimizer = \"sgd\"",
                "12",
                "one of adam, adamw",
            ),
            ("window = 5", "window = 0", "8", "at least 1"),
        ];
        for (from, to, line, needle) in cases {
            let e = err(&GOOD.replace(from, to));
            assert!(
                e.starts_with(&format!("sweeps/s.toml:{line}:")),
                "{to}: {e}"
            );
            assert!(e.contains(needle), "{to}: {e}");
        }
    }

    #[test]
    fn knob_set_twice_or_misplaced_is_rejected() {
        let e = err(&GOOD.replace("epochs = 2", "epochs = 2\nlr = 0.1"));
        assert!(e.contains("both in [train] and in [grid]"), "{e}");
        let e = err(&GOOD.replace("epochs = 2", "epochs = 2\nwindow = 3"));
        assert!(e.contains("belongs in [data]"), "{e}");
    }

    #[test]
    fn missing_required_knob_is_reported() {
        let e = err(&GOOD.replace("window = 5", ""));
        assert!(e.contains("missing `window`"), "{e}");
    }

    #[test]
    fn data_settings_are_validated() {
        let e = err(&GOOD.replace("window = 5", "window = 5\ntrain_fraction = 1.0"));
        assert!(e.contains("train_fraction"), "{e}");
        let e = err(&GOOD.replace("window = 5", "window = 5\nfeatures = [\"y\", \"y\"]"));
        assert!(e.contains("listed twice"), "{e}");
        let e = err(&GOOD.replace("name = \"t\"", "name = \"  \""));
        assert!(e.contains("must not be empty"), "{e}");
    }

    #[test]
    fn hash_follows_text() {
        let a = parse(GOOD).unwrap();
        let b = parse(&GOOD.replace("epochs = 2", "epochs = 3")).unwrap();
        assert_eq!(a.hash.len(), 64);
        assert_ne!(a.hash, b.hash);
    }
}
