//! The model registry through the binary: versions, aliases that move, concurrent
//! registrations, pinned runs, an older store upgraded, and predict by model reference.

mod common;

use common::*;

fn finished_runs(sb: &Sandbox) -> Vec<String> {
    sb.runs()
        .iter()
        .filter(|r| r["status"] == "finished")
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn versions_aliases_and_predict_by_reference() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let runs = finished_runs(&sb);
    let (best, _) = best_run(&sb);
    let other = runs.iter().find(|r| **r != best).unwrap().clone();

    let v1 = json_of(&sb, &["model", "register", "temp", "--run", &other[..8]]);
    assert_eq!(
        (v1["version"].as_i64(), v1["run_id"].as_str()),
        (Some(1), Some(other.as_str()))
    );
    let v2 = json_of(
        &sb,
        &[
            "model",
            "register",
            "temp",
            "--best",
            "--alias",
            "production",
            "--alias",
            "staging",
        ],
    );
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["run_id"], best.as_str());
    assert_eq!(v2["aliases"], serde_json::json!(["production", "staging"]));
    assert_eq!(v2["experiment"], "tiny");

    let list = json_of(&sb, &["model", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["aliases"], serde_json::json!([]));

    // Moving an alias: one version loses it, the other gains it.
    sb.cmd(&["model", "alias", "temp", "production", "1"])
        .assert()
        .success();
    let list = json_of(&sb, &["model", "list", "temp"]);
    assert_eq!(list[0]["aliases"], serde_json::json!(["production"]));
    assert_eq!(list[1]["aliases"], serde_json::json!(["staging"]));
    let shown = json_of(&sb, &["model", "show", "temp@production"]);
    assert_eq!(
        (shown["version"].as_i64(), shown["window"].as_i64()),
        (Some(1), Some(7))
    );
    assert!(shown["metrics"]["val_rmse"].is_number());
    assert_eq!(json_of(&sb, &["model", "show", "temp"])["version"], 2);
    assert_eq!(
        json_of(&sb, &["model", "show", "temp/1"])["run_id"],
        other.as_str()
    );

    // predict by reference = predict by run, plus the model it came through.
    let by_ref = json_of(&sb, &["predict", "--model", "temp@production"]);
    let by_run = json_of(&sb, &["predict", "--run", &other]);
    assert_eq!(by_ref["forecasts"], by_run["forecasts"]);
    assert_eq!(
        by_ref["model"],
        serde_json::json!({"name": "temp", "version": 1})
    );
    assert!(by_run.get("model").is_none());

    // Unknown names, versions and aliases are input errors.
    let e = input_error(&sb, &["model", "show", "temp/9"]);
    assert!(e.contains("has no version 9"), "{e}");
    let e = input_error(&sb, &["model", "show", "temp@canary"]);
    assert!(e.contains("has no alias \"canary\""), "{e}");
    let e = input_error(&sb, &["model", "show", "tmp"]);
    assert!(
        e.contains("no model named \"tmp\"") && e.contains("registered: temp"),
        "{e}"
    );
    let e = input_error(&sb, &["model", "alias", "temp", "production", "5"]);
    assert!(e.contains("has no version 5"), "{e}");
    let e = input_error(&sb, &["model", "register", "bad name", "--run", &best]);
    assert!(e.contains("letters, digits"), "{e}");
    let e = input_error(&sb, &["model", "alias", "temp", "7up", "1"]);
    assert!(e.contains("must start with a letter"), "{e}");
    assert_eq!(
        json_of(&sb, &["model", "list"]).as_array().unwrap().len(),
        2
    );
}

#[test]
fn concurrent_registers_get_distinct_versions() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let (best, _) = best_run(&sb);
    for round in 0..3 {
        let mut children: Vec<_> = (0..2)
            .map(|_| {
                spawn(
                    &sb,
                    &["model", "register", "race", "--run", &best, "--json"],
                )
            })
            .collect();
        let mut versions: Vec<i64> = children
            .iter_mut()
            .map(|c| {
                let out = wait_exit(c, 60.0);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                v["version"].as_i64().unwrap()
            })
            .collect();
        versions.sort();
        assert_eq!(versions, vec![2 * round + 1, 2 * round + 2]);
    }
    integrity_ok(&sb.store());
}

#[test]
fn registered_runs_are_pinned_and_old_stores_upgrade() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let runs = finished_runs(&sb);
    // A store from before the registry (migration 4): its tables gone, user_version 3.
    let current: i64 = db(&sb.store())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    db(&sb.store())
        .execute_batch(&format!(
            "DROP TRIGGER runs_pinned_by_registry; DROP TABLE model_aliases;
             DROP TABLE model_versions; DROP TABLE models; PRAGMA user_version = {};",
            3
        ))
        .unwrap();
    sb.cmd(&["model", "register", "pinned", "--run", &runs[0]])
        .assert()
        .success();
    let conn = db(&sb.store());
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, current);

    let e = conn
        .execute("DELETE FROM runs WHERE run_id = ?1", [&runs[0]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("registered model version"), "{e}");
    // An unregistered run is not held by the registry (only by its own rows).
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let n = conn
        .execute("DELETE FROM runs WHERE run_id = ?1", [&runs[1]])
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn gc_keeps_registered_runs() {
    let sb = Sandbox::new(&spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]"));
    data_slice(sb.dir.path(), 250);
    sb.sweep().success();
    let (first_best, _) = best_run(&sb);
    let old: Vec<String> = finished_runs(&sb);
    let doomed = old.iter().find(|r| **r != first_best).unwrap().clone();
    data_slice(sb.dir.path(), 300);
    sb.sweep().success();

    let dry = json_of(&sb, &["gc", "--keep-sweeps", "1", "--dry-run"]);
    assert_eq!(dry["runs"], serde_json::json!([doomed]), "{dry}");
    sb.cmd(&["model", "register", "kept", "--run", &doomed])
        .assert()
        .success();
    let done = json_of(&sb, &["gc", "--keep-sweeps", "1"]);
    assert_eq!(done["runs"], serde_json::json!([]), "{done}");
    assert_eq!(done["kept_pinned"], 1);
    let store = aerocast::store::Store::open_existing(&sb.store()).unwrap();
    assert!(
        store
            .read_artifact(&doomed, "model.safetensors")
            .unwrap()
            .is_some()
    );
    let p = json_of(&sb, &["predict", "--model", "kept"]);
    assert_eq!(p["run_id"], doomed.as_str());
}
