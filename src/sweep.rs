//! The orchestrator: spec → trials → parallel training → store. It validates everything before
//! opening the store, so bad input never writes; after that, a failing run is recorded and the
//! sweep goes on. Which sampler proposes trials and which pruner stops runs is decided by the
//! spec; this file only asks them.

use crate::artifacts::{self, ModelCard};
use crate::baselines;
use crate::data::Dataset;
use crate::error::InputError;
use crate::intervals::{self, Residuals, Widths};
use crate::jobs::{self, DataIdentity, Job};
use crate::metrics;
use crate::output::{Progress, RunEnd, RunView};
use crate::prune::{self, Curves, Pruner};
use crate::search::{self, Observation, Sampler, Slot};
use crate::signals;
use crate::spec::knobs::ParamValue;
use crate::spec::{OutputMode, Spec};
use crate::store::{
    Claim, DATA_TAG, Location, NewArtifact, RunStatus, SETTING_TAG, STUDY_TAG, Store, SweepInfo,
    TARGET_TAG, TRIAL_TAG,
};
use crate::train::windows::Spans;
use crate::train::{self, Next, Prepared, TrainConfig, windows};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod cv;
mod dry_run;
mod limits;
mod series;

pub use dry_run::{DryRun, dry_run};

pub struct SweepOptions {
    pub store: Location,
    /// Jobs trained at once.
    pub jobs: usize,
    /// MLflow tracking server each run is mirrored to as it ends.
    pub mlflow: Option<crate::mlflow::Tracking>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepSummary {
    pub sweep_id: String,
    pub experiment: String,
    pub method: crate::spec::Method,
    /// The store, as shown to users (a folder, or a URL with its password masked).
    pub store: String,
    #[serde(skip)]
    pub location: Location,
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
    /// What the live MLflow mirror sent, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<crate::mlflow::MirrorReport>,
    /// Champion against challenger, with `--promote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<crate::promote::Promotion>,
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
    /// The objective that chose it (`val_rmse`, or `cv_val_rmse` with folds) and its value.
    pub metric: &'static str,
    pub score: f64,
    pub naive_score: Option<f64>,
    pub val_rmse: f64,
    pub naive_val_rmse: Option<f64>,
    pub linear_val_rmse: Option<f64>,
    /// Scale-free (see `metrics::VAL_MASE`).
    pub val_mase: Option<f64>,
    /// On the test span; not used to choose.
    pub test_rmse: Option<f64>,
    /// The share of the test span inside the run's 80% prediction interval.
    pub test_coverage_80: Option<f64>,
}

/// What a sweep will do, checked against the data; no store is touched.
pub struct Plan {
    pub data: Dataset,
    pub prepared: Prepared,
    /// Rolling-origin evaluation: each fold's rows, and the rows the kept model trains on
    /// (everything before the test span). Empty and `None` with one split.
    pub folds: Vec<Prepared>,
    pub final_rows: Option<Prepared>,
    pub identity: DataIdentity,
    pub study: String,
    pub slots: Vec<Slot>,
    sampler: Box<dyn Sampler>,
}

pub fn plan(spec: &Spec) -> Result<Plan, InputError> {
    let (data, prepared) = train::prepare(&spec.data, &spec.lines)?;
    check_windows(spec, &prepared)?;
    limits::check_memory(spec, &prepared)?;
    let (folds, final_rows) = plan_folds(spec, &data, &prepared)?;
    let identity = DataIdentity::new(spec, &data.hash).with_breaks(&data, spec.data.reach);
    let trials = search::trials(spec, &identity);
    Ok(Plan {
        data,
        prepared,
        folds,
        final_rows,
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

// Every fold a spec may ask for has a metric name.
const _: () = assert!(metrics::FOLD_VAL_RMSE.len() == crate::spec::eval::MAX_FOLDS);

/// The folds' rows and the kept model's rows, when the spec cross-validates.
fn plan_folds(
    spec: &Spec,
    data: &Dataset,
    p: &Prepared,
) -> Result<(Vec<Prepared>, Option<Prepared>), InputError> {
    let eval = &spec.eval;
    if !eval.cross_validates() {
        return Ok((Vec::new(), None));
    }
    let key = spec.lines.first_recorded(&["eval.step", "eval.folds"]);
    let folds = train::folds::series_folds(data, &p.spans(), eval.folds, eval.step)
        .map_err(|m| spec.lines.error(key, m))?;
    let prepared = train::folds::prepare(data, &folds, eval.refit, spec.data.reach);
    // The first fold trains on the fewest rows: if its windows fit, every fold's do.
    check_windows(spec, &prepared[0])?;
    // The kept model trains on every row before each series' test span.
    let through_validation: Vec<Spans> = p
        .spans()
        .into_iter()
        .map(|s| Spans {
            split: s.val_end,
            ..s
        })
        .collect();
    Ok((
        prepared,
        Some(Prepared::from_spans(data, &through_validation).score_reach(spec.data.reach)),
    ))
}

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
    if spec.data.test_fraction > 0.0 && p.test_targets().is_empty() {
        return Err(spec.lines.error(
            "data.test_fraction",
            format!(
                "test_fraction {} of {} rows leaves an empty test span",
                spec.data.test_fraction,
                p.rows()
            ),
        ));
    }
    let short = p
        .segments
        .iter()
        .find(|s| s.spans.split == s.spans.start || s.spans.val_end == s.spans.split);
    if p.val_targets().is_empty() || short.is_some() {
        let s = short.unwrap_or(&p.segments[0]);
        let of = if s.name.is_empty() {
            String::new()
        } else {
            format!(" of series \"{}\"", s.name)
        };
        // Several series with times are cut at common times (`windows::series_spans`): a
        // series that starts late or ends early can miss a span whatever its length.
        let common = if p.segments.len() > 1 && spec.data.time.is_some() {
            "; several series are cut at the same times, so each needs rows before the \
             validation cut-off and after it"
        } else {
            ""
        };
        return Err(spec.lines.error(
            "data.train_fraction",
            format!(
                "train_fraction {} of the {} rows{of} before the test span leaves an empty \
                 split{common}",
                spec.data.train_fraction,
                s.spans.val_end - s.spans.start
            ),
        ));
    }
    for w in &spec.dimension("window").extremes() {
        for h in &spec.dimension("horizon").extremes() {
            let (w, h) = (as_usize(w), as_usize(h));
            // A direct head forecasts rows 1…h after its window; all of them must fit.
            let (offset, leads) = match spec.data.output {
                OutputMode::Direct => (1, h.max(1)),
                OutputMode::Single => (h, 1),
            };
            if windows::anchors(p.val_targets(), leads).is_empty() {
                return Err(spec.lines.error(
                    "data.horizon",
                    format!(
                        "a direct head over {h} rows needs a validation span of at least {h} rows; it has {}",
                        p.val_targets().len()
                    ),
                ));
            }
            if windows::anchors(&p.train_targets(w, offset), leads).is_empty() {
                let key =
                    spec.lines
                        .first_recorded(&["grid.window", "space.window", "data.window"]);
                return Err(spec.lines.error(
                    key,
                    format!(
                        "window {w} with horizon {h} leaves no training windows: the training split has {} rows",
                        p.train_rows()
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
    folds: &'a [Prepared],
    final_rows: Option<&'a Prepared>,
    /// What ranks runs and feeds the sampler: `val_rmse`, or `cv_val_rmse` with folds.
    objective: &'static str,
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
    mirror: Option<&'a crate::mlflow::Mirror>,
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
    let (started, cpu_started) = (Instant::now(), process_cpu_time());
    let plan = plan(spec)?;
    for warning in &plan.data.warnings {
        crate::errln!("warning: {warning}");
    }
    let store = Store::open(&opts.store)?;
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
    let mirror = match &opts.mlflow {
        Some(t) => Some(
            crate::mlflow::Mirror::start(t.clone(), opts.store.clone())
                .context("starting the MLflow mirror")?,
        ),
        None => None,
    };

    let done = store.finished_keys(&spec.experiment)?;
    let pending: Vec<&Slot> = plan
        .slots
        .iter()
        .filter(|s| !done.contains(&s.key))
        .collect();
    let skipped = plan.slots.len() - pending.len();
    progress.sweep_started(plan.slots.len(), pending.len());

    let objective = metrics::objective(spec.eval.cross_validates());
    let history = observations(&store, &plan.study, objective)?;
    let worker = Worker {
        spec,
        data: &plan.data,
        prepared: &plan.prepared,
        folds: &plan.folds,
        final_rows: plan.final_rows.as_ref(),
        objective,
        store: &store,
        experiment_id,
        sweep_id: &sweep_id,
        study: &plan.study,
        data_id: data_id.clone(),
        progress,
        sampler: Mutex::new(plan.sampler),
        history: Mutex::new(history),
        pruner: if spec.eval.cross_validates() {
            prune::build_for_folds(&spec.prune)
        } else {
            prune::build(&spec.prune)
        },
        curves: Curves::new(store.study_curves(&plan.study, pruned_curve(spec))?),
        clock: Clock::default(),
        mirror: mirror.as_ref(),
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
        store: opts.store.to_string(),
        location: opts.store.clone(),
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
        mlflow: None,
        promotion: None,
    };
    drop(worker);
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
    summary.mlflow = mirror.map(|m| m.finish(crate::mlflow::GRACE));
    summary.best = best_run(&store, spec, &data_id)?;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary.time.cpu_seconds = (process_cpu_time() - cpu_started).as_secs_f64();
    Ok(summary)
}

/// The per-step curve the pruner compares: the chosen epoch metric, or with folds the
/// running mean of the folds' `val_rmse`.
fn pruned_curve(spec: &Spec) -> &str {
    if spec.eval.cross_validates() {
        metrics::CV_VAL_RMSE
    } else {
        &spec.prune.metric
    }
}

/// The best run on the data this sweep trained on: runs of other snapshots were scored on
/// other rows.
fn best_run(store: &Store, spec: &Spec, data_id: &str) -> Result<Option<BestRun>> {
    let objective = metrics::objective(spec.eval.cross_validates());
    let Some(run) = store.best_run(&spec.experiment, objective, Some(data_id))? else {
        return Ok(None);
    };
    Ok(Some(BestRun {
        label: jobs::label(&run.params, spec),
        metric: objective,
        score: run.metric(objective).unwrap_or(f64::NAN),
        naive_score: run.metric(&metrics::naive_of(objective)),
        val_rmse: run.metric(metrics::VAL_RMSE).unwrap_or(f64::NAN),
        naive_val_rmse: run.metric(metrics::NAIVE_VAL_RMSE),
        linear_val_rmse: run.metric(metrics::LINEAR_VAL_RMSE),
        val_mase: run.metric(metrics::VAL_MASE),
        test_rmse: run.metric(metrics::TEST_RMSE),
        test_coverage_80: run.metric(metrics::TEST_COVERAGE_80),
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

/// The study's finished and pruned trials as the sampler sees them, scored by the sweep's
/// objective (`cv_val_rmse` with rolling origins: a trial pruned after a fold has no
/// `val_rmse`, and the last fold alone is not what the sweep minimises).
fn observations(store: &Store, study: &str, objective: &str) -> Result<Vec<Observation>> {
    Ok(store
        .study_observations(study, objective)?
        .into_iter()
        .map(|(params, value)| Observation { params, value })
        .collect())
}

fn run_slot(w: &Worker, slot: &Slot) -> Result<Outcome> {
    if signals::stop_requested() {
        return Ok(Outcome::NotStarted);
    }
    if w.spec.prune.method != crate::spec::PruneMethod::None {
        // Other processes (on other hosts) finish runs too: judge against their curves.
        w.curves
            .absorb(w.store.study_curves(w.study, &w.spec.prune.metric)?);
    }
    let params = match &slot.params {
        Some(p) => p.clone(),
        None => {
            // Every trial finished so far, by any process on any host, informs the proposal.
            let stored = observations(w.store, w.study, w.objective)?;
            let history = {
                let mut history = w.history.lock().unwrap_or_else(|p| p.into_inner());
                *history = stored;
                history.clone()
            };
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
            let outcome = Clock::time(&w.clock.run, || run_claimed(w, &job, id.clone(), &label));
            // The run has its final record now; mirroring it never waits.
            if let Some(m) = w.mirror {
                m.run_ended(&id);
            }
            return outcome;
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
    let direct = w.spec.data.output == OutputMode::Direct;
    let cfg = TrainConfig::from_params(&job.params).map(|c| c.direct(direct));
    let epochs = cfg.as_ref().map_or(0, |c| c.epochs);
    let view = RunView {
        run_id: &run_id,
        label,
        epochs,
    };
    w.progress.run_started(&view);

    let naive = match &cfg {
        Ok(c) => baselines(w, c),
        Err(_) => w.baselines(0, 1),
    };
    let mut log = EpochLog::new(&run_id);
    let result = cfg
        .map_err(anyhow::Error::msg)
        .and_then(|cfg| train_and_save(w, &run_id, &cfg, job, label, &view, &mut log));
    let seconds = started.elapsed().as_secs_f64();
    if result.is_err() {
        // Whatever ended the run, its epochs go to the store before its end does.
        log.flush(w)?;
    }
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
            let val_rmse = value(&metrics, w.objective);
            let epochs = log.pending();
            let outcome = match &done.stopped {
                None => {
                    Clock::time(&w.clock.store, || {
                        let end = (RunStatus::Finished, None);
                        w.store
                            .end_run(&run_id, end, &epochs, &metrics, &done.artifacts)
                    })?;
                    let naive_val_rmse = value(&metrics, &metrics::naive_of(w.objective));
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
                        let end = (RunStatus::Pruned, Some(reason.as_str()));
                        w.store
                            .end_run(&run_id, end, &epochs, &metrics, &done.artifacts)
                    })?;
                    w.progress
                        .run_ended(&view, &RunEnd::Pruned { reason }, seconds);
                    Outcome::Pruned {
                        epochs_saved: done.epochs_saved,
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
    artifacts: Vec<NewArtifact<'static>>,
    /// The pruner's reason, when it stopped the run.
    stopped: Option<String>,
    /// Epochs the pruner's verdict left untrained.
    epochs_saved: usize,
}

/// How long a run's epoch metrics may wait in memory before they are written: a run writes
/// one short transaction per second instead of one per epoch. A killed process loses at most
/// this much of a running run's curve, and that run is trained again from scratch anyway.
/// What is still waiting when the run ends goes into the transaction that closes it, so a
/// run shorter than this writes its curve with its end, not on its own.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// A run's epoch metrics on their way to the store, written in batches.
struct EpochLog<'a> {
    run_id: &'a str,
    pending: Vec<(usize, [(&'static str, f64); 2])>,
    /// The last write, or the run's start before the first.
    last_write: Instant,
}

impl<'a> EpochLog<'a> {
    fn new(run_id: &'a str) -> Self {
        Self {
            run_id,
            pending: Vec::new(),
            last_write: Instant::now(),
        }
    }

    /// The epochs not written yet, as the store takes them.
    fn pending(&self) -> Vec<(usize, &[(&str, f64)])> {
        self.pending.iter().map(|(s, m)| (*s, &m[..])).collect()
    }

    fn push(&mut self, w: &Worker, r: &train::EpochReport) -> Result<()> {
        let metrics = [
            (metrics::TRAIN_LOSS, r.train_loss),
            (metrics::VAL_LOSS, r.val_loss),
        ];
        self.pending.push((r.epoch, metrics));
        if self.last_write.elapsed() >= WRITE_EVERY {
            self.flush(w)?;
        }
        Ok(())
    }

    fn flush(&mut self, w: &Worker) -> Result<()> {
        let epochs = self.pending();
        Clock::time(&w.clock.store, || w.store.log_epochs(self.run_id, &epochs))?;
        self.pending.clear();
        self.last_write = Instant::now();
        Ok(())
    }
}

/// Trains on the single split, writes artifacts, and returns what to record; with folds,
/// rolling-origin evaluation does instead.
fn train_and_save(
    w: &Worker,
    run_id: &str,
    cfg: &TrainConfig,
    job: &Job,
    label: &str,
    view: &RunView,
    log: &mut EpochLog,
) -> Result<Done> {
    if !w.folds.is_empty() {
        return cv::cross_validate(w, run_id, cfg, job, label, view, log);
    }
    let how = Fit {
        prune_epochs: true,
        log_epochs: true,
    };
    let trained = fit(w, run_id, cfg, w.prepared, view, log, how)?;
    let val = windows::anchors(w.prepared.val_targets(), cfg.outputs);
    let mut residuals = Residuals::default();
    residuals.add(w.prepared, &val, &trained.predictions, cfg.outputs);
    let card = card(w, run_id, cfg, job, w.prepared, &residuals);
    let artifacts = save(w, label, &trained, &card)?;
    let mut metrics = epoch_metrics(&trained);
    metrics.extend(series::scores(
        w.prepared,
        &val,
        &trained.predictions,
        cfg.outputs,
        cfg.offset(),
        &series::VALIDATION,
    ));
    metrics.extend(test_metrics(
        &trained.model,
        w.prepared,
        cfg,
        &card.intervals,
    )?);
    let epochs_saved = match trained.stopped {
        Some(_) => cfg.epochs.saturating_sub(trained.history.len()),
        None => 0,
    };
    Ok(Done {
        metrics,
        artifacts,
        epochs_saved,
        stopped: trained.stopped,
    })
}

/// What one training does with its epochs besides showing them.
#[derive(Clone, Copy)]
struct Fit {
    /// The pruner judges every epoch (with one split; folds are judged per fold instead).
    prune_epochs: bool,
    /// Epoch metrics go to the store. The kept model of a cross-validated run logs none:
    /// it has no validation span to score.
    log_epochs: bool,
}

/// Trains `cfg` on `data`. A panic inside candle becomes an error, so one bad run cannot end
/// the sweep; a stop signal ends it at an epoch's end.
fn fit(
    w: &Worker,
    run_id: &str,
    cfg: &TrainConfig,
    data: &Prepared,
    view: &RunView,
    log: &mut EpochLog,
    how: Fit,
) -> Result<train::Trained> {
    // Time spent in the callback, taken off the training clock below.
    let mut recording = std::time::Duration::ZERO;
    let mut on_epoch = |r: &train::EpochReport| -> Result<Next> {
        let start = Instant::now();
        let next = on_epoch_end(w, cfg, run_id, view, log, r, how);
        recording += start.elapsed();
        next
    };
    let (started, cpu_started) = (Instant::now(), thread_cpu_time());
    let trained = catch_unwind(AssertUnwindSafe(|| train::train(cfg, data, &mut on_epoch)));
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
    let trained = trained
        .map_err(|panic| anyhow::anyhow!("training panicked: {}", panic_message(&panic)))?
        .map_err(|e| match e {
            // Keep the callback's own error (an interrupt, a store error) as it was raised.
            train::TrainError::Stopped(inner) => inner,
            other => other.into(),
        })?;
    if let Some(reason) = &trained.early_stopped {
        Clock::time(&w.clock.store, || {
            w.store.set_tags(run_id, &[(EARLY_STOPPED_TAG, reason)])
        })?;
    }
    Ok(trained)
}

/// The card of a model trained on `rows`, with the intervals its `residuals` calibrate.
fn card(
    w: &Worker,
    run_id: &str,
    cfg: &TrainConfig,
    job: &Job,
    rows: &Prepared,
    residuals: &Residuals,
) -> ModelCard {
    let mut card = ModelCard::new(run_id, cfg, &job.params, w.data, rows);
    card.intervals = residuals.widths(w.data.has_series());
    card
}

/// Renders a trained model's artifacts in memory, for the transaction that closes the run.
fn save(
    w: &Worker,
    label: &str,
    trained: &train::Trained,
    card: &ModelCard,
) -> Result<Vec<NewArtifact<'static>>> {
    let title = format!("{} — {label}", w.spec.experiment);
    Clock::time(&w.clock.artifacts, || {
        artifacts::render(trained, card, &title)
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
    how: Fit,
) -> Result<Next> {
    if how.log_epochs {
        log.push(w, r)?;
    }
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
    if !how.prune_epochs {
        return Ok(Next::Continue);
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

/// The validation scores and curve summary of one training.
fn epoch_metrics(trained: &train::Trained) -> Metrics {
    // The kept epoch's (see `keep`): the losses match the saved model and val_rmse.
    let kept = trained.kept();
    let best = trained.best_epoch();
    vec![
        (metrics::VAL_RMSE, trained.val_rmse),
        (metrics::VAL_MAE, trained.val_mae),
        (metrics::TRAIN_LOSS, kept.train_loss),
        (metrics::VAL_LOSS, kept.val_loss),
        (metrics::BEST_EPOCH, best.epoch as f64),
        (metrics::KEPT_EPOCH, trained.kept_epoch as f64),
        (metrics::BEST_VAL_LOSS, best.val_loss),
        (metrics::EPOCHS_TRAINED, trained.history.len() as f64),
    ]
    .into_iter()
    .chain(per_lead(metrics::VAL_RMSE, &trained.lead_errors))
    .collect()
}

/// `<base>_h1 … <base>_hH` (RMSE per lead time) for a direct multi-step run; none otherwise.
fn per_lead(base: &str, errors: &[(f64, f64)]) -> Metrics {
    if errors.len() < 2 {
        return Vec::new();
    }
    errors
        .iter()
        .enumerate()
        .map(|(k, e)| (metrics::at_lead(base, k + 1), e.0))
        .collect()
}

/// The model's scores on the test span, read once after training, and how often its actuals
/// fall inside the model's intervals `widths`; none without a test span.
fn test_metrics(
    model: &train::GruForecaster,
    p: &Prepared,
    cfg: &TrainConfig,
    widths: &[Widths],
) -> Result<Metrics> {
    if p.test_targets().is_empty() {
        return Ok(Vec::new());
    }
    let anchors = windows::anchors(p.test_targets(), cfg.outputs);
    let normalised = train::predict(model, p, &anchors, cfg, &candle_core::Device::Cpu)?;
    let predicted = p.denormalise_all(&anchors, cfg.outputs, &normalised);
    let errors = windows::lead_errors(p, &predicted, &anchors, cfg.outputs);
    let (rmse, mae) = windows::mean_over_leads(&errors);
    let mut out = vec![(metrics::TEST_RMSE, rmse), (metrics::TEST_MAE, mae)];
    out.extend(series::scores(
        p,
        &anchors,
        &predicted,
        cfg.outputs,
        cfg.offset(),
        &series::TEST,
    ));
    for (level, name) in intervals::COVERAGE_METRICS {
        if let Some(c) = intervals::coverage(widths, p, &anchors, &predicted, cfg.outputs, level) {
            out.push((name, c));
        }
    }
    Ok(out)
}

/// The baselines' scores for a run of `cfg`. The naive forecast's come from
/// [`naive_metrics`] (per lead time for a direct head, and on the test span); a direct head
/// gets no linear or seasonal baseline, which forecast one lead time only.
fn baselines(w: &Worker, cfg: &TrainConfig) -> Metrics {
    let mut m = if cfg.outputs > 1 {
        Vec::new()
    } else {
        w.baselines(cfg.window, cfg.horizon)
    };
    m.retain(|(k, _)| !k.starts_with("naive_"));
    m.extend(naive_metrics(w.prepared, cfg));
    // Recorded with the baselines so that a failed run's record holds it too.
    if !w.prepared.gaps.is_empty() {
        let dropped = w.prepared.windows_across_gaps(cfg.window + cfg.offset());
        m.push((metrics::WINDOWS_DROPPED_AT_GAPS, dropped as f64));
    }
    m
}

/// The naive last-value forecast's scores on the validation span (per lead time, too, for a
/// direct head) and on the test span when there is one.
fn naive_metrics(p: &Prepared, cfg: &TrainConfig) -> Metrics {
    let errors = |rows: &[usize]| {
        windows::naive_lead_errors(
            p,
            &windows::anchors(rows, cfg.outputs),
            cfg.offset(),
            cfg.outputs,
        )
    };
    let val = errors(p.val_targets());
    let (rmse, mae) = windows::mean_over_leads(&val);
    let mut out = vec![
        (metrics::NAIVE_VAL_RMSE, rmse),
        (metrics::NAIVE_VAL_MAE, mae),
    ];
    out.extend(per_lead(metrics::NAIVE_VAL_RMSE, &val));
    if !p.test_targets().is_empty() {
        let (rmse, mae) = windows::mean_over_leads(&errors(p.test_targets()));
        out.extend([
            (metrics::NAIVE_TEST_RMSE, rmse),
            (metrics::NAIVE_TEST_MAE, mae),
        ]);
    }
    out
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
