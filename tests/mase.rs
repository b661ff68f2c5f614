//! MASE through the binary: a run's `val_mase` and `test_mase` (and the naive forecast's) are
//! its MAE over the in-sample one-step naive MAE of the training rows, computed here from the
//! CSV itself; with several series, the pooled MASE is the mean of the series' own.

mod common;

use common::*;

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// temp_max of the slice's first `rows` data rows.
fn temp_max(rows: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(DATA).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "temp_max").unwrap();
    lines
        .take(rows)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn mase_is_mae_over_the_training_rows_one_step_naive_mae() {
    let spec = spec_text("[0.01]")
        .replace("window = 7", "window = 7\ntest_fraction = 0.2")
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4]");
    let sb = Sandbox::new(&spec);
    let swept = summary(&sb.sweep().success());
    let run = &sb.runs()[0];
    let m = &run["metrics"];
    assert_eq!(swept["best"]["val_mase"], m["val_mase"]);
    // 300 rows: the last 60 test, then 48 validation of the 240 left, 192 training rows.
    let y = temp_max(192);
    let scale = y.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / 191.0;
    for (mase, mae) in [
        ("val_mase", "val_mae"),
        ("test_mase", "test_mae"),
        ("naive_val_mase", "naive_val_mae"),
        ("naive_test_mase", "naive_test_mae"),
    ] {
        let want = num(&m[mae]) / scale;
        assert!(
            (num(&m[mase]) - want).abs() < 1e-6 * want,
            "{mase} {} vs {want}",
            m[mase]
        );
    }
    assert!(
        run.get("series")
            .is_none_or(|s| s.is_null() || s.as_object().unwrap().is_empty()),
        "{run}"
    );
}

#[test]
fn several_series_pool_the_mean_of_their_own_mase() {
    let sb = stations("horizon = 1");
    sb.sweep().success();
    let run = &sb.runs()[0];
    let s = &run["series"];
    for key in ["val_mase", "test_mase", "naive_val_mase", "naive_test_mase"] {
        let (north, south) = (num(&s["north"][key]), num(&s["south"][key]));
        let pooled = num(&run["metrics"][key]);
        assert!((pooled - (north + south) / 2.0).abs() < 1e-12, "{run}");
    }
    // RMSE in each series' units differs by the scales; MASE divides them out.
    let rmse = |n: &str| num(&s[n]["val_rmse"]);
    let mase = |n: &str| num(&s[n]["val_mase"]);
    assert!(rmse("north") / rmse("south") > 10.0, "{run}");
    assert!(
        mase("north") / mase("south") < rmse("north") / rmse("south") / 5.0,
        "{run}"
    );
}
