//! The spec exactly as written, before knob validation. serde rejects unknown keys here; the
//! knob tables (`[train]`, `[grid]`) are kept as raw values so their errors can suggest names.

use crate::error::{InputError, line_of};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    pub experiment: RawExperiment,
    pub data: RawData,
    #[serde(default)]
    pub train: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub grid: BTreeMap<String, Spanned<toml::Value>>,
    pub search: Option<RawSearch>,
    #[serde(default)]
    pub space: BTreeMap<String, Spanned<RawDistribution>>,
    pub prune: Option<RawPrune>,
    pub eval: Option<RawEval>,
    pub store: Option<RawStore>,
    pub mlflow: Option<RawMlflow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    pub method: Spanned<String>,
    pub trials: Option<Spanned<i64>>,
    pub seed: Option<Spanned<i64>>,
    pub startup_trials: Option<Spanned<i64>>,
}

/// One `[space]` entry: `{ distribution = "...", min, max }` or `{ values = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistribution {
    pub distribution: Option<String>,
    pub min: Option<toml::Value>,
    pub max: Option<toml::Value>,
    pub values: Option<Vec<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrune {
    pub method: Spanned<String>,
    pub metric: Option<Spanned<String>>,
    pub warmup_epochs: Option<Spanned<i64>>,
    pub min_runs: Option<Spanned<i64>>,
    pub min_epochs: Option<Spanned<i64>>,
    pub reduction_factor: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEval {
    pub folds: Option<Spanned<i64>>,
    pub step: Option<Spanned<i64>>,
    pub refit: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub name: Spanned<String>,
    /// Tags every run of the spec gets: `tags = { team = "ops", ticket = 12 }`.
    pub tags: Option<Spanned<BTreeMap<String, toml::Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub path: Spanned<String>,
    pub target: Spanned<String>,
    pub features: Option<Spanned<Vec<String>>>,
    pub time: Option<Spanned<String>>,
    pub window: Option<Spanned<toml::Value>>,
    pub horizon: Option<Spanned<toml::Value>>,
    pub train_fraction: Option<Spanned<f64>>,
    pub test_fraction: Option<Spanned<f64>>,
    pub output: Option<OutputMode>,
    pub missing: Option<MissingPolicy>,
    /// The CSV field separator, one character (default ",").
    pub delimiter: Option<Spanned<String>>,
    /// Sort rows by the time column instead of refusing rows out of order.
    pub sort: Option<Spanned<bool>>,
    pub season: Option<Spanned<i64>>,
    /// The column naming each row's series, for long-format data with several series.
    pub series: Option<Spanned<String>>,
    /// Give the model each row's series as input (one indicator column per series).
    pub series_feature: Option<Spanned<bool>>,
    pub gaps: Option<GapPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// A folder (SQLite), relative to the spec.
    pub path: Option<String>,
    /// A database URL (`postgres://…`).
    pub url: Option<String>,
}

/// What a model forecasts from each window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// One value, `horizon` rows after the window.
    #[default]
    Single,
    /// `horizon` values, the next 1…horizon rows, from one head trained in one pass.
    Direct,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMlflow {
    pub tracking_uri: Spanned<String>,
}

/// What to do with empty or NaN cells in the data's used columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Refuse the data, naming the first bad row.
    #[default]
    Error,
    /// Drop rows with a missing value; no window spans the rows dropped.
    Drop,
    /// Carry the last seen value forward.
    Ffill,
}

/// What windows do at a gap in the time column (a step longer than the series' regular spacing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GapPolicy {
    /// No window reaches across a gap; the windows lost are counted in each run's record.
    #[default]
    Drop,
    /// Rows are read as consecutive steps whatever their times.
    Allow,
}

pub fn parse(path: &Path, text: &str) -> Result<RawSpec, InputError> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => InputError::at_line(path, line_of(text, span.start), message),
            None => InputError::in_file(path, message),
        }
    })
}
