//! SIGKILL at random moments (training, metric writes, closing runs, the final report), then
//! rerun: every job ends with exactly one finished run, no finished run is ever lost, every
//! recorded artifact is complete, a killed run's artifacts never appear (only the transaction
//! that closes a run stores them), and the database passes `PRAGMA integrity_check`.

mod common;

use aerocast::artifacts;
use aerocast::store::Store;
use common::{Sandbox, db, integrity_ok, spawn, spec_text, wait_exit};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const ITERATIONS: usize = 6;
const KILLS_PER_ITERATION: usize = 2;
const EPOCHS: usize = 12;

fn spec(experiment: &str) -> String {
    spec_text("[0.01]")
        .replace("name = \"tiny\"", &format!("name = \"{experiment}\""))
        .replace("seed = [0, 1]", "seed = [0, 1, 2, 3, 4, 5]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4, 8, 12]")
        .replace("epochs = 2", &format!("epochs = {EPOCHS}"))
        // One job may be killed in several iterations running: here every kill must be
        // retried, so the retry budget is set out of reach.
        .replace("batch_size = 32", "batch_size = 32\nmax_attempts = 100")
}

/// A finished run as recorded: its id, experiment, job and artifact paths.
type Finished = BTreeMap<String, (String, String, Vec<String>)>;

fn finished_runs(store: &Path) -> Finished {
    let conn = db(store);
    let mut out = Finished::new();
    let mut stmt = conn
        .prepare(
            "SELECT r.run_id, e.name, r.job_key FROM runs r JOIN experiments e USING (experiment_id)
             WHERE r.status = 'finished'",
        )
        .unwrap();
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, exp, key) in rows {
        let paths: Vec<String> = conn
            .prepare("SELECT path FROM artifacts WHERE run_id = ?1 ORDER BY path")
            .unwrap()
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.insert(id, (exp, key, paths));
    }
    out
}

/// Every artifact a finished run points at is stored whole: written out of the store, each
/// file passes its sha256 check, the plot parses and the model loads. No run that did not
/// end stores any artifact.
fn check_artifacts(store: &Path, finished: &Finished) {
    let conn = db(store);
    let unfinished: i64 = conn
        .query_row(
            "SELECT count(*) FROM artifacts JOIN runs USING (run_id)
             WHERE runs.status NOT IN ('finished', 'pruned')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unfinished, 0, "a run that did not finish stored artifacts");
    let opened = Store::open_existing(store).unwrap();
    for (id, (_, _, paths)) in finished {
        assert_eq!(paths.len(), 3, "run {id} records {paths:?}");
        let dir = opened
            .fetch_artifacts(id)
            .unwrap_or_else(|e| panic!("run {id}: {e:#}"));
        for p in paths {
            let full = store.join(p);
            let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
            if p.ends_with(".svg") {
                let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{p}: {e}"));
                let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{p}: {e}"));
                assert_eq!(doc.root_element().tag_name().name(), "svg", "{p}");
            }
        }
        let (_, card) = artifacts::load_model(&dir)
            .unwrap_or_else(|e| panic!("run {id}: model does not load: {e:#}"));
        assert_eq!(&card.run_id, id);
    }
}

/// Where a killed process was, judged from what it left behind.
fn phase_of(store: &Path, conn: &rusqlite::Connection, run_id: &str) -> &'static str {
    let epochs: i64 = conn
        .query_row(
            "SELECT count(*) FROM metric_history WHERE run_id = ?1 AND key = 'val_loss'",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    // A run writes no file, and its artifacts go into the store with its end.
    assert!(!store.join("artifacts").join(run_id).exists(), "{run_id}");
    if epochs as usize == EPOCHS {
        "after the last epoch"
    } else if epochs == 0 {
        "first epoch"
    } else {
        "training/metric writes"
    }
}

#[test]
fn sigkill_at_random_moments_then_rerun_loses_and_duplicates_nothing() {
    let sb = Sandbox::new(&spec("crash-0"));
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut kept = Finished::new();
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    let mut expected_killed = BTreeSet::new();
    let mut jobs_total = 0;
    for i in 0..ITERATIONS {
        let experiment = format!("crash-{i}");
        std::fs::write(sb.path("spec.toml"), spec(&experiment)).unwrap();
        for _ in 0..KILLS_PER_ITERATION {
            let mut child = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "2"]);
            let delay = rng.random_range(30..1400);
            std::thread::sleep(Duration::from_millis(delay));
            child.kill().ok(); // SIGKILL
            let out = wait_exit(&mut child, 30.0);
            if out.status.code().is_some() {
                // It finished before the kill: nothing to recover.
                *phases.entry("exited before the kill").or_default() += 1;
                continue;
            }
            if !sb.store().join("aerocast.db").is_file() {
                *phases.entry("before the store opened").or_default() += 1;
                continue;
            }
            integrity_ok(&sb.store());
            let now = finished_runs(&sb.store());
            for (id, run) in &kept {
                assert_eq!(now.get(id), Some(run), "finished run {id} lost or changed");
            }
            check_artifacts(&sb.store(), &now);
            let conn = db(&sb.store());
            let running: Vec<String> = conn
                .prepare("SELECT run_id FROM runs WHERE status = 'running'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            if running.is_empty() {
                *phases.entry("between runs / final report").or_default() += 1;
            }
            for id in running {
                *phases.entry(phase_of(&sb.store(), &conn, &id)).or_default() += 1;
                expected_killed.insert(id);
            }
            kept = now;
        }
        // Rerun to completion.
        let out = wait_exit(
            &mut spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "2"]),
            120.0,
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let total = s["total"].as_u64().unwrap() as usize;
        jobs_total += total;
        assert_eq!(
            s["finished"].as_u64().unwrap() + s["skipped"].as_u64().unwrap(),
            total as u64,
            "{s}"
        );
        integrity_ok(&sb.store());
        let now = finished_runs(&sb.store());
        for (id, run) in &kept {
            assert_eq!(now.get(id), Some(run), "finished run {id} lost or changed");
        }
        check_artifacts(&sb.store(), &now);
        kept = now;
    }

    // Exactly one finished run per job of every experiment.
    let conn = db(&sb.store());
    let per_job: Vec<(String, String, i64)> = conn
        .prepare(
            "SELECT e.name, r.job_key, count(*) FROM runs r JOIN experiments e USING (experiment_id)
             WHERE r.status = 'finished' GROUP BY e.name, r.job_key",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(per_job.len(), jobs_total);
    assert!(per_job.iter().all(|(_, _, n)| *n == 1), "{per_job:?}");
    assert_eq!(kept.len(), jobs_total);
    // Every run a kill left `running` was marked `killed` by the rerun; nothing else was.
    let killed: BTreeSet<String> = conn
        .prepare("SELECT run_id FROM runs WHERE status = 'killed'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(killed, expected_killed);
    let running: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0);
    let reasons: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE status = 'killed'
             AND failure_reason LIKE '%stopped without finishing%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reasons as usize, killed.len());
    println!(
        "{ITERATIONS} iterations x {KILLS_PER_ITERATION} SIGKILLs; {} runs killed; kill points: {phases:?}",
        killed.len()
    );
}
