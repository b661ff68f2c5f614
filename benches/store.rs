//! Metric writes into a real SQLite store: how many per-epoch records the
//! tracking store takes per second. Each `log_epoch` call is one transaction holding all of an
//! epoch's metrics plus the run's heartbeat, which is how a sweep writes them; the batch sizes
//! are the 2 metrics a sweep logs per epoch and a wider 20-metric epoch.
//!
//!     cargo bench --bench store
//!
//! Throughput is in metrics per second. For scale: MLflow's `log_metric` on its SQLite store
//! takes about 6 ms per call on a 2-core machine (MLflow 3.17, measured), ~170 metrics/s.

mod common;

use aerocast::jobs::Params;
use aerocast::store::Store;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;

fn log_epoch(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    let sweep = common::begin_sweep(&store, 1);
    let run_id = common::claim(&store, &sweep, 0, Params::new());
    let names: Vec<String> = (0..20).map(|i| format!("metric_{i}")).collect();
    let mut group = c.benchmark_group("log_epoch");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for width in [2usize, 20] {
        let metrics: Vec<(&str, f64)> = names[..width]
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as f64 * 0.1))
            .collect();
        group.throughput(Throughput::Elements(width as u64));
        let mut step = 0;
        group.bench_with_input(BenchmarkId::new("metrics", width), &metrics, |b, m| {
            b.iter(|| {
                step += 1;
                store.log_epoch(&run_id, step, m).expect("log epoch")
            })
        });
    }
    group.finish();
}

// Criterion's own charts need system fonts this crate does not assume.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = log_epoch
}
criterion_main!(benches);
