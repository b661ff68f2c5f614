//! A fresh PostgreSQL database per test on the server `AEROCAST_TEST_PG_URL` names (`.ci/run`
//! starts one with `tests/cluster/pg.sh`). Without the variable, PostgreSQL variants are
//! skipped with a notice.

use std::sync::atomic::{AtomicUsize, Ordering};

pub const ENV: &str = "AEROCAST_TEST_PG_URL";

/// A database created for one test and dropped when this value is.
pub struct PgDb {
    admin: String,
    pub name: String,
    pub url: String,
}

impl PgDb {
    /// A new empty database, or `None` (with a notice) when no server is configured.
    pub fn create(test: &str) -> Option<PgDb> {
        let Ok(admin) = std::env::var(ENV) else {
            eprintln!("notice: {ENV} is not set; skipping the PostgreSQL variant of {test}");
            return None;
        };
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "aerocast_t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            test.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(20)
                .collect::<String>()
                .to_lowercase()
        );
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{ENV} server unreachable: {e}"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let (base, _) = admin.rsplit_once('/').expect("URL with a database");
        let url = format!("{base}/{name}");
        Some(PgDb { admin, name, url })
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
