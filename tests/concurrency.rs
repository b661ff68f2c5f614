//! Several processes on one store at once: two sweeps of the same spec never train a job twice,
//! sweeps of different experiments each record every run once, and readers polling while a sweep
//! writes always get a consistent answer. No "database is locked".

mod common;

use common::{Sandbox, db, integrity_ok, spawn, spec_text, wait_exit};
use std::collections::BTreeMap;

fn spec(experiment: &str, epochs: usize) -> String {
    spec_text("[0.01]")
        .replace("name = \"tiny\"", &format!("name = \"{experiment}\""))
        .replace("seed = [0, 1]", "seed = [0, 1, 2]")
        .replace("epochs = 2", &format!("epochs = {epochs}"))
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{out:?}"
    );
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

/// Runs per (experiment, job key) and their statuses.
fn runs_per_job(sb: &Sandbox) -> BTreeMap<(String, String), Vec<String>> {
    let conn = db(&sb.store());
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let rows: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT e.name, r.job_key, r.status FROM runs r JOIN experiments e USING (experiment_id)",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (e, k, s) in rows {
        out.entry((e, k)).or_default().push(s);
    }
    out
}

#[test]
fn two_sweeps_of_the_same_spec_train_each_job_exactly_once() {
    let sb = Sandbox::new(&spec("same", 15));
    // Both start on a store that does not exist yet: creation and migration race too.
    let mut a = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    let mut b = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    let (sa, sb_) = (
        summary(&wait_exit(&mut a, 120.0)),
        summary(&wait_exit(&mut b, 120.0)),
    );
    let total = sa["total"].as_u64().unwrap();
    assert_eq!(total, 6);
    assert_eq!(
        sa["finished"].as_u64().unwrap() + sb_["finished"].as_u64().unwrap(),
        total,
        "{sa}\n{sb_}"
    );
    for s in [&sa, &sb_] {
        assert_eq!(s["failed"].as_u64(), Some(0), "{s}");
    }
    let runs = runs_per_job(&sb);
    assert_eq!(runs.len(), 6);
    for (job, statuses) in &runs {
        assert_eq!(statuses, &vec!["finished".to_string()], "{job:?}");
    }
    integrity_ok(&sb.store());
}

#[test]
fn sweeps_of_different_experiments_at_once_record_every_run_once() {
    let sb = Sandbox::new(&spec("left", 10));
    std::fs::write(
        sb.path("other.toml"),
        spec("right", 10).replace("hidden_dim = [4, 8]", "hidden_dim = [4, 6, 8]"),
    )
    .unwrap();
    let mut a = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    let mut b = spawn(&sb, &["sweep", "other.toml", "--json", "--jobs", "1"]);
    let (sa, sb_) = (
        summary(&wait_exit(&mut a, 120.0)),
        summary(&wait_exit(&mut b, 120.0)),
    );
    assert_eq!(
        (sa["finished"].as_u64(), sb_["finished"].as_u64()),
        (Some(6), Some(9))
    );
    let runs = runs_per_job(&sb);
    assert_eq!(runs.len(), 15);
    assert!(runs.values().all(|s| s == &vec!["finished".to_string()]));
    integrity_ok(&sb.store());
}

#[test]
fn runs_and_report_read_consistently_while_a_sweep_writes() {
    let sb = Sandbox::new(&spec("read", 25));
    // A first job finished, so `report --best` has an answer from the start.
    std::fs::write(
        sb.path("first.toml"),
        spec("read", 25)
            .replace("seed = [0, 1, 2]", "seed = [0]")
            .replace("hidden_dim = [4, 8]", "hidden_dim = [4]"),
    )
    .unwrap();
    sb.cmd(&["sweep", "first.toml", "--quiet"])
        .assert()
        .success();

    let mut sweep = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "2"]);
    let mut polls = 0;
    let mut seen = std::collections::BTreeSet::new();
    while sweep.try_wait().unwrap().is_none() {
        let runs = sb.cmd(&["runs", "--json"]).output().unwrap();
        assert_eq!(runs.status.code(), Some(0), "{runs:?}");
        let list: Vec<serde_json::Value> = serde_json::from_slice(&runs.stdout)
            .unwrap_or_else(|e| panic!("runs --json is not JSON ({e}): {runs:?}"));
        for r in &list {
            let status = r["status"].as_str().unwrap().to_string();
            if status == "finished" {
                // A finished run is always whole: its metrics and artifacts come with it.
                assert!(r["metrics"]["val_rmse"].is_number(), "{r}");
                assert_eq!(r["artifacts"].as_array().unwrap().len(), 3, "{r}");
            }
            seen.insert(status);
        }
        let best = sb.cmd(&["report", "--best", "--json"]).output().unwrap();
        assert_eq!(best.status.code(), Some(0), "{best:?}");
        let best: serde_json::Value = serde_json::from_slice(&best.stdout)
            .unwrap_or_else(|e| panic!("report --best --json is not JSON ({e}): {best:?}"));
        assert!(best["metrics"]["val_rmse"].is_number(), "{best}");
        polls += 1;
    }
    let s = summary(&wait_exit(&mut sweep, 10.0));
    assert_eq!(
        (s["finished"].as_u64(), s["skipped"].as_u64()),
        (Some(5), Some(1))
    );
    assert!(polls >= 3, "only {polls} polls while the sweep ran");
    assert!(
        seen.contains("running"),
        "never saw a run in progress: {seen:?}"
    );
    integrity_ok(&sb.store());
}
