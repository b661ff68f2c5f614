//! A real sweep through the binary: real GRU training, a real SQLite store, real artifacts.

mod common;

use aerocast::artifacts;
use aerocast::store::Store;
use common::{Sandbox, input_error, json_of, spec_text, summary};
use std::collections::HashMap;

#[test]
fn sweep_records_runs_metrics_and_artifacts_and_rerun_skips() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let first = sb.sweep().success();
    let s = summary(&first);
    assert_eq!(
        (
            s["total"].as_u64(),
            s["finished"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(4), Some(4), Some(0))
    );
    // The sweep's own clock of tracking: some time in each kind of write, all inside runs.
    let time = &s["time"];
    let secs = |k: &str| time[k].as_f64().unwrap_or_else(|| panic!("time.{k}"));
    assert!(secs("store_seconds") > 0.0 && secs("artifact_seconds") > 0.0);
    assert!(secs("store_seconds") + secs("artifact_seconds") < secs("run_seconds"));

    let runs = sb.runs();
    assert_eq!(runs.len(), 4);
    let store = Store::open_existing(&sb.store()).unwrap();
    for run in &runs {
        assert_eq!(run["status"], "finished");
        let id = run["run_id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        for key in [
            "val_rmse",
            "val_mae",
            "naive_val_rmse",
            "naive_val_mae",
            "train_loss",
            "val_loss",
        ] {
            let v = run["metrics"][key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} missing"));
            assert!(v.is_finite() && v > 0.0, "{key} = {v}");
        }
        assert_eq!(run["params"]["epochs"], 2);
        assert_eq!(run["params"]["window"], 7);
        for key in ["train_loss", "val_loss"] {
            let steps: Vec<i64> = store
                .history(id, key)
                .unwrap()
                .iter()
                .map(|p| p.step)
                .collect();
            assert_eq!(steps, vec![1, 2], "{key} history");
        }
        let artifacts: Vec<&str> = run["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(artifacts.len(), 3);
        // The store keeps them; reading writes them out where the listing says.
        let dir = store.fetch_artifacts(id).unwrap();
        for a in &artifacts {
            assert!(std::path::Path::new(a).is_file(), "{a}");
        }
        let svg = std::fs::read_to_string(dir.join(artifacts::LOSS_PLOT)).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the loss plot is well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        // Two curves (train, val) and their legend marks.
        let paths = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .count();
        assert!(paths >= 2, "{paths} polylines in the loss plot");
    }

    // The naive baseline is the same split for every run.
    let naive: Vec<f64> = runs
        .iter()
        .map(|r| r["metrics"]["naive_val_rmse"].as_f64().unwrap())
        .collect();
    assert!(naive.windows(2).all(|w| w[0] == w[1]));

    let again = sb.sweep().success();
    let s = summary(&again);
    assert_eq!(
        (s["skipped"].as_u64(), s["finished"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(sb.runs().len(), 4, "a rerun adds no runs");
}

#[test]
fn saved_model_reproduces_the_recorded_val_rmse() {
    let sb = Sandbox::new(
        &spec_text("[0.01]")
            .replace("seed = [0, 1]", "seed = [3]")
            .replace("hidden_dim = [4, 8]", "hidden_dim = [6]"),
    );
    sb.sweep().success();
    let run = &sb.runs()[0];
    let store = Store::open_existing(&sb.store()).unwrap();
    let (model, card) = artifacts::load_model(
        &store
            .fetch_artifacts(run["run_id"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(card.hidden_dim, 6);
    assert_eq!(card.features.len(), 4);

    let spec = aerocast::spec::Spec::load(&sb.path("spec.toml")).unwrap();
    let plan = aerocast::sweep::plan(&spec).unwrap();
    assert_eq!(card.data_sha256, plan.data.hash);
    assert_eq!(card.normalisation, *plan.prepared.stats());
    let cfg = aerocast::train::TrainConfig::from_params(&card.params).unwrap();
    let val: Vec<usize> = plan.prepared.val_targets().to_vec();
    let pred = aerocast::train::predict(
        &model,
        &plan.prepared,
        &val,
        &cfg,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let pred: Vec<f64> = pred
        .iter()
        .map(|&v| card.normalisation.denormalise_target(v))
        .collect();
    let (rmse, _) = aerocast::train::windows::rmse_mae(
        &pred,
        &aerocast::train::windows::val_actuals(&plan.prepared),
    );
    let recorded = run["metrics"]["val_rmse"].as_f64().unwrap();
    assert!(
        (rmse - recorded).abs() < 1e-6,
        "reloaded {rmse} vs recorded {recorded}"
    );
}

#[test]
fn same_spec_and_seed_give_identical_metrics() {
    let spec = spec_text("[0.003]");
    let metrics = |sb: &Sandbox| -> HashMap<String, serde_json::Value> {
        sb.sweep().success();
        sb.runs()
            .into_iter()
            .map(|r| {
                (
                    r["job_key"].as_str().unwrap().to_string(),
                    r["metrics"].clone(),
                )
            })
            .collect()
    };
    let a = metrics(&Sandbox::new(&spec));
    let b = metrics(&Sandbox::new(&spec));
    assert_eq!(a.len(), 4);
    assert_eq!(a, b, "same job keys, bit-identical metrics");
    let seeds: std::collections::HashSet<String> =
        a.values().map(|m| m["val_rmse"].to_string()).collect();
    assert_eq!(
        seeds.len(),
        4,
        "different seeds or sizes give different results"
    );
}

#[test]
fn diverging_run_is_recorded_failed_and_the_sweep_goes_on() {
    let sb = Sandbox::new(&spec_text("[0.01, 1e30]").replace("seed = [0, 1]", "seed = [0]"));
    let out = sb.sweep().code(1);
    let s = summary(&out);
    assert_eq!(
        (s["finished"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(2))
    );
    let runs = sb.runs();
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 2);
    for r in &failed {
        assert_eq!(r["params"]["lr"], 1e30);
        let reason = r["failure_reason"].as_str().unwrap();
        assert!(reason.starts_with("diverged at epoch 1"), "{reason}");
        assert!(r["metrics"]["naive_val_rmse"].as_f64().is_some());
    }
    // A rerun retries the failed jobs (they fail again) and skips the finished ones.
    let s = summary(&sb.sweep().code(1));
    assert_eq!(
        (s["skipped"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(sb.runs().len(), 6);
}

#[test]
fn run_left_running_by_a_dead_process_is_marked_killed_and_rerun() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let victim = sb.runs()[0]["run_id"].as_str().unwrap().to_string();
    {
        // Make one run look like a process died mid-training: still running, its pid gone.
        let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
        conn.execute(
            "UPDATE runs SET status = 'running', end_time = NULL, pid = 999999999 WHERE run_id = ?1",
            [&victim],
        )
        .unwrap();
        conn.execute("UPDATE sweeps SET status = 'running', pid = 999999999", [])
            .unwrap();
    }
    let s = summary(&sb.sweep().success());
    assert_eq!(
        (
            s["finished"].as_u64(),
            s["skipped"].as_u64(),
            s["reaped"].as_u64()
        ),
        (Some(1), Some(3), Some(1))
    );
    let runs = sb.runs();
    assert_eq!(runs.len(), 5);
    let old = runs
        .iter()
        .find(|r| r["run_id"] == victim.as_str())
        .unwrap();
    assert_eq!(old["status"], "killed");
    assert_eq!(runs.iter().filter(|r| r["status"] == "finished").count(), 4);
    let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
    let statuses: Vec<String> = conn
        .prepare("SELECT status FROM sweeps ORDER BY started_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        statuses,
        vec!["killed", "finished"],
        "the dead sweep is closed, the live one not"
    );
}

#[test]
fn report_best_json_names_the_lowest_val_rmse() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let out = sb.cmd(&["report", "--best", "--json"]).assert().success();
    let best: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let min = sb
        .runs()
        .iter()
        .map(|r| r["metrics"]["val_rmse"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best["metrics"]["val_rmse"].as_f64(), Some(min));
    assert!(best["run_id"].is_string());
    assert!(best["params"]["hidden_dim"].is_number());
    assert!(best["metrics"]["naive_val_rmse"].is_number());

    let text = sb.cmd(&["report", "--best"]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(text.contains(best["run_id"].as_str().unwrap()));
}

#[test]
fn store_location_flag_beats_env_beats_spec() {
    let spec = spec_text("[0.01]")
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4]")
        + "\n[store]\npath = \"from-spec\"\n";
    let sb = Sandbox::new(&spec);
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = assert_cmd::Command::cargo_bin("aerocast").unwrap();
        cmd.current_dir(sb.dir.path())
            .env_remove("AEROCAST_STORE")
            .args(["sweep", "spec.toml", "--quiet"]);
        if let Some(e) = env {
            cmd.env("AEROCAST_STORE", e);
        }
        if let Some(f) = flag {
            cmd.args(["--store", f]);
        }
        cmd.assert().success();
    };
    run(None, None);
    assert!(sb.path("from-spec/aerocast.db").is_file());
    run(Some("from-env"), None);
    assert!(sb.path("from-env/aerocast.db").is_file());
    run(Some("from-env-2"), Some("from-flag"));
    assert!(sb.path("from-flag/aerocast.db").is_file());
    assert!(!sb.path("from-env-2").exists());
}

#[test]
fn hostile_experiment_names_write_nothing_outside_the_store() {
    let name = "../../escape/<script>alert(1)</script>/..";
    let spec = spec_text("[0.01]")
        .replace("name = \"tiny\"", &format!("name = {name:?}"))
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4]");
    let sb = Sandbox::new(&spec);
    sb.sweep().success();
    sb.cmd(&["report"]).assert().success();

    let mut outside = Vec::new();
    for entry in std::fs::read_dir(sb.dir.path()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !["store", "spec.toml", "weather.csv"].contains(&name.as_str()) {
            outside.push(name);
        }
    }
    assert!(outside.is_empty(), "written beside the store: {outside:?}");
    let escaped: Vec<_> = std::fs::read_dir(sb.dir.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("escape"))
        .collect();
    assert!(escaped.is_empty(), "written above the sandbox: {escaped:?}");
    let reports: Vec<_> = std::fs::read_dir(sb.store().join("reports"))
        .unwrap()
        .collect();
    assert_eq!(reports.len(), 1, "one report folder, inside the store");
    let runs = sb.runs();
    assert_eq!(
        runs[0]["experiment"], name,
        "the name itself is kept as text"
    );
}

#[test]
fn dropout_is_seeded_and_changes_training() {
    let spec = spec_text("[0.01]")
        .replace("seed = [0, 1]", "seed = [0]")
        .replace(
            "hidden_dim = [4, 8]",
            "hidden_dim = [8]\ndropout = [0.0, 0.3]",
        );
    let rmse = |sb: &Sandbox| -> Vec<(f64, f64)> {
        sb.sweep().success();
        let mut v: Vec<(f64, f64)> = sb
            .runs()
            .iter()
            .map(|r| {
                let m = &r["metrics"];
                (
                    r["params"]["dropout"].as_f64().unwrap(),
                    m["val_rmse"].as_f64().unwrap(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    let a = rmse(&Sandbox::new(&spec));
    assert_eq!(a.len(), 2);
    assert_ne!(a[0].1, a[1].1, "dropout changes training");
    assert_eq!(a, rmse(&Sandbox::new(&spec)), "and is reproducible");

    let bad = Sandbox::new(&spec.replace("dropout = [0.0, 0.3]", "dropout = [1.0]"));
    let out = bad.cmd(&["sweep", "spec.toml", "--quiet"]).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("below 1"));
}

#[test]
fn batched_epoch_metrics_all_reach_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (experiment_id, sweep_id) = common::begin_sweep(&store, "batch", 1);
    let job = aerocast::jobs::Job {
        index: 0,
        params: Default::default(),
        key: "k".into(),
    };
    let aerocast::store::Claim::Run(run_id) = store
        .claim(experiment_id, &sweep_id, "0", &job, &[])
        .unwrap()
    else {
        panic!("a fresh store has no other run")
    };
    let losses: Vec<[(&str, f64); 2]> = (1..=5)
        .map(|e| [("train_loss", 1.0 / e as f64), ("val_loss", 2.0 / e as f64)])
        .collect();
    // Epoch 1 alone, then 2–5 in one transaction, as a sweep's batching writes them.
    store.log_epochs(&run_id, &[(1, &losses[0][..])]).unwrap();
    let rest: Vec<(usize, &[(&str, f64)])> = (2..=5).map(|e| (e, &losses[e - 1][..])).collect();
    store.log_epochs(&run_id, &rest).unwrap();
    store.log_epochs(&run_id, &[]).unwrap();
    for (i, key) in ["train_loss", "val_loss"].iter().enumerate() {
        let history = store.history(&run_id, key).unwrap();
        let got: Vec<(i64, Option<f64>)> = history.iter().map(|p| (p.step, p.value)).collect();
        let want: Vec<(i64, Option<f64>)> = (1..=5)
            .map(|e| (e as i64, Some((i + 1) as f64 / e as f64)))
            .collect();
        assert_eq!(got, want, "{key}");
    }
}

/// Every run records the linear and seasonal baselines on its own validation rows, shared by
/// runs of one window; `report --best` says whether the best run beats each.
#[test]
fn runs_record_linear_and_seasonal_baselines() {
    let spec = spec_text("[0.01]").replace("window = 7", "window = 7\nseason = 7");
    let sb = Sandbox::new(&spec);
    sb.sweep().success();
    let runs = sb.runs();
    let first = &runs[0]["metrics"];
    for run in &runs {
        for key in [
            "linear_val_rmse",
            "linear_val_mae",
            "seasonal_naive_val_rmse",
            "seasonal_naive_val_mae",
        ] {
            let v = run["metrics"][key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key}"));
            assert!(v.is_finite() && v > 0.0, "{key} = {v}");
            assert_eq!(
                run["metrics"][key], first[key],
                "same window, same baseline"
            );
        }
        // Weather a week ago is a worse guess than yesterday's.
        assert!(
            run["metrics"]["seasonal_naive_val_rmse"].as_f64()
                > run["metrics"]["naive_val_rmse"].as_f64()
        );
    }
    let best = sb.cmd(&["report", "--best"]).assert().success();
    let text = String::from_utf8_lossy(&best.get_output().stdout).to_string();
    assert!(text.contains("the linear forecast (val_rmse"), "{text}");
    assert!(text.contains("the seasonal naive forecast"), "{text}");
    let json = sb.cmd(&["report", "--best", "--json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let linear = doc["metrics"]["val_rmse"].as_f64() < doc["metrics"]["linear_val_rmse"].as_f64();
    assert_eq!(doc["beats"]["linear"], linear);
}

/// `sweep --dry-run` checks the spec and data and lists the trials without creating the
/// store; after a sweep it marks every trial finished; bad input is exit 2 as for a sweep.
#[test]
fn dry_run_lists_the_trials_and_writes_nothing() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let plan = json_of(&sb, &["sweep", "spec.toml", "--dry-run"]);
    assert_eq!(
        (plan["trials"].as_u64(), plan["to_run"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(plan["method"], "grid");
    assert_eq!(plan["data"]["rows"], 300);
    let labels: Vec<&str> = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels[0], "hidden_dim=4 lr=0.01 seed=0");
    assert_eq!(labels.len(), 4);
    assert!(!sb.store().exists(), "a dry run creates no store");

    sb.sweep().success();
    let plan = json_of(&sb, &["sweep", "spec.toml", "--dry-run"]);
    assert_eq!(
        (plan["finished"].as_u64(), plan["to_run"].as_u64()),
        (Some(4), Some(0))
    );
    let text = sb
        .cmd(&["sweep", "spec.toml", "--dry-run"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(
        text.contains("4 trials: 4 finished in the store, 0 to run"),
        "{text}"
    );

    let bad = Sandbox::new(&spec_text("[0.01]").replace("temp_min", "temp_mid"));
    let e = input_error(&bad, &["sweep", "spec.toml", "--dry-run"]);
    assert!(e.contains("temp_mid"), "{e}");
    assert!(!bad.store().exists());
}
