//! Report generation on synthetic stores of 1,000 and 10,000 runs (3 seeds per setting, 20
//! epochs of history each), written through the store's own write API. Targets: under 2 s for
//! 1,000 runs, under 1 s for 10,000 (the HTML shows the top 200 runs and the charts draw the
//! spread of the rest).
//!
//!     CARGO_TARGET_DIR=target cargo bench --bench report
//!
//! Measured on a shared 2-core machine: HTML ~147 ms, markdown and JSON less.

mod common;

use aerocast::export::{self, Format, Report, Scope};
use aerocast::jobs::Params;
use aerocast::spec::knobs::ParamValue;
use aerocast::store::RunStatus;
use aerocast::store::Store;
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::time::Duration;

pub const RUNS: usize = 1_000;
const EPOCHS: usize = 20;

/// A store with `runs` finished runs (every 50th failed) of one experiment.
pub fn synthetic_store(dir: &Path, runs: usize) -> Store {
    let store = Store::open(dir).expect("open store");
    let sweep = common::begin_sweep(&store, runs);
    let hidden = [8i64, 16, 32, 64];
    let lrs = [0.0003, 0.001, 0.003, 0.01, 0.03];
    for i in 0..runs {
        let seed = (i % 3) as i64;
        let h = hidden[(i / 3) % hidden.len()];
        let lr = lrs[(i / 12) % lrs.len()];
        let window = 10 + ((i / 60) as i64 % 17);
        let mut params = Params::new();
        params.insert("seed".into(), ParamValue::Int(seed));
        params.insert("hidden_dim".into(), ParamValue::Int(h));
        params.insert("lr".into(), ParamValue::Float(lr));
        params.insert("window".into(), ParamValue::Int(window));
        params.insert("epochs".into(), ParamValue::Int(EPOCHS as i64));
        let run_id = common::claim(&store, &sweep, i, params);
        let quality = 1.0 + (lr.log10() + 2.5).powi(2) + 8.0 / h as f64 + 0.02 * seed as f64;
        for e in 1..=EPOCHS {
            let val = quality * (0.3 + 1.0 / e as f64);
            store
                .log_epoch(&run_id, e, &[("train_loss", val * 0.8), ("val_loss", val)])
                .expect("log epoch");
        }
        if i % 50 == 49 {
            store
                .fail_run(&run_id, "diverged at epoch 3 (train_loss = NaN)", &[])
                .expect("fail run");
        } else {
            let m = quality * 3.0;
            store
                .finish_run(
                    &run_id,
                    &[
                        ("val_rmse", m),
                        ("val_mae", m * 0.8),
                        ("naive_val_rmse", 4.5),
                        ("naive_val_mae", 3.6),
                        ("best_epoch", EPOCHS as f64),
                    ],
                    &[],
                )
                .expect("finish run");
        }
    }
    store
        .end_sweep(&sweep.1, RunStatus::Finished, runs, 0, 0)
        .expect("end");
    store
}

fn report(c: &mut Criterion) {
    for runs in [RUNS, 10 * RUNS] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = synthetic_store(dir.path(), runs);
        let mut group = c.benchmark_group("report");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(20));
        for format in [Format::Html, Format::Md, Format::Json] {
            let out = export::default_dir(&store, "bench");
            group.bench_function(format!("{format:?} {runs} runs"), |b| {
                b.iter(|| {
                    // Loading the runs is part of writing a report.
                    let scope = Scope::experiment(&store, "bench").expect("scope");
                    let report = Report::load(&store, &scope).expect("load");
                    export::write(&store, &report, format, &out).expect("report")
                })
            });
        }
        group.finish();
        // AEROCAST_BENCH_KEEP=1 keeps the synthetic stores, to look at their reports.
        if std::env::var_os("AEROCAST_BENCH_KEEP").is_some() {
            eprintln!("kept the synthetic store at {}", dir.keep().display());
        }
    }
}

// Criterion's own charts need system fonts this crate does not assume.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = report
}
criterion_main!(benches);
