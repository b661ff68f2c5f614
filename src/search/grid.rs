//! Grid search: every combination of the listed values, in a fixed order.

use super::{Observation, Sampler};
use crate::jobs::Params;
use crate::spec::Spec;

pub struct Grid {
    combos: Vec<Params>,
}

impl Grid {
    pub fn new(spec: &Spec) -> Self {
        Grid {
            combos: crate::jobs::product(&spec.space),
        }
    }
}

impl Sampler for Grid {
    fn trials(&self) -> usize {
        self.combos.len()
    }

    fn is_static(&self) -> bool {
        true
    }

    fn propose(&mut self, index: usize, _: &[Observation]) -> Params {
        self.combos[index].clone()
    }
}
