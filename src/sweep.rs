//! The orchestrator: spec → trials → parallel training → store. It validates everything before
//! opening the store, so bad input never writes; after that, a failing run is recorded and the
//! sweep goes on. Which sampler proposes trials and which pruner stops runs is decided by the
//! spec; this file only asks them.

use crate::artifacts::{self, ModelCard};
use crate::baselines;
use crate::data::Dataset;
use crate::error::InputError;
use crate::jobs::{self, DataIdentity, Job};
use crate::metrics;
use crate::output::{Progress, RunEnd, RunView};
use crate::prune::{self, Curves, Pruner};
use crate::search::{self, Observation, Sampler, Slot};
use crate::signals;
use crate::spec::Spec;
use crate::spec::knobs::ParamValue;
use crate::store::{
    Claim, DATA_TAG, RunStatus, SETTING_TAG, STUDY_TAG, Store, SweepInfo, TARGET_TAG, TRIAL_TAG,
};
use crate::train::{self, Next, Prepared, TrainConfig};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod limits;

pub struct SweepOptions {
    pub store_dir: PathBuf,
    /// Jobs trained at once.
    pub jobs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepSummary {
    pub sweep_id: String,
    pub experiment: String,
    pub method: crate::spec::Method,
    pub store: PathBuf,
    pub total: usize,
    pub finished: usize,
    pub failed: usize,
    pub pruned: usize,
    /// Epochs not trained because their runs were pruned.
    pub epochs_saved: usize,
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
    /// Jobs not run because they failed or were killed `[train] max_attempts` times (also
    /// counted in `failed`).
    pub gave_up: usize,
    /// Data rows removed by `missing = "drop"`.
    pub dropped_rows: usize,
    /// Legal input that looks like a mistake (also printed on stderr).
    pub warnings: Vec<String>,
    pub wall_seconds: f64,
    pub time: TimeSpent,
    pub best: Option<BestRun>,
}

/// Worker time, summed over workers: how much of the runs' time went to tracking them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TimeSpent {
    /// Training and recording the runs this sweep claimed, summed over workers.
    pub run_seconds: f64,
    /// Writing the store: claims, per-epoch metrics, final records.
    pub store_seconds: f64,
    /// Writing models, model cards and loss plots.
    pub artifact_seconds: f64,
}

/// [`TimeSpent`] as the workers add to it.
#[derive(Default)]
struct Clock {
    run: AtomicU64,
    store: AtomicU64,
    artifacts: AtomicU64,
}

impl Clock {
    fn time<T>(counter: &AtomicU64, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        counter.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }

    fn spent(&self) -> TimeSpent {
        let secs = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / 1e9;
        TimeSpent {
            run_seconds: secs(&self.run),
            store_seconds: secs(&self.store),
            artifact_seconds: secs(&self.artifacts),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BestRun {
    pub run_id: String,
    pub label: String,
    pub val_rmse: f64,
    pub naive_val_rmse: Option<f64>,
    pub linear_val_rmse: Option<f64>,
}

/// What a sweep will do, checked against the data; no store is touched.
pub struct Plan {
    pub data: Dataset,
    pub prepared: Prepared,
    pub identity: DataIdentity,
    pub study: String,
    pub slots: Vec<Slot>,
    sampler: Box<dyn Sampler>,
}

pub fn plan(spec: &Spec) -> Result<Plan, InputError> {
    let (data, prepared) = train::prepare(&spec.data, &spec.lines)?;
    check_windows(spec, &prepared)?;
    limits::check_memory(spec, &prepared)?;
    let identity = DataIdentity::new(&spec.data, &data.hash);
    let trials = search::trials(spec, &identity);
    Ok(Plan {
        data,
        prepared,
        identity,
        study: trials.study,
        slots: trials.slots,
        sampler: trials.sampler,
    })
}

/// The largest value an integer knob takes in the sweep.
fn largest(spec: &Spec, knob: &str) -> usize {
    crate::spec::largest(&spec.space, knob)
}

/// Fewer validation windows than this make `val_rmse` a coin toss: a run is scored on them.
pub const MIN_VAL_WINDOWS: usize = 10;

/// An experiment forecasts one target: runs of another would be ranked, pooled and charted
/// against each other in every report. Checked before the sweep writes anything.
fn check_target(store: &Store, spec: &Spec) -> Result<(), InputError> {
    let targets = store
        .experiment_tag_values(&spec.experiment, TARGET_TAG)
        .unwrap_or_default();
    match targets.iter().find(|t| **t != spec.data.target) {
        Some(other) => Err(spec.lines.error(
            "data.target",
            format!(
                "experiment \"{}\" already holds runs forecasting `{other}`; runs of `{}` would be ranked against them. Name another experiment in [experiment] name",
                spec.experiment, spec.data.target
            ),
        )),
        None => Ok(()),
    }
}

/// Every window/horizon the sweep can use must leave at least one training window, and the
/// split must leave a validation span of at least [`MIN_VAL_WINDOWS`].
fn check_windows(spec: &Spec, p: &Prepared) -> Result<(), InputError> {
    if p.val_targets().len() == 0 || p.split == 0 {
        return Err(spec.lines.error(
            "data.train_fraction",
            format!(
                "train_fraction {} of {} rows leaves an empty split",
                spec.data.train_fraction,
                p.rows()
            ),
        ));
    }
    for w in &spec.dimension("window").extremes() {
        for h in &spec.dimension("horizon").extremes() {
            let (w, h) = (as_usize(w), as_usize(h));
            if p.train_targets(w, h).next().is_none() {
                let key =
                    spec.lines
                        .first_recorded(&["grid.window", "space.window", "data.window"]);
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
    let scored = p.val_targets().len();
    if scored < MIN_VAL_WINDOWS {
        let rows = p.rows();
        let fraction = rows.saturating_sub(MIN_VAL_WINDOWS) as f64 / rows as f64;
        let hint = if p.breaks.is_empty() {
            format!(
                "lower train_fraction to at most {}, or give more rows",
                (fraction * 1000.0).floor() / 1000.0
            )
        } else {
            "lower train_fraction, or fill gaps (missing = \"ffill\") instead of dropping rows"
                .to_string()
        };
        return Err(spec.lines.error(
            "data.train_fraction",
            format!(
                "train_fraction {} of {rows} rows leaves {scored} validation window(s); a run needs at least {MIN_VAL_WINDOWS} to be scored: {hint}",
                spec.data.train_fraction
            ),
        ));
    }
    Ok(())
}

fn as_usize(v: &ParamValue) -> usize {
    match v {
        ParamValue::Int(i) => *i as usize,
        _ => 0,
    }
}

/// Everything a worker needs, shared across the pool.
struct Worker<'a> {
    spec: &'a Spec,
    data: &'a Dataset,
    prepared: &'a Prepared,
    store: &'a Store,
    experiment_id: i64,
    sweep_id: &'a str,
    study: &'a str,
    data_id: String,
    progress: &'a dyn Progress,
    sampler: Mutex<Box<dyn Sampler>>,
    history: Mutex<Vec<Observation>>,
    pruner: Box<dyn Pruner>,
    curves: Curves,
    clock: Clock,
    /// Baseline metrics per (window, horizon): every run of a shape shares them.
    baselines: Mutex<HashMap<(usize, usize), Metrics>>,
}

impl Worker<'_> {
    fn baselines(&self, window: usize, horizon: usize) -> Metrics {
        let mut cache = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((window, horizon))
            .or_insert_with(|| {
                baselines::metrics(self.prepared, window, horizon, self.spec.data.season)
            })
            .clone()
    }
}

pub fn run(spec: &Spec, opts: &SweepOptions, progress: &dyn Progress) -> Result<SweepSummary> {
    let started = Instant::now();
    let plan = plan(spec)?;
    for warning in &plan.data.warnings {
        crate::errln!("warning: {warning}");
    }
    let store = Store::open(&opts.store_dir)?;
    check_target(&store, spec)?;
    let data_id = plan.identity.id();
    let (experiment_id, sweep_id) = store.begin_sweep(&SweepInfo {
        experiment: &spec.experiment,
        spec_path: &spec.path.display().to_string(),
        spec_text: &spec.text,
        spec_hash: &spec.hash,
        data_path: &plan.data.path.display().to_string(),
        data_hash: &plan.data.hash,
        data_id: Some(&data_id),
        data_rows: plan.data.rows(),
        n_jobs: plan.slots.len(),
    })?;
    let reaped = store.reap_stale(experiment_id)?;

    let done = store.finished_keys(&spec.experiment)?;
    let pending: Vec<&Slot> = plan
        .slots
        .iter()
        .filter(|s| !done.contains(&s.key))
        .collect();
    let skipped = plan.slots.len() - pending.len();
    progress.sweep_started(plan.slots.len(), pending.len());

    let history = store
        .study_observations(&plan.study, metrics::OBJECTIVE)?
        .into_iter()
        .map(|(params, value)| Observation { params, value })
        .collect();
    let worker = Worker {
        spec,
        data: &plan.data,
        prepared: &plan.prepared,
        store: &store,
        experiment_id,
        sweep_id: &sweep_id,
        study: &plan.study,
        data_id: data_id.clone(),
        progress,
        sampler: Mutex::new(plan.sampler),
        history: Mutex::new(history),
        pruner: prune::build(&spec.prune),
        curves: Curves::new(store.study_curves(&plan.study, &spec.prune.metric)?),
        clock: Clock::default(),
        baselines: Mutex::new(HashMap::new()),
    };
    // More workers than pending trials would only idle (and a huge --jobs would start a
    // thread each).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.min(pending.len()).max(1))
        .thread_name(|i| format!("aerocast-job-{i}"))
        .build()
        .context("starting the worker pool")?;
    // One trial per task (max_len 1) so a slow trial never holds a queue of others behind it.
    let outcomes: Vec<Result<Outcome>> = pool.install(|| {
        pending
            .par_iter()
            .with_max_len(1)
            .map(|slot| run_slot(&worker, slot))
            .collect()
    });
    progress.finish();

    let mut summary = SweepSummary {
        sweep_id: sweep_id.clone(),
        experiment: spec.experiment.clone(),
        method: spec.search.method,
        store: opts.store_dir.clone(),
        total: plan.slots.len(),
        finished: 0,
        failed: 0,
        pruned: 0,
        epochs_saved: 0,
        skipped,
        busy: 0,
        reaped,
        interrupted: 0,
        not_started: 0,
        gave_up: 0,
        dropped_rows: plan.data.dropped_rows,
        warnings: plan.data.warnings.clone(),
        wall_seconds: 0.0,
        time: worker.clock.spent(),
        best: None,
    };
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(Outcome::Finished) => summary.finished += 1,
            Ok(Outcome::Pruned { epochs_saved }) => {
                summary.pruned += 1;
                summary.epochs_saved += epochs_saved;
            }
            Ok(Outcome::Failed) => summary.failed += 1,
            Ok(Outcome::GaveUp) => {
                summary.failed += 1;
                summary.gave_up += 1;
            }
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
    // A sweep ends with the word a run would: the statuses are one vocabulary.
    let status = if signals::stop_requested() {
        RunStatus::Interrupted
    } else if summary.failed > 0 {
        RunStatus::Failed
    } else {
        RunStatus::Finished
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
    summary.best = best_run(&store, spec, &data_id)?;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The best run on the data this sweep trained on: runs of other snapshots were scored on
/// other rows.
fn best_run(store: &Store, spec: &Spec, data_id: &str) -> Result<Option<BestRun>> {
    let Some(run) = store.best_run(&spec.experiment, metrics::OBJECTIVE, Some(data_id))? else {
        return Ok(None);
    };
    Ok(Some(BestRun {
        label: jobs::label(&run.params, spec),
        val_rmse: run.metric(metrics::OBJECTIVE).unwrap_or(f64::NAN),
        naive_val_rmse: run.metric(metrics::NAIVE_VAL_RMSE),
        linear_val_rmse: run.metric(metrics::LINEAR_VAL_RMSE),
        run_id: run.run_id,
    }))
}

/// The tag holding how many rows `missing = "drop"` removed from the run's data.
pub const DROPPED_ROWS_TAG: &str = "aerocast.dropped_rows";
/// The tag saying why early stopping ended a run (`[train] patience`).
pub const EARLY_STOPPED_TAG: &str = "aerocast.early_stopped";

enum Outcome {
    /// Its attempts are used up (`[train] max_attempts`); recorded failed, not run.
    GaveUp,
    Finished,
    Pruned {
        epochs_saved: usize,
    },
    Failed,
    Skipped,
    Busy,
    Interrupted,
    NotStarted,
}

fn run_slot(w: &Worker, slot: &Slot) -> Result<Outcome> {
    if signals::stop_requested() {
        return Ok(Outcome::NotStarted);
    }
    let params = match &slot.params {
        Some(p) => p.clone(),
        None => {
            let history = w.history.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let mut sampler = w.sampler.lock().unwrap_or_else(|p| p.into_inner());
            sampler.propose(slot.index, &history)
        }
    };
    let job = Job {
        index: slot.index,
        key: slot.key.clone(),
        params,
    };
    let label = jobs::label(&job.params, w.spec);
    let mut tags = vec![
        (STUDY_TAG, w.study.to_string()),
        (TRIAL_TAG, slot.index.to_string()),
        (DATA_TAG, w.data_id.clone()),
        (SETTING_TAG, setting_id(&w.data_id, &job)),
        (TARGET_TAG, w.data.target.clone()),
    ];
    if w.spec.data.missing == crate::spec::MissingPolicy::Drop {
        tags.push((DROPPED_ROWS_TAG, w.data.dropped_rows.to_string()));
    }
    tags.extend(w.spec.tags.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let claim = Clock::time(&w.clock.store, || {
        w.store.claim_with_budget(
            w.experiment_id,
            w.sweep_id,
            &w.data.hash,
            &job,
            &tags,
            w.spec.max_attempts,
        )
    })?;
    let (other, reason, outcome) = match claim {
        Claim::Run(id) => {
            return Clock::time(&w.clock.run, || run_claimed(w, &job, id, &label));
        }
        Claim::Finished(id) => (id, None, Outcome::Skipped),
        Claim::Busy(id) => (id, None, Outcome::Busy),
        Claim::GaveUp { run_id, reason } => (run_id, Some(reason), Outcome::GaveUp),
    };
    let end = match (&outcome, &reason) {
        (Outcome::Busy, _) => RunEnd::Busy,
        (_, Some(reason)) => RunEnd::Failed { reason },
        _ => RunEnd::Skipped,
    };
    let view = RunView {
        run_id: &other,
        label: &label,
        epochs: 0,
    };
    w.progress.run_ended(&view, &end, 0.0);
    Ok(outcome)
}

fn run_claimed(w: &Worker, job: &Job, run_id: String, label: &str) -> Result<Outcome> {
    let started = Instant::now();
    let cfg = TrainConfig::from_params(&job.params);
    let epochs = cfg.as_ref().map_or(0, |c| c.epochs);
    let view = RunView {
        run_id: &run_id,
        label,
        epochs,
    };
    w.progress.run_started(&view);

    let naive = match &cfg {
        Ok(c) => w.baselines(c.window, c.horizon),
        Err(_) => w.baselines(0, 1),
    };
    let result = cfg
        .map_err(anyhow::Error::msg)
        .and_then(|cfg| train_and_save(w, &run_id, &cfg, job, label, &view));
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Err(e) if e.is::<signals::Interrupted>() => {
            let reason = e.to_string();
            Clock::time(&w.clock.store, || {
                w.store.interrupt_run(&run_id, &reason, &naive)
            })?;
            w.progress
                .run_ended(&view, &RunEnd::Interrupted { reason: &reason }, seconds);
            Ok(Outcome::Interrupted)
        }
        Ok(done) => {
            let mut metrics = done.metrics;
            metrics.extend(naive);
            let val_rmse = value(&metrics, metrics::OBJECTIVE);
            let outcome = match &done.stopped {
                None => {
                    Clock::time(&w.clock.store, || {
                        w.store.finish_run(&run_id, &metrics, &done.artifacts)
                    })?;
                    let naive_val_rmse = value(&metrics, metrics::NAIVE_VAL_RMSE);
                    w.progress.run_ended(
                        &view,
                        &RunEnd::Finished {
                            val_rmse,
                            naive_val_rmse,
                        },
                        seconds,
                    );
                    Outcome::Finished
                }
                Some(reason) => {
                    Clock::time(&w.clock.store, || {
                        w.store
                            .prune_run(&run_id, reason, &metrics, &done.artifacts)
                    })?;
                    w.progress
                        .run_ended(&view, &RunEnd::Pruned { reason }, seconds);
                    Outcome::Pruned {
                        epochs_saved: epochs.saturating_sub(done.epochs_trained),
                    }
                }
            };
            w.history
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Observation {
                    params: job.params.clone(),
                    value: val_rmse,
                });
            Ok(outcome)
        }
        Err(e) => {
            let reason = format!("{e:#}");
            Clock::time(&w.clock.store, || {
                w.store.fail_run(&run_id, &reason, &naive)
            })?;
            w.progress
                .run_ended(&view, &RunEnd::Failed { reason: &reason }, seconds);
            Ok(Outcome::Failed)
        }
    }
}

type Metrics = Vec<(&'static str, f64)>;

struct Done {
    metrics: Metrics,
    /// Paths relative to the store.
    artifacts: Vec<(String, &'static str)>,
    /// The pruner's reason, when it stopped the run.
    stopped: Option<String>,
    epochs_trained: usize,
}

/// How long a run's epoch metrics may wait in memory before they are written: a run writes
/// one short transaction per second instead of one per epoch. A killed process loses at most
/// this much of a running run's curve, and that run is trained again from scratch anyway.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// A run's epoch metrics on their way to the store, written in batches.
struct EpochLog<'a> {
    run_id: &'a str,
    pending: Vec<(usize, [(&'static str, f64); 2])>,
    last_write: Option<Instant>,
}

impl<'a> EpochLog<'a> {
    fn new(run_id: &'a str) -> Self {
        Self {
            run_id,
            pending: Vec::new(),
            last_write: None,
        }
    }

    fn push(&mut self, w: &Worker, r: &train::EpochReport) -> Result<()> {
        let metrics = [
            (metrics::TRAIN_LOSS, r.train_loss),
            (metrics::VAL_LOSS, r.val_loss),
        ];
        self.pending.push((r.epoch, metrics));
        // The first epoch is written at once, so every run shows a curve early.
        if self.last_write.is_none_or(|t| t.elapsed() >= WRITE_EVERY) {
            self.flush(w)?;
        }
        Ok(())
    }

    fn flush(&mut self, w: &Worker) -> Result<()> {
        let epochs: Vec<(usize, &[(&str, f64)])> =
            self.pending.iter().map(|(s, m)| (*s, &m[..])).collect();
        Clock::time(&w.clock.store, || w.store.log_epochs(self.run_id, &epochs))?;
        self.pending.clear();
        self.last_write = Some(Instant::now());
        Ok(())
    }
}

/// Trains, writes artifacts, and returns what to record. A panic inside candle becomes an
/// error, so one bad run cannot end the sweep.
fn train_and_save(
    w: &Worker,
    run_id: &str,
    cfg: &TrainConfig,
    job: &Job,
    label: &str,
    view: &RunView,
) -> Result<Done> {
    let mut log = EpochLog::new(run_id);
    let mut on_epoch = |r: &train::EpochReport| -> Result<Next> {
        log.push(w, r)?;
        w.progress.epoch(view, r);
        let value = if w.spec.prune.metric == metrics::TRAIN_LOSS {
            r.train_loss
        } else {
            r.val_loss
        };
        if let Some(signal) = signals::received()
            && r.epoch < cfg.epochs
        {
            return Err(signals::Interrupted {
                signal,
                epoch: r.epoch,
                epochs: cfg.epochs,
            }
            .into());
        }
        Ok(
            match w.curves.record_and_check(w.pruner.as_ref(), run_id, value) {
                Some(reason) if r.epoch < cfg.epochs => Next::Stop(reason),
                _ => Next::Continue,
            },
        )
    };
    let trained = catch_unwind(AssertUnwindSafe(|| {
        train::train(cfg, w.prepared, &mut on_epoch)
    }));
    // Whatever ended the training, its epochs go to the store before the run's end does.
    log.flush(w)?;
    let trained = trained
        .map_err(|panic| anyhow::anyhow!("training panicked: {}", panic_message(&panic)))?
        .map_err(|e| match e {
            // Keep the callback's own error (an interrupt, a store error) as it was raised.
            train::TrainError::Stopped(inner) => inner,
            other => other.into(),
        })?;

    let card = ModelCard::new(run_id, cfg, &job.params, w.data, &w.prepared.stats);
    let dir = w.store.artifact_dir(run_id);
    let title = format!("{} — {label}", w.spec.experiment);
    let files = Clock::time(&w.clock.artifacts, || {
        artifacts::write(&dir, &trained, &card, &title)
    })?;
    let artifacts = files
        .into_iter()
        .map(|(name, kind)| {
            (
                format!("{}/{run_id}/{name}", crate::store::ARTIFACTS_DIR),
                kind,
            )
        })
        .collect();

    if let Some(reason) = &trained.early_stopped {
        Clock::time(&w.clock.store, || {
            w.store.set_tags(run_id, &[(EARLY_STOPPED_TAG, reason)])
        })?;
    }
    // The kept epoch's (see `keep`): the losses match the saved model and val_rmse.
    let kept = trained.kept();
    let best = trained.best_epoch();
    let metrics = vec![
        (metrics::VAL_RMSE, trained.val_rmse),
        (metrics::VAL_MAE, trained.val_mae),
        (metrics::TRAIN_LOSS, kept.train_loss),
        (metrics::VAL_LOSS, kept.val_loss),
        (metrics::BEST_EPOCH, best.epoch as f64),
        (metrics::KEPT_EPOCH, trained.kept_epoch as f64),
        (metrics::BEST_VAL_LOSS, best.val_loss),
        (metrics::EPOCHS_TRAINED, trained.history.len() as f64),
    ];
    Ok(Done {
        metrics,
        artifacts,
        epochs_trained: trained.history.len(),
        stopped: trained.stopped,
    })
}

/// Runs that differ only in their seed share this id: seed replicates of one setting.
fn setting_id(data_id: &str, job: &Job) -> String {
    let mut params = job.params.clone();
    params.remove("seed");
    let material = format!(
        "{data_id} {}",
        serde_json::to_string(&params).expect("params serialise")
    );
    crate::hash::sha256_hex(material)[..16].to_string()
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
