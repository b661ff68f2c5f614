//! `aerocast runs tag` and `aerocast runs note`: what a user adds to a run after the fact.
//! Both write tags (MLflow's model: a note is a tag too) and are shown by `runs --json`.

use crate::cli::{DEFAULT_STORE, RunsAction, StoreArg, store_flag};
use crate::error::InputError;
use crate::spec::settings::check_tag_key;
use crate::store::{RunIdMatch, RunRecord, Store};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// The tag a note is kept in.
pub const NOTE_TAG: &str = "aerocast.note";
/// Notes are for a sentence or a paragraph, not for files.
pub const MAX_NOTE_CHARS: usize = 10_000;

pub fn run(action: RunsAction, store: &StoreArg) -> Result<ExitCode> {
    match action {
        RunsAction::Tag { run, tag } => {
            let Some((key, value)) = tag.split_once('=') else {
                return Err(InputError::usage(
                    "runs tag",
                    format!("\"{tag}\" is not key=value (for example: reviewed=yes)"),
                )
                .into());
            };
            let key = check_tag_key(key).map_err(|m| InputError::usage("runs tag", m))?;
            set(store, &run, &key, value, "tagged")
        }
        RunsAction::Note { run, text } => {
            if text.chars().count() > MAX_NOTE_CHARS {
                return Err(InputError::usage(
                    "runs note",
                    format!("a note holds at most {MAX_NOTE_CHARS} characters"),
                )
                .into());
            }
            set(store, &run, NOTE_TAG, &text, "noted")
        }
    }
}

fn set(store: &StoreArg, run: &str, key: &str, value: &str, done: &str) -> Result<ExitCode> {
    let dir = store_flag(store).unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    let store = Store::open_existing(&dir)?;
    let run_id = match store.run_id_by_prefix(run)? {
        RunIdMatch::One(id) => id,
        RunIdMatch::None => {
            return Err(
                InputError::usage("runs", format!("no run id starts with \"{run}\"")).into(),
            );
        }
        RunIdMatch::Several => {
            return Err(InputError::usage(
                "runs",
                format!("several runs start with \"{run}\": give more of the id"),
            )
            .into());
        }
    };
    store.set_tags(&run_id, &[(key, value)])?;
    crate::outln!("{done} run {}", &run_id[..8.min(run_id.len())]);
    Ok(ExitCode::SUCCESS)
}

/// Adds each run's `tags` object to the `runs --json` array (same order as `runs`).
pub fn with_tags(mut json: serde_json::Value, runs: &[RunRecord]) -> serde_json::Value {
    if let serde_json::Value::Array(items) = &mut json {
        for (item, run) in items.iter_mut().zip(runs) {
            if let serde_json::Value::Object(map) = item {
                map.insert("tags".into(), serde_json::json!(run.tags));
            }
        }
    }
    json
}
