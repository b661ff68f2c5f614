//! Brings one run up to date on the server. A new run is created RUNNING, filled in, and ended
//! with its real status last, so an MLflow run that is no longer RUNNING is complete. A RUNNING
//! one was left by an export that stopped midway: what it lacks is worked out from what the
//! server holds (params, each metric's history, the artifact listing) and only that is sent.

use super::api::ExperimentRef;
use super::batch::batches;
use super::client::Client;
use super::mapping::{MlflowRun, same};
use super::wire::{Metric, Run};
use anyhow::{Context, Result, bail};
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new MLflow run was made.
    Created,
    /// An MLflow run left incomplete by an earlier export was completed.
    Completed,
    /// The MLflow run was already complete; nothing was sent.
    AlreadyThere,
}

/// What one sync sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub points: usize,
    pub params: usize,
    pub artifacts: usize,
}

pub fn sync_run(
    client: &Client,
    experiment: &ExperimentRef,
    run: &MlflowRun,
    existing: Option<&Run>,
) -> Result<(Outcome, Sent)> {
    match existing {
        None => {
            let created = client.create_run(&experiment.id, &run.name, run.start_ms, &run.tags)?;
            let sent = send_missing(client, run, &created, run.metrics.clone(), false)?;
            Ok((Outcome::Created, sent))
        }
        Some(found) if found.info.status != "RUNNING" => {
            Ok((Outcome::AlreadyThere, Sent::default()))
        }
        Some(found) => {
            let missing = missing_points(client, run, found)?;
            let sent = send_missing(client, run, found, missing, true)?;
            Ok((Outcome::Completed, sent))
        }
    }
}

/// Sends `metrics`, the params the server lacks, the tags (again, when `resumed`: setting a
/// tag twice is harmless), the artifacts, then the run's end.
fn send_missing(
    client: &Client,
    run: &MlflowRun,
    target: &Run,
    metrics: Vec<Metric>,
    resumed: bool,
) -> Result<Sent> {
    let id = &target.info.run_id;
    let params = missing_params(run, target)?;
    let tags = if resumed {
        run.tags.clone()
    } else {
        Vec::new()
    };
    for b in batches(&metrics, &params, &tags) {
        client.log_batch(id, b.metrics, b.params, b.tags)?;
    }
    let artifacts = send_artifacts(client, run, target, resumed)?;
    client.update_run(id, &run.name, run.status, run.end_ms)?;
    Ok(Sent {
        points: metrics.len(),
        params: params.len(),
        artifacts,
    })
}

fn missing_params(run: &MlflowRun, target: &Run) -> Result<Vec<super::wire::KeyValue>> {
    let held: HashMap<&str, &str> = target
        .data
        .params
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    let mut missing = Vec::new();
    for p in &run.params {
        match held.get(p.key.as_str()) {
            None => missing.push(p.clone()),
            Some(v) if *v == p.value => {}
            Some(v) => bail!(
                "MLflow run {id} has param {key} = \"{v}\" but aerocast run {aid} has \"{want}\"",
                id = target.info.run_id,
                key = p.key,
                aid = run.aerocast_id,
                want = p.value
            ),
        }
    }
    Ok(missing)
}

/// The points of `run` the server does not hold. Keys the server shows no latest value for
/// have no point at all there, so only the others' histories are read.
fn missing_points(client: &Client, run: &MlflowRun, found: &Run) -> Result<Vec<Metric>> {
    let present: HashSet<&str> = found.data.metrics.iter().map(|m| m.key.as_str()).collect();
    let mut held: HashMap<&str, Vec<Metric>> = HashMap::new();
    for key in run.metrics.iter().map(|m| m.key.as_str()) {
        if present.contains(key) && !held.contains_key(key) {
            held.insert(key, client.metric_history(&found.info.run_id, key)?);
        }
    }
    Ok(run
        .metrics
        .iter()
        .filter(|m| {
            !held.get(m.key.as_str()).is_some_and(|points| {
                points.iter().any(|h| {
                    h.step == m.step && h.timestamp == m.timestamp && same(h.value, m.value)
                })
            })
        })
        .cloned()
        .collect())
}

/// Uploads the run's files; when `resumed`, only those the server lacks or holds with another
/// size. Returns how many were uploaded.
fn send_artifacts(client: &Client, run: &MlflowRun, target: &Run, resumed: bool) -> Result<usize> {
    if run.artifacts.is_empty() {
        return Ok(0);
    }
    let root = artifact_root(&target.info.artifact_uri)?;
    let held: HashMap<String, Option<i64>> = if resumed {
        client
            .list_artifacts(&root)?
            .into_iter()
            .filter(|f| !f.is_dir)
            .map(|f| (file_name(&f.path).to_string(), f.file_size))
            .collect()
    } else {
        HashMap::new()
    };
    let mut uploaded = 0;
    for path in &run.artifacts {
        let name = artifact_name(path)?;
        let bytes =
            std::fs::read(path).with_context(|| format!("reading artifact {}", path.display()))?;
        if held.get(name) == Some(&Some(bytes.len() as i64)) {
            continue;
        }
        client.upload_artifact(&root, name, &bytes)?;
        uploaded += 1;
    }
    Ok(uploaded)
}

/// The path below the server's artifact endpoint of a run's `mlflow-artifacts:` location.
/// Other locations (`file:`, `s3:` …) are written by clients directly, not through the server.
pub fn artifact_root(uri: &str) -> Result<String> {
    let Some(rest) = uri.strip_prefix("mlflow-artifacts:") else {
        bail!(
            "the run's artifact location {uri} is not served by the tracking server, so aerocast \
             cannot upload to it; start `mlflow server` with artifact serving (the default, \
             with --artifacts-destination)"
        );
    };
    let path = match rest.strip_prefix("//") {
        // mlflow-artifacts://host:port/path
        Some(authority_and_path) => authority_and_path.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Ok(path.trim_matches('/').to_string())
}

/// Artifact names go into the upload URL as they are, so only plain file names are accepted.
fn artifact_name(path: &Path) -> Result<&str> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain || name.starts_with('.') {
        bail!(
            "artifact {} has a name that cannot be uploaded",
            path.display()
        );
    }
    Ok(name)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_roots_come_from_mlflow_artifacts_locations_only() {
        assert_eq!(
            artifact_root("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert_eq!(
            artifact_root("mlflow-artifacts://h:5000/2/x/artifacts").unwrap(),
            "2/x/artifacts"
        );
        let e = artifact_root("/tmp/mlruns/1/abc/artifacts").unwrap_err();
        assert!(e.to_string().contains("not served by the tracking server"));
    }

    #[test]
    fn only_plain_artifact_names_are_uploaded() {
        assert_eq!(
            artifact_name(Path::new("/s/a/model.safetensors")).unwrap(),
            "model.safetensors"
        );
        for bad in ["/s/a/my model.json", "/s/a/.hidden", "/s/a/x?y"] {
            assert!(artifact_name(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
