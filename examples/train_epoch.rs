//! One training run on the reference workload, for profilers (callgrind, perf):
//! `cargo run --release --example train_epoch -- [hidden=64] [epochs=1]`
//! Prints windows/s (training windows over the whole run's wall time).

#[path = "../benches/common/reference.rs"]
mod reference;

fn main() {
    aerocast::pin_candle_threads();
    let mut args = std::env::args().skip(1);
    let hidden: usize = args.next().map_or(64, |a| a.parse().expect("hidden"));
    let epochs: usize = args.next().map_or(1, |a| a.parse().expect("epochs"));
    let data = reference::prepared();
    let cfg = reference::config(hidden, epochs, 1e-3, 0);
    let windows = data.train_targets(cfg.window, cfg.horizon).len() * epochs;
    let start = std::time::Instant::now();
    let trained = aerocast::train::train(&cfg, &data, &mut |_| Ok(aerocast::train::Next::Continue))
        .expect("training");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "hidden {hidden}: {epochs} epoch(s) in {secs:.3} s, {:.0} windows/s, val_rmse {}",
        windows as f64 / secs,
        trained.val_rmse
    );
}
