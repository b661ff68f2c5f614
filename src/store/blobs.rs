//! Artifact contents kept in the database. Both backends store each artifact's bytes and
//! sha256 in the `artifacts` table, written by the transaction that closes its run, so a run
//! creates no file. Readers get files: [`materialise`] writes a run's artifacts into a folder,
//! each checked against its sha256. A SQLite row without content comes from a store written
//! before contents were kept: its file is in the store's folder.
//!
//! The statements here are run as written by both backends: SQLite numbers `$1`, `$2`… by
//! their first appearance, which is their order in each statement, as PostgreSQL does.

use super::backend::StoredArtifact;
use crate::hash::sha256_hex;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Stores one artifact of a run (replacing one of the same path).
pub(crate) const INSERT_ARTIFACT: &str =
    "INSERT INTO artifacts (run_id, path, kind, sha256, content) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (run_id, path) DO UPDATE SET kind = excluded.kind,
        sha256 = excluded.sha256, content = excluded.content";

/// A run's artifacts with their contents (`path, kind, sha256, content`).
pub(crate) const STORED_ARTIFACTS: &str =
    "SELECT path, kind, sha256, content FROM artifacts WHERE run_id = $1 ORDER BY path";

/// An artifact a run hands to the transaction that closes it: its file name, kind and bytes.
#[derive(Debug, Clone)]
pub struct NewArtifact<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub content: Vec<u8>,
}

impl<'a> NewArtifact<'a> {
    pub fn new(name: &'a str, kind: &'a str, content: Vec<u8>) -> Self {
        NewArtifact {
            name,
            kind,
            content,
        }
    }
}

/// The bytes of a stored artifact, from its content or, for a row without one, from its file
/// in the store's folder `store_dir`; checked against the sha256 either way when it has one.
pub(crate) fn bytes_of(a: &StoredArtifact, store_dir: &Path, run_id: &str) -> Result<Vec<u8>> {
    let bytes = match &a.content {
        Some(content) => content.clone(),
        None => {
            let file = store_dir.join(&a.path);
            std::fs::read(&file).with_context(|| {
                format!(
                    "artifact {} of run {run_id} is not in the store: reading {}",
                    a.path,
                    file.display()
                )
            })?
        }
    };
    if let Some(sha) = &a.sha256
        && sha256_hex(&bytes) != *sha
    {
        bail!("artifact {} of run {run_id} fails its sha256 check", a.path);
    }
    Ok(bytes)
}

/// Writes the run's artifacts into `dest` under their file names and returns their paths. A
/// file already there with the right sha256 is left as it is; a row without content whose
/// file is the destination itself (an old store's layout) is only checked to exist.
pub(crate) fn materialise(
    stored: &[StoredArtifact],
    store_dir: &Path,
    dest: &Path,
    run_id: &str,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::with_capacity(stored.len());
    for a in stored {
        let name = Path::new(&a.path)
            .file_name()
            .with_context(|| format!("artifact path {:?} of run {run_id} names no file", a.path))?;
        let local = dest.join(name);
        if a.content.is_none() && local == store_dir.join(&a.path) {
            if !local.is_file() {
                bail!(
                    "artifact {} of run {run_id} is not in the store: {} is missing",
                    a.path,
                    local.display()
                );
            }
            written.push(local);
            continue;
        }
        let fresh = a
            .sha256
            .as_ref()
            .is_some_and(|sha| std::fs::read(&local).is_ok_and(|b| sha256_hex(&b) == *sha));
        if !fresh {
            let bytes = bytes_of(a, store_dir, run_id)?;
            write_whole(&local, &bytes)?;
        }
        written.push(local);
    }
    Ok(written)
}

/// Writes `bytes` to `path` under a temporary name first, so a reader (or another process
/// materialising the same run) never sees a half-written file.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.part", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", path.display()))
}
