//! A job's identity. A job's key hashes its full params and what it trains on (the data's
//! content hash and how it is read), so the same job always has the same key and a rerun can
//! tell what is already done. Adaptive trials, whose params are known only when proposed, are
//! keyed by their study and index instead.

use crate::hash::sha256_hex;
use crate::spec::knobs::ParamValue;
use crate::spec::{DataSpec, Dimension, EvalSpec, GapPolicy, MissingPolicy, OutputMode, Spec};
use serde::Serialize;
use std::collections::BTreeMap;

/// A job's complete params, knob name → value. Sorted by name, which makes their JSON canonical.
pub type Params = BTreeMap<String, ParamValue>;

#[derive(Debug, Clone)]
pub struct Job {
    /// Position in the sweep, from 0.
    pub index: usize,
    pub params: Params,
    pub key: String,
}

/// What a run trains on: the data file's content and how it is read. Two runs with equal
/// params see the same rows exactly when their identities are equal, so every key that
/// says "same job" or "same study" includes all of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataIdentity {
    pub data_sha256: String,
    pub target: String,
    pub features: Vec<String>,
    pub train_fraction: f64,
    /// Left out of the key when 0, so stores written before test spans existed still resume.
    #[serde(skip_serializing_if = "is_zero")]
    pub test_fraction: f64,
    pub missing: MissingPolicy,
    /// The CSV separator; left out at its default, so keys of comma-separated data stay as
    /// they were.
    #[serde(skip_serializing_if = "is_comma")]
    pub delimiter: u8,
    /// With `missing = "drop"`, which validation rows are scored depends on the sweep's
    /// longest window + horizon (see `Prepared::score_reach`), so it is part of the identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scored_reach: Option<usize>,
    /// Left out for single-value forecasts, so older stores keep their keys.
    #[serde(skip_serializing_if = "is_single")]
    pub output: OutputMode,
    /// How runs are scored, when not by the single split: folds change what `val_rmse`
    /// means and what ranks. Absent for one split, so older stores keep their keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalSpec>,
    /// The series column of long-format data; absent for one series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Absent at the default (windows never cross a gap), which for data without gaps reads
    /// the rows exactly as stores from before the gap rule did.
    #[serde(skip_serializing_if = "is_drop")]
    pub gaps: GapPolicy,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub series_feature: bool,
    /// Several series with a time column are split at times common to all of them (see
    /// `train::windows::series_spans`); stores from before that rule split each series by
    /// its own rows, so their runs are other jobs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub common_cutoffs: bool,
}

fn is_drop(g: &GapPolicy) -> bool {
    *g == GapPolicy::Drop
}

fn is_comma(d: &u8) -> bool {
    *d == b','
}

fn is_single(o: &OutputMode) -> bool {
    *o == OutputMode::Single
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl DataIdentity {
    pub fn new(spec: &Spec, data_sha256: &str) -> DataIdentity {
        let mut id = DataIdentity::of_data(&spec.data, data_sha256);
        id.eval = spec.eval.cross_validates().then(|| spec.eval.clone());
        id
    }

    /// The identity of data read by `data` and scored on one split.
    pub fn of_data(data: &DataSpec, data_sha256: &str) -> DataIdentity {
        DataIdentity {
            data_sha256: data_sha256.to_string(),
            target: data.target.clone(),
            features: data.features.clone(),
            train_fraction: data.train_fraction,
            test_fraction: data.test_fraction,
            missing: data.missing,
            delimiter: data.delimiter,
            scored_reach: (data.missing == MissingPolicy::Drop).then_some(data.reach),
            output: data.output,
            eval: None,
            series: data.series.clone(),
            gaps: data.gaps,
            series_feature: data.series_feature,
            common_cutoffs: data.series.is_some() && data.time.is_some(),
        }
    }

    /// Which rows are scored depends on the sweep's longest window + horizon whenever the
    /// data holds breaks (dropped rows, gaps, several series), so the identity records it.
    pub fn with_breaks(mut self, data: &crate::data::Dataset, reach: usize) -> Self {
        if !data.breaks.is_empty() {
            self.scored_reach = Some(reach);
        }
        self
    }

    /// A short id of the identity, for tags and grouping.
    pub fn id(&self) -> String {
        sha256_hex(serde_json::to_vec(self).expect("identity serialises"))[..16].to_string()
    }
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

/// Serialised flat (`params`, then the identity's fields), which keeps the keys of stores
/// written before the identity had a type of its own.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    params: &'a Params,
    #[serde(flatten)]
    data: &'a DataIdentity,
}

pub fn job_key(params: &Params, data: &DataIdentity) -> String {
    sha256_hex(serde_json::to_vec(&KeyMaterial { params, data }).expect("params serialise"))
}

/// The key of trial `index` of an adaptive study, whose params are known only when proposed.
pub fn trial_key(study: &str, index: usize) -> String {
    sha256_hex(format!("study {study} trial {index}"))
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
                .map(|v| format!("{}={}", d.knob.name, v.short()))
        })
        .collect::<Vec<_>>()
        .join(" ")
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

    fn keys(s: &Spec, hash: &str) -> Vec<String> {
        let id = DataIdentity::new(s, hash);
        product(&s.space).iter().map(|p| job_key(p, &id)).collect()
    }

    #[test]
    fn expands_the_full_product_in_order() {
        let s = spec("seed = [0, 1, 2]\nhidden_dim = [8, 16, 32]\nlr = [0.001, 0.01, 0.1]");
        let combos = product(&s.space);
        assert_eq!(combos.len(), 27);
        let keys: std::collections::HashSet<_> = keys(&s, "h").into_iter().collect();
        assert_eq!(keys.len(), 27, "every job has its own key");
        // seed is the innermost dimension
        assert_eq!(label(&combos[0], &s), "hidden_dim=8 lr=0.001 seed=0");
        assert_eq!(label(&combos[1], &s), "hidden_dim=8 lr=0.001 seed=1");
        assert!(
            combos
                .iter()
                .all(|p| p.len() == crate::spec::knobs::KNOBS.len())
        );
    }

    #[test]
    fn keys_are_stable_and_depend_on_params_and_data() {
        let s = spec("seed = [0, 1]\nhidden_dim = [8]\nlr = [0.01]");
        let a = keys(&s, "h1");
        assert_eq!(a, keys(&s, "h1"));
        assert_ne!(a[0], keys(&s, "h2")[0], "other data, other key");
        // The same job reached through a different grid keeps its key.
        let s2 = spec("seed = [1, 0]\nhidden_dim = [8]\nlr = [0.01]");
        assert_eq!(keys(&s2, "h1")[1], a[0]);
        // How the file is read is part of the identity.
        let mut dropped = s.clone();
        dropped.data.missing = MissingPolicy::Drop;
        assert_ne!(keys(&dropped, "h1")[0], a[0]);
        let mut tested = s.clone();
        tested.data.test_fraction = 0.1;
        assert_ne!(
            keys(&tested, "h1")[0],
            a[0],
            "a test span changes what validates"
        );
    }

    #[test]
    fn key_material_is_the_flat_json_stores_already_hold() {
        let s = spec("seed = [0]\nhidden_dim = [8]\nlr = [0.01]");
        let params = &product(&s.space)[0];
        let id = DataIdentity::new(&s, "h");
        let flat = format!(
            "{{\"params\":{},\"data_sha256\":\"h\",\"target\":\"y\",\"features\":[\"y\"],\
             \"train_fraction\":0.8,\"missing\":\"error\"}}",
            serde_json::to_string(params).unwrap()
        );
        assert_eq!(job_key(params, &id), sha256_hex(flat));
    }
}
