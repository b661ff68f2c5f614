//! Direct multi-step forecasts through the binary: one head with `horizon` outputs, scored
//! per lead time, summarised as the mean over lead times, drawn by lead in the report.

mod common;

use common::Sandbox;
use serde_json::Value;

fn metric(run: &Value, name: &str) -> f64 {
    run["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {run}"))
}

#[test]
fn a_direct_head_records_every_lead_time_and_their_mean() {
    let spec = common::spec_text("[0.01]").replace(
        "window = 7",
        "window = 7\nhorizon = 3\noutput = \"direct\"\ntest_fraction = 0.1",
    );
    let sb = Sandbox::new(&spec);
    sb.sweep().success();
    let runs = sb.runs();
    assert_eq!(runs.len(), 4);
    for run in &runs {
        let leads: Vec<f64> = (1..=3)
            .map(|k| metric(run, &format!("val_rmse_h{k}")))
            .collect();
        assert!(run["metrics"].get("val_rmse_h4").is_none());
        let mean = leads.iter().sum::<f64>() / 3.0;
        assert!((metric(run, "val_rmse") - mean).abs() < 1e-12);
        let naive: Vec<f64> = (1..=3)
            .map(|k| metric(run, &format!("naive_val_rmse_h{k}")))
            .collect();
        let naive_mean = naive.iter().sum::<f64>() / 3.0;
        assert!((metric(run, "naive_val_rmse") - naive_mean).abs() < 1e-12);
        // Every run sees the same windows: the naive scores agree across runs.
        assert_eq!(
            naive,
            (1..=3)
                .map(|k| metric(&runs[0], &format!("naive_val_rmse_h{k}")))
                .collect::<Vec<_>>()
        );
        assert!(metric(run, "test_rmse") > 0.0);
        let id = run["run_id"].as_str().unwrap();
        // The store keeps the files; `runs artifacts` writes them out.
        sb.cmd(&["runs", "artifacts", id]).assert().success();
        let dir = sb.store().join("artifacts").join(id);
        let card: Value =
            serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
        assert_eq!(card["outputs"], 3);
    }
    // Leads further ahead are harder for the naive forecast on daily temperatures.
    let n1 = metric(&runs[0], "naive_val_rmse_h1");
    let n3 = metric(&runs[0], "naive_val_rmse_h3");
    assert!(n3 > n1, "{n1} vs {n3}");

    sb.cmd(&["report", "--out", "rep"]).assert().success();
    let html = std::fs::read_to_string(sb.path("rep/index.html")).unwrap();
    assert!(html.contains("Error by lead time"));
    let svg = std::fs::read_to_string(sb.path("rep/by_lead.svg")).unwrap();
    assert!(svg.contains("naive (last value)"));
    assert!(
        sb.path("rep/forecast.svg").is_file(),
        "the forecast chart reloads the direct model"
    );
}

#[test]
fn single_output_runs_have_no_lead_metrics_or_chart() {
    let sb =
        Sandbox::new(&common::spec_text("[0.01]").replace("window = 7", "window = 7\nhorizon = 2"));
    sb.sweep().success();
    for run in sb.runs() {
        assert!(run["metrics"].get("val_rmse_h1").is_none());
    }
    sb.cmd(&["report", "--out", "rep"]).assert().success();
    let html = std::fs::read_to_string(sb.path("rep/index.html")).unwrap();
    assert!(!html.contains("Error by lead time"));
    assert!(!sb.path("rep/by_lead.svg").exists());
}
