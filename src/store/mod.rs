//! The run store: one folder holding `aerocast.db` (SQLite, WAL) and `artifacts/<run_id>/`.
//! Concepts follow MLflow (experiment → runs with params, metrics, tags, artifacts), plus the
//! sweep that produced each run and each job's key, which makes reruns idempotent.

mod query;
mod registry;
pub mod schema;
mod status;
mod write;

pub use query::{
    DATA_TAG, HistoryPoint, RunFilter, RunRecord, SETTING_TAG, STUDY_TAG, SweepDetail, SweepRecord,
    TARGET_TAG, TRIAL_TAG,
};
pub use registry::{ModelRef, ModelVersion, check_alias, check_name};
pub use status::RunStatus;
pub use write::{Claim, SweepInfo};

use crate::error::InputError;
use anyhow::Result;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub const DB_FILE: &str = "aerocast.db";
pub const ARTIFACTS_DIR: &str = "artifacts";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Store {
    dir: PathBuf,
    // One connection per process, shared by the worker threads: writes are short, and
    // serialising them here leaves SQLite's lock for other processes only.
    conn: Mutex<Connection>,
    host: String,
    pid: u32,
}

impl Store {
    /// Opens the store in `dir`, creating the folder and database if needed.
    pub fn open(dir: &Path) -> Result<Store> {
        if dir.exists() && !dir.is_dir() {
            return Err(InputError::usage(
                &dir.display().to_string(),
                "the store path is a file, not a folder",
            )
            .into());
        }
        std::fs::create_dir_all(dir.join(ARTIFACTS_DIR)).map_err(|e| {
            InputError::usage(
                &dir.display().to_string(),
                format!("cannot create the store folder: {e}"),
            )
        })?;
        Self::connect(dir)
    }

    /// Opens an existing store for reading; a missing store is an input error, not a new store.
    pub fn open_existing(dir: &Path) -> Result<Store> {
        if !dir.join(DB_FILE).is_file() {
            return Err(InputError::usage(
                &dir.display().to_string(),
                "no aerocast store here (run `aerocast sweep` first, or pass --store)",
            )
            .into());
        }
        Self::connect(dir)
    }

    fn connect(dir: &Path) -> Result<Store> {
        let db = dir.join(DB_FILE);
        let mut conn = Connection::open(&db)
            .map_err(|e| InputError::usage(&db.display().to_string(), e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers work beside a writer; NORMAL sync is safe under WAL (a power cut can
        // lose the last commits, never corrupt) and avoids the lock stalls of FULL.
        enable_wal(&conn)
            .map_err(|e| InputError::usage(&db.display().to_string(), e.to_string()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn).map_err(|e| match e.downcast::<schema::NewerSchema>() {
            Ok(newer) => InputError::usage(&db.display().to_string(), newer.to_string()).into(),
            Err(e) => e.context(format!("opening {}", db.display())),
        })?;
        Ok(Store {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            host: hostname(),
            pid: std::process::id(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a run's artifacts live. Built from the run id the store generated, never from
    /// user text, so nothing is written outside the store.
    pub fn artifact_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join(ARTIFACTS_DIR).join(run_id)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Switches a connection to WAL. Two processes creating the same store at once can race on the
/// switch, and SQLite answers that race with "locked" without consulting the busy timeout, so
/// retry until the timeout has passed.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}
