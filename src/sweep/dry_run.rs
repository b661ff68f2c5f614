//! `aerocast sweep --dry-run`: the sweep's plan, checked against its data, and which of its
//! trials the store already finished, with nothing trained and nothing written. A spec can
//! be checked in CI, or a resumed sweep previewed, before it costs anything.

use super::plan;
use crate::jobs::{self, Params};
use crate::spec::{Method, Spec};
use crate::store::{Location, Store};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashSet;

#[derive(Debug, Serialize)]
pub struct DryRun {
    pub spec: String,
    pub experiment: String,
    pub method: Method,
    pub trials: usize,
    /// Trials the store holds a finished run of: a sweep skips them.
    pub finished: usize,
    pub to_run: usize,
    pub data: DataPlan,
    pub jobs: Vec<PlannedTrial>,
}

#[derive(Debug, Serialize)]
pub struct DataPlan {
    pub path: String,
    pub sha256: String,
    pub rows: usize,
    pub series: usize,
    pub train_rows: usize,
    /// Validation and test rows scored (each the target of one window).
    pub val_rows: usize,
    pub test_rows: usize,
}

#[derive(Debug, Serialize)]
pub struct PlannedTrial {
    pub index: usize,
    /// `None` for a trial an adaptive sampler (TPE) proposes only as the sweep runs.
    pub params: Option<Params>,
    /// The same params as the progress lines show them: the swept knobs only.
    pub label: Option<String>,
    pub finished: bool,
}

/// The plan of `spec` against the store at `store`. A store folder that does not exist yet
/// holds no finished trial; it is not created.
pub fn dry_run(spec: &Spec, store: &Location) -> Result<DryRun> {
    let plan = plan(spec)?;
    let done = finished_keys(spec, store)?;
    let jobs: Vec<PlannedTrial> = plan
        .slots
        .iter()
        .map(|s| PlannedTrial {
            index: s.index,
            label: s.params.as_ref().map(|p| jobs::label(p, spec)),
            params: s.params.clone(),
            finished: done.contains(&s.key),
        })
        .collect();
    let finished = jobs.iter().filter(|j| j.finished).count();
    let p = &plan.prepared;
    Ok(DryRun {
        spec: spec.path.display().to_string(),
        experiment: spec.experiment.clone(),
        method: spec.search.method,
        trials: jobs.len(),
        finished,
        to_run: jobs.len() - finished,
        data: DataPlan {
            path: plan.data.path.display().to_string(),
            sha256: plan.data.hash.clone(),
            rows: plan.data.rows(),
            series: plan.data.series.len(),
            train_rows: p.train_rows(),
            val_rows: p.val_targets().len(),
            test_rows: p.test_targets().len(),
        },
        jobs,
    })
}

fn finished_keys(spec: &Spec, store: &Location) -> Result<HashSet<String>> {
    if let Location::Folder(dir) = store
        && !dir.join(crate::store::DB_FILE).is_file()
    {
        return Ok(HashSet::new());
    }
    Store::open_read_only(store.clone())?.finished_keys(&spec.experiment)
}
