//! Artifacts kept in the store's database: a sweep writes no file per run, readers write a
//! run's files out when they need them (checked by sha256), old stores with files on disk and
//! no contents keep working, and only the transaction that closes a run stores its artifacts.

mod common;

use aerocast::store::{NewArtifact, Store};
use common::{Sandbox, spec_text};
use std::path::{Path, PathBuf};

fn tiny() -> Sandbox {
    Sandbox::new(&spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0, 1, 2]"))
}

fn db(sb: &Sandbox) -> rusqlite::Connection {
    rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap()
}

/// The run folders under `<store>/artifacts/`.
fn run_folders(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sb.store().join("artifacts"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn best_id(sb: &Sandbox) -> String {
    let out = sb.cmd(&["report", "--best", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

fn sha256(bytes: &[u8]) -> String {
    aerocast::hash::sha256_hex(bytes)
}

#[test]
fn a_sweep_writes_no_run_files_and_readers_write_them_out_checked() {
    let sb = tiny();
    let summary = common::summary(&sb.sweep().success());
    let runs = sb.runs();
    assert_eq!(runs.len(), 6);
    // The end-of-sweep report reloads the best run's model for its forecast chart: that run's
    // files are the only ones written out.
    let best = summary["best"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_folders(&sb), vec![best.clone()]);

    // Every run's three artifacts are in the database with their sha256.
    let conn = db(&sb);
    let rows: Vec<(String, String, String, Vec<u8>)> = conn
        .prepare("SELECT run_id, path, sha256, content FROM artifacts ORDER BY run_id, path")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 18);
    for (_, _, sha, content) in &rows {
        assert_eq!(&sha256(content), sha);
    }

    // `runs artifacts` writes a run's files into its folder, or anywhere with --dest.
    let other = runs
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .find(|id| *id != best)
        .unwrap()
        .to_string();
    let out = sb
        .cmd(&["runs", "artifacts", &other[..8], "--json"])
        .assert()
        .success();
    let files: Vec<PathBuf> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(files.len(), 3);
    let mut folders = vec![best.clone(), other.clone()];
    folders.sort();
    assert_eq!(run_folders(&sb), folders);
    let dest = sb.path("downloaded");
    sb.cmd(&[
        "runs",
        "artifacts",
        &other,
        "--dest",
        dest.to_str().unwrap(),
    ])
    .assert()
    .success();
    for (id, path, sha, _) in rows.iter().filter(|r| r.0 == other) {
        let name = Path::new(path).file_name().unwrap();
        for dir in [sb.store().join("artifacts").join(id), dest.clone()] {
            assert_eq!(&sha256(&std::fs::read(dir.join(name)).unwrap()), sha);
        }
    }

    // A damaged file written out earlier is written again; damaged contents are refused.
    let card = sb.store().join("artifacts").join(&other).join("model.json");
    std::fs::write(&card, b"{}").unwrap();
    sb.cmd(&["runs", "artifacts", &other]).assert().success();
    let (_, _, card_sha, _) = rows
        .iter()
        .find(|r| r.0 == other && r.1.ends_with("model.json"))
        .unwrap();
    assert_eq!(&sha256(&std::fs::read(&card).unwrap()), card_sha);
    conn.execute(
        "UPDATE artifacts SET content = X'00' WHERE run_id = ?1 AND path LIKE '%model.json'",
        [&other],
    )
    .unwrap();
    std::fs::remove_dir_all(sb.store().join("artifacts").join(&other)).unwrap();
    sb.cmd(&["predict", "--run", &other])
        .assert()
        .failure()
        .stderr(predicates::str::contains("fails its sha256 check"));
}

#[test]
fn predict_report_and_runs_show_work_on_a_store_with_no_files() {
    let sb = tiny();
    sb.sweep().success();
    std::fs::remove_dir_all(sb.store().join("artifacts")).unwrap();
    std::fs::remove_dir_all(sb.store().join("reports")).unwrap();

    sb.cmd(&["predict", "--best"]).assert().success();
    let best = best_id(&sb);
    assert_eq!(run_folders(&sb), vec![best.clone()]);
    let out = sb.cmd(&["runs", "show", &best[..8]]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let listed: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("/artifacts/"))
        .collect();
    assert_eq!(listed.len(), 3, "{text}");
    for path in listed {
        assert!(Path::new(path).is_file(), "{path}");
    }

    // The HTML report links each shown run's loss plot, written beside the page.
    sb.cmd(&["report"]).assert().success();
    let page = sb.store().join("reports").join("tiny");
    let html = std::fs::read_to_string(page.join("index.html")).unwrap();
    for run in sb.runs() {
        let id = run["run_id"].as_str().unwrap();
        let link = format!("loss/{id}.svg");
        assert!(html.contains(&format!("href=\"{link}\"")), "{id}");
        let svg = std::fs::read_to_string(page.join(&link)).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    // Only the best run's files sit in the store: the report read the others' plots alone.
    assert_eq!(run_folders(&sb), vec![best]);
}

/// Turns a store into the layout of an aerocast from before artifact contents were kept in
/// the database: every artifact a file in the store's folder, no `sha256`/`content` columns,
/// schema version 4.
fn to_old_layout(sb: &Sandbox) {
    let conn = db(sb);
    let rows: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT path, content FROM artifacts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (path, content) in rows {
        let file = sb.store().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    conn.execute_batch(
        "ALTER TABLE artifacts DROP COLUMN content;
         ALTER TABLE artifacts DROP COLUMN sha256;
         PRAGMA user_version = 4;",
    )
    .unwrap();
}

#[test]
fn an_old_store_with_files_on_disk_still_predicts_copies_and_counts_its_bytes() {
    let sb = tiny();
    sb.sweep().success();
    to_old_layout(&sb);
    let best = best_id(&sb);
    let old_card = sb.store().join("artifacts").join(&best).join("model.json");
    let card_bytes = std::fs::read(&old_card).unwrap();

    let out = sb.cmd(&["predict", "--best", "--json"]).assert().success();
    let forecast: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(forecast["run_id"], best.as_str());
    // Upgraded in place: the old rows keep no content, their files are read where they are.
    let conn = db(&sb);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, aerocast::store::schema::SCHEMA_VERSION);
    let with_content: i64 = conn
        .query_row(
            "SELECT count(*) FROM artifacts WHERE content IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(with_content, 0);
    assert_eq!(std::fs::read(&old_card).unwrap(), card_bytes);
    let store = Store::open_existing(&sb.store()).unwrap();
    let on_disk: u64 = std::fs::read_dir(old_card.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(
        store.artifact_bytes(std::slice::from_ref(&best)).unwrap(),
        on_disk
    );

    // `runs artifacts --dest` copies the old files; `store copy` carries them into a
    // new store's database, where they need no file.
    let dest = sb.path("out");
    sb.cmd(&["runs", "artifacts", &best, "--dest", dest.to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(std::fs::read(dest.join("model.json")).unwrap(), card_bytes);
    let copy = sb.path("copy");
    assert_cmd::Command::cargo_bin("aerocast")
        .unwrap()
        .env_remove("AEROCAST_STORE")
        .args(["store", "copy"])
        .args([sb.store(), copy.clone()])
        .assert()
        .success();
    let copied = Store::open_existing(&copy).unwrap();
    assert_eq!(
        copied.read_artifact(&best, "model.json").unwrap().unwrap(),
        card_bytes
    );
    assert!(!copy.join("artifacts").join(&best).exists());

    // A missing old file is an error naming it, not a silent empty model.
    std::fs::remove_file(&old_card).unwrap();
    sb.cmd(&["predict", "--best"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("model.json"));
}

#[test]
fn only_the_transaction_that_closes_a_run_stores_its_artifacts() {
    let sb = tiny();
    sb.sweep().success();
    let store = Store::open_existing(&sb.store()).unwrap();
    let finished = sb.runs()[0]["run_id"].as_str().unwrap().to_string();
    let conn = db(&sb);
    // A run marked killed (by another process that judged its owner dead) cannot be closed:
    // the close fails and none of its artifacts are stored.
    conn.execute(
        "UPDATE runs SET status = 'running' WHERE run_id = ?1",
        [&finished],
    )
    .unwrap();
    conn.execute("DELETE FROM artifacts WHERE run_id = ?1", [&finished])
        .unwrap();
    conn.execute(
        "UPDATE runs SET status = 'killed' WHERE run_id = ?1",
        [&finished],
    )
    .unwrap();
    let files = [NewArtifact::new("model.json", "model_card", b"{}".to_vec())];
    let err = store
        .finish_run(&finished, &[("val_rmse", 1.0)], &files)
        .unwrap_err();
    assert!(format!("{err:#}").contains("no longer running"), "{err:#}");
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM artifacts WHERE run_id = ?1",
            [&finished],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0);
    assert!(
        store
            .read_artifact(&finished, "model.json")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_store_whose_schema_version_was_set_back_keeps_its_artifacts() {
    let sb = tiny();
    sb.sweep().success();
    // The artifacts table is rebuilt by its migration; replayed, it must not drop contents.
    db(&sb).execute_batch("PRAGMA user_version = 3;").unwrap();
    std::fs::remove_dir_all(sb.store().join("artifacts")).unwrap();
    sb.cmd(&["predict", "--best"]).assert().success();
    let with_content: i64 = db(&sb)
        .query_row(
            "SELECT count(*) FROM artifacts WHERE content IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(with_content, 18);
}
