//! The PostgreSQL schema: the SQLite tables in PostgreSQL's types, plus artifact contents.
//! `aerocast_schema.version` holds the number of migrations applied; migrations run in one
//! transaction under an advisory lock, so workers starting together migrate once.

use anyhow::{Context, Result, bail};
use postgres::Client;

/// Each entry upgrades the schema by one version. Append only: never edit a shipped migration.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE experiments (
    experiment_id BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at    DOUBLE PRECISION NOT NULL
);
CREATE TABLE sweeps (
    sweep_id         TEXT PRIMARY KEY,
    experiment_id    BIGINT NOT NULL REFERENCES experiments(experiment_id),
    spec_path        TEXT NOT NULL,
    spec_text        TEXT NOT NULL,
    spec_hash        TEXT NOT NULL,
    data_path        TEXT NOT NULL,
    data_hash        TEXT NOT NULL,
    aerocast_version TEXT NOT NULL,
    host             TEXT NOT NULL,
    pid              BIGINT NOT NULL,
    started_at       DOUBLE PRECISION NOT NULL,
    ended_at         DOUBLE PRECISION,
    status           TEXT NOT NULL,
    n_jobs           BIGINT NOT NULL,
    n_finished       BIGINT,
    n_failed         BIGINT,
    n_skipped        BIGINT
);
CREATE TABLE runs (
    run_id           TEXT PRIMARY KEY,
    experiment_id    BIGINT NOT NULL REFERENCES experiments(experiment_id),
    sweep_id         TEXT NOT NULL REFERENCES sweeps(sweep_id),
    job_key          TEXT NOT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('running', 'finished', 'failed', 'killed', 'interrupted', 'pruned')),
    start_time       DOUBLE PRECISION NOT NULL,
    end_time         DOUBLE PRECISION,
    heartbeat        DOUBLE PRECISION NOT NULL,
    host             TEXT NOT NULL,
    pid              BIGINT NOT NULL,
    failure_reason   TEXT,
    data_hash        TEXT NOT NULL,
    aerocast_version TEXT NOT NULL
);
-- At most one live or finished run per job: a second claim conflicts here even if two
-- workers on two hosts race past every other check.
CREATE UNIQUE INDEX runs_one_active_per_job ON runs(experiment_id, job_key)
    WHERE status IN ('running', 'finished');
CREATE INDEX runs_by_experiment ON runs(experiment_id, status);
CREATE INDEX runs_by_sweep ON runs(sweep_id);
CREATE TABLE params (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL, -- JSON, so numbers stay numbers
    PRIMARY KEY (run_id, key)
);
CREATE TABLE metric_history (
    run_id    TEXT NOT NULL REFERENCES runs(run_id),
    key       TEXT NOT NULL,
    step      BIGINT NOT NULL,
    value     DOUBLE PRECISION,
    timestamp DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, key, step)
);
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key    TEXT NOT NULL,
    value  DOUBLE PRECISION,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX metrics_by_key_value ON metrics(key, value);
CREATE TABLE tags (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX tags_by_key_value ON tags(key, value);
-- Artifacts live in the database: any host writes and reads them with the URL alone.
CREATE TABLE artifacts (
    run_id  TEXT NOT NULL REFERENCES runs(run_id),
    path    TEXT NOT NULL, -- relative to the store, as in a SQLite store's folder
    kind    TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    content BYTEA NOT NULL,
    PRIMARY KEY (run_id, path)
);
"#,
    // Data snapshots: which data identity a sweep trained on, and how many rows it had.
    r#"
ALTER TABLE sweeps ADD COLUMN data_id TEXT;
ALTER TABLE sweeps ADD COLUMN data_rows BIGINT;
"#,
    // Counting a job's failed and killed attempts (the retry budget, `[train] max_attempts`).
    r#"
CREATE INDEX IF NOT EXISTS runs_by_job ON runs(experiment_id, job_key, status);
"#,
    // The model registry: versions 1, 2, 3… per name, each pointing at one run.
    r#"
CREATE TABLE IF NOT EXISTS models (
    name       TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
    name       TEXT NOT NULL REFERENCES models(name),
    version    BIGINT NOT NULL CHECK (version >= 1),
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    sweep_id   TEXT NOT NULL REFERENCES sweeps(sweep_id),
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_by_run ON model_versions(run_id);
CREATE TABLE IF NOT EXISTS model_aliases (
    name       TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
-- A registered run is pinned: whatever cleans up runs later cannot delete it (or its rows).
CREATE OR REPLACE FUNCTION aerocast_refuse_pinned_delete() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM model_versions WHERE run_id = OLD.run_id) THEN
        RAISE EXCEPTION 'the run is a registered model version and cannot be deleted';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS runs_pinned_by_registry ON runs;
CREATE TRIGGER runs_pinned_by_registry BEFORE DELETE ON runs
FOR EACH ROW EXECUTE FUNCTION aerocast_refuse_pinned_delete();
"#,
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serialises migrations across processes (an arbitrary constant: "aerocast" in ASCII).
const MIGRATION_LOCK: i64 = 0x6165_726f_6361_7374;

/// The schema version, or `None` when the database holds no aerocast store.
pub fn version(conn: &mut Client) -> Result<Option<i64>> {
    let exists: bool = conn
        .query_one("SELECT to_regclass('aerocast_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = conn.query_opt("SELECT version FROM aerocast_schema", &[])?;
    Ok(Some(row.map_or(0, |r| r.get(0))))
}

/// Brings the schema up to date.
pub fn migrate(conn: &mut Client) -> Result<()> {
    if let Some(v) = version(conn)? {
        if v > SCHEMA_VERSION {
            bail!(NewerSchema(v));
        }
        if v == SCHEMA_VERSION {
            return Ok(());
        }
    }
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS aerocast_schema (version BIGINT NOT NULL)")?;
    let current: i64 = match tx.query_opt("SELECT version FROM aerocast_schema", &[])? {
        Some(r) => r.get(0),
        None => {
            tx.execute("INSERT INTO aerocast_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if current > SCHEMA_VERSION {
        bail!(NewerSchema(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql)
            .with_context(|| format!("applying store migration {}", i + 1))?;
    }
    tx.execute(
        "UPDATE aerocast_schema SET version = $1",
        &[&SCHEMA_VERSION],
    )?;
    tx.commit()?;
    Ok(())
}

/// The store was written by a newer aerocast; reading it could misinterpret it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store has schema version {0}, newer than this aerocast understands ({SCHEMA_VERSION}); upgrade aerocast"
)]
pub struct NewerSchema(pub i64);
