//! Training throughput on the reference workload (`benches/common/reference.rs`):
//! one epoch (train pass over 3,952 windows + validation pass over 1,000) per iteration,
//! single-threaded. Throughput is reported as *training* windows per second (3,952 per epoch,
//! the validation pass counted in the time but not in the windows).
//!
//! `cargo bench --bench train`

#[path = "common/reference.rs"]
mod reference;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use std::time::Duration;

fn train_epoch(c: &mut Criterion) {
    let data = reference::prepared();
    let train_windows = data.train_targets(reference::WINDOW, 1).count();
    let mut group = c.benchmark_group("train_epoch");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(train_windows as u64));
    for hidden in [16, 32, 64] {
        let cfg = reference::config(hidden, 1, 1e-3, 0);
        group.bench_with_input(BenchmarkId::new("hidden", hidden), &cfg, |b, cfg| {
            b.iter(|| {
                let trained = aerocast::train::train(cfg, &data, &mut |_| {
                    Ok(aerocast::train::Next::Continue)
                })
                .unwrap();
                std::hint::black_box(trained.val_rmse)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plotting needs system fonts (criterion's plotters backend), absent on CI machines.
    config = Criterion::default().without_plots();
    targets = train_epoch
}

fn main() {
    aerocast::pin_candle_threads();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
