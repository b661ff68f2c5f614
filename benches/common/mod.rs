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
#[allow(dead_code)]
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

/// A fresh PostgreSQL database for a bench, dropped afterwards.
#[allow(dead_code)]
pub struct PgBenchDb {
    admin: String,
    name: String,
    pub url: String,
}

#[allow(dead_code)]
impl PgBenchDb {
    pub fn create(admin: &str) -> PgBenchDb {
        let name = format!("aerocast_bench_{}", std::process::id());
        let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("bench server");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = admin.rsplit_once('/').expect("URL with a database");
        PgBenchDb {
            admin: admin.to_string(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgBenchDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
