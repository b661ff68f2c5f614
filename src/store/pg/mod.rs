//! The PostgreSQL backend: the same tables and semantics as SQLite, for many workers on many
//! hosts sharing one server. Artifacts are kept in the database with their sha256, so every
//! host writes and reads them with the URL alone. Writes are in `write.rs`, reads in
//! `query.rs`, the schema and its migrations in `schema.rs`.
//!
//! The driver is the synchronous `postgres` crate with an `r2d2` pool: aerocast's workers are
//! plain threads (rayon), like its SQLite code, so an async driver would only add a runtime
//! to block on.
//!
//! TLS is OpenSSL's (`postgres-openssl`), chosen by the URL's `sslmode` as libpq does:
//! `prefer` (the default) encrypts when the server offers TLS, `require` refuses a server
//! that does not, `disable` never encrypts. As with libpq's `require`, the server's
//! certificate is not verified: the link is safe from eavesdropping, not from a host that
//! impersonates the server.

mod dump;
mod notes;
mod query;
mod registry;
mod schema;
mod write;

use super::backend::Backend;
use super::location::PgUrl;
use crate::error::InputError;
use anyhow::{Context, Result};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2::{Pool, PooledConnection};
use std::path::PathBuf;
use std::time::Duration;

/// Connections per process: the sweep's workers, the heartbeat timer and the main thread.
const POOL_SIZE: u32 = 8;
/// How long to wait for the server before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Manager = PostgresConnectionManager<MakeTlsConnector>;

pub struct Postgres {
    pool: Pool<Manager>,
    url: PgUrl,
}

impl Postgres {
    /// Connects and brings the schema up to date.
    pub fn connect(url: &PgUrl) -> Result<Postgres> {
        let pg = Self::pool(url)?;
        let mut conn = pg.conn()?;
        schema::migrate(&mut conn).map_err(|e| pg.schema_error(e))?;
        drop(conn);
        Ok(pg)
    }

    /// Connects for reading: a database without aerocast's tables is an input error.
    pub fn connect_existing(url: &PgUrl) -> Result<Postgres> {
        let pg = Self::pool(url)?;
        let mut conn = pg.conn()?;
        match schema::version(&mut conn)? {
            None => Err(InputError::usage(
                &url.to_string(),
                "no aerocast store in this database (run `aerocast sweep` first, or pass --store)",
            )
            .into()),
            Some(v) if v > schema::SCHEMA_VERSION => {
                Err(InputError::usage(&url.to_string(), schema::NewerSchema(v).to_string()).into())
            }
            Some(_) => {
                schema::migrate(&mut conn).map_err(|e| pg.schema_error(e))?;
                drop(conn);
                Ok(pg)
            }
        }
    }

    fn pool(url: &PgUrl) -> Result<Postgres> {
        let mut config: postgres::Config = url
            .secret()
            .parse()
            .map_err(|e| InputError::usage(&url.to_string(), format!("invalid URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("aerocast");
        // One direct attempt first, so an unreachable server or a wrong password gives the
        // driver's own reason instead of a pool timeout.
        let tls = tls_connector()?;
        config.connect(tls.clone()).map_err(|e| {
            InputError::usage(
                &url.to_string(),
                format!(
                    "cannot connect to PostgreSQL at {}: {}",
                    url.server(),
                    url.redact(&error_text(&e))
                ),
            )
        })?;
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT * 3)
            .build(PostgresConnectionManager::new(config, tls))
            .map_err(|e| {
                InputError::usage(
                    &url.to_string(),
                    format!(
                        "cannot connect to PostgreSQL at {}: {}",
                        url.server(),
                        url.redact(&e.to_string())
                    ),
                )
            })?;
        Ok(Postgres {
            pool,
            url: url.clone(),
        })
    }

    fn conn(&self) -> Result<PooledConnection<Manager>> {
        self.pool.get().map_err(|e| {
            anyhow::anyhow!(
                "no connection to PostgreSQL at {}: {}",
                self.url.server(),
                self.url.redact(&e.to_string())
            )
        })
    }

    fn schema_error(&self, e: anyhow::Error) -> anyhow::Error {
        match e.downcast::<schema::NewerSchema>() {
            Ok(newer) => InputError::usage(&self.url.to_string(), newer.to_string()).into(),
            Err(e) => e.context(format!("migrating the store at {}", self.url.server())),
        }
    }
}

impl Backend for Postgres {
    fn engine(&self) -> &'static str {
        "postgresql"
    }
}

/// The TLS side of every connection; whether it is used is the URL's `sslmode`.
fn tls_connector() -> Result<MakeTlsConnector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).context("setting up TLS")?;
    // libpq's `require` and `prefer`: encrypted, the certificate unchecked (see above).
    builder.set_verify(SslVerifyMode::NONE);
    Ok(MakeTlsConnector::new(builder.build()))
}

/// The driver's message with its cause (the server's own words for a refused password).
fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let cause = std::error::Error::source(e).map(|s| format!(": {s}"));
            format!("{e}{}", cause.unwrap_or_default())
        }
    }
}

/// This machine's folder for a database store's artifacts written out of it:
/// `$AEROCAST_CACHE/<server>` (default the system temp folder's `aerocast-cache/`).
pub fn cache_dir(url: &PgUrl) -> PathBuf {
    let root = std::env::var_os("AEROCAST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("aerocast-cache"));
    let name: String = url
        .server()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    root.join(name)
}
