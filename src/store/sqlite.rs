//! The SQLite backend: one folder holding `aerocast.db` (WAL) and `artifacts/<run_id>/`.
//! Its writes are in `write.rs`, its reads in `query.rs`, its schema in `schema.rs`.

use super::backend::Backend;
use super::{ARTIFACTS_DIR, DB_FILE, schema};
use crate::error::InputError;
use anyhow::Result;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Sqlite {
    pub(super) dir: PathBuf,
    // One connection per process, shared by the worker threads: writes are short, and
    // serialising them here leaves SQLite's lock for other processes only.
    conn: Mutex<Connection>,
}

impl Sqlite {
    /// Opens the store in `dir`, creating the folder and database if needed. Only the store
    /// folder itself is created: a parent that does not exist is more likely a typo than a
    /// wish for a new folder tree.
    pub fn open(dir: &Path) -> Result<Sqlite> {
        let shown = dir.display().to_string();
        if dir.exists() && !dir.is_dir() {
            return Err(InputError::usage(&shown, "the store path is a file, not a folder").into());
        }
        if !dir.exists() {
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                return Err(InputError::usage(
                    &shown,
                    format!(
                        "cannot create the store folder: its parent {} does not exist (aerocast creates the store folder, not the folders above it)",
                        parent.display()
                    ),
                )
                .into());
            }
        }
        std::fs::create_dir_all(dir.join(ARTIFACTS_DIR)).map_err(|e| {
            InputError::usage(&shown, format!("cannot create the store folder: {e}"))
        })?;
        Self::connect(dir)
    }

    /// Opens an existing store for reading only: nothing is written (no migration, no journal
    /// switch, `query_only`), so a store the user may not write (another user's, a read-only
    /// mount) can be listed and reported. A store from an older aerocast is upgraded first,
    /// once, when it can be written.
    pub fn open_read_only(dir: &Path) -> Result<Sqlite> {
        let db = dir.join(DB_FILE);
        if !db.is_file() {
            return Err(no_store_here(dir).into());
        }
        let unusable = |e: &dyn std::fmt::Display| {
            InputError::usage(
                &db.display().to_string(),
                format!("cannot read the store: {e}"),
            )
        };
        let conn = open_for_reading(&db).map_err(|e| unusable(&e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| unusable(&e))?;
        if version > schema::SCHEMA_VERSION {
            return Err(InputError::usage(
                &db.display().to_string(),
                schema::NewerSchema(version).to_string(),
            )
            .into());
        }
        if version < schema::SCHEMA_VERSION {
            // An older schema lacks columns the queries read: upgrade it once, which needs
            // write access, then read as usual.
            drop(conn);
            Self::open_existing(dir).map_err(|e| {
                InputError::usage(
                    &db.display().to_string(),
                    format!(
                        "the store has schema version {version}, older than this aerocast's ({}), and could not be upgraded: {e:#}; run any aerocast command once as a user who may write it",
                        schema::SCHEMA_VERSION
                    ),
                )
            })?;
            return Self::open_read_only(dir);
        }
        Ok(Sqlite {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Opens an existing store for reading; a missing store is an input error, not a new store.
    pub fn open_existing(dir: &Path) -> Result<Sqlite> {
        if !dir.join(DB_FILE).is_file() {
            return Err(no_store_here(dir).into());
        }
        Self::connect(dir)
    }

    fn connect(dir: &Path) -> Result<Sqlite> {
        let db = dir.join(DB_FILE);
        let mut conn = Connection::open(&db)
            .map_err(|e| InputError::usage(&db.display().to_string(), e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers work beside a writer; NORMAL sync is safe under WAL (a power cut can
        // lose the last commits, never corrupt) and avoids the lock stalls of FULL.
        enable_wal(&conn).map_err(|e| {
            InputError::usage(
                &db.display().to_string(),
                format!("cannot write the store: {e}"),
            )
        })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoint every 8,000 pages (32 MB of WAL) instead of SQLite's 1,000: each copies
        // the pages to the database and syncs twice, and a run rewrites the same index pages
        // that a later checkpoint then writes once. Measured on 10,000-run sweeps: store time
        // per run 1.9 ms to 1.4 ms.
        conn.pragma_update(None, "wal_autocheckpoint", 8000)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Room for every statement a sweep repeats per run (claim, epochs, close, reads of
        // the study), so none is evicted and prepared again.
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn).map_err(|e| match e.downcast::<schema::NewerSchema>() {
            Ok(newer) => InputError::usage(&db.display().to_string(), newer.to_string()).into(),
            Err(e) => e.context(format!("opening {}", db.display())),
        })?;
        Ok(Sqlite {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for Sqlite {
    fn engine(&self) -> &'static str {
        "sqlite"
    }
}

fn no_store_here(dir: &Path) -> InputError {
    InputError::usage(
        &dir.display().to_string(),
        "no aerocast store here (run `aerocast sweep` first, or pass --store)",
    )
}

/// A connection that never writes, by the first way that works:
/// 1. read-write but `query_only`: nothing is written, and as the last connection to close it
///    removes the WAL files SQLite makes for readers, so a read leaves the folder as it was;
/// 2. read-only, when the file may not be written;
/// 3. read-only and immutable, when the folder may not be written either: SQLite cannot make
///    the WAL index a reader needs, and no writer can be working in such a folder.
fn open_for_reading(db: &Path) -> rusqlite::Result<Connection> {
    let no_mutex = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let query_only = |conn: Connection| {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "query_only", true)?;
        readable(conn)
    };
    let attempts: [&dyn Fn() -> rusqlite::Result<Connection>; 3] = [
        &|| Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | no_mutex),
        &|| Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | no_mutex),
        &|| {
            let path = db.display().to_string();
            let escaped = path
                .replace('%', "%25")
                .replace('?', "%3f")
                .replace('#', "%23");
            Connection::open_with_flags(
                format!("file:{escaped}?immutable=1"),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | no_mutex,
            )
        },
    ];
    let mut last = None;
    for attempt in attempts {
        match attempt().and_then(query_only) {
            Ok(conn) => return Ok(conn),
            Err(rusqlite::Error::SqliteFailure(f, m))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::ReadOnly
                        | rusqlite::ErrorCode::PermissionDenied
                ) =>
            {
                last = Some(rusqlite::Error::SqliteFailure(f, m));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("three attempts were made"))
}

/// The connection, once a first read proves the file is a database SQLite can read.
fn readable(conn: Connection) -> rusqlite::Result<Connection> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(conn)
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
