//! Rolling-origin evaluation through the binary: folds scored and summarised, the objective
//! switched to `cv_val_rmse`, the kept model trained on every row before the test span, and
//! hopeless trials pruned after their first fold.

mod common;

use common::{Sandbox, summary};
use serde_json::Value;

fn metric(run: &Value, name: &str) -> f64 {
    run["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {run}"))
}

#[test]
fn folds_are_scored_and_the_kept_model_trains_on_every_row_before_the_test_span() {
    let spec = common::spec_text("[0.003, 0.01]").replace(
        "window = 7",
        "window = 7\ntest_fraction = 0.2\n\n[eval]\nfolds = 3\nstep = 30",
    );
    let sb = Sandbox::new(&spec);
    let s = summary(&sb.sweep().success());
    assert_eq!(s["best"]["metric"], "cv_val_rmse");
    assert!(s["best"]["test_rmse"].is_number());
    let runs = sb.runs();
    assert_eq!(runs.len(), 8);
    for run in &runs {
        assert_eq!(run["status"], "finished");
        let folds: Vec<f64> = (1..=3)
            .map(|k| metric(run, &format!("fold{k}_val_rmse")))
            .collect();
        assert!(run["metrics"].get("fold4_val_rmse").is_none());
        let mean = folds.iter().sum::<f64>() / 3.0;
        assert!((metric(run, "cv_val_rmse") - mean).abs() < 1e-12);
        let var = folds.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0;
        assert!((metric(run, "cv_val_rmse_std") - var.sqrt()).abs() < 1e-12);
        // The last fold is the single split: its score is val_rmse.
        assert_eq!(metric(run, "val_rmse"), folds[2]);
        assert!(metric(run, "naive_cv_val_rmse") > 0.0);
        assert!(metric(run, "test_rmse") > 0.0);
    }

    // 300 rows, 60 in the test span: the kept model normalises by the other 240.
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let temps: Vec<f64> = text
        .lines()
        .skip(1)
        .take(240)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    let mean = temps.iter().sum::<f64>() / 240.0;
    let id = runs[0]["run_id"].as_str().unwrap();
    // The store keeps the files; `runs artifacts` writes them out.
    sb.cmd(&["runs", "artifacts", id]).assert().success();
    let dir = sb.store().join("artifacts").join(id);
    let card: Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    let kept_mean = card["normalisation"]["target_mean"].as_f64().unwrap();
    assert!((kept_mean - mean).abs() < 1e-4, "{kept_mean} vs {mean}");

    // cv_val_rmse ranks: the best run and every output agree on it.
    let out = sb.cmd(&["report", "--best", "--json"]).assert().success();
    let best: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(best["metric"], "cv_val_rmse");
    let lowest = runs
        .iter()
        .map(|r| metric(r, "cv_val_rmse"))
        .fold(f64::INFINITY, f64::min);
    assert_eq!(metric(&best, "cv_val_rmse"), lowest);
    let out = sb.cmd(&["report", "--json"]).assert().success();
    let board: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(board["metric"], "cv_val_rmse");
    assert_eq!(board["runs"][0]["run_id"], best["run_id"]);
    // The sweep history names the same best run (chosen by cv_val_rmse, not the last fold).
    let out = sb.cmd(&["history", "--json"]).assert().success();
    let nights: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(nights[0]["best_run"], best["run_id"], "{nights}");
    // So do `predict --best` and `model register --best`.
    let out = sb.cmd(&["predict", "--best", "--json"]).assert().success();
    let predicted: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(predicted["run_id"], best["run_id"]);
    sb.cmd(&["model", "register", "m", "--best"])
        .assert()
        .success();
    let out = sb.cmd(&["model", "list", "--json"]).assert().success();
    let models = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        models.contains(best["run_id"].as_str().unwrap()),
        "{models}"
    );
    let table = sb.cmd(&["runs"]).assert().success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    let head = table.lines().next().unwrap();
    // Baseline columns are titled by the baseline's name beside the ranking metric.
    for col in [
        "cv_val_rmse  naive ",
        "cv_val_rmse_std",
        "test_rmse (not used",
    ] {
        assert!(head.contains(col), "{head}");
    }
    // The report (forecast chart included) reloads the kept model with its own statistics.
    sb.cmd(&["report", "--out", "rep"]).assert().success();
    assert!(sb.path("rep/index.html").is_file());
}

#[test]
fn fold_pruning_stops_a_hopeless_trial_after_its_first_fold() {
    let spec = r#"[experiment]
name = "fold-prune"

[data]
path = "weather.csv"
target = "temp_max"
window = 7

[train]
epochs = 3
hidden_dim = 8

[grid]
lr = [0.01, 0.000001]
seed = [0, 1, 2]

[eval]
folds = 3

[prune]
method = "median"
min_runs = 3
"#;
    let sb = Sandbox::new(spec);
    // One worker: the three good trials finish before the hopeless ones start.
    let out = sb
        .cmd(&["sweep", "spec.toml", "--json", "--jobs", "1"])
        .assert()
        .success();
    let s = summary(&out);
    assert_eq!(
        (s["finished"].as_u64(), s["pruned"].as_u64()),
        (Some(3), Some(3))
    );
    // Each pruned trial skips two folds and the kept model's training: 3 × 3 epochs.
    assert_eq!(s["epochs_saved"].as_u64(), Some(27));
    for run in sb.runs() {
        let hopeless = run["params"]["lr"].as_f64().unwrap() < 1e-3;
        if !hopeless {
            assert_eq!(run["status"], "finished");
            continue;
        }
        assert_eq!(run["status"], "pruned");
        let reason = run["failure_reason"].as_str().unwrap();
        assert!(reason.starts_with("pruned at fold 1:"), "{reason}");
        assert!(run["metrics"]["fold1_val_rmse"].is_number());
        assert!(run["metrics"].get("fold2_val_rmse").is_none());
        assert_eq!(metric(&run, "cv_val_rmse"), metric(&run, "fold1_val_rmse"));
        assert!(
            run["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.to_string().contains("model.safetensors")),
            "a pruned trial keeps the model it stopped with"
        );
    }
}
