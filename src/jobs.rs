//! Expands a spec's space into jobs. A job's key hashes its full params and what it trains on
//! (the data's content hash and how it is read), so the same job always has the same key and a
//! rerun can tell what is already done.

use crate::spec::knobs::ParamValue;
use crate::spec::{DataSpec, Dimension, Spec, hex};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A job's complete params, knob name → value. Sorted by name, which makes their JSON canonical.
pub type Params = BTreeMap<String, ParamValue>;

#[derive(Debug, Clone)]
pub struct Job {
    /// Position in the expanded sweep, from 0.
    pub index: usize,
    pub params: Params,
    pub key: String,
}

/// The cartesian product of every dimension, first dimension outermost.
pub fn expand(spec: &Spec, data_hash: &str) -> Vec<Job> {
    product(&spec.space)
        .into_iter()
        .enumerate()
        .map(|(index, params)| Job {
            index,
            key: job_key(&params, &spec.data, data_hash),
            params,
        })
        .collect()
}

/// Every combination of the dimensions' listed values, first dimension outermost.
pub fn product(space: &[Dimension]) -> Vec<Params> {
    let mut combos = vec![Params::new()];
    for dim in space {
        combos = combos
            .into_iter()
            .flat_map(|base| {
                dim.values().iter().map(move |v| {
                    let mut p = base.clone();
                    p.insert(dim.knob.name.to_string(), v.clone());
                    p
                })
            })
            .collect();
    }
    combos
}

#[derive(Serialize)]
struct KeyMaterial<'a> {
    params: &'a Params,
    data_sha256: &'a str,
    target: &'a str,
    features: &'a [String],
    train_fraction: f64,
    missing: crate::spec::MissingPolicy,
    /// Left out at its default, so keys of comma-separated data stay as they were.
    #[serde(skip_serializing_if = "is_comma")]
    delimiter: u8,
}

fn is_comma(d: &u8) -> bool {
    *d == b','
}

pub fn job_key(params: &Params, data: &DataSpec, data_hash: &str) -> String {
    let material = KeyMaterial {
        params,
        data_sha256: data_hash,
        target: &data.target,
        features: &data.features,
        train_fraction: data.train_fraction,
        missing: data.missing,
        delimiter: data.delimiter,
    };
    let json = serde_json::to_vec(&material).expect("params serialise");
    hex(&Sha256::digest(&json))
}

/// The key of trial `index` of an adaptive study, whose params are known only when proposed.
pub fn trial_key(study: &str, index: usize) -> String {
    hex(&Sha256::digest(
        format!("study {study} trial {index}").as_bytes(),
    ))
}

/// What [`label`] says when nothing is swept (the sweep is one run).
pub const NOTHING_SWEPT: &str = "(nothing swept)";

/// `hidden_dim=32 lr=0.003 seed=1`: the swept params only, for progress lines and labels.
pub fn label(params: &Params, spec: &Spec) -> String {
    let swept = swept_params(params, spec);
    if swept.is_empty() {
        NOTHING_SWEPT.to_string()
    } else {
        swept
    }
}

fn swept_params(params: &Params, spec: &Spec) -> String {
    spec.space
        .iter()
        .filter(|d| d.swept)
        .filter_map(|d| {
            params
                .get(d.knob.name)
                .map(|v| format!("{}={}", d.knob.name, short(v)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sampled floats have many digits; four significant ones tell runs apart in a label.
fn short(v: &ParamValue) -> String {
    match v {
        ParamValue::Float(f) if *f != 0.0 && (f.abs() < 1e-3 || f.abs() >= 1e4) => {
            format!("{f:.3e}")
        }
        ParamValue::Float(f) => {
            let s = format!("{f:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(grid: &str) -> Spec {
        let text = format!(
            "[experiment]\nname = \"t\"\n[data]\npath = \"d.csv\"\ntarget = \"y\"\nwindow = 4\n\
             [train]\nepochs = 1\n[grid]\n{grid}\n"
        );
        Spec::parse(Path::new("s.toml"), text).unwrap()
    }

    #[test]
    fn expands_the_full_product_in_order() {
        let s = spec("seed = [0, 1, 2]\nhidden_dim = [8, 16, 32]\nlr = [0.001, 0.01, 0.1]");
        let jobs = expand(&s, "h");
        assert_eq!(jobs.len(), 27);
        let keys: std::collections::HashSet<_> = jobs.iter().map(|j| &j.key).collect();
        assert_eq!(keys.len(), 27, "every job has its own key");
        // seed is the innermost dimension
        assert_eq!(label(&jobs[0].params, &s), "hidden_dim=8 lr=0.001 seed=0");
        assert_eq!(label(&jobs[1].params, &s), "hidden_dim=8 lr=0.001 seed=1");
        assert!(
            jobs.iter()
                .all(|j| j.params.len() == crate::spec::knobs::KNOBS.len())
        );
    }

    #[test]
    fn keys_are_stable_and_depend_on_params_and_data() {
        let s = spec("seed = [0, 1]\nhidden_dim = [8]\nlr = [0.01]");
        let a = expand(&s, "h1");
        assert_eq!(
            a.iter().map(|j| &j.key).collect::<Vec<_>>(),
            expand(&s, "h1").iter().map(|j| &j.key).collect::<Vec<_>>()
        );
        let b = expand(&s, "h2");
        assert_ne!(a[0].key, b[0].key, "other data, other key");
        // The same job reached through a different grid keeps its key.
        let s2 = spec("seed = [1, 0]\nhidden_dim = [8]\nlr = [0.01]");
        assert_eq!(expand(&s2, "h1")[1].key, a[0].key);
    }
}
