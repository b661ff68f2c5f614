//! `aerocast store copy SRC DST`: every sweep and every closed run of one store into another,
//! whatever their backends. Ids are kept, so a copy is idempotent; each run goes over in one
//! transaction, so a copy stopped half-way resumes where it stopped when run again. The model
//! registry follows: its versions keep their numbers and aliases (not their creation times).

use super::Store;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CopySummary {
    pub sweeps: usize,
    /// Runs written to the destination by this copy.
    pub copied: usize,
    /// Runs the destination already had (from an earlier copy, or a finished run of the same
    /// job).
    pub present: usize,
    /// Runs still running in the source: left out, a later copy takes them once closed.
    pub running: usize,
    /// Registered model versions written to the destination by this copy.
    pub model_versions: usize,
}

pub fn copy(src: &Store, dst: &Store) -> Result<CopySummary> {
    if src.location() == dst.location() {
        bail!(
            "source and destination are the same store ({})",
            src.location()
        );
    }
    let (from, to) = (src.backend(), dst.backend());
    let mut summary = CopySummary::default();
    for sweep in from.dump_sweeps()? {
        to.load_sweep(&sweep)?;
        summary.sweeps += 1;
    }
    let ids = from.closed_run_ids()?;
    for id in &ids {
        if to.load_run(&from.dump_run(id)?)? {
            summary.copied += 1;
        } else {
            summary.present += 1;
        }
    }
    let all = from.runs(&Default::default())?.len();
    summary.running = all - ids.len();
    summary.model_versions = copy_registry(src, dst)?;
    Ok(summary)
}

/// The source's model versions the destination lacks, with the same numbers, then the
/// source's aliases. Versions are numbered 1, 2, 3… per name and never deleted, so the
/// destination's next number is the source's when it holds a prefix of the same versions.
fn copy_registry(src: &Store, dst: &Store) -> Result<usize> {
    let have: HashMap<(String, i64), String> = dst
        .versions(None)?
        .into_iter()
        .map(|v| ((v.name, v.version), v.run_id))
        .collect();
    let mut written = 0;
    let versions = src.versions(None)?;
    for v in &versions {
        match have.get(&(v.name.clone(), v.version)) {
            Some(run) if *run == v.run_id => continue,
            Some(run) => bail!(
                "model {} version {} names run {} in the destination but run {} in the source; not copied",
                v.name,
                v.version,
                run,
                v.run_id
            ),
            None => {}
        }
        let made = dst
            .register_version(&v.name, &v.run_id, &[])
            .with_context(|| format!("copying model {} version {}", v.name, v.version))?;
        if made.version != v.version {
            bail!(
                "model {} version {} became version {} in the destination, which has other versions of it",
                v.name,
                v.version,
                made.version
            );
        }
        written += 1;
    }
    for v in &versions {
        for alias in &v.aliases {
            dst.set_alias(&v.name, alias, v.version)?;
        }
    }
    Ok(written)
}
