//! The PostgreSQL backend's model registry: the same tables, checks and messages as SQLite's.

use super::Postgres;
use crate::error::InputError;
use crate::store::backend::Registry;
use crate::store::registry::{ModelRef, ModelVersion};
use crate::store::{RunStatus, now};
use anyhow::Result;
use postgres::Transaction;
use postgres::types::ToSql;
use std::collections::HashSet;

/// Serialises registrations across processes, so two get distinct version numbers.
const REGISTRY_LOCK: i64 = 0x6165_726f_7265_6769;

const VERSION_COLUMNS: &str = "v.name, v.version, v.run_id, v.sweep_id, e.name, v.created_at,
    (SELECT string_agg(alias, ',' ORDER BY alias COLLATE \"C\") FROM model_aliases a
        WHERE a.name = v.name AND a.version = v.version)";
const VERSION_FROM: &str = "FROM model_versions v JOIN runs r USING (run_id)
    JOIN experiments e ON e.experiment_id = r.experiment_id";

fn version_row(r: &postgres::Row) -> ModelVersion {
    let aliases: Option<String> = r.get(6);
    ModelVersion {
        name: r.get(0),
        version: r.get(1),
        run_id: r.get(2),
        sweep_id: r.get(3),
        experiment: r.get(4),
        created_at: r.get(5),
        aliases: aliases
            .map(|a| a.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

impl Registry for Postgres {
    fn register_version(
        &self,
        name: &str,
        run_id: &str,
        aliases: &[String],
    ) -> Result<ModelVersion> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REGISTRY_LOCK])?;
        let status: Option<String> = tx
            .query_opt("SELECT status FROM runs WHERE run_id = $1", &[&run_id])?
            .map(|r| r.get(0));
        match status.as_deref() {
            None => return Err(InputError::usage("--run", format!("no run {run_id}")).into()),
            Some(s) if s == RunStatus::Finished.as_str() || s == RunStatus::Pruned.as_str() => {}
            Some(s) => {
                return Err(InputError::usage(
                    "--run",
                    format!(
                        "run {run_id} is {s}: only finished or pruned runs have a model to register"
                    ),
                )
                .into());
            }
        }
        let version: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = $1",
                &[&name],
            )?
            .get(0);
        let t = now();
        tx.execute(
            "INSERT INTO models (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &t],
        )?;
        tx.execute(
            "INSERT INTO model_versions (name, version, run_id, sweep_id, created_at)
             SELECT $1, $2, run_id, sweep_id, $3 FROM runs WHERE run_id = $4",
            &[&name, &version, &t, &run_id],
        )?;
        for alias in aliases {
            upsert_alias(&mut tx, name, alias, version)?;
        }
        tx.commit()?;
        drop(conn);
        self.resolve_model(&ModelRef::Version(name.to_string(), version))
    }

    fn set_alias(&self, name: &str, alias: &str, version: i64) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM model_versions WHERE name = $1 AND version = $2",
                &[&name, &version],
            )?
            .is_some();
        if !exists {
            drop(tx);
            drop(conn);
            self.known_model(name)?;
            return Err(InputError::usage(
                "model alias",
                format!("model {name:?} has no version {version}"),
            )
            .into());
        }
        upsert_alias(&mut tx, name, alias, version)?;
        tx.commit()?;
        Ok(())
    }

    fn versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>> {
        if let Some(n) = name {
            self.known_model(n)?;
        }
        let rows = self.conn()?.query(
            &format!(
                "SELECT {VERSION_COLUMNS} {VERSION_FROM}
                 WHERE $1::TEXT IS NULL OR v.name = $1 ORDER BY v.name COLLATE \"C\", v.version"
            ),
            &[&name],
        )?;
        Ok(rows.iter().map(version_row).collect())
    }

    fn resolve_model(&self, reference: &ModelRef) -> Result<ModelVersion> {
        let name = reference.name();
        let condition = match reference {
            ModelRef::Latest(_) => {
                "v.version = (SELECT max(version) FROM model_versions WHERE name = $1)"
            }
            ModelRef::Alias(..) => {
                "v.version = (SELECT version FROM model_aliases WHERE name = $1 AND alias = $2)"
            }
            ModelRef::Version(..) => "v.version = $2",
        };
        let name_arg = name.to_string();
        let mut args: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(name_arg)];
        match reference {
            ModelRef::Latest(_) => {}
            ModelRef::Alias(_, a) => args.push(Box::new(a.clone())),
            ModelRef::Version(_, v) => args.push(Box::new(*v)),
        }
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        let found = self.conn()?.query_opt(
            &format!("SELECT {VERSION_COLUMNS} {VERSION_FROM} WHERE v.name = $1 AND {condition}"),
            &params,
        )?;
        if let Some(v) = found {
            return Ok(version_row(&v));
        }
        self.known_model(name)?;
        let what = match reference {
            ModelRef::Alias(_, a) => format!("model {name:?} has no alias {a:?}"),
            ModelRef::Version(_, v) => format!("model {name:?} has no version {v}"),
            ModelRef::Latest(_) => format!("model {name:?} has no versions"),
        };
        Err(InputError::usage("--model", what).into())
    }

    fn pinned_runs(&self) -> Result<HashSet<String>> {
        Ok(self
            .conn()?
            .query("SELECT DISTINCT run_id FROM model_versions", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

impl Postgres {
    /// An input error listing the registered models when `name` is not one of them.
    fn known_model(&self, name: &str) -> Result<()> {
        let mut conn = self.conn()?;
        if conn
            .query_opt("SELECT 1 FROM models WHERE name = $1", &[&name])?
            .is_some()
        {
            return Ok(());
        }
        let names: Vec<String> = conn
            .query("SELECT name FROM models ORDER BY name COLLATE \"C\"", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let known = if names.is_empty() {
            "none registered yet (aerocast model register NAME --run ID)".to_string()
        } else {
            format!("registered: {}", names.join(", "))
        };
        Err(InputError::usage("--model", format!("no model named {name:?} ({known})")).into())
    }
}

fn upsert_alias(tx: &mut Transaction, name: &str, alias: &str, version: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,
             updated_at = excluded.updated_at",
        &[&name, &alias, &version, &now()],
    )?;
    Ok(())
}
