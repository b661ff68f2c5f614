//! Random and TPE search and pruning through the binary, on real training.

mod common;

use common::{Sandbox, summary};

fn search_spec(method: &str, trials: usize) -> String {
    format!(
        r#"[experiment]
name = "search"

[data]
path = "weather.csv"
target = "temp_max"
window = 7

[train]
epochs = 2

[search]
method = "{method}"
trials = {trials}
seed = 5
startup_trials = 2

[space]
lr = {{ distribution = "log_uniform", min = 1e-3, max = 3e-2 }}
hidden_dim = {{ values = [4, 8] }}
seed = {{ values = [0, 1, 2] }}
"#
    )
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn random_search_resumes_up_to_exactly_the_trial_count() {
    let sb = Sandbox::new(&search_spec("random", 3));
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "total"), count(&s, "finished")), (3, 3));
    let first: Vec<serde_json::Value> = sb.runs().iter().map(|r| r["params"].clone()).collect();
    for p in &first {
        let lr = p["lr"].as_f64().unwrap();
        assert!((1e-3..=3e-2).contains(&lr), "{lr}");
    }

    // Raising `trials` extends the same study: the first three are recognised, two are new.
    std::fs::write(sb.path("spec.toml"), search_spec("random", 5)).unwrap();
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "skipped"), count(&s, "finished")), (3, 2));
    let runs = sb.runs();
    assert_eq!(runs.len(), 5);
    let params: Vec<serde_json::Value> = runs.iter().map(|r| r["params"].clone()).collect();
    assert_eq!(&params[..3], &first[..], "earlier proposals are kept");

    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "skipped"), count(&s, "finished")), (5, 0));
}

#[test]
fn tpe_search_runs_in_parallel_and_reruns_only_what_is_missing() {
    let sb = Sandbox::new(&search_spec("tpe", 6));
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "total"), count(&s, "finished")), (6, 6));
    assert_eq!(s["method"], "tpe");
    let victim = sb.runs()[4]["run_id"].as_str().unwrap().to_string();
    {
        let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
        conn.execute(
            "UPDATE runs SET status = 'running', pid = 999999999 WHERE run_id = ?1",
            [&victim],
        )
        .unwrap();
    }
    let s = summary(&sb.sweep().success());
    assert_eq!(
        (
            count(&s, "skipped"),
            count(&s, "finished"),
            count(&s, "reaped")
        ),
        (5, 1, 1)
    );
    let runs = sb.runs();
    assert_eq!(runs.iter().filter(|r| r["status"] == "finished").count(), 6);
    assert_eq!(runs.iter().filter(|r| r["status"] == "killed").count(), 1);
}

#[test]
fn median_pruner_stops_runs_that_lag_the_others() {
    let spec = r#"[experiment]
name = "prune"

[data]
path = "weather.csv"
target = "temp_max"
window = 7

[train]
epochs = 5
hidden_dim = 8

[grid]
lr = [0.01, 0.000001]
seed = [0, 1, 2]

[prune]
method = "median"
warmup_epochs = 1
min_runs = 3
"#;
    let sb = Sandbox::new(spec);
    // One worker: the three good runs finish before the slow ones start, so the verdict is fixed.
    let out = sb
        .cmd(&["sweep", "spec.toml", "--json", "--jobs", "1"])
        .assert()
        .success();
    let s = summary(&out);
    assert_eq!((count(&s, "finished"), count(&s, "pruned")), (3, 3));
    assert_eq!(count(&s, "epochs_saved"), 9, "pruned after epoch 2 of 5");
    for r in sb.runs() {
        let slow = r["params"]["lr"].as_f64().unwrap() < 1e-3;
        assert_eq!(r["status"], if slow { "pruned" } else { "finished" });
        if slow {
            let reason = r["failure_reason"].as_str().unwrap();
            assert!(reason.starts_with("pruned at epoch 2"), "{reason}");
            assert_eq!(r["metrics"]["epochs_trained"], 2.0);
            assert_eq!(
                r["artifacts"].as_array().unwrap().len(),
                3,
                "a pruned model is kept"
            );
        }
    }
    let table = sb.cmd(&["runs"]).assert().success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert_eq!(table.matches("  pruned  ").count(), 3, "{table}");
    assert_eq!(
        table.matches(": pruned at epoch 2").count(),
        3,
        "reasons are listed: {table}"
    );
}
