//! The training knobs a spec can fix or sweep. One table describes each knob once, so parsing,
//! validation, grid expansion and the samplers all agree on names, types and ranges.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a knob's fixed value lives in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Data,
    Train,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::Data => "data",
            Section::Train => "train",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An integer in `min..=max`. The caps keep a typo (`epochs = 1000000000000`) from
    /// becoming an allocation that aborts the process; they sit far above any useful value.
    Int {
        min: i64,
        max: i64,
    },
    /// A finite float; `positive` demands > 0, otherwise >= 0.
    Float {
        positive: bool,
    },
    Choice(&'static [&'static str]),
    /// A probability: 0 <= p < 1.
    Fraction,
}

/// The largest values the integer knobs accept (see [`Kind::Int`]).
pub const MAX_WINDOW: i64 = 10_000;
pub const MAX_HORIZON: i64 = 10_000;
pub const MAX_EPOCHS: i64 = 100_000;
pub const MAX_BATCH_SIZE: i64 = 65_536;
pub const MAX_NUM_LAYERS: i64 = 16;
pub const MAX_HIDDEN_DIM: i64 = 4_096;

#[derive(Debug)]
pub struct Knob {
    pub name: &'static str,
    pub section: Section,
    pub kind: Kind,
    /// `None` means the spec must set it, in its section or in `[grid]`.
    pub default: Option<Default>,
}

#[derive(Debug, Clone, Copy)]
pub enum Default {
    Int(i64),
    Float(f64),
    Str(&'static str),
}

/// Every knob, in the order jobs are expanded (outermost first) and params are displayed.
pub const KNOBS: &[Knob] = &[
    knob(
        "window",
        Section::Data,
        Kind::Int {
            min: 1,
            max: MAX_WINDOW,
        },
        None,
    ),
    knob(
        "horizon",
        Section::Data,
        Kind::Int {
            min: 1,
            max: MAX_HORIZON,
        },
        Some(Default::Int(1)),
    ),
    knob(
        "epochs",
        Section::Train,
        Kind::Int {
            min: 1,
            max: MAX_EPOCHS,
        },
        None,
    ),
    knob(
        "batch_size",
        Section::Train,
        Kind::Int {
            min: 1,
            max: MAX_BATCH_SIZE,
        },
        Some(Default::Int(32)),
    ),
    knob(
        "optimizer",
        Section::Train,
        Kind::Choice(&["adam", "adamw"]),
        Some(Default::Str("adam")),
    ),
    knob(
        "weight_decay",
        Section::Train,
        Kind::Float { positive: false },
        Some(Default::Float(0.0)),
    ),
    knob(
        "num_layers",
        Section::Train,
        Kind::Int {
            min: 1,
            max: MAX_NUM_LAYERS,
        },
        Some(Default::Int(1)),
    ),
    knob(
        "dropout",
        Section::Train,
        Kind::Fraction,
        Some(Default::Float(0.0)),
    ),
    knob(
        "hidden_dim",
        Section::Train,
        Kind::Int {
            min: 1,
            max: MAX_HIDDEN_DIM,
        },
        None,
    ),
    knob("lr", Section::Train, Kind::Float { positive: true }, None),
    knob(
        "seed",
        Section::Train,
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        Some(Default::Int(0)),
    ),
    // Early stopping: stop once val_loss has not improved for this many epochs; 0 = never.
    knob(
        "patience",
        Section::Train,
        Kind::Int {
            min: 0,
            max: MAX_EPOCHS,
        },
        Some(Default::Int(0)),
    ),
    // Which epoch's weights a run saves and scores: the one with the lowest val_loss, or the
    // last one trained.
    knob(
        "keep",
        Section::Train,
        Kind::Choice(&["best", "last"]),
        Some(Default::Str("best")),
    ),
];

const fn knob(name: &'static str, section: Section, kind: Kind, default: Option<Default>) -> Knob {
    Knob {
        name,
        section,
        kind,
        default,
    }
}

pub fn find(name: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.name == name)
}

/// One value of a knob. Serialises as the bare JSON value, which is also its canonical form
/// in job keys (serde_json prints floats in their shortest round-trip form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Str(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Str(v) => write!(f, "{v}"),
        }
    }
}

impl ParamValue {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Float(f) => Some(*f),
            ParamValue::Str(_) => None,
        }
    }

    /// As tables, labels and legends show it: floats to 4 significant digits (sampled values
    /// have sixteen, and four tell runs apart), scientific outside 1e-3..1e5.
    pub fn short(&self) -> String {
        match self {
            ParamValue::Float(f) => significant(*f, 4),
            other => other.to_string(),
        }
    }
}

/// `v` to `digits` significant digits, trailing zeros dropped: 0.02953225 → "0.02953",
/// 3e-5 → "3e-5", 123456.0 → "1.235e5".
pub fn significant(v: f64, digits: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-3..5).contains(&magnitude) {
        let s = format!("{v:.prec$e}", prec = digits.saturating_sub(1));
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{exp}", trim_zeros(mantissa));
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

impl From<Default> for ParamValue {
    fn from(d: Default) -> Self {
        match d {
            Default::Int(v) => ParamValue::Int(v),
            Default::Float(v) => ParamValue::Float(v),
            Default::Str(v) => ParamValue::Str(v.to_string()),
        }
    }
}

impl Knob {
    /// Checks a TOML value against this knob's type and range.
    pub fn parse(&self, value: &toml::Value) -> Result<ParamValue, String> {
        match (self.kind, value) {
            (Kind::Int { min, max }, toml::Value::Integer(v)) if (min..=max).contains(v) => {
                Ok(ParamValue::Int(*v))
            }
            (Kind::Int { min, .. }, toml::Value::Integer(v)) if *v < min => {
                Err(format!("`{}` must be at least {min}, got {v}", self.name))
            }
            (Kind::Int { max, .. }, toml::Value::Integer(v)) => Err(format!(
                "`{}` must be at most {max}, got {v} (aerocast refuses sizes no run could allocate)",
                self.name
            )),
            (Kind::Int { .. }, toml::Value::Float(f)) if f.fract() == 0.0 && f.is_finite() => {
                Err(format!(
                    "`{}` must be a whole number (an integer): write {}, not {f:?}",
                    self.name, *f as i64
                ))
            }
            (Kind::Int { .. }, toml::Value::Float(f)) => Err(format!(
                "`{}` must be a whole number (an integer), got {f}",
                self.name
            )),
            (Kind::Int { .. }, other) => Err(format!(
                "`{}` must be an integer, got {}",
                self.name,
                describe(other)
            )),
            (Kind::Float { positive }, toml::Value::Float(_) | toml::Value::Integer(_)) => {
                let v = as_number(value);
                if !v.is_finite() {
                    Err(format!("`{}` must be a finite number, got {v}", self.name))
                } else if positive && v <= 0.0 {
                    Err(format!("`{}` must be greater than 0, got {v}", self.name))
                } else if v < 0.0 {
                    Err(format!("`{}` must not be negative, got {v}", self.name))
                } else {
                    Ok(ParamValue::Float(v))
                }
            }
            (Kind::Float { .. }, other) => Err(format!(
                "`{}` must be a number, got {}",
                self.name,
                describe(other)
            )),
            (Kind::Fraction, toml::Value::Float(_) | toml::Value::Integer(_)) => {
                let v = as_number(value);
                if (0.0..1.0).contains(&v) {
                    Ok(ParamValue::Float(v))
                } else {
                    Err(format!(
                        "`{}` must be at least 0 and below 1, got {v}",
                        self.name
                    ))
                }
            }
            (Kind::Fraction, other) => Err(format!(
                "`{}` must be a number, got {}",
                self.name,
                describe(other)
            )),
            (Kind::Choice(options), toml::Value::String(s)) => {
                let lower = s.to_ascii_lowercase();
                if options.contains(&lower.as_str()) {
                    Ok(ParamValue::Str(lower))
                } else {
                    Err(format!(
                        "`{}` must be one of {}, got \"{s}\"",
                        self.name,
                        options.join(", ")
                    ))
                }
            }
            (Kind::Choice(options), other) => Err(format!(
                "`{}` must be one of {}, got {}",
                self.name,
                options.join(", "),
                describe(other)
            )),
        }
    }
}

/// A TOML integer or float as f64 (callers have matched one of the two).
fn as_number(value: &toml::Value) -> f64 {
    match value {
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        _ => f64::NAN,
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the string \"{s}\""),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the datetime {d}"),
        toml::Value::Array(_) => "a list".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

/// The closest known knob name, for "did you mean" hints.
pub fn suggest(name: &str) -> Option<&'static str> {
    KNOBS
        .iter()
        .map(|k| (strsim::levenshtein(name, k.name), k.name))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_significant_digits() {
        assert_eq!(significant(0.02953225324394119, 4), "0.02953");
        assert_eq!(significant(0.001, 4), "0.001");
        assert_eq!(significant(3e-5, 4), "3e-5");
        assert_eq!(significant(2.723249, 4), "2.723");
        assert_eq!(significant(12345.6, 4), "12346");
        assert_eq!(significant(5.099821353242664e26, 4), "5.1e26");
        assert_eq!(significant(-0.5, 4), "-0.5");
        assert_eq!(ParamValue::Int(64).short(), "64");
        assert_eq!(ParamValue::Str("adam".into()).short(), "adam");
    }
}
