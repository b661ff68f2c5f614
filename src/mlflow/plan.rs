//! Reads what the mirror sends from the store: each run with its label (from its sweep's
//! spec), its per-epoch points with their timestamps and its tags, mapped for MLflow.

use super::mapping::{MlflowRun, map_run};
use crate::jobs;
use crate::spec::Spec;
use crate::store::{RunRecord, Store};
use anyhow::Result;
use std::collections::HashMap;
use std::path::Path;

/// The ended runs among `runs`, mapped; running ones are left out.
pub fn plan(store: &Store, runs: &[&RunRecord]) -> Result<Vec<MlflowRun>> {
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let histories = store.timed_histories(&ids)?;
    let tags = store.tags(&ids)?;
    let mut specs: HashMap<String, Option<Spec>> = HashMap::new();
    let mut out = Vec::new();
    for run in runs {
        if !specs.contains_key(&run.sweep_id) {
            specs.insert(run.sweep_id.clone(), sweep_spec(store, &run.sweep_id)?);
        }
        let name = label(run, specs[&run.sweep_id].as_ref());
        let history = histories.get(&run.run_id).map_or(&[][..], |h| &h[..]);
        let no_tags = Default::default();
        let run_tags = tags.get(&run.run_id).unwrap_or(&no_tags);
        out.extend(map_run(run, &name, history, run_tags));
    }
    Ok(out)
}

/// The spec a sweep ran, parsed again from the text the store keeps. `None` if it no longer
/// parses (a spec written for another aerocast version): runs are then named by id.
fn sweep_spec(store: &Store, sweep_id: &str) -> Result<Option<Spec>> {
    let Some(detail) = store.sweep_detail(sweep_id)? else {
        return Ok(None);
    };
    let path = Path::new(&detail.record.spec_path);
    Ok(Spec::parse(path, detail.spec_text).ok())
}

/// The run's label as sweeps print it (`hidden_dim=32 lr=0.003 seed=1`), else its short id.
fn label(run: &RunRecord, spec: Option<&Spec>) -> String {
    let label = spec
        .map(|s| jobs::label(&run.params, s))
        .unwrap_or_default();
    if label.is_empty() {
        format!("run {}", &run.run_id[..run.run_id.len().min(8)])
    } else {
        label
    }
}
