//! The orchestrator: spec → trials → parallel training → store. It validates everything before
//! opening the store, so bad input never writes; after that, a failing run is recorded and the
//! sweep goes on. Which sampler proposes trials and which pruner stops runs is decided by the
//! spec; this file only asks them.

use crate::artifacts::{self, ModelCard};
use crate::data::{self, Dataset};
use crate::error::InputError;
use crate::jobs::{self, Job, Params};
use crate::output::{Progress, RunEnd, RunView};
use crate::prune::{self, Curves, Pruner};
use crate::search::{self, Observation, Sampler};
use crate::signals;
use crate::spec::Spec;
use crate::spec::knobs::ParamValue;
use crate::store::{Claim, STUDY_TAG, Store, SweepInfo, TRIAL_TAG};
use crate::train::{self, Next, Prepared, TrainConfig, windows};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The final metric adaptive samplers minimise and `best` ranks by.
const OBJECTIVE: &str = "val_rmse";

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
    /// Training itself (epochs, without the per-epoch callbacks that record them): the rest
    /// of `run_seconds` is the per-run cost of tracking.
    pub train_seconds: f64,
    /// The same training, in CPU time of the worker threads: unlike the wall-clock figures
    /// above, it does not grow when other processes share the cores.
    pub train_cpu_seconds: f64,
    /// CPU time of the whole process during the sweep (all threads; not the report after it).
    pub cpu_seconds: f64,
}

/// [`TimeSpent`] as the workers add to it.
#[derive(Default)]
struct Clock {
    run: AtomicU64,
    store: AtomicU64,
    artifacts: AtomicU64,
    train: AtomicU64,
    train_cpu: AtomicU64,
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
            train_seconds: secs(&self.train),
            train_cpu_seconds: secs(&self.train_cpu),
            // Set by the sweep when it ends.
            cpu_seconds: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BestRun {
    pub run_id: String,
    pub label: String,
    pub val_rmse: f64,
    pub naive_val_rmse: Option<f64>,
}

/// One trial of the sweep. Static samplers fix its params up front; adaptive ones propose
/// them when a worker picks the trial up.
pub struct Slot {
    pub index: usize,
    pub key: String,
    pub params: Option<Params>,
}

/// What a sweep will do, checked against the data; no store is touched.
pub struct Plan {
    pub data: Dataset,
    pub prepared: Prepared,
    pub study: String,
    pub slots: Vec<Slot>,
    sampler: Box<dyn Sampler>,
}

pub fn plan(spec: &Spec) -> Result<Plan, InputError> {
    let data = data::load(&spec.data, &spec.lines)?;
    let prepared = Prepared::new(&data, spec.data.train_fraction);
    check_windows(spec, &prepared)?;
    let mut sampler = search::build(spec);
    let study = search::study_id(spec, &data.hash);
    let slots = (0..sampler.trials())
        .map(|index| {
            if sampler.is_static() {
                let params = sampler.propose(index, &[]);
                let key = jobs::job_key(&params, &spec.data, &data.hash);
                Slot {
                    index,
                    key,
                    params: Some(params),
                }
            } else {
                let key = jobs::trial_key(&study, index);
                Slot {
                    index,
                    key,
                    params: None,
                }
            }
        })
        .collect();
    Ok(Plan {
        data,
        prepared,
        study,
        slots,
        sampler,
    })
}

/// Every window/horizon the sweep can use must leave at least one training window, and the
/// split must leave a validation span.
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
    for w in &spec.dimension("window").extremes() {
        for h in &spec.dimension("horizon").extremes() {
            let (w, h) = (as_usize(w), as_usize(h));
            if p.train_targets(w, h).is_empty() {
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
    progress: &'a dyn Progress,
    sampler: Mutex<Box<dyn Sampler>>,
    history: Mutex<Vec<Observation>>,
    pruner: Box<dyn Pruner>,
    curves: Curves,
    clock: Clock,
}

pub fn run(spec: &Spec, opts: &SweepOptions, progress: &dyn Progress) -> Result<SweepSummary> {
    let (started, cpu_started) = (Instant::now(), process_cpu_time());
    let plan = plan(spec)?;
    let store = Store::open(&opts.store_dir)?;
    let (experiment_id, sweep_id) = store.begin_sweep(&SweepInfo {
        experiment: &spec.experiment,
        spec_path: &spec.path.display().to_string(),
        spec_text: &spec.text,
        spec_hash: &spec.hash,
        data_path: &plan.data.path.display().to_string(),
        data_hash: &plan.data.hash,
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
        .study_observations(&plan.study, OBJECTIVE)?
        .into_iter()
        .map(|(params, value)| Observation {
            params: to_params(&params),
            value,
        })
        .collect();
    let worker = Worker {
        spec,
        data: &plan.data,
        prepared: &plan.prepared,
        store: &store,
        experiment_id,
        sweep_id: &sweep_id,
        study: &plan.study,
        progress,
        sampler: Mutex::new(plan.sampler),
        history: Mutex::new(history),
        pruner: prune::build(&spec.prune),
        curves: Curves::new(store.study_curves(&plan.study, &spec.prune.metric)?),
        clock: Clock::default(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
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
    // Runs write their files unsynced (an fsync per file costs more than a tiny run trains);
    // one sync of the store's file system makes them all durable before the sweep ends.
    Clock::time(&worker.clock.artifacts, || {
        artifacts::sync_all(&opts.store_dir)
    })?;

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
    summary.time.cpu_seconds = (process_cpu_time() - cpu_started).as_secs_f64();
    Ok(summary)
}

fn to_params(json: &std::collections::BTreeMap<String, serde_json::Value>) -> Params {
    json.iter()
        .filter_map(|(k, v)| Some((k.clone(), serde_json::from_value(v.clone()).ok()?)))
        .collect()
}

fn best_run(store: &Store, spec: &Spec) -> Result<Option<BestRun>> {
    let Some(run) = store.best_run(&spec.experiment, OBJECTIVE)? else {
        return Ok(None);
    };
    Ok(Some(BestRun {
        label: jobs::label(&to_params(&run.params), spec),
        val_rmse: run.metric(OBJECTIVE).unwrap_or(f64::NAN),
        naive_val_rmse: run.metric("naive_val_rmse"),
        run_id: run.run_id,
    }))
}

enum Outcome {
    Finished,
    Pruned { epochs_saved: usize },
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
    let tags = [
        (STUDY_TAG, w.study.to_string()),
        (TRIAL_TAG, slot.index.to_string()),
    ];
    let claim = Clock::time(&w.clock.store, || {
        w.store
            .claim(w.experiment_id, w.sweep_id, &w.data.hash, &job, &tags)
    })?;
    let (other, end, outcome) = match claim {
        Claim::Run(id) => {
            return Clock::time(&w.clock.run, || run_claimed(w, &job, id, &label));
        }
        Claim::Finished(id) => (id, RunEnd::Skipped, Outcome::Skipped),
        Claim::Busy(id) => (id, RunEnd::Busy, Outcome::Busy),
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

    let naive = naive_metrics(w.prepared, cfg.as_ref().map_or(1, |c| c.horizon));
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
            let val_rmse = value(&metrics, OBJECTIVE);
            let outcome = match &done.stopped {
                None => {
                    Clock::time(&w.clock.store, || {
                        w.store.finish_run(&run_id, &metrics, &done.artifacts)
                    })?;
                    let naive_val_rmse = value(&metrics, "naive_val_rmse");
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
        let metrics = [("train_loss", r.train_loss), ("val_loss", r.val_loss)];
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
    // Time spent in the callback, taken off the training clock below.
    let mut recording = std::time::Duration::ZERO;
    let mut on_epoch = |r: &train::EpochReport| -> Result<Next> {
        let start = Instant::now();
        let next = on_epoch_end(w, cfg, run_id, view, &mut log, r);
        recording += start.elapsed();
        next
    };
    let (started, cpu_started) = (Instant::now(), thread_cpu_time());
    let trained = catch_unwind(AssertUnwindSafe(|| {
        train::train(cfg, w.prepared, &mut on_epoch)
    }));
    let training = started.elapsed().saturating_sub(recording);
    w.clock
        .train
        .fetch_add(training.as_nanos() as u64, Ordering::Relaxed);
    // The callback's CPU time is at most its wall time: taking that off keeps the CPU figure
    // an upper bound on training's own.
    let cpu = thread_cpu_time().saturating_sub(cpu_started);
    w.clock.train_cpu.fetch_add(
        cpu.saturating_sub(recording).as_nanos() as u64,
        Ordering::Relaxed,
    );
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

    let last = trained.history.last().expect("at least one epoch");
    let best = trained.best_epoch();
    let metrics = vec![
        ("val_rmse", trained.val_rmse),
        ("val_mae", trained.val_mae),
        ("train_loss", last.train_loss),
        ("val_loss", last.val_loss),
        ("best_epoch", best.epoch as f64),
        ("best_val_loss", best.val_loss),
        ("epochs_trained", trained.history.len() as f64),
    ];
    Ok(Done {
        metrics,
        artifacts,
        epochs_trained: trained.history.len(),
        stopped: trained.stopped,
    })
}

/// What a sweep does at each epoch end: record the epoch, show it, and stop on a signal
/// (interrupt) or the pruner's verdict.
fn on_epoch_end(
    w: &Worker,
    cfg: &TrainConfig,
    run_id: &str,
    view: &RunView,
    log: &mut EpochLog,
    r: &train::EpochReport,
) -> Result<Next> {
    log.push(w, r)?;
    w.progress.epoch(view, r);
    let value = if w.spec.prune.metric == "train_loss" {
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
}

/// CPU time of the calling thread (zero where the platform does not say).
fn thread_cpu_time() -> std::time::Duration {
    #[cfg(unix)]
    return cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
    #[cfg(not(unix))]
    std::time::Duration::ZERO
}

/// CPU time of the whole process (zero where the platform does not say).
fn process_cpu_time() -> std::time::Duration {
    #[cfg(unix)]
    return cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID);
    #[cfg(not(unix))]
    std::time::Duration::ZERO
}

#[cfg(unix)]
fn cpu_time(clock: libc::clockid_t) -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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
