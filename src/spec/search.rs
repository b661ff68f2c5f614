//! `[search]`, `[space]` and `[prune]`: how trials are proposed and when a run is stopped early.

use super::knobs::{Kind, Knob, ParamValue};
use super::raw::{RawDistribution, RawPrune, RawSearch};
use super::{Domain, KeyLines};
use crate::error::InputError;
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Grid,
    Random,
    Tpe,
}

impl Method {
    /// The name a spec writes (`method = "grid"`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Tpe => "tpe",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchSpec {
    pub method: Method,
    /// Trials in all; for a grid, the size of the product.
    pub trials: Option<usize>,
    /// The sampler's own seed: the same spec proposes the same trials.
    pub seed: u64,
    /// TPE samples at random until this many trials have finished.
    pub startup_trials: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneMethod {
    None,
    Median,
    Asha,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PruneSpec {
    pub method: PruneMethod,
    /// Per-epoch metric the pruner compares: `val_loss` or `train_loss`.
    pub metric: String,
    /// Median rule: epochs before any run may be pruned.
    pub warmup_epochs: usize,
    /// Median rule: other runs that must have reached an epoch before it is judged.
    pub min_runs: usize,
    /// ASHA: the first rung, in epochs.
    pub min_epochs: usize,
    /// ASHA: η — rungs at min_epochs·ηᵏ, the top 1/η go on.
    pub reduction_factor: usize,
}

impl Default for PruneSpec {
    fn default() -> Self {
        PruneSpec {
            method: PruneMethod::None,
            metric: crate::metrics::VAL_LOSS.into(),
            warmup_epochs: 0,
            min_runs: 3,
            min_epochs: 1,
            reduction_factor: 3,
        }
    }
}

pub fn search(
    raw: Option<&RawSearch>,
    has_grid: bool,
    has_space: bool,
    lines: &KeyLines,
    text: &str,
) -> Result<SearchSpec, InputError> {
    let at = |s: &Spanned<i64>| crate::error::line_of(text, s.span().start);
    let Some(raw) = raw else {
        if has_space {
            return Err(InputError::in_file(
                &lines.file,
                "[space] needs a sampler: add [search] method = \"random\" or \"tpe\" and trials",
            ));
        }
        return Ok(SearchSpec {
            method: Method::Grid,
            trials: None,
            seed: 0,
            startup_trials: 0,
        });
    };
    let line = crate::error::line_of(text, raw.method.span().start);
    let method = match raw.method.get_ref().as_str() {
        "grid" => Method::Grid,
        "random" => Method::Random,
        "tpe" => Method::Tpe,
        other => {
            return Err(InputError::at_line(
                &lines.file,
                line,
                format!("[search] method must be \"grid\", \"random\" or \"tpe\", got \"{other}\""),
            ));
        }
    };
    match method {
        Method::Grid if has_space => {
            return Err(InputError::at_line(
                &lines.file,
                line,
                "a grid search crosses the lists in [grid]; [space] is for method = \"random\" or \"tpe\"",
            ));
        }
        Method::Random | Method::Tpe if has_grid => {
            return Err(InputError::at_line(
                &lines.file,
                line,
                "random and TPE search sample from [space]; move the [grid] lists there as { values = [...] }",
            ));
        }
        _ => {}
    }
    let positive = |v: &Option<Spanned<i64>>, key: &str| -> Result<Option<usize>, InputError> {
        match v {
            Some(s) if *s.get_ref() < 1 => Err(InputError::at_line(
                &lines.file,
                at(s),
                format!("[search] {key} must be at least 1, got {}", s.get_ref()),
            )),
            Some(s) => Ok(Some(*s.get_ref() as usize)),
            None => Ok(None),
        }
    };
    let trials = positive(&raw.trials, "trials")?;
    if let (Some(n), Some(t)) = (trials, &raw.trials)
        && n > super::MAX_JOBS
    {
        return Err(InputError::at_line(
            &lines.file,
            at(t),
            format!(
                "[search] trials = {n} is more than a sweep takes ({})",
                super::MAX_JOBS
            ),
        ));
    }
    if method != Method::Grid && trials.is_none() {
        return Err(InputError::at_line(
            &lines.file,
            line,
            "[search] trials is required for random and TPE search",
        ));
    }
    let seed = match &raw.seed {
        Some(s) if *s.get_ref() < 0 => {
            return Err(InputError::at_line(
                &lines.file,
                at(s),
                "[search] seed must not be negative",
            ));
        }
        Some(s) => *s.get_ref() as u64,
        None => 0,
    };
    Ok(SearchSpec {
        method,
        trials,
        seed,
        startup_trials: positive(&raw.startup_trials, "startup_trials")?.unwrap_or(10),
    })
}

/// Parses one `[space]` entry for `knob`.
pub fn domain(knob: &Knob, raw: &RawDistribution) -> Result<Domain, String> {
    let name = knob.name;
    if let Some(values) = &raw.values {
        if raw.distribution.is_some() || raw.min.is_some() || raw.max.is_some() {
            return Err(format!(
                "`{name}`: give either values = [...] or a distribution with min and max, not both"
            ));
        }
        if values.is_empty() {
            return Err(format!("`{name}` in [space] has an empty values list"));
        }
        let parsed = values
            .iter()
            .map(|v| knob.parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, v) in parsed.iter().enumerate() {
            if parsed[..i].contains(v) {
                return Err(format!("`{name}` in [space] lists {v} twice"));
            }
        }
        return Ok(Domain::Values(parsed));
    }
    let Some(dist) = raw.distribution.as_deref() else {
        return Err(format!(
            "`{name}` in [space] needs values = [...] or distribution = \"uniform\" | \"log_uniform\" | \"int_uniform\""
        ));
    };
    let (Some(min), Some(max)) = (&raw.min, &raw.max) else {
        return Err(format!(
            "`{name}` in [space]: distribution \"{dist}\" needs min and max"
        ));
    };
    let (min_v, max_v) = (knob.parse(min)?, knob.parse(max)?);
    let as_f64 = |v: &ParamValue| match v {
        ParamValue::Int(i) => *i as f64,
        ParamValue::Float(f) => *f,
        ParamValue::Str(_) => f64::NAN,
    };
    let (lo, hi) = (as_f64(&min_v), as_f64(&max_v));
    let is_float = matches!(knob.kind, Kind::Float { .. } | Kind::Fraction);
    let is_int = matches!(knob.kind, Kind::Int { .. });
    let domain = match dist {
        "uniform" if is_float => Domain::Uniform { min: lo, max: hi },
        "log_uniform" if is_float && lo > 0.0 => Domain::LogUniform { min: lo, max: hi },
        "log_uniform" if is_float => return Err(format!("`{name}`: log_uniform needs min > 0")),
        "int_uniform" if is_int => Domain::IntUniform {
            min: lo as i64,
            max: hi as i64,
        },
        "uniform" | "log_uniform" => {
            return Err(format!(
                "`{name}` takes whole numbers: use int_uniform or values = [...]"
            ));
        }
        "int_uniform" => {
            return Err(format!(
                "`{name}` is not an integer knob: use uniform or log_uniform"
            ));
        }
        other => {
            return Err(format!(
                "`{name}`: unknown distribution \"{other}\" (uniform, log_uniform, int_uniform)"
            ));
        }
    };
    if lo >= hi {
        return Err(format!("`{name}`: min ({lo}) must be below max ({hi})"));
    }
    Ok(domain)
}

pub fn prune(
    raw: Option<&RawPrune>,
    lines: &KeyLines,
    text: &str,
) -> Result<PruneSpec, InputError> {
    let mut spec = PruneSpec::default();
    let Some(raw) = raw else { return Ok(spec) };
    let err = |span: std::ops::Range<usize>, msg: String| {
        InputError::at_line(&lines.file, crate::error::line_of(text, span.start), msg)
    };
    spec.method = match raw.method.get_ref().as_str() {
        "none" => PruneMethod::None,
        "median" => PruneMethod::Median,
        "asha" => PruneMethod::Asha,
        other => {
            return Err(err(
                raw.method.span(),
                format!("[prune] method must be \"none\", \"median\" or \"asha\", got \"{other}\""),
            ));
        }
    };
    if let Some(m) = &raw.metric {
        if ![crate::metrics::VAL_LOSS, crate::metrics::TRAIN_LOSS].contains(&m.get_ref().as_str()) {
            return Err(err(
                m.span(),
                format!(
                    "[prune] metric must be \"val_loss\" or \"train_loss\", got \"{}\"",
                    m.get_ref()
                ),
            ));
        }
        spec.metric = m.get_ref().clone();
    }
    let fields = [
        (
            &raw.warmup_epochs,
            "warmup_epochs",
            0,
            &mut spec.warmup_epochs,
        ),
        (&raw.min_runs, "min_runs", 1, &mut spec.min_runs),
        (&raw.min_epochs, "min_epochs", 1, &mut spec.min_epochs),
        (
            &raw.reduction_factor,
            "reduction_factor",
            2,
            &mut spec.reduction_factor,
        ),
    ];
    for (value, key, min, slot) in fields {
        if let Some(v) = value {
            if *v.get_ref() < min {
                return Err(err(
                    v.span(),
                    format!("[prune] {key} must be at least {min}, got {}", v.get_ref()),
                ));
            }
            *slot = *v.get_ref() as usize;
        }
    }
    Ok(spec)
}
