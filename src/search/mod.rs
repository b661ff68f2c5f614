//! Search strategies. A sampler proposes the params of trial `i`, given the finished trials of
//! the same study; the orchestrator neither knows nor cares which strategy it runs (the shape
//! of Optuna's `samplers/`).

mod grid;
mod random;
mod tpe;

use crate::hash::sha256_hex;
use crate::jobs::{self, DataIdentity, Params};
use crate::spec::{Dimension, Method, Spec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// A finished trial, as adaptive samplers learn from it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub params: Params,
    /// The objective, lower is better.
    pub value: f64,
}

pub trait Sampler: Send {
    /// Trials in the whole sweep.
    fn trials(&self) -> usize;

    /// True when trial `i`'s params depend on `i` alone (grid, random). Such trials are identified
    /// by their params, so a rerun recognises them; adaptive trials are identified by index.
    fn is_static(&self) -> bool;

    /// Params for trial `index` (all knobs, fixed ones included).
    fn propose(&mut self, index: usize, history: &[Observation]) -> Params;
}

pub fn build(spec: &Spec) -> Box<dyn Sampler> {
    let trials = spec.search.trials.unwrap_or(0);
    match spec.search.method {
        Method::Grid => Box::new(grid::Grid::new(spec)),
        Method::Random => Box::new(random::Random::new(&spec.space, spec.search.seed, trials)),
        Method::Tpe => Box::new(tpe::Tpe::new(
            &spec.space,
            spec.search.seed,
            trials,
            spec.search.startup_trials,
        )),
    }
}

/// Identifies a study: what is searched, how, and on which data (as read). Runs of one study
/// inform each other (TPE history, pruning). `trials` is left out, so raising it extends the
/// same study.
pub fn study_id(spec: &Spec, data: &DataIdentity) -> String {
    #[derive(Serialize)]
    struct Material<'a> {
        method: Method,
        seed: u64,
        space: Vec<(&'a str, &'a crate::spec::Domain)>,
        #[serde(flatten)]
        data: &'a DataIdentity,
    }
    let material = Material {
        method: spec.search.method,
        seed: spec.search.seed,
        space: spec
            .space
            .iter()
            .map(|d| (d.knob.name, &d.domain))
            .collect(),
        data,
    };
    sha256_hex(serde_json::to_vec(&material).expect("study serialises"))[..16].to_string()
}

/// One trial of a sweep. Static samplers fix its params up front; adaptive ones propose
/// them when a worker picks the trial up.
pub struct Slot {
    pub index: usize,
    pub key: String,
    pub params: Option<Params>,
}

/// A sweep's trials: the study they belong to, one slot per trial, and the sampler that
/// proposes the params of adaptive ones.
pub struct Trials {
    pub study: String,
    pub slots: Vec<Slot>,
    pub sampler: Box<dyn Sampler>,
}

pub fn trials(spec: &Spec, data: &DataIdentity) -> Trials {
    let mut sampler = build(spec);
    let study = study_id(spec, data);
    let slots = (0..sampler.trials())
        .map(|index| {
            if sampler.is_static() {
                let params = sampler.propose(index, &[]);
                Slot {
                    index,
                    key: jobs::job_key(&params, data),
                    params: Some(params),
                }
            } else {
                Slot {
                    index,
                    key: jobs::trial_key(&study, index),
                    params: None,
                }
            }
        })
        .collect();
    Trials {
        study,
        slots,
        sampler,
    }
}

/// The generator for trial `index`: one stream per trial, so proposals do not depend on the
/// order in which parallel workers ask for them.
fn trial_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// The values of every dimension that is not swept.
fn fixed_params(space: &[Dimension]) -> Params {
    space
        .iter()
        .filter(|d| !d.swept)
        .filter_map(|d| Some((d.knob.name.to_string(), d.values().first()?.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::knobs::ParamValue;
    use std::path::Path;

    const SPACE: &str = r#"
[experiment]
name = "t"
[data]
path = "d.csv"
target = "y"
window = 4
[train]
epochs = 1
[search]
method = "METHOD"
trials = 40
seed = 7
startup_trials = 8
[space]
lr = { distribution = "log_uniform", min = 1e-4, max = 3e-2 }
hidden_dim = { values = [16, 32, 64, 128] }
num_layers = { distribution = "int_uniform", min = 1, max = 3 }
weight_decay = { distribution = "uniform", min = 0.0, max = 0.3 }
seed = { values = [0, 1, 2] }
"#;

    fn spec(method: &str) -> Spec {
        Spec::parse(Path::new("s.toml"), SPACE.replace("METHOD", method)).unwrap()
    }

    fn float(p: &Params, k: &str) -> f64 {
        match p[k] {
            ParamValue::Float(f) => f,
            ParamValue::Int(i) => i as f64,
            _ => panic!("{k} is not numeric"),
        }
    }

    #[test]
    fn random_samples_stay_in_range_and_reproduce() {
        let s = spec("random");
        let mut a = build(&s);
        let mut b = build(&s);
        assert_eq!(a.trials(), 40);
        let (mut low_lr, mut high_lr) = (0, 0);
        for i in 0..40 {
            let p = a.propose(i, &[]);
            assert_eq!(p, b.propose(i, &[]), "same spec, same proposals");
            let lr = float(&p, "lr");
            assert!((1e-4..=3e-2).contains(&lr), "lr {lr}");
            low_lr += (lr < 1e-3) as usize;
            high_lr += (lr > 3e-3) as usize;
            assert!([16.0, 32.0, 64.0, 128.0].contains(&float(&p, "hidden_dim")));
            assert!((1.0..=3.0).contains(&float(&p, "num_layers")));
            assert!((0.0..=0.3).contains(&float(&p, "weight_decay")));
            assert_eq!(p["epochs"], ParamValue::Int(1), "fixed knobs are carried");
            assert_eq!(p.len(), crate::spec::knobs::KNOBS.len());
        }
        // log-uniform: both decades are visited
        assert!(low_lr > 5 && high_lr > 5, "{low_lr} {high_lr}");
        assert_ne!(a.propose(0, &[]), a.propose(1, &[]));
    }

    /// A cheap objective with its optimum at lr = 3e-3, hidden 64, one layer, plus noise.
    fn objective(p: &Params, noise: &mut ChaCha8Rng) -> f64 {
        use rand::RngExt;
        let lr = (float(p, "lr").log10() - 3e-3f64.log10()).powi(2);
        let h = ((float(p, "hidden_dim") / 64.0).log2()).powi(2) * 0.3;
        let l = (float(p, "num_layers") - 1.0) * 0.2;
        lr + h + l + noise.random_range(0.0..0.05)
    }

    fn best_after(method: &str, seed: u64, trials: usize) -> f64 {
        let text = SPACE
            .replace("METHOD", method)
            .replace("seed = 7", &format!("seed = {seed}"));
        let mut sampler = build(&Spec::parse(Path::new("s.toml"), text).unwrap());
        let mut noise = ChaCha8Rng::seed_from_u64(seed + 1000);
        let mut history = Vec::new();
        for i in 0..trials {
            let params = sampler.propose(i, &history);
            let value = objective(&params, &mut noise);
            history.push(Observation { params, value });
        }
        history
            .iter()
            .map(|o| o.value)
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn tpe_beats_random_search_on_a_synthetic_objective() {
        let seeds = 0..12;
        let mean = |m: &str| seeds.clone().map(|s| best_after(m, s, 30)).sum::<f64>() / 12.0;
        let (tpe, random) = (mean("tpe"), mean("random"));
        eprintln!("mean best after 30 trials over 12 seeds: tpe {tpe:.4}, random {random:.4}");
        assert!(tpe < random * 0.8, "tpe {tpe} vs random {random}");
    }

    #[test]
    fn tpe_starts_random_and_is_reproducible() {
        let s = spec("tpe");
        let mut tpe = build(&s);
        let mut random = build(&spec("random"));
        assert!(!tpe.is_static());
        assert_eq!(
            tpe.propose(3, &[]),
            random.propose(3, &[]),
            "startup trials are random"
        );
        let history: Vec<Observation> = (0..10)
            .map(|i| {
                let params = random.propose(i, &[]);
                Observation {
                    value: float(&params, "lr"),
                    params,
                }
            })
            .collect();
        let p = tpe.propose(10, &history);
        assert_eq!(p, build(&s).propose(10, &history));
        assert!((1e-4..=3e-2).contains(&float(&p, "lr")));
    }

    #[test]
    fn study_ignores_trials_but_not_the_space() {
        let s = spec("random");
        let more = Spec::parse(
            Path::new("s.toml"),
            SPACE
                .replace("METHOD", "random")
                .replace("trials = 40", "trials = 80"),
        )
        .unwrap();
        let id = |s: &Spec, hash: &str| study_id(s, &DataIdentity::new(s, hash));
        assert_eq!(id(&s, "h"), id(&more, "h"));
        assert_ne!(id(&s, "h"), id(&spec("tpe"), "h"));
        assert_ne!(id(&s, "h"), id(&s, "other data"));
        let mut ffill = s.clone();
        ffill.data.missing = crate::spec::MissingPolicy::Ffill;
        assert_ne!(
            id(&s, "h"),
            id(&ffill, "h"),
            "how the data is read is part of it"
        );
    }
}
