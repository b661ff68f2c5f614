//! `aerocast runs tag` and `aerocast runs note`: what a user adds to a run after the fact.
//! Both write tags (MLflow's model: a note is a tag too) and are shown by `runs --json`.

use crate::error::InputError;
use crate::spec::settings::check_tag_key;
use crate::store::{Location, RunIdMatch, RunRecord, Store};
use anyhow::Result;

/// The tag a note is kept in.
pub const NOTE_TAG: &str = "aerocast.note";
/// Notes are for a sentence or a paragraph, not for files.
pub const MAX_NOTE_CHARS: usize = 10_000;

/// `runs tag RUN key=value`: sets the tag; returns the run's full id.
pub fn tag(store: &Location, run: &str, tag: &str) -> Result<String> {
    let Some((key, value)) = tag.split_once('=') else {
        return Err(InputError::usage(
            "runs tag",
            format!("\"{tag}\" is not key=value (for example: reviewed=yes)"),
        )
        .into());
    };
    let key = check_tag_key(key).map_err(|m| InputError::usage("runs tag", m))?;
    set(store, run, &key, value)
}

/// `runs note RUN "text"`: sets the note; returns the run's full id.
pub fn note(store: &Location, run: &str, text: &str) -> Result<String> {
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(InputError::usage(
            "runs note",
            format!("a note holds at most {MAX_NOTE_CHARS} characters"),
        )
        .into());
    }
    set(store, run, NOTE_TAG, text)
}

fn set(at: &Location, run: &str, key: &str, value: &str) -> Result<String> {
    let store = Store::open_existing(at)?;
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
    Ok(run_id)
}

/// Adds each run's `tags` object to the `runs --json` array (same order as `runs`).
pub fn with_tags(
    store: &Store,
    mut json: serde_json::Value,
    runs: &[RunRecord],
) -> Result<serde_json::Value> {
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let mut tags = store.tags(&ids)?;
    if let serde_json::Value::Array(items) = &mut json {
        for (item, run) in items.iter_mut().zip(runs) {
            if let serde_json::Value::Object(map) = item {
                let run_tags = tags.remove(&run.run_id).unwrap_or_default();
                map.insert("tags".into(), serde_json::json!(run_tags));
            }
        }
    }
    Ok(json)
}
