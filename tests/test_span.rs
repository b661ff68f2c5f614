//! The test span is never read by selection: a sweep over data whose test rows are all
//! rewritten ranks, prunes, proposes and picks exactly as before; only the test metrics move.

mod common;

use common::Sandbox;
use serde_json::Value;

/// TPE with median pruning, one worker: every decision (proposals, verdicts) is deterministic.
const SPEC: &str = r#"[experiment]
name = "held-out"

[data]
path = "weather.csv"
target = "temp_max"
features = ["temp_max", "temp_min", "precipitation", "wind"]
time = "date"
window = 7
test_fraction = 0.2
season = 7

[train]
epochs = 4

[search]
method = "tpe"
trials = 8
seed = 3
startup_trials = 4

[space]
lr = { distribution = "log_uniform", min = 1e-5, max = 3e-2 }
hidden_dim = { values = [4, 8] }
seed = { values = [0, 1] }

[prune]
method = "median"
warmup_epochs = 1
min_runs = 2
"#;

/// Rewrites every value of the last `rows` data rows (60 = the test span of 300 rows at 0.2).
fn rewrite_tail(csv: &std::path::Path, rows: usize) {
    let text = std::fs::read_to_string(csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first_test = lines.len() - rows;
    let out: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            if i < first_test {
                return line.to_string();
            }
            let cells: Vec<String> = line
                .split(',')
                .map(|c| match c.parse::<f64>() {
                    Ok(v) => format!("{}", 40.0 - 3.0 * v),
                    Err(_) => c.to_string(),
                })
                .collect();
            cells.join(",")
        })
        .collect();
    std::fs::write(csv, out.join("\n") + "\n").unwrap();
}

fn sweep_and_report(sb: &Sandbox) -> (Vec<Value>, Value) {
    sb.cmd(&["sweep", "spec.toml", "--json", "--jobs", "1"])
        .assert()
        .success();
    let out = sb.cmd(&["report", "--json"]).assert().success();
    let board: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let out = sb.cmd(&["report", "--best", "--json"]).assert().success();
    let best: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    (board["runs"].as_array().unwrap().clone(), best)
}

fn metric(run: &Value, name: &str) -> f64 {
    run["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {run}"))
}

#[test]
fn rewriting_the_test_span_changes_test_metrics_and_nothing_else() {
    same_choices_other_test_metrics(
        SPEC,
        &[
            "val_rmse",
            "val_mae",
            "naive_val_rmse",
            "val_loss",
            "best_epoch",
        ],
    );
}

/// The same with rolling-origin evaluation: folds, fold-level pruning and the kept model
/// (trained up to the test span) never let a test row into a choice.
#[test]
fn rewriting_the_test_span_leaves_cross_validated_choices_unchanged() {
    let spec = SPEC
        .replace("[prune]", "[eval]\nfolds = 3\nstep = 20\n\n[prune]")
        .replace("warmup_epochs = 1", "warmup_epochs = 0");
    same_choices_other_test_metrics(
        &spec,
        &["cv_val_rmse", "fold1_val_rmse", "naive_cv_val_rmse"],
    );
}

fn same_choices_other_test_metrics(spec: &str, selection_metrics: &[&str]) {
    let original = Sandbox::new(spec);
    let rewritten = Sandbox::new(spec);
    rewrite_tail(&rewritten.path("weather.csv"), 60);
    let (a, best_a) = sweep_and_report(&original);
    let (b, best_b) = sweep_and_report(&rewritten);

    assert_eq!(a.len(), 8);
    assert!(
        a.iter().any(|r| r["status"] == "pruned"),
        "the spec must exercise pruning"
    );
    assert!(a.iter().any(|r| r["status"] == "finished"));
    for (ra, rb) in a.iter().zip(&b) {
        // Same rank, same proposal, same verdict, same validation scores.
        assert_eq!(ra["params"], rb["params"]);
        assert_eq!(ra["status"], rb["status"]);
        assert_eq!(ra["failure_reason"], rb["failure_reason"]);
        for m in selection_metrics {
            assert_eq!(metric(ra, m), metric(rb, m), "{m}");
        }
        // The held-out scores see the rewritten rows (pruned trials of a cross-validated
        // sweep stop before the kept model is trained, so they have no test_rmse).
        if ra["metrics"].get("test_rmse").is_some() {
            for m in ["test_rmse", "test_mae"] {
                assert_ne!(metric(ra, m), metric(rb, m), "{m}");
            }
        }
        for m in [
            "naive_test_rmse",
            "linear_test_rmse",
            "seasonal_naive_test_rmse",
        ] {
            assert_ne!(metric(ra, m), metric(rb, m), "{m}");
        }
        for m in ["linear_val_rmse", "seasonal_naive_val_rmse"] {
            assert_eq!(metric(ra, m), metric(rb, m), "{m}");
        }
    }
    assert_eq!(best_a["params"], best_b["params"]);
    let held_out = &best_a["not_used_for_selection"];
    assert_eq!(
        held_out["test_rmse"].as_f64(),
        best_a["metrics"]["test_rmse"].as_f64()
    );
    for m in [
        "naive_test_rmse",
        "linear_test_rmse",
        "seasonal_naive_test_mae",
    ] {
        assert!(held_out[m].as_f64().unwrap() > 0.0, "{m}");
    }
    assert!(held_out.get("val_rmse").is_none());
    assert_ne!(held_out, &best_b["not_used_for_selection"]);
}

#[test]
fn test_columns_are_labelled_and_absent_without_a_test_span() {
    let sb = Sandbox::new(&common::spec_text("[0.01]").replace(
        "window = 7",
        "window = 7\ntest_fraction = 0.25\ntrain_fraction = 0.7",
    ));
    sb.sweep().success();
    let table = sb.cmd(&["runs"]).assert().success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(
        table.contains("test_rmse (not used for selection)"),
        "{table}"
    );
    let runs = sb.runs();
    assert!(runs.iter().all(|r| r["metrics"]["test_rmse"].is_number()));
    let out = sb
        .cmd(&["report", "--format", "csv", "--out", "rep"])
        .assert()
        .success();
    drop(out);
    let csv = std::fs::read_to_string(sb.path("rep/leaderboard.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains(",test_rmse,"), "{csv}");

    let plain = Sandbox::new(&common::spec_text("[0.01]"));
    plain.sweep().success();
    let table = plain.cmd(&["runs"]).assert().success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(!table.contains("test_rmse"), "{table}");
    assert!(
        plain
            .runs()
            .iter()
            .all(|r| r["metrics"].get("test_rmse").is_none())
    );
}
