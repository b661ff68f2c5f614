//! `aerocast predict` through the binary: one forecast with its time, recursive steps, the
//! backtest against the recorded val_rmse, forecasts from another CSV, and bad input.

mod common;

use common::*;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// The full data file's date of data row `n` (1-based).
fn date_of_row(n: usize) -> String {
    let text = std::fs::read_to_string(DATA).unwrap();
    let line = text.lines().nth(n).unwrap();
    line.split(',').next().unwrap().to_string()
}

#[test]
fn forecasts_backtests_and_reads_other_csvs() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let (run, val_rmse) = best_run(&sb);

    // One forecast, one step past the slice's last row, stamped with the next date.
    let p = json_of(&sb, &["predict", "--run", &run[..8]]);
    assert_eq!(p["run_id"], run.as_str());
    assert_eq!(p["target"], "temp_max");
    let f = p["forecasts"].as_array().unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["step"], 1);
    assert_eq!(f[0]["time"], date_of_row(301).as_str());
    let value = f[0]["value"].as_f64().unwrap();
    assert!(
        value.is_finite() && (-30.0..50.0).contains(&value),
        "{value}"
    );

    // --best picks the same run.
    let best = json_of(&sb, &["predict", "--best"]);
    assert_eq!(best["forecasts"], p["forecasts"]);

    // Backtest on the run's own data: the recorded val_rmse, to 1e-6 relative.
    let b = json_of(&sb, &["predict", "--run", &run, "--backtest"]);
    let rmse = b["metrics"]["rmse"].as_f64().unwrap();
    assert!(
        rel(rmse, val_rmse) < 1e-6,
        "backtest {rmse} vs recorded {val_rmse}"
    );
    let rows = b["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 60, "the validation span of 300 rows at 0.8");
    assert!(rows[0]["time"].is_string() && rows[0]["naive"].is_number());
    assert!(b["metrics"]["naive_rmse"].as_f64().unwrap() > 0.0);
    assert_eq!(b["forecasts"], p["forecasts"]);

    // The same file given as --data: the same forecast; its backtest covers every window
    // and agrees with the validation span where they overlap.
    let csv = sb.path("weather.csv");
    let csv = csv.to_str().unwrap();
    let d = json_of(
        &sb,
        &["predict", "--run", &run, "--data", csv, "--backtest"],
    );
    assert_eq!(d["forecasts"], p["forecasts"]);
    let all = d["rows"].as_array().unwrap();
    assert_eq!(all.len(), 300 - 7);
    for (a, v) in all[all.len() - 60..].iter().zip(rows) {
        assert_eq!(a["time"], v["time"]);
        let (x, y) = (
            a["forecast"].as_f64().unwrap(),
            v["forecast"].as_f64().unwrap(),
        );
        assert!(rel(x, y) < 1e-6, "{x} vs {y}");
    }

    // A shorter CSV forecasts from its own last rows: 200 rows → the date after row 200.
    let short = sb.path("short.csv");
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(201).collect();
    std::fs::write(&short, head.join("\n") + "\n").unwrap();
    let s = json_of(
        &sb,
        &["predict", "--run", &run, "--data", short.to_str().unwrap()],
    );
    assert_eq!(s["forecasts"][0]["time"], date_of_row(201).as_str());
    assert_ne!(s["forecasts"][0]["value"], p["forecasts"][0]["value"]);

    // Monthly times step in calendar months: 300 months from 1990-01 end at 2014-12.
    let monthly: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| match i {
            0 => line.to_string(),
            _ => {
                let month = 1990 * 12 + i - 1;
                let rest = line.split_once(',').unwrap().1;
                format!("{}-{:02},{rest}", month / 12, month % 12 + 1)
            }
        })
        .collect();
    let monthly_csv = sb.path("monthly.csv");
    std::fs::write(&monthly_csv, monthly.join("\n") + "\n").unwrap();
    let m = json_of(
        &sb,
        &[
            "predict",
            "--run",
            &run,
            "--data",
            monthly_csv.to_str().unwrap(),
        ],
    );
    assert_eq!(m["forecasts"][0]["time"], "2015-01", "{m}");
    assert_eq!(m["forecasts"][0]["value"], p["forecasts"][0]["value"]);

    // CSV output: a header and one row.
    let out = sb
        .cmd(&["predict", "--run", &run, "--csv"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.starts_with("step,time,value\n1,"), "{text}");

    // A multivariate model cannot forecast recursively.
    let e = input_error(&sb, &["predict", "--run", &run, "--steps", "3"]);
    assert!(e.contains("recursive") && e.contains("horizon 1"), "{e}");
}

#[test]
fn recursive_steps_feed_each_forecast_back() {
    let sb = Sandbox::new(&univariate_spec());
    sb.sweep().success();
    let (run, _) = best_run(&sb);
    let p = json_of(&sb, &["predict", "--run", &run, "--steps", "4"]);
    let f = p["forecasts"].as_array().unwrap();
    assert_eq!(f.len(), 4);
    for (i, x) in f.iter().enumerate() {
        assert_eq!(x["step"], i + 1);
        assert_eq!(x["time"], date_of_row(301 + i).as_str());
    }
    let one = json_of(&sb, &["predict", "--run", &run]);
    assert_eq!(one["forecasts"][0], f[0]);

    // Step 2 is the one-step forecast from the data with step 1's forecast appended.
    let mut text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let v1 = f[0]["value"].as_f64().unwrap();
    text.push_str(&format!("{},0.0,{v1},5.0,2.0,sun\n", date_of_row(301)));
    std::fs::write(sb.path("grown.csv"), text).unwrap();
    let grown = sb.path("grown.csv");
    let g = json_of(
        &sb,
        &["predict", "--run", &run, "--data", grown.to_str().unwrap()],
    );
    let (a, b) = (
        g["forecasts"][0]["value"].as_f64().unwrap(),
        f[1]["value"].as_f64().unwrap(),
    );
    assert!(rel(a, b) < 1e-6, "{a} vs {b}");
    assert_eq!(g["forecasts"][0]["time"], f[1]["time"]);
}

#[test]
fn bad_input_is_exit_2_and_names_the_problem() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    let (run, _) = best_run(&sb);
    let before = snapshot(&sb.store().join("artifacts"));
    let write = |name: &str, text: &str| {
        let p = sb.path(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let e = input_error(&sb, &["predict", "--run", "ffffffff"]);
    assert!(e.contains("no run with an id starting"), "{e}");
    let e = input_error(&sb, &["predict", "--model", "nope"]);
    assert!(e.contains("no model named \"nope\""), "{e}");
    let e = input_error(&sb, &["predict", "--run", &run, "--data", "missing.csv"]);
    assert!(e.contains("missing.csv"), "{e}");

    let cols = write("cols.csv", "date,temp_max,temp_min\n2012/01/01,1,2\n");
    let e = input_error(&sb, &["predict", "--run", &run, "--data", &cols]);
    assert!(
        e.contains("cols.csv") && e.contains("\"precipitation\" is not in"),
        "{e}"
    );

    let mut rows = String::from("date,precipitation,temp_max,temp_min,wind\n");
    for d in 1..=5 {
        rows.push_str(&format!("2012/01/0{d},0,10,5,3\n"));
    }
    let short = write("short.csv", &rows);
    let e = input_error(&sb, &["predict", "--run", &run, "--data", &short]);
    assert!(
        e.contains("5 rows given") && e.contains("window of 7"),
        "{e}"
    );

    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let bad = text.replacen("12.8", "warm", 1);
    let cell = write("cell.csv", &bad);
    let e = input_error(&sb, &["predict", "--run", &run, "--data", &cell]);
    assert!(
        e.contains("cell.csv:2:") && e.contains("\"warm\" is not a number"),
        "{e}"
    );

    // Irregular times in the last window: forecasts keep their step and the output says why.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(lines.len() - 3);
    let gap = write("gap.csv", &(lines.join("\n") + "\n"));
    let g = json_of(&sb, &["predict", "--run", &run, "--data", &gap]);
    assert!(g["forecasts"][0].get("time").is_none());
    assert!(
        g["note"].as_str().unwrap().contains("not evenly spaced"),
        "{g}"
    );

    assert_eq!(snapshot(&sb.store().join("artifacts")), before);
}
