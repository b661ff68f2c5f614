//! Per-trial store overhead, SQLite against PostgreSQL: 1,000 tiny trials, each a claim, one
//! epoch batch (2 metrics × 5 epochs in one transaction, as a sweep's one-per-second batching
//! writes a short run) and a close with 9 final metrics. The two backends are measured
//! interleaved, in 4 rounds of 250 trials each, so the machine's drift hits both alike.
//!
//!     AEROCAST_BENCH_PG_URL=$(tests/cluster/pg.sh start) cargo bench --bench store_backends
//!
//! Without `AEROCAST_BENCH_PG_URL` (or `AEROCAST_TEST_PG_URL`) only SQLite is measured.
//! PostgreSQL runs in a fresh database it creates and drops.

mod common;

use aerocast::jobs::{Job, Params};
use aerocast::store::{Claim, Store};
use std::time::{Duration, Instant};

const ROUNDS: usize = 4;
const PER_ROUND: usize = 250;

#[derive(Default)]
struct Times {
    claim: Duration,
    epochs: Duration,
    close: Duration,
    trials: usize,
}

fn trials(store: &Store, sweep: &(i64, String), first: usize, t: &mut Times) {
    let finals: Vec<(&str, f64)> = (0..9)
        .map(|i| (["a", "b", "c", "d", "e", "f", "g", "h", "i"][i], i as f64))
        .collect();
    for index in first..first + PER_ROUND {
        let job = Job {
            index,
            params: Params::new(),
            key: format!("job-{index}"),
        };
        let start = Instant::now();
        let Claim::Run(run_id) = store.claim(sweep.0, &sweep.1, "0", &job, &[]).unwrap() else {
            panic!("job {index} not claimed");
        };
        t.claim += start.elapsed();
        let epoch = [("train_loss", 0.5), ("val_loss", 0.6)];
        let epochs: Vec<(usize, &[(&str, f64)])> = (1..=5).map(|s| (s, &epoch[..])).collect();
        let start = Instant::now();
        store.log_epochs(&run_id, &epochs).unwrap();
        t.epochs += start.elapsed();
        let start = Instant::now();
        store.finish_run(&run_id, &finals, &[]).unwrap();
        t.close += start.elapsed();
        t.trials += 1;
    }
}

fn report(name: &str, t: &Times) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / t.trials as f64;
    println!(
        "{name:<10} {:>6} trials  claim {:.3} ms  epochs {:.3} ms  close {:.3} ms  total {:.3} ms/trial",
        t.trials,
        ms(t.claim),
        ms(t.epochs),
        ms(t.close),
        ms(t.claim + t.epochs + t.close)
    );
}

fn main() {
    aerocast::pin_candle_threads();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path()).unwrap();
    let pg_url = std::env::var("AEROCAST_BENCH_PG_URL")
        .or_else(|_| std::env::var("AEROCAST_TEST_PG_URL"))
        .ok();
    let pg_db = pg_url.as_deref().map(common::PgBenchDb::create);
    let pg = pg_db.as_ref().map(|db| {
        Store::open(aerocast::store::Location::parse("bench", &db.url).unwrap()).unwrap()
    });
    let sweeps = (
        common::begin_sweep(&sqlite, ROUNDS * PER_ROUND),
        pg.as_ref()
            .map(|s| common::begin_sweep(s, ROUNDS * PER_ROUND)),
    );
    let (mut ts, mut tp) = (Times::default(), Times::default());
    for round in 0..ROUNDS {
        trials(&sqlite, &sweeps.0, round * PER_ROUND, &mut ts);
        if let (Some(pg), Some(sweep)) = (&pg, &sweeps.1) {
            trials(pg, sweep, round * PER_ROUND, &mut tp);
        }
    }
    report("sqlite", &ts);
    if pg.is_some() {
        report("postgresql", &tp);
    } else {
        println!("postgresql: skipped (set AEROCAST_BENCH_PG_URL)");
    }
}
