//! Random search: independent draws from each swept knob's distribution.

use super::{Observation, Sampler, fixed_params, trial_rng};
use crate::jobs::Params;
use crate::spec::knobs::ParamValue;
use crate::spec::{Dimension, Domain};
use rand::RngExt;
use rand::seq::IndexedRandom;

pub struct Random {
    space: Vec<Dimension>,
    seed: u64,
    trials: usize,
}

impl Random {
    pub fn new(space: &[Dimension], seed: u64, trials: usize) -> Self {
        Random {
            space: space.to_vec(),
            seed,
            trials,
        }
    }
}

impl Sampler for Random {
    fn trials(&self) -> usize {
        self.trials
    }

    fn is_static(&self) -> bool {
        true
    }

    fn propose(&mut self, index: usize, _: &[Observation]) -> Params {
        sample(&self.space, self.seed, index)
    }
}

/// One independent draw of every swept knob, plus the fixed ones.
pub fn sample(space: &[Dimension], seed: u64, index: usize) -> Params {
    let mut rng = trial_rng(seed, index);
    let mut params = fixed_params(space);
    for dim in space.iter().filter(|d| d.swept) {
        let value = match &dim.domain {
            Domain::Values(v) => v.choose(&mut rng).expect("validated non-empty").clone(),
            Domain::Uniform { min, max } => ParamValue::Float(rng.random_range(*min..=*max)),
            Domain::LogUniform { min, max } => {
                ParamValue::Float(rng.random_range(min.ln()..=max.ln()).exp())
            }
            Domain::IntUniform { min, max } => ParamValue::Int(rng.random_range(*min..=*max)),
        };
        params.insert(dim.knob.name.to_string(), value);
    }
    params
}
