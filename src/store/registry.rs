//! The model registry: named models with numbered versions (1, 2, 3… per name), each pointing
//! at one run, and aliases (`production`, `staging`, …) that point at one version and move in
//! one transaction. A registered run is pinned: the schema refuses to delete it.

use super::backend::Registry;
use super::sqlite::Sqlite;
use super::{RunStatus, now};
use crate::error::InputError;
use anyhow::Result;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;

/// One registered version of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub run_id: String,
    pub sweep_id: String,
    pub experiment: String,
    pub created_at: f64,
    /// Aliases pointing at this version, sorted.
    pub aliases: Vec<String>,
}

/// How a command names a model: `NAME` (its latest version), `NAME@ALIAS` or `NAME/VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelRef {
    Latest(String),
    Alias(String, String),
    Version(String, i64),
}

impl ModelRef {
    pub fn parse(text: &str) -> Result<ModelRef, InputError> {
        let bad = |m: String| InputError::usage("--model", m);
        let (name, rest) = match text.find(['@', '/']) {
            Some(i) => (&text[..i], Some((&text[i..i + 1], &text[i + 1..]))),
            None => (text, None),
        };
        check_name(name, "model name").map_err(bad)?;
        Ok(match rest {
            None => ModelRef::Latest(name.to_string()),
            Some(("@", alias)) => {
                check_alias(alias).map_err(bad)?;
                ModelRef::Alias(name.to_string(), alias.to_string())
            }
            Some((_, version)) => match version.parse::<i64>() {
                Ok(v) if v >= 1 => ModelRef::Version(name.to_string(), v),
                _ => {
                    return Err(bad(format!(
                        "{text:?}: a version is a whole number from 1 (NAME/VERSION)"
                    )));
                }
            },
        })
    }

    pub fn name(&self) -> &str {
        match self {
            ModelRef::Latest(n) | ModelRef::Alias(n, _) | ModelRef::Version(n, _) => n,
        }
    }

    pub fn alias(&self) -> Option<&str> {
        match self {
            ModelRef::Alias(_, a) => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Latest(n) => write!(f, "{n}"),
            ModelRef::Alias(n, a) => write!(f, "{n}@{a}"),
            ModelRef::Version(n, v) => write!(f, "{n}/{v}"),
        }
    }
}

/// Names are letters, digits, `_`, `-` and `.`, up to 64 characters: safe in URLs, shells and
/// file names, and never confused with the `@` and `/` of a reference.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} must be 1–64 letters, digits, '_', '-' or '.'"
        ))
    }
}

/// An alias is a name that starts with a letter, so it never reads as a version number.
pub fn check_alias(alias: &str) -> Result<(), String> {
    check_name(alias, "alias")?;
    if !alias.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("alias {alias:?} must start with a letter"));
    }
    Ok(())
}

const VERSION_COLUMNS: &str = "v.name, v.version, v.run_id, v.sweep_id, e.name, v.created_at,
    (SELECT group_concat(alias, ',') FROM (SELECT alias FROM model_aliases a
        WHERE a.name = v.name AND a.version = v.version ORDER BY alias))";

fn version_row(r: &rusqlite::Row) -> rusqlite::Result<ModelVersion> {
    let aliases: Option<String> = r.get(6)?;
    Ok(ModelVersion {
        name: r.get(0)?,
        version: r.get(1)?,
        run_id: r.get(2)?,
        sweep_id: r.get(3)?,
        experiment: r.get(4)?,
        created_at: r.get(5)?,
        aliases: aliases
            .map(|a| a.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

impl Registry for Sqlite {
    /// Registers `run_id` as the next version of `name` (creating the model if new) and
    /// points `aliases` at it, in one transaction: two processes registering at once queue on
    /// the write lock and get distinct versions.
    fn register_version(
        &self,
        name: &str,
        run_id: &str,
        aliases: &[String],
    ) -> Result<ModelVersion> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<RunStatus> = tx
            .query_row("SELECT status FROM runs WHERE run_id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()?;
        match status {
            None => {
                return Err(InputError::usage("--run", format!("no run {run_id}")).into());
            }
            Some(RunStatus::Finished | RunStatus::Pruned) => {}
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
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        let t = now();
        tx.execute(
            "INSERT OR IGNORE INTO models (name, created_at) VALUES (?1, ?2)",
            params![name, t],
        )?;
        tx.execute(
            "INSERT INTO model_versions (name, version, run_id, sweep_id, created_at)
             SELECT ?1, ?2, run_id, sweep_id, ?3 FROM runs WHERE run_id = ?4",
            params![name, version, t, run_id],
        )?;
        for alias in aliases {
            upsert_alias(&tx, name, alias, version)?;
        }
        tx.commit()?;
        drop(conn);
        self.resolve_model(&ModelRef::Version(name.to_string(), version))
    }

    /// Points `alias` of `name` at `version` (moving it if it pointed elsewhere).
    fn set_alias(&self, name: &str, alias: &str, version: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM model_versions WHERE name = ?1 AND version = ?2)",
            params![name, version],
            |r| r.get(0),
        )?;
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
        upsert_alias(&tx, name, alias, version)?;
        tx.commit()?;
        Ok(())
    }

    /// Every version of `name` (or of every model), by name then version.
    fn versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>> {
        if let Some(n) = name {
            self.known_model(n)?;
        }
        let conn = self.conn();
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v
             JOIN runs r USING (run_id) JOIN experiments e ON e.experiment_id = r.experiment_id
             WHERE ?1 IS NULL OR v.name = ?1 ORDER BY v.name, v.version"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map([name], version_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The version a reference names; an unknown model, alias or version is an input error.
    fn resolve_model(&self, reference: &ModelRef) -> Result<ModelVersion> {
        let name = reference.name();
        let condition = match reference {
            ModelRef::Latest(_) => {
                "v.version = (SELECT max(version) FROM model_versions WHERE name = ?1)"
            }
            ModelRef::Alias(..) => {
                "v.version = (SELECT version FROM model_aliases WHERE name = ?1 AND alias = ?2)"
            }
            ModelRef::Version(..) => "v.version = ?2",
        };
        let mut args = vec![rusqlite::types::Value::Text(name.to_string())];
        match reference {
            ModelRef::Latest(_) => {}
            ModelRef::Alias(_, a) => args.push(rusqlite::types::Value::Text(a.clone())),
            ModelRef::Version(_, v) => args.push(rusqlite::types::Value::Integer(*v)),
        }
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v
             JOIN runs r USING (run_id) JOIN experiments e ON e.experiment_id = r.experiment_id
             WHERE v.name = ?1 AND {condition}"
        );
        let found = self
            .conn()
            .query_row(&sql, rusqlite::params_from_iter(args), version_row)
            .optional()?;
        if let Some(v) = found {
            return Ok(v);
        }
        self.known_model(name)?;
        let what = match reference {
            ModelRef::Alias(_, a) => format!("model {name:?} has no alias {a:?}"),
            ModelRef::Version(_, v) => format!("model {name:?} has no version {v}"),
            ModelRef::Latest(_) => format!("model {name:?} has no versions"),
        };
        Err(InputError::usage("--model", what).into())
    }

    /// Runs no clean-up may delete: those a registered model version points to.
    fn pinned_runs(&self) -> Result<HashSet<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT DISTINCT run_id FROM model_versions")?;
        let runs = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(runs)
    }
}

impl Sqlite {
    /// An input error listing the registered models when `name` is not one of them.
    fn known_model(&self, name: &str) -> Result<()> {
        let conn = self.conn();
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM models WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if exists {
            return Ok(());
        }
        let names: Vec<String> = conn
            .prepare("SELECT name FROM models ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let known = if names.is_empty() {
            "none registered yet (aerocast model register NAME --run ID)".to_string()
        } else {
            format!("registered: {}", names.join(", "))
        };
        Err(InputError::usage("--model", format!("no model named {name:?} ({known})")).into())
    }
}

fn upsert_alias(tx: &rusqlite::Transaction, name: &str, alias: &str, version: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,
             updated_at = excluded.updated_at",
        params![name, alias, version, now()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        for text in ["tiny", "tiny@production", "tiny/3", "a.b-c_d@x1"] {
            assert_eq!(ModelRef::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            ModelRef::parse("m/2").unwrap(),
            ModelRef::Version("m".into(), 2)
        );
        for bad in ["", "m/0", "m/x", "m@", "m@1a", "a b", "m@a@b", "m/1/2"] {
            assert!(ModelRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
