//! The MLflow REST endpoints the mirror uses, typed.

use super::client::{ApiError, Body, Client, Method, Retry};
use super::wire::{
    ArtifactList, CreateExperimentResponse, ExperimentResponse, FileInfo, HistoryResponse,
    KeyValue, Metric, Run, RunResponse, SearchResponse,
};
use serde_json::json;

const API: &str = "/api/2.0/mlflow";
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// The largest page `runs/search` and `metrics/get-history` return.
const PAGE: usize = 1000;

/// An MLflow experiment as the mirror needs it.
pub struct ExperimentRef {
    pub id: String,
    /// Deleted experiments keep their name, and a new one cannot take it.
    pub deleted: bool,
}

impl Client {
    pub fn experiment_by_name(&self, name: &str) -> Result<Option<ExperimentRef>, ApiError> {
        let found: Result<ExperimentResponse, _> = self.call(
            Method::Get,
            &format!("{API}/experiments/get-by-name"),
            &[("experiment_name", name)],
            Body::None,
            Retry::Safe,
        );
        match found {
            Ok(r) => Ok(Some(ExperimentRef {
                id: r.experiment.experiment_id,
                deleted: r.experiment.lifecycle_stage == "deleted",
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn create_experiment(&self, name: &str) -> Result<String, ApiError> {
        let r: CreateExperimentResponse = self.call(
            Method::Post,
            &format!("{API}/experiments/create"),
            &[],
            Body::Json(&json!({ "name": name })),
            Retry::Never,
        )?;
        Ok(r.experiment_id)
    }

    /// Every active run of the experiment matching `filter` (MLflow's search syntax), all pages.
    pub fn search_runs(&self, experiment_id: &str, filter: &str) -> Result<Vec<Run>, ApiError> {
        let mut runs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "experiment_ids": [experiment_id],
                "filter": filter,
                "max_results": PAGE,
                "run_view_type": "ACTIVE_ONLY",
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page: SearchResponse = self.call(
                Method::Post,
                &format!("{API}/runs/search"),
                &[],
                Body::Json(&body),
                Retry::Safe,
            )?;
            runs.extend(page.runs);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(runs),
            }
        }
    }

    /// Creates a run, RUNNING until [`Client::update_run`] ends it.
    pub fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[KeyValue],
    ) -> Result<Run, ApiError> {
        let r: RunResponse = self.call(
            Method::Post,
            &format!("{API}/runs/create"),
            &[],
            Body::Json(&json!({
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": start_ms,
                "tags": tags,
            })),
            // A repeated create would make a second run for the same aerocast run.
            Retry::Never,
        )?;
        Ok(r.run)
    }

    /// One `runs/log-batch` call. Metric points are not deduplicated by every backend, so a
    /// batch holding metrics is never sent twice.
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<(), ApiError> {
        let _: serde_json::Value = self.call(
            Method::Post,
            &format!("{API}/runs/log-batch"),
            &[],
            Body::Json(&json!({
                "run_id": run_id,
                "metrics": metrics,
                "params": params,
                "tags": tags,
            })),
            if metrics.is_empty() {
                Retry::Safe
            } else {
                Retry::Never
            },
        )?;
        Ok(())
    }

    /// Ends a run: its status, end time and (again) its name.
    pub fn update_run(
        &self,
        run_id: &str,
        name: &str,
        status: &str,
        end_ms: i64,
    ) -> Result<(), ApiError> {
        let _: serde_json::Value = self.call(
            Method::Post,
            &format!("{API}/runs/update"),
            &[],
            Body::Json(&json!({
                "run_id": run_id,
                "run_name": name,
                "status": status,
                "end_time": end_ms,
            })),
            Retry::Safe,
        )?;
        Ok(())
    }

    /// Marks a run deleted (MLflow keeps it, hidden, until garbage collection).
    pub fn delete_run(&self, run_id: &str) -> Result<(), ApiError> {
        let _: serde_json::Value = self.call(
            Method::Post,
            &format!("{API}/runs/delete"),
            &[],
            Body::Json(&json!({ "run_id": run_id })),
            Retry::Safe,
        )?;
        Ok(())
    }

    /// Every point of one metric of a run, all pages.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, ApiError> {
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        let page_size = PAGE.to_string();
        loop {
            let mut query = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", page_size.as_str()),
            ];
            if let Some(t) = &token {
                query.push(("page_token", t.as_str()));
            }
            let page: HistoryResponse = self.call(
                Method::Get,
                &format!("{API}/metrics/get-history"),
                &query,
                Body::None,
                Retry::Safe,
            )?;
            points.extend(page.metrics);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(points),
            }
        }
    }

    /// The files directly under `root` (an artifact path such as `1/<run>/artifacts`).
    pub fn list_artifacts(&self, root: &str) -> Result<Vec<FileInfo>, ApiError> {
        let list: ArtifactList = self.call(
            Method::Get,
            ARTIFACTS,
            &[("path", root)],
            Body::None,
            Retry::Safe,
        )?;
        Ok(list.files)
    }

    /// Uploads `bytes` as `root/name`; uploading the same file again replaces it.
    pub fn upload_artifact(&self, root: &str, name: &str, bytes: &[u8]) -> Result<(), ApiError> {
        let _: serde_json::Value = self.call(
            Method::Put,
            &format!("{ARTIFACTS}/{root}/{name}"),
            &[],
            Body::Bytes(bytes),
            Retry::Safe,
        )?;
        Ok(())
    }
}
