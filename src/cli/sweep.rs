//! `aerocast sweep`: its flags, the sweep, the promotion after it, the summary and the report.

use super::{EXIT_OK, EXIT_REGRESSION, EXIT_RUNS_FAILED, StoreArg, plural};
use crate::error::InputError;
use crate::export::{self, Format, Report, Scope};
use crate::metrics;
use crate::output;
use crate::spec::Spec;
use crate::store::Store;
use crate::sweep::{self, SweepOptions, SweepSummary};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep spec (TOML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Runs trained at once [default: number of cores]
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Mirror each run to this MLflow tracking server as it ends [default: [mlflow]
    /// tracking_uri of the spec]
    #[arg(long, value_name = "URI")]
    pub mlflow: Option<String>,
    /// After the sweep, compare its best run with the registered model NAME@ALIAS on the same
    /// rows and promote it (register a new version, move the alias) when it is better.
    #[arg(long, value_name = "NAME")]
    pub promote: Option<String>,
    /// The alias --promote compares with and moves.
    #[arg(long, default_value = "production", requires = "promote")]
    pub alias: String,
    /// How much better (relative RMSE) the challenger must be: 0.01 = 1%.
    #[arg(long, default_value_t = 0.0, requires = "promote", value_parser = non_negative)]
    pub min_improvement: f64,
    /// Exit 4 when the champion beats tonight's best.
    #[arg(long, requires = "promote")]
    pub fail_on_regression: bool,
    /// Check the spec and its data and list the trials, marking those the store already
    /// finished; train nothing and write nothing (exit 2 on bad input, as a sweep).
    #[arg(long, conflicts_with_all = ["promote", "mlflow"])]
    pub dry_run: bool,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s} is not a fraction in [0, 1)")),
    }
}

/// Runs trained at once can be at most this many (`--jobs`): past it, threads only fight.
pub const MAX_JOBS_FLAG: usize = 256;

pub(super) fn sweep_cmd(args: SweepArgs) -> Result<ExitCode> {
    crate::signals::install()?;
    let spec = Spec::load(&args.spec)?;
    if args.dry_run {
        let plan = sweep::dry_run(&spec, &args.store.location(spec.store.as_deref())?)?;
        match args.json {
            true => crate::outln!("{}", serde_json::to_string_pretty(&plan)?),
            false => print_dry_run(&plan),
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    let jobs = match args.jobs {
        Some(0) => return Err(InputError::usage("--jobs", "must be at least 1").into()),
        Some(n) if n > MAX_JOBS_FLAG => {
            return Err(InputError::usage(
                "--jobs",
                format!("{n} is more than {MAX_JOBS_FLAG} runs at once; each run is one thread (the sweep never starts more than it has trials)"),
            )
            .into());
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let store = args.store.location(spec.store.as_deref())?;
    let mlflow = match args.mlflow.as_deref().or(spec.mlflow.as_deref()) {
        Some(uri) => Some(crate::mlflow::Tracking::new(
            Some(uri),
            &crate::mlflow::tracking::process_env,
        )?),
        None => None,
    };
    let progress = output::for_terminal(args.quiet || args.json);
    let opts = SweepOptions {
        store,
        jobs,
        mlflow,
    };
    let mut summary = sweep::run(&spec, &opts, progress.as_ref())?;
    if let Some(model) = &args.promote {
        summary.promotion = promote(&spec, &summary, model, &args)?;
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        print_summary(&summary);
    }
    // A stopped sweep gets its report too (the sweep is recorded `interrupted`); the exit
    // status then says why it stopped.
    write_sweep_report(&summary, args.quiet, args.json);
    if let Some(sig) = crate::signals::received() {
        return Ok(ExitCode::from(crate::signals::exit_status(sig)));
    }
    let regressed = summary.promotion.as_ref().is_some_and(|p| p.regressed());
    Ok(ExitCode::from(if args.fail_on_regression && regressed {
        EXIT_REGRESSION
    } else if summary.failed > 0 {
        EXIT_RUNS_FAILED
    } else {
        EXIT_OK
    }))
}

fn print_dry_run(plan: &sweep::DryRun) {
    let d = &plan.data;
    crate::outln!(
        "{}: experiment \"{}\", {} search, {}: {} finished in the store, {} to run",
        plan.spec,
        plan.experiment,
        plan.method.name(),
        plural(plan.trials, "trial"),
        plan.finished,
        plan.to_run
    );
    crate::outln!(
        "data: {} ({}, sha256 {}, {} series); rows train {}, validate {}, test {}",
        d.path,
        plural(d.rows, "row"),
        &d.sha256[..12.min(d.sha256.len())],
        d.series,
        d.train_rows,
        d.val_rows,
        d.test_rows
    );
    for job in &plan.jobs {
        crate::outln!(
            "  {:>5}  {:<8}  {}",
            job.index,
            if job.finished { "finished" } else { "to run" },
            job.label
                .as_deref()
                .unwrap_or("(proposed as the sweep runs)")
        );
    }
}

/// Champion against tonight's best; nothing to decide when no run finished.
fn promote(
    spec: &Spec,
    summary: &SweepSummary,
    model: &str,
    args: &SweepArgs,
) -> Result<Option<crate::promote::Promotion>> {
    let Some(best) = &summary.best else {
        crate::errln!("promotion skipped: no finished run on tonight's data");
        return Ok(None);
    };
    crate::store::check_name(model, "model name").map_err(|m| InputError::usage("--promote", m))?;
    let store = Store::open_existing(&summary.location)?;
    let opts = crate::promote::PromoteOptions {
        model: model.to_string(),
        alias: args.alias.clone(),
        min_improvement: args.min_improvement,
    };
    Ok(Some(crate::promote::promote(
        &store,
        spec,
        &best.run_id,
        &opts,
    )?))
}

fn print_summary(s: &SweepSummary) {
    crate::outln!(
        "sweep {} of \"{}\" ({}): {} — {} finished, {} pruned, {} failed, {} skipped (already finished){} in {:.1}s",
        &s.sweep_id[..8],
        s.experiment,
        format!("{:?}", s.method).to_lowercase(),
        plural(s.total, "trial"),
        s.finished,
        s.pruned,
        s.failed,
        s.skipped,
        if s.busy > 0 {
            format!(", {} running in another process", s.busy)
        } else {
            String::new()
        },
        s.wall_seconds
    );
    if s.gave_up > 0 {
        crate::outln!(
            "{} not run: failed or killed max_attempts times (see `aerocast runs --status failed`)",
            plural(s.gave_up, "job")
        );
    }
    if s.dropped_rows > 0 {
        crate::outln!(
            "data: {} with missing values dropped (missing = \"drop\"); no window spans them",
            plural(s.dropped_rows, "row")
        );
    }
    if s.pruned > 0 {
        crate::outln!("pruning saved {} epochs of training", s.epochs_saved);
    }
    let t = &s.time;
    if t.run_seconds > 0.0 {
        let share = |x: f64| 100.0 * x / t.run_seconds;
        crate::outln!(
            "tracking: {:.2}s writing the store ({:.2}% of run time), {:.2}s saving models and plots ({:.1}%)",
            t.store_seconds,
            share(t.store_seconds),
            t.artifact_seconds,
            share(t.artifact_seconds)
        );
    }
    if let Some(sig) = crate::signals::received() {
        crate::outln!(
            "stopped by {}: {} run(s) interrupted mid-training, {} job(s) not started; rerun to finish them",
            crate::signals::name(sig),
            s.interrupted,
            s.not_started
        );
    }
    if let Some(m) = &s.mlflow {
        println!("{m}");
    }
    if s.reaped > 0 {
        crate::outln!(
            "marked {} stale run(s) of dead processes as killed",
            s.reaped
        );
    }
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    match &s.best {
        Some(b) => {
            // The linear baseline is scored on the validation span: beside val_rmse only.
            let linear = if b.metric == metrics::VAL_RMSE {
                format!(", linear {}", num(b.linear_val_rmse))
            } else {
                String::new()
            };
            crate::outln!(
                "best: {} {} {}={:.4} (naive {}{linear}){}",
                b.run_id,
                b.label,
                b.metric,
                b.score,
                num(b.naive_score),
                b.val_mase
                    .map_or(String::new(), |v| format!(", val_mase={v:.3}")),
            );
            if let Some(test) = b.test_rmse {
                let covered = b.test_coverage_80.map_or(String::new(), |c| {
                    format!(", its 80% interval covers {:.0}%", 100.0 * c)
                });
                crate::outln!("  test span (not used for selection): test_rmse={test:.4}{covered}");
            }
            if let Some(linear) = b.linear_val_rmse.filter(|l| b.val_rmse >= *l) {
                crate::outln!(
                    "warning: the best GRU does not beat the linear baseline ({:.4} vs {linear:.4}): not worth deploying over it",
                    b.val_rmse
                );
            }
        }
        None => crate::outln!("no finished run yet"),
    }
    if let Some(p) = &s.promotion {
        crate::outln!(
            "promotion of {}@{} on the {} span: {} — {}",
            p.model,
            p.alias,
            p.span,
            if p.promoted() {
                format!(
                    "promoted run {} as version {}",
                    &p.challenger.run_id[..8],
                    p.version.unwrap_or(0)
                )
            } else {
                "champion kept".to_string()
            },
            p.reason
        );
    }
    crate::outln!("store: {}", s.store);
}

/// The report at the end of a sweep; a failure to write it is a warning, not a failed sweep.
fn write_sweep_report(s: &SweepSummary, quiet: bool, json: bool) {
    let written = Store::open_existing(&s.location).and_then(|store| {
        let report = Report::load(&store, &Scope::experiment(&store, &s.experiment)?)?;
        let dir = export::default_dir(&store, &report.experiment);
        export::write(&store, &report, Format::Html, &dir)
    });
    match written {
        // stdout stays one JSON object under --json.
        Ok(path) if json && !quiet => crate::errln!("report: {}", path.display()),
        Ok(path) if !quiet => crate::outln!("report: {}", path.display()),
        Ok(_) => {}
        Err(e) => crate::errln!("warning: the report could not be written: {e:#}"),
    }
}
