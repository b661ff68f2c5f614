//! A run's status: the one place that spells the words the store holds in `runs.status`.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Claimed and training (or its process died without a word; the next sweep reaps it).
    Running,
    /// Trained every epoch; the only status that ranks for "best".
    Finished,
    /// Stopped early by a pruner; its model and metrics at that epoch are kept.
    Pruned,
    /// Training failed or diverged; the reason is recorded.
    Failed,
    /// Its process died mid-run; found and marked by a later sweep.
    Killed,
    /// Stopped by SIGINT/SIGTERM at an epoch end.
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Pruned,
        RunStatus::Failed,
        RunStatus::Killed,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Pruned => "pruned",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// `'a', 'b'`: a list for SQL `IN (…)`, spelled from [`RunStatus::as_str`].
    pub fn sql_list(statuses: &[RunStatus]) -> String {
        statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Failed or killed: runs that ended without a usable model.
    pub fn is_failure(self) -> bool {
        matches!(self, RunStatus::Failed | RunStatus::Killed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for RunStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for RunStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        RunStatus::parse(text).ok_or_else(|| {
            FromSqlError::Other(format!("unknown run status {text:?} in the store").into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_text() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            let via_clap = <RunStatus as clap::ValueEnum>::from_str(s.as_str(), false).unwrap();
            assert_eq!(via_clap, s);
        }
        assert_eq!(RunStatus::parse("done"), None);
    }

    #[test]
    fn the_schema_check_lists_every_status() {
        let schema = super::super::schema::first_migration();
        for s in RunStatus::ALL {
            assert!(
                schema.contains(&format!("'{s}'")),
                "{s} missing in the CHECK"
            );
        }
    }
}
