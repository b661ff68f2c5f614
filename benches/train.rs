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
    let train_windows = data.train_targets(reference::WINDOW, 1).len();
    let mut group = c.benchmark_group("train_epoch");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(train_windows as u64));
    // One layer at every size, two layers from 64 up (`examples/throughput` prints the same
    // sizes as a share of the core's FMA peak).
    let sizes = [16, 32, 64, 128, 256].map(|h| (h, 1)).into_iter();
    for (hidden, layers) in sizes.chain([64, 128, 256].map(|h| (h, 2))) {
        let mut cfg = reference::config(hidden, 1, 1e-3, 0);
        cfg.num_layers = layers;
        let name = if layers == 1 {
            "hidden"
        } else {
            "hidden_2layers"
        };
        let id = BenchmarkId::new(name, hidden);
        group.bench_with_input(id, &cfg, |b, cfg| {
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
