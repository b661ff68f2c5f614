//! TPE (Tree-structured Parzen Estimator): after a random start, each knob is drawn where good
//! trials are dense and poor ones sparse. Uses the `tpe` crate (univariate TPE by one of
//! Optuna's authors); log-uniform knobs are modelled in log space, integers and choices as
//! ranges floored to a value.

use super::{Observation, Sampler, fixed_params, random, trial_rng};
use crate::jobs::Params;
use crate::spec::knobs::ParamValue;
use crate::spec::{Dimension, Domain};

pub struct Tpe {
    space: Vec<Dimension>,
    seed: u64,
    trials: usize,
    startup: usize,
}

impl Tpe {
    pub fn new(space: &[Dimension], seed: u64, trials: usize, startup: usize) -> Self {
        Tpe {
            space: space.to_vec(),
            seed,
            trials,
            startup,
        }
    }
}

impl Sampler for Tpe {
    fn trials(&self) -> usize {
        self.trials
    }

    fn is_static(&self) -> bool {
        false
    }

    fn propose(&mut self, index: usize, history: &[Observation]) -> Params {
        let usable: Vec<&Observation> = history.iter().filter(|o| o.value.is_finite()).collect();
        if usable.len() < self.startup {
            return random::sample(&self.space, self.seed, index);
        }
        let mut rng = trial_rng(self.seed, index);
        let mut params = fixed_params(&self.space);
        for dim in self.space.iter().filter(|d| d.swept) {
            let name = dim.knob.name;
            let mut optimizer = match &dim.domain {
                Domain::Values(v) => ::tpe::TpeOptimizer::new(
                    ::tpe::histogram_estimator(),
                    ::tpe::categorical_range(v.len()).expect("non-empty choices"),
                ),
                _ => {
                    let (lo, hi) = encoded_range(&dim.domain);
                    ::tpe::TpeOptimizer::new(
                        ::tpe::parzen_estimator(),
                        ::tpe::range(lo, hi).expect("validated min < max"),
                    )
                }
            };
            for obs in &usable {
                // Trials proposed under another space may fall outside this one: skip them.
                if let Some(x) = obs.params.get(name).and_then(|v| encode(&dim.domain, v)) {
                    let _ = optimizer.tell(x, obs.value);
                }
            }
            let x = optimizer
                .ask(&mut rng)
                .expect("a TPE estimator over a valid range always samples");
            params.insert(name.to_string(), decode(&dim.domain, x));
        }
        params
    }
}

/// The half-open range TPE samples in for a numeric domain.
fn encoded_range(domain: &Domain) -> (f64, f64) {
    match domain {
        Domain::Uniform { min, max } => (*min, *max),
        Domain::LogUniform { min, max } => (min.ln(), max.ln()),
        Domain::IntUniform { min, max } => (*min as f64, *max as f64 + 1.0),
        Domain::Values(v) => (0.0, v.len() as f64),
    }
}

fn encode(domain: &Domain, value: &ParamValue) -> Option<f64> {
    let x = match (domain, value) {
        (Domain::Values(v), _) => v.iter().position(|c| c == value)? as f64 + 0.5,
        (Domain::Uniform { .. }, ParamValue::Float(f)) => *f,
        (Domain::LogUniform { .. }, ParamValue::Float(f)) if *f > 0.0 => f.ln(),
        (Domain::IntUniform { .. }, ParamValue::Int(i)) => *i as f64 + 0.5,
        _ => return None,
    };
    let (lo, hi) = encoded_range(domain);
    (x >= lo && x < hi).then_some(x)
}

fn decode(domain: &Domain, x: f64) -> ParamValue {
    let (lo, hi) = encoded_range(domain);
    let x = x.clamp(lo, hi);
    match domain {
        Domain::Values(v) => v[(x.floor() as usize).min(v.len() - 1)].clone(),
        Domain::Uniform { .. } => ParamValue::Float(x),
        Domain::LogUniform { min, max } => ParamValue::Float(x.exp().clamp(*min, *max)),
        Domain::IntUniform { min, max } => ParamValue::Int((x.floor() as i64).clamp(*min, *max)),
    }
}
