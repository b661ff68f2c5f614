//! Prediction intervals through the binary: `predict --level` and `serve`'s `level` give the
//! conformal quantiles of the run's own validation errors, each series in its own units; the
//! recorded test coverage is the share of test-span actuals inside them; levels a model cannot
//! back are refused.

mod common;

use common::*;

/// A one-run spec over the 300-row slice with a test span: 48 validation and 60 test rows.
fn spec() -> String {
    spec_text("[0.01]")
        .replace("window = 7", "window = 7\ntest_fraction = 0.2")
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [8]")
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Absolute errors of a backtest's rows, ascending.
fn sorted_errors(rows: &[serde_json::Value]) -> Vec<f64> {
    let mut e: Vec<f64> = rows
        .iter()
        .map(|r| (num(&r["actual"]) - num(&r["forecast"])).abs())
        .collect();
    e.sort_by(f64::total_cmp);
    e
}

#[test]
fn intervals_are_conformal_quantiles_of_the_validation_errors_and_their_coverage_is_recorded() {
    let sb = Sandbox::new(&spec());
    let swept = summary(&sb.sweep().success());
    let (run, _) = best_run(&sb);

    // The run's validation errors, from its own backtest.
    let b = json_of(&sb, &["predict", "--run", &run, "--backtest"]);
    let errors = sorted_errors(b["rows"].as_array().unwrap());
    let n = errors.len();
    assert_eq!(n, 48);
    let quantile = |level: usize| errors[((n + 1) * level).div_ceil(100) - 1];

    let p = json_of(&sb, &["predict", "--run", &run, "--level", "95,80"]);
    let f = &p["forecasts"][0];
    let value = num(&f["value"]);
    for level in [80, 95] {
        let (lo, hi) = (
            num(&f[format!("lower_{level}")]),
            num(&f[format!("upper_{level}")]),
        );
        let q = quantile(level);
        assert!(
            (hi - value - q).abs() < 1e-6 * q && (value - lo - q).abs() < 1e-6 * q,
            "{level}%: {lo} .. {hi} around {value}, want ± {q}"
        );
    }
    assert!(quantile(80) < quantile(95));
    // Without --level the output is as before.
    let plain = json_of(&sb, &["predict", "--run", &run]);
    assert!(plain["forecasts"][0].get("lower_80").is_none(), "{plain}");

    let csv = sb
        .cmd(&["predict", "--run", &run, "--level", "80", "--csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&csv.get_output().stdout).to_string();
    assert_eq!(
        csv.lines().next(),
        Some("step,time,value,lower_80,upper_80")
    );

    // A backtest with --level measures coverage: on the validation span that calibrated the
    // interval, at least the level, by construction.
    let v = json_of(
        &sb,
        &["predict", "--run", &run, "--backtest", "--level", "80"],
    );
    let inside_val = errors.iter().filter(|&&e| e <= quantile(80)).count();
    assert_eq!(
        num(&v["metrics"]["coverage_80"]),
        inside_val as f64 / n as f64
    );
    assert!(inside_val as f64 >= 0.8 * n as f64);

    // The recorded coverage is the share of the test span's actuals inside the 80% interval:
    // the last 60 windows of a backtest over the whole file, which is the run's own data.
    let file = sb.path("weather.csv");
    let all = json_of(
        &sb,
        &[
            "predict",
            "--run",
            &run,
            "--data",
            file.to_str().unwrap(),
            "--backtest",
            "--level",
            "80",
        ],
    );
    let rows = all["rows"].as_array().unwrap();
    let test = &rows[rows.len() - 60..];
    let inside = test
        .iter()
        .filter(|r| (num(&r["actual"]) - num(&r["forecast"])).abs() <= quantile(80))
        .count();
    let recorded = num(&sb.runs()[0]["metrics"]["test_coverage_80"]);
    assert!(
        (recorded - inside as f64 / 60.0).abs() < 1e-9,
        "recorded {recorded}, counted {inside} of 60"
    );
    assert!(num(&sb.runs()[0]["metrics"]["test_coverage_95"]) >= recorded);
    assert_eq!(num(&swept["best"]["test_coverage_80"]), recorded);
    // The sweep's own summary line says it too, beside the test RMSE.
    let text = sb.cmd(&["sweep", "spec.toml"]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    let covers = format!("its 80% interval covers {:.0}%", 100.0 * recorded);
    assert!(text.contains(&covers), "{text}");
    // The whole file's backtest counts every window the same way.
    let inside_all = rows
        .iter()
        .filter(|r| (num(&r["actual"]) - num(&r["forecast"])).abs() <= quantile(80))
        .count();
    assert_eq!(
        num(&all["metrics"]["coverage_80"]),
        inside_all as f64 / rows.len() as f64
    );

    // 48 errors cannot bound a 99% interval (⌈49 · 0.99⌉ = 49); 70% is not calibrated.
    let e = input_error(&sb, &["predict", "--run", &run, "--level", "99"]);
    assert!(
        e.contains("--level") && e.contains("no 99% interval") && e.contains("too few"),
        "{e}"
    );
    let e = input_error(&sb, &["predict", "--run", &run, "--level", "70"]);
    assert!(e.contains("50, 80, 90, 95, 99"), "{e}");
}

#[test]
fn recursive_steps_past_the_horizon_get_no_interval_and_say_why() {
    let sb = Sandbox::new(&univariate_spec());
    sb.sweep().success();
    let (run, _) = best_run(&sb);
    let p = json_of(
        &sb,
        &["predict", "--run", &run, "--steps", "3", "--level", "80"],
    );
    let f = p["forecasts"].as_array().unwrap();
    assert!(f[0]["lower_80"].is_number(), "{p}");
    assert!(
        f[1].get("lower_80").is_none() && f[2].get("lower_80").is_none(),
        "{p}"
    );
    let note = p["note"].as_str().unwrap_or_default();
    assert!(note.contains("past the model's horizon"), "{p}");
}

#[test]
fn each_series_gets_intervals_in_its_own_units() {
    let sb = stations("horizon = 1");
    sb.sweep().success();
    let p = json_of(&sb, &["predict", "--best", "--level", "80"]);
    let width = |i: usize| {
        let f = &p["series"][i]["forecasts"][0];
        num(&f["upper_80"]) - num(&f["lower_80"])
    };
    assert_eq!(p["series"][0]["series"], "north");
    // North swings forty times wider than south.
    assert!(width(0) > 5.0 * width(1) && width(1) > 0.0, "{p}");
}
