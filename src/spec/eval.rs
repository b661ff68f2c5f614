//! `[eval]`: how a trial is scored. One split (the default), or rolling-origin
//! cross-validation over several forecast origins before the test span.

use super::KeyLines;
use super::raw::RawEval;
use crate::error::InputError;
use serde::Serialize;

/// The most folds a spec may ask for: each is a full training of every trial.
pub const MAX_FOLDS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Refit {
    /// Train anew at every origin.
    #[default]
    Each,
    /// Train at the first origin and score every later one with that model.
    Once,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSpec {
    /// Forecast origins; 1 is the single train/validation split.
    pub folds: usize,
    /// Rows between origins; `None`: the validation length.
    pub step: Option<usize>,
    pub refit: Refit,
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            folds: 1,
            step: None,
            refit: Refit::Each,
        }
    }
}

impl EvalSpec {
    pub fn cross_validates(&self) -> bool {
        self.folds > 1
    }
}

pub fn eval(
    raw: Option<&RawEval>,
    lines: &mut KeyLines,
    text: &str,
) -> Result<EvalSpec, InputError> {
    let mut spec = EvalSpec::default();
    let Some(raw) = raw else { return Ok(spec) };
    if let Some(f) = &raw.folds {
        lines.record("eval.folds".into(), text, f.span());
        let v = *f.get_ref();
        if !(1..=MAX_FOLDS as i64).contains(&v) {
            return Err(lines.error(
                "eval.folds",
                format!("folds must be between 1 and {MAX_FOLDS}, got {v}"),
            ));
        }
        spec.folds = v as usize;
    }
    if let Some(s) = &raw.step {
        lines.record("eval.step".into(), text, s.span());
        let v = *s.get_ref();
        if v < 1 {
            return Err(lines.error("eval.step", format!("step must be at least 1 row, got {v}")));
        }
        spec.step = Some(v as usize);
    }
    if let Some(r) = &raw.refit {
        lines.record("eval.refit".into(), text, r.span());
        spec.refit = match r.get_ref().as_str() {
            "each" => Refit::Each,
            "once" => Refit::Once,
            other => {
                return Err(lines.error(
                    "eval.refit",
                    format!("refit must be \"each\" or \"once\", got \"{other}\""),
                ));
            }
        };
    }
    Ok(spec)
}
