//! The orchestrator: spec → jobs → parallel training → store. It validates everything before
//! opening the store, so bad input never writes; after that, a failing run is recorded and the
//! sweep goes on.

use crate::artifacts::{self, ModelCard};
use crate::data::{self, Dataset};
use crate::error::InputError;
use crate::jobs::{self, Job};
use crate::output::{Progress, RunEnd, RunView};
use crate::signals;
use crate::spec::Spec;
use crate::store::{Claim, RunFilter, Store, SweepInfo};
use crate::train::{self, Prepared, TrainConfig, windows};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

pub struct SweepOptions {
    pub store_dir: PathBuf,
    /// Jobs trained at once.
    pub jobs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepSummary {
    pub sweep_id: String,
    pub experiment: String,
    pub store: PathBuf,
    pub total: usize,
    pub finished: usize,
    pub failed: usize,
    /// Finished by an earlier sweep.
    pub skipped: usize,
    /// Being trained by another live process.
    pub busy: usize,
    /// Stale runs of dead processes marked `killed`.
    pub reaped: usize,
    /// Stopped by SIGINT/SIGTERM mid-training and recorded `interrupted`.
    pub interrupted: usize,
    /// Never claimed because a stop signal arrived first.
    pub not_started: usize,
    pub wall_seconds: f64,
    pub best: Option<BestRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BestRun {
    pub run_id: String,
    pub label: String,
    pub val_rmse: f64,
    pub naive_val_rmse: Option<f64>,
}

/// Everything a worker needs, shared read-only across the pool.
struct Worker<'a> {
    spec: &'a Spec,
    data: &'a Dataset,
    prepared: &'a Prepared,
    store: &'a Store,
    experiment_id: i64,
    sweep_id: &'a str,
    progress: &'a dyn Progress,
}

/// What a sweep will do, checked against the data; no store is touched.
pub struct Plan {
    pub data: Dataset,
    pub prepared: Prepared,
    pub jobs: Vec<Job>,
}

pub fn plan(spec: &Spec) -> Result<Plan, InputError> {
    let data = data::load(&spec.data, &spec.lines)?;
    let prepared = Prepared::new(&data, spec.data.train_fraction);
    check_windows(spec, &prepared)?;
    let jobs = jobs::expand(spec, &data.hash);
    Ok(Plan {
        data,
        prepared,
        jobs,
    })
}

/// Every window/horizon pair must leave at least one training window, and the split must leave
/// a validation span.
fn check_windows(spec: &Spec, p: &Prepared) -> Result<(), InputError> {
    if p.val_targets().is_empty() || p.split == 0 {
        return Err(spec.lines.error(
            "data.train_fraction",
            format!(
                "train_fraction {} of {} rows leaves an empty split",
                spec.data.train_fraction,
                p.rows()
            ),
        ));
    }
    let window = spec.dimension("window");
    let horizon = spec.dimension("horizon");
    for w in &window.values {
        for h in &horizon.values {
            let (w, h) = (as_usize(w), as_usize(h));
            if p.train_targets(w, h).is_empty() {
                let key = if window.swept {
                    "grid.window"
                } else {
                    "data.window"
                };
                return Err(spec.lines.error(
                    key,
                    format!(
                        "window {w} with horizon {h} leaves no training windows: the training split has {} rows",
                        p.split
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn as_usize(v: &crate::spec::knobs::ParamValue) -> usize {
    match v {
        crate::spec::knobs::ParamValue::Int(i) => *i as usize,
        _ => 0,
    }
}

pub fn run(spec: &Spec, opts: &SweepOptions, progress: &dyn Progress) -> Result<SweepSummary> {
    let started = Instant::now();
    let plan = plan(spec)?;
    let store = Store::open(&opts.store_dir)?;
    let (experiment_id, sweep_id) = store.begin_sweep(&SweepInfo {
        experiment: &spec.experiment,
        spec_path: &spec.path.display().to_string(),
        spec_text: &spec.text,
        spec_hash: &spec.hash,
        data_path: &plan.data.path.display().to_string(),
        data_hash: &plan.data.hash,
        n_jobs: plan.jobs.len(),
    })?;
    let reaped = store.reap_stale(experiment_id)?;

    let done = finished_keys(&store, &spec.experiment)?;
    let pending: Vec<&Job> = plan
        .jobs
        .iter()
        .filter(|j| !done.contains(&j.key))
        .collect();
    let skipped = plan.jobs.len() - pending.len();
    progress.sweep_started(plan.jobs.len(), pending.len());

    let ctx = Worker {
        spec,
        data: &plan.data,
        prepared: &plan.prepared,
        store: &store,
        experiment_id,
        sweep_id: &sweep_id,
        progress,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .thread_name(|i| format!("aerocast-job-{i}"))
        .build()
        .context("starting the worker pool")?;
    // One job per task (max_len 1) so a slow job never holds a queue of others behind it.
    let outcomes: Vec<Result<Outcome>> = pool.install(|| {
        pending
            .par_iter()
            .with_max_len(1)
            .map(|job| run_job(&ctx, job))
            .collect()
    });
    progress.finish();

    let mut summary = SweepSummary {
        sweep_id: sweep_id.clone(),
        experiment: spec.experiment.clone(),
        store: opts.store_dir.clone(),
        total: plan.jobs.len(),
        finished: 0,
        failed: 0,
        skipped,
        busy: 0,
        reaped,
        interrupted: 0,
        not_started: 0,
        wall_seconds: 0.0,
        best: None,
    };
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(Outcome::Finished) => summary.finished += 1,
            Ok(Outcome::Failed) => summary.failed += 1,
            Ok(Outcome::Skipped) => summary.skipped += 1,
            Ok(Outcome::Busy) => summary.busy += 1,
            Ok(Outcome::Interrupted) => summary.interrupted += 1,
            Ok(Outcome::NotStarted) => summary.not_started += 1,
            Err(e) => {
                summary.failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let status = if signals::stop_requested() {
        "interrupted"
    } else if summary.failed > 0 {
        "failed"
    } else {
        "finished"
    };
    store.end_sweep(
        &sweep_id,
        status,
        summary.finished,
        summary.failed,
        summary.skipped,
    )?;
    if let Some(e) = first_error {
        // A store or I/O error (not a training failure): the sweep cannot vouch for its records.
        return Err(e.context("the sweep could not record a run"));
    }
    summary.best = best_run(&store, spec)?;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn finished_keys(store: &Store, experiment: &str) -> Result<HashSet<String>> {
    let filter = RunFilter {
        experiment: Some(experiment.to_string()),
        status: Some("finished".to_string()),
        sweep_id: None,
    };
    Ok(store
        .runs(&filter)?
        .into_iter()
        .map(|r| r.job_key)
        .collect())
}

fn best_run(store: &Store, spec: &Spec) -> Result<Option<BestRun>> {
    let Some(run) = store.best_run(&spec.experiment, "val_rmse")? else {
        return Ok(None);
    };
    let params: jobs::Params = run
        .params
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), serde_json::from_value(v.clone()).ok()?)))
        .collect();
    Ok(Some(BestRun {
        label: jobs::label(&params, spec),
        val_rmse: run.metric("val_rmse").unwrap_or(f64::NAN),
        naive_val_rmse: run.metric("naive_val_rmse"),
        run_id: run.run_id,
    }))
}

enum Outcome {
    Finished,
    Failed,
    Skipped,
    Busy,
    Interrupted,
    NotStarted,
}

fn run_job(ctx: &Worker, job: &Job) -> Result<Outcome> {
    if signals::stop_requested() {
        return Ok(Outcome::NotStarted);
    }
    let label = jobs::label(&job.params, ctx.spec);
    let claim = ctx
        .store
        .claim(ctx.experiment_id, ctx.sweep_id, &ctx.data.hash, job)?;
    let (other, end, outcome) = match claim {
        Claim::Run(id) => return run_claimed(ctx, job, id, &label),
        Claim::Finished(id) => (id, RunEnd::Skipped, Outcome::Skipped),
        Claim::Busy(id) => (id, RunEnd::Busy, Outcome::Busy),
    };
    let view = RunView {
        run_id: &other,
        label: &label,
        epochs: 0,
    };
    ctx.progress.run_ended(&view, &end, 0.0);
    Ok(outcome)
}

fn run_claimed(ctx: &Worker, job: &Job, run_id: String, label: &str) -> Result<Outcome> {
    let started = Instant::now();
    let cfg = TrainConfig::from_params(&job.params);
    let view = RunView {
        run_id: &run_id,
        label,
        epochs: cfg.as_ref().map_or(0, |c| c.epochs),
    };
    ctx.progress.run_started(&view);

    let naive = naive_metrics(ctx.prepared, cfg.as_ref().map_or(1, |c| c.horizon));
    let result = cfg
        .map_err(anyhow::Error::msg)
        .and_then(|cfg| train_and_save(ctx, &run_id, &cfg, job, label, &view));
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Err(e) if e.is::<signals::Interrupted>() => {
            let reason = e.to_string();
            ctx.store.interrupt_run(&run_id, &reason, &naive)?;
            ctx.progress
                .run_ended(&view, &RunEnd::Interrupted { reason: &reason }, seconds);
            Ok(Outcome::Interrupted)
        }
        Ok((metrics, artifacts)) => {
            let mut all = metrics;
            all.extend(naive);
            ctx.store.finish_run(&run_id, &all, &artifacts)?;
            let end = RunEnd::Finished {
                val_rmse: value(&all, "val_rmse"),
                naive_val_rmse: value(&all, "naive_val_rmse"),
            };
            ctx.progress.run_ended(&view, &end, seconds);
            Ok(Outcome::Finished)
        }
        Err(e) => {
            let reason = format!("{e:#}");
            ctx.store.fail_run(&run_id, &reason, &naive)?;
            ctx.progress
                .run_ended(&view, &RunEnd::Failed { reason: &reason }, seconds);
            Ok(Outcome::Failed)
        }
    }
}

type Metrics = Vec<(&'static str, f64)>;

/// Trains, writes artifacts, and returns the final metrics and artifact paths (relative to the
/// store). A panic inside candle becomes an error, so one bad run cannot end the sweep.
fn train_and_save(
    ctx: &Worker,
    run_id: &str,
    cfg: &TrainConfig,
    job: &Job,
    label: &str,
    view: &RunView,
) -> Result<(Metrics, Vec<(String, &'static str)>)> {
    let mut on_epoch = |r: &train::EpochReport| -> Result<()> {
        ctx.store.log_epoch(
            run_id,
            r.epoch,
            &[("train_loss", r.train_loss), ("val_loss", r.val_loss)],
        )?;
        ctx.progress.epoch(view, r);
        match signals::received() {
            Some(signal) if r.epoch < cfg.epochs => Err(signals::Interrupted {
                signal,
                epoch: r.epoch,
                epochs: cfg.epochs,
            }
            .into()),
            _ => Ok(()),
        }
    };
    let trained = catch_unwind(AssertUnwindSafe(|| {
        train::train(cfg, ctx.prepared, &mut on_epoch)
    }))
    .map_err(|panic| anyhow::anyhow!("training panicked: {}", panic_message(&panic)))?
    .map_err(|e| match e {
        // Keep the callback's own error (an interrupt, a store error) as it was raised.
        train::TrainError::Stopped(inner) => inner,
        other => other.into(),
    })?;

    let card = ModelCard::new(run_id, cfg, &job.params, ctx.data, &ctx.prepared.stats);
    let dir = ctx.store.artifact_dir(run_id);
    let title = format!("{} — {label}", ctx.spec.experiment);
    let files = artifacts::write(&dir, &trained, &card, &title)?;
    let artifacts = files
        .into_iter()
        .map(|(name, kind)| {
            (
                format!("{}/{run_id}/{name}", crate::store::ARTIFACTS_DIR),
                kind,
            )
        })
        .collect();

    let last = trained.history.last().expect("at least one epoch");
    let best = trained.best_epoch();
    let metrics = vec![
        ("val_rmse", trained.val_rmse),
        ("val_mae", trained.val_mae),
        ("train_loss", last.train_loss),
        ("val_loss", last.val_loss),
        ("best_epoch", best.epoch as f64),
        ("best_val_loss", best.val_loss),
    ];
    Ok((metrics, artifacts))
}

fn naive_metrics(p: &Prepared, horizon: usize) -> Metrics {
    let (rmse, mae) = windows::rmse_mae(
        &windows::naive_forecast(p, horizon),
        &windows::val_actuals(p),
    );
    vec![("naive_val_rmse", rmse), ("naive_val_mae", mae)]
}

fn value(metrics: &Metrics, key: &str) -> f64 {
    metrics
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(f64::NAN, |(_, v)| *v)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string())
}
