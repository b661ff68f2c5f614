//! Store setup shared by the benches: a bench sweep and runs claimed in it.

use aerocast::jobs::{Job, Params};
use aerocast::store::{Claim, Store, SweepInfo};

/// Opens a sweep of experiment "bench" for `n_jobs` jobs: (experiment id, sweep id).
pub fn begin_sweep(store: &Store, n_jobs: usize) -> (i64, String) {
    store
        .begin_sweep(&SweepInfo {
            experiment: "bench",
            spec_path: "bench.toml",
            spec_text: "",
            spec_hash: "0",
            data_path: "none.csv",
            data_hash: "0",
            data_id: None,
            data_rows: 0,
            n_jobs,
        })
        .expect("begin sweep")
}

/// Claims job `index` with `params`: the new run's id.
pub fn claim(
    store: &Store,
    (experiment_id, sweep_id): &(i64, String),
    index: usize,
    params: Params,
) -> String {
    let job = Job {
        index,
        params,
        key: format!("job-{index}"),
    };
    match store
        .claim(*experiment_id, sweep_id, "0", &job, &[])
        .expect("claim")
    {
        Claim::Run(id) => id,
        _ => panic!("job {index} was not ours"),
    }
}
