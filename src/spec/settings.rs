//! Spec settings that are not training knobs: how the data is read (delimiter, the time
//! column's role), the retry budget, and the tags every run gets.

use super::KeyLines;
use crate::error::InputError;
use std::collections::BTreeMap;
use toml::Spanned;

/// Attempts a job gets by default before it is given up (see `[train] max_attempts`).
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;
/// More attempts than this is not a retry policy but a loop.
pub const MAX_MAX_ATTEMPTS: i64 = 100;

/// Takes `max_attempts` out of `[train]` (every other key there is a knob).
pub fn max_attempts(
    train: &mut BTreeMap<String, Spanned<toml::Value>>,
    text: &str,
    lines: &mut KeyLines,
) -> Result<usize, InputError> {
    let Some(value) = train.remove("max_attempts") else {
        return Ok(DEFAULT_MAX_ATTEMPTS);
    };
    lines.record("train.max_attempts".into(), text, value.span());
    match value.get_ref() {
        toml::Value::Integer(n) if (1..=MAX_MAX_ATTEMPTS).contains(n) => Ok(*n as usize),
        other => Err(lines.error(
            "train.max_attempts",
            format!(
                "max_attempts must be a whole number from 1 to {MAX_MAX_ATTEMPTS}, got {other}"
            ),
        )),
    }
}

/// The prefix of the tags aerocast itself sets; user tags may not use it.
pub const RESERVED_TAG_PREFIX: &str = "aerocast.";

/// `[experiment] tags` as `(key, value)` text pairs; numbers and booleans are written as text.
pub fn tags(
    raw: Option<&Spanned<BTreeMap<String, toml::Value>>>,
    text: &str,
    lines: &mut KeyLines,
) -> Result<Vec<(String, String)>, InputError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    lines.record("experiment.tags".into(), text, raw.span());
    raw.get_ref()
        .iter()
        .map(|(key, value)| {
            let key = check_tag_key(key).map_err(|m| lines.error("experiment.tags", m))?;
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => {
                    return Err(lines.error(
                        "experiment.tags",
                        format!("tag `{key}` must be a string, number or boolean"),
                    ));
                }
            };
            Ok((key, value))
        })
        .collect()
}

/// A user tag key: not empty, at most 250 characters, outside the reserved prefix.
pub fn check_tag_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    if key.is_empty() {
        return Err("a tag key must not be empty".into());
    }
    if key.chars().count() > 250 || key.chars().any(char::is_control) {
        return Err(format!(
            "tag key `{}` must be at most 250 printable characters",
            key.escape_default()
        ));
    }
    if key.starts_with(RESERVED_TAG_PREFIX) {
        return Err(format!(
            "tag key `{key}`: keys starting with `{RESERVED_TAG_PREFIX}` are aerocast's own"
        ));
    }
    Ok(key.to_string())
}

/// The time column orders the rows and labels charts; as a model input or as the value to
/// forecast it would be a row counter, not a measurement.
pub fn check_time_column(
    time: Option<&str>,
    target: &str,
    features: &[String],
    lines: &KeyLines,
) -> Result<(), InputError> {
    let Some(time) = time else {
        return Ok(());
    };
    if time == target {
        return Err(lines.error(
            "data.target",
            format!(
                "\"{time}\" is the time column ([data] time), so it cannot be the target; the time column orders the rows and is not forecast"
            ),
        ));
    }
    if features.iter().any(|f| f == time) {
        return Err(lines.error(
            "data.features",
            format!(
                "\"{time}\" is the time column ([data] time), so it cannot be a feature; the time column orders the rows and is not a model input"
            ),
        ));
    }
    Ok(())
}

/// The series column names the series; it is neither forecast nor a model input, and it
/// needs a time column to order each series' rows.
pub fn check_series_column(
    series: Option<&str>,
    target: &str,
    features: &[String],
    time: Option<&str>,
    lines: &KeyLines,
) -> Result<(), InputError> {
    let Some(series) = series else {
        return Ok(());
    };
    let clash = if series == target {
        Some("the target")
    } else if features.iter().any(|f| f == series) {
        Some("a feature")
    } else if time == Some(series) {
        Some("the time column")
    } else {
        None
    };
    if let Some(role) = clash {
        return Err(lines.error(
            "data.series",
            format!("\"{series}\" names each row's series, so it cannot also be {role}"),
        ));
    }
    if time.is_none() {
        return Err(lines.error(
            "data.series",
            "series needs a time column to order each series' rows: set [data] time",
        ));
    }
    Ok(())
}

/// `[data] delimiter` as the byte the CSV reader splits on.
pub fn delimiter(
    raw: Option<&Spanned<String>>,
    text: &str,
    lines: &mut KeyLines,
) -> Result<u8, InputError> {
    let Some(raw) = raw else {
        return Ok(b',');
    };
    lines.record("data.delimiter".into(), text, raw.span());
    let value = raw.get_ref();
    let byte = match value.as_str() {
        "\\t" | "\t" => Some(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
        _ => None,
    };
    match byte {
        Some(b) if !b.is_ascii_alphanumeric() && b != b'"' && b != b'\n' && b != b'\r' => Ok(b),
        _ => Err(lines.error(
            "data.delimiter",
            format!(
                "delimiter must be one punctuation character such as \",\", \";\" or \"\\t\", got \"{}\"",
                value.escape_default()
            ),
        )),
    }
}
