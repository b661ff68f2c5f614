//! The store's schema and its migrations. `PRAGMA user_version` holds the number of migrations
//! applied; a store from a newer aerocast is refused rather than misread.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, TransactionBehavior};

/// Each entry upgrades the schema by one version. Append only: never edit a shipped migration.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE experiments (
    experiment_id INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at    REAL NOT NULL
);
CREATE TABLE sweeps (
    sweep_id         TEXT PRIMARY KEY,
    experiment_id    INTEGER NOT NULL REFERENCES experiments(experiment_id),
    spec_path        TEXT NOT NULL,
    spec_text        TEXT NOT NULL,
    spec_hash        TEXT NOT NULL,
    data_path        TEXT NOT NULL,
    data_hash        TEXT NOT NULL,
    aerocast_version TEXT NOT NULL,
    host             TEXT NOT NULL,
    pid              INTEGER NOT NULL,
    started_at       REAL NOT NULL,
    ended_at         REAL,
    status           TEXT NOT NULL,
    n_jobs           INTEGER NOT NULL,
    n_finished       INTEGER,
    n_failed         INTEGER,
    n_skipped        INTEGER
);
CREATE TABLE runs (
    run_id           TEXT PRIMARY KEY,
    experiment_id    INTEGER NOT NULL REFERENCES experiments(experiment_id),
    sweep_id         TEXT NOT NULL REFERENCES sweeps(sweep_id),
    job_key          TEXT NOT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('running', 'finished', 'failed', 'killed', 'interrupted', 'pruned')),
    start_time       REAL NOT NULL,
    end_time         REAL,
    heartbeat        REAL NOT NULL,
    host             TEXT NOT NULL,
    pid              INTEGER NOT NULL,
    failure_reason   TEXT,
    data_hash        TEXT NOT NULL,
    aerocast_version TEXT NOT NULL
);
-- At most one live or finished run per job: a second claim fails here even if two
-- processes race past every other check.
CREATE UNIQUE INDEX runs_one_active_per_job ON runs(experiment_id, job_key)
    WHERE status IN ('running', 'finished');
CREATE INDEX runs_by_experiment ON runs(experiment_id, status);
CREATE INDEX runs_by_sweep ON runs(sweep_id);
CREATE TABLE params (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL, -- JSON, so numbers stay numbers
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE metric_history (
    run_id    TEXT NOT NULL REFERENCES runs(run_id),
    key       TEXT NOT NULL,
    step      INTEGER NOT NULL,
    value     REAL,
    timestamp REAL NOT NULL,
    PRIMARY KEY (run_id, key, step)
) WITHOUT ROWID;
-- Final values, one per run and key (MLflow's latest_metrics): what leaderboards read.
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key    TEXT NOT NULL,
    value  REAL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX metrics_by_key_value ON metrics(key, value);
CREATE TABLE tags (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    path   TEXT NOT NULL, -- relative to the store folder
    kind   TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
"#,
    // Data snapshots: which data identity (content + how it is read) a sweep trained on, and
    // how many rows it had; reports scope to the latest one.
    r#"
ALTER TABLE sweeps ADD COLUMN data_id TEXT;
ALTER TABLE sweeps ADD COLUMN data_rows INTEGER;
CREATE INDEX tags_by_key_value ON tags(key, value);
"#,
    // Counting a job's failed and killed attempts (the retry budget, `[train] max_attempts`).
    r#"
CREATE INDEX IF NOT EXISTS runs_by_job ON runs(experiment_id, job_key, status);
"#,
    // The model registry: versions 1, 2, 3… per name, each pointing at one run. `IF NOT
    // EXISTS` so a store whose version was set back (by hand, or by a test) upgrades again.
    r#"
CREATE TABLE IF NOT EXISTS models (
    name       TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
    name       TEXT NOT NULL REFERENCES models(name),
    version    INTEGER NOT NULL CHECK (version >= 1),
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    sweep_id   TEXT NOT NULL REFERENCES sweeps(sweep_id),
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_by_run ON model_versions(run_id);
CREATE TABLE IF NOT EXISTS model_aliases (
    name       TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
-- A registered run is pinned: whatever cleans up runs later cannot delete it (or its rows).
CREATE TRIGGER IF NOT EXISTS runs_pinned_by_registry BEFORE DELETE ON runs
WHEN EXISTS (SELECT 1 FROM model_versions WHERE run_id = OLD.run_id)
BEGIN
    SELECT RAISE(ABORT, 'the run is a registered model version and cannot be deleted');
END;
"#,
    // Artifact contents in the database, written by the transaction that closes the run, so a
    // run creates no file. A row without content (from an older aerocast) means the file is
    // in the store's folder. The table is rebuilt as a rowid table: its rows (kilobytes each)
    // are appended in insertion order, and only the small (run_id, path) index takes inserts
    // at random places; in the WITHOUT ROWID table each row's first kilobyte sat in a b-tree
    // keyed by random run ids, which cost a 10,000-run sweep more store time than it saved.
    r#"
CREATE TABLE artifacts_with_contents (
    run_id  TEXT NOT NULL REFERENCES runs(run_id),
    path    TEXT NOT NULL, -- relative to the store folder
    kind    TEXT NOT NULL,
    sha256  TEXT,
    content BLOB,
    PRIMARY KEY (run_id, path)
);
INSERT INTO artifacts_with_contents (run_id, path, kind) SELECT run_id, path, kind FROM artifacts;
DROP TABLE artifacts;
ALTER TABLE artifacts_with_contents RENAME TO artifacts;
"#,
];

/// Migrations that cannot run twice (a table rebuild), each with a query that says whether a
/// store already has what it makes: a store whose version was set back (by hand, or by a
/// test) skips them instead of losing data.
const APPLIED_IF: &[(usize, &str)] = &[(
    4,
    "SELECT count(*) > 0 FROM pragma_table_info('artifacts') WHERE name = 'content'",
)];

#[cfg(test)]
pub(super) fn first_migration() -> &'static str {
    MIGRATIONS[0]
}

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to date. Safe to call from several processes at once: the version is
/// read and bumped inside one write transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    // Check before taking the write lock, so an up-to-date or too-new store is never written.
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        bail!(NewerSchema(current));
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        bail!(NewerSchema(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        if let Some((_, applied)) = APPLIED_IF.iter().find(|(m, _)| *m == i)
            && tx.query_row(applied, [], |r| r.get::<_, bool>(0))?
        {
            continue;
        }
        tx.execute_batch(sql)
            .with_context(|| format!("applying store migration {}", i + 1))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// The store was written by a newer aerocast; reading it could misinterpret it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store has schema version {0}, newer than this aerocast understands ({SCHEMA_VERSION}); upgrade aerocast"
)]
pub struct NewerSchema(pub i64);
