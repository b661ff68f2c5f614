//! Many series in one sweep: long-format data read as one series per station, windows that
//! never cross a station or a gap in time, statistics per station from its training rows,
//! and scores, reports and forecasts per station.

mod common;

use aerocast::spec::Spec;
use aerocast::train;
use common::{Sandbox, input_error, json_of, long_format_csv, series_spec, stations};
use std::path::Path;

const NYC_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/nyc-airports.toml");

fn nyc() -> (aerocast::data::Dataset, train::Prepared) {
    let text = std::fs::read_to_string(NYC_SPEC).unwrap();
    let spec = Spec::parse(Path::new(NYC_SPEC), text).unwrap();
    train::prepare(&spec.data, &spec.lines).unwrap()
}

fn seconds(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap()
        .timestamp()
}

#[test]
fn nyc_windows_never_cross_an_airport_or_a_missing_hour() {
    let (data, p) = nyc();
    let names: Vec<&str> = data.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["EWR", "JFK", "LGA"]);
    for s in &data.series {
        assert!(
            (8_702..=8_706).contains(&s.len()),
            "{}: {}",
            s.name,
            s.len()
        );
    }
    let times: Vec<i64> = data
        .times
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| seconds(t))
        .collect();
    let series_of = |row: usize| data.series.iter().position(|s| s.rows().contains(&row));
    let (window, horizon) = (24, 1);
    let targets = p.train_targets(window, horizon);
    let scored = targets
        .iter()
        .chain(p.val_targets())
        .chain(p.test_targets());
    let mut checked = 0;
    for &t in scored {
        let first = t + 1 - window - horizon;
        assert_eq!(
            series_of(first),
            series_of(t),
            "window of row {t} crosses a series"
        );
        for r in first..t {
            assert_eq!(
                times[r + 1] - times[r],
                3_600,
                "window of row {t} crosses a gap at {r}"
            );
        }
        checked += 1;
    }
    assert!(checked > 20_000, "{checked} windows checked");
    // The file misses hours: the gap rule drops windows, and says how many.
    assert!(p.gaps.len() > 30, "{} gaps", p.gaps.len());
    let dropped = p.windows_across_gaps(window + horizon);
    assert!(dropped > 100, "{dropped} windows dropped");
    // Each airport is split on its own rows: all three are validated and tested.
    for seg in &p.segments {
        assert!(
            p.val_targets()
                .iter()
                .any(|t| seg.spans.split <= *t && *t < seg.spans.val_end)
        );
        assert!(
            p.test_targets()
                .iter()
                .any(|t| seg.spans.val_end <= *t && *t < seg.spans.end)
        );
    }
}

#[test]
fn each_series_is_normalised_by_its_own_training_rows_only() {
    let (data, p) = nyc();
    for seg in &p.segments {
        let train = &data.targets[seg.spans.start..seg.spans.split];
        let mean = train.iter().map(|&v| v as f64).sum::<f64>() / train.len() as f64;
        assert!((seg.stats.target_mean - mean).abs() < 1e-9, "{}", seg.name);
    }
    // The airports differ: one pooled mean would misplace at least one of them.
    let means: Vec<f64> = p.segments.iter().map(|s| s.stats.target_mean).collect();
    assert!(
        means.iter().any(|&m| (m - means[0]).abs() > 0.1),
        "{means:?}"
    );
    // Whatever the validation and test rows hold, the statistics stay as they were.
    let mut changed = data.clone();
    let f = data.features.len();
    for seg in &p.segments {
        for r in seg.spans.split..seg.spans.end {
            changed.targets[r] += 1_000.0;
            for c in 0..f {
                changed.inputs[r * f + c] -= 500.0;
            }
        }
    }
    let again = train::Prepared::from_spans(&changed, &p.spans());
    for (a, b) in p.segments.iter().zip(&again.segments) {
        assert_eq!(a.stats, b.stats, "{}", a.name);
    }
}

#[test]
fn a_sweep_over_stations_scores_reports_and_forecasts_each() {
    let sb = stations("horizon = 1");
    sb.sweep().success();
    let runs = sb.runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    for name in ["north", "south"] {
        let s = &run["series"][name];
        for key in ["val_rmse", "naive_val_rmse", "test_rmse", "naive_test_rmse"] {
            assert!(s[key].as_f64().is_some(), "{name}.{key} in {s}");
        }
    }
    // North swings forty times wider than south: its errors are the larger.
    let rmse = |n: &str| run["series"][n]["val_rmse"].as_f64().unwrap();
    assert!(rmse("north") > rmse("south"), "{run}");
    assert!(run["metrics"].get("series/north/val_rmse").is_none());
    // One missing time in south: the windows of 4 rows + 1 ahead over it are dropped.
    assert_eq!(
        run["metrics"]["windows_dropped_at_gaps"].as_f64(),
        Some(4.0)
    );

    let best = json_of(&sb, &["report", "--best"]);
    assert!(best["series"]["south"]["val_rmse"].is_number(), "{best}");
    let text = sb.cmd(&["report", "--best"]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    let north = text.find("    north ").expect("a north row");
    let south = text.find("    south ").expect("a south row");
    assert!(
        text.contains("by series (worst first)") && north < south,
        "{text}"
    );

    let all = json_of(&sb, &["predict", "--best"]);
    let names: Vec<&str> = all["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["series"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["north", "south"]);
    // Each station's forecast is in its own units, and names the time after its last row.
    let value = |i: usize| all["series"][i]["forecasts"][0]["value"].as_f64().unwrap();
    assert!(value(0) > 50.0 && value(1) < 20.0, "{all}");
    assert_eq!(all["series"][0]["forecasts"][0]["time"], "120");
    let one = sb
        .cmd(&["predict", "--best", "--series", "south", "--csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&one.get_output().stdout).to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "series,step,time,value");
    assert!(
        lines.len() == 2 && lines[1].starts_with("south,1,120,"),
        "{csv}"
    );
    let e = input_error(&sb, &["predict", "--best", "--series", "east"]);
    assert!(
        e.contains("no series \"east\"") && e.contains("north, south"),
        "{e}"
    );
}

#[test]
fn a_direct_head_forecasts_every_step_to_its_horizon() {
    let sb = stations("horizon = 3\noutput = \"direct\"");
    sb.sweep().success();
    let p = json_of(&sb, &["predict", "--best", "--series", "north"]);
    let steps: Vec<(u64, String)> = p["series"][0]["forecasts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["step"].as_u64().unwrap(),
                f["time"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = (1..=3).map(|k| (k, (119 + k).to_string())).collect();
    assert_eq!(steps, want, "{p}");
}

#[test]
fn bad_series_input_names_the_line_and_writes_nothing() {
    let sb = stations("horizon = 1");
    let mut csv = long_format_csv();
    csv.push_str(",200,1.0\n");
    std::fs::write(sb.path("stations.csv"), &csv).unwrap();
    let e = input_error(&sb, &["sweep", "spec.toml"]);
    let line = csv.lines().count();
    assert!(e.contains(&format!("stations.csv:{line}:")), "{e}");
    assert!(e.contains("series column is empty"), "{e}");
    assert!(!sb.store().exists(), "nothing written on bad input");

    std::fs::write(
        sb.path("spec.toml"),
        series_spec("horizon = 1").replace("series = \"station\"", "series = \"y\""),
    )
    .unwrap();
    let e = input_error(&sb, &["sweep", "spec.toml"]);
    assert!(
        e.contains("spec.toml:") && e.contains("cannot also be the target"),
        "{e}"
    );

    // A long-format file read as one series says how to read it as several.
    std::fs::write(sb.path("stations.csv"), long_format_csv()).unwrap();
    std::fs::write(
        sb.path("spec.toml"),
        series_spec("horizon = 1").replace("series = \"station\"\n", ""),
    )
    .unwrap();
    let e = input_error(&sb, &["sweep", "spec.toml"]);
    assert!(e.contains("set [data] series"), "{e}");
}

/// Stations over different hours are cut at the same hours: a station that starts late
/// trains on no hour another station is validated on, and one that starts after the
/// validation cut-off is refused, named, before anything is written.
#[test]
fn stations_over_different_times_share_the_cut_offs() {
    let late = |from: usize| {
        let mut csv = long_format_csv();
        for t in from..120 {
            csv.push_str(&format!("west,{t},{:.3}\n", 50.0 + (t % 7) as f64));
        }
        csv
    };
    let sb = stations("horizon = 1");
    std::fs::write(sb.path("stations.csv"), late(40)).unwrap();
    let spec = Spec::load(&sb.path("spec.toml")).unwrap();
    let (_, p) = train::prepare(&spec.data, &spec.lines).unwrap();
    let times: Vec<i64> = aerocast::data::load(&spec.data, &spec.lines)
        .unwrap()
        .times
        .unwrap()
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let first_validated: Vec<i64> = p.segments.iter().map(|s| times[s.spans.split]).collect();
    let first_tested: Vec<i64> = p.segments.iter().map(|s| times[s.spans.val_end]).collect();
    // 120 hours: the last 24 test, 80% of the 96 before them train.
    assert_eq!(first_validated, [76, 76, 76], "north, south, west");
    assert_eq!(first_tested, [96, 96, 96]);
    assert_eq!(p.segments[2].spans.split - p.segments[2].spans.start, 36);

    std::fs::write(sb.path("stations.csv"), late(80)).unwrap();
    let e = input_error(&sb, &["sweep", "spec.toml"]);
    assert!(
        e.contains("spec.toml:") && e.contains("series \"west\""),
        "{e}"
    );
    assert!(e.contains("cut at the same times"), "{e}");
    assert!(!sb.store().exists(), "nothing written on bad input");
}

#[test]
fn series_feature_gives_the_model_each_rows_station() {
    let sb = stations("horizon = 1\nseries_feature = true");
    sb.sweep().success();
    let run = &sb.runs()[0];
    // The store keeps the files; `runs artifacts` writes them out where the listing says.
    sb.cmd(&["runs", "artifacts", run["run_id"].as_str().unwrap()])
        .assert()
        .success();
    let dir = run["artifacts"][0].as_str().unwrap();
    let dir = Path::new(dir).parent().unwrap();
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    assert_eq!(
        card["features"],
        serde_json::json!(["y", "series=north", "series=south"])
    );
    // Indicators go in as 0/1, never normalised: per-series statistics would zero them.
    for s in card["series"].as_array().unwrap() {
        let n = &s["normalisation"];
        assert_eq!(
            n["feature_mean"],
            serde_json::json!([n["feature_mean"][0], 0.0, 0.0])
        );
        assert_eq!(
            n["feature_std"],
            serde_json::json!([n["feature_std"][0], 1.0, 1.0])
        );
    }
    // A file of south alone is fed the indicators the model trained with.
    let all = json_of(&sb, &["predict", "--best"]);
    let south: String = long_format_csv()
        .lines()
        .filter(|l| !l.starts_with("north,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(sb.path("south.csv"), south).unwrap();
    let alone = json_of(&sb, &["predict", "--best", "--data", "south.csv"]);
    assert_eq!(alone["series"][0]["series"], "south");
    assert_eq!(
        alone["series"][0]["forecasts"][0]["value"],
        all["series"][1]["forecasts"][0]["value"]
    );
}

/// The stations' CSV with every value in each station's test span (its last 20% of rows)
/// rewritten.
fn rewritten_test_spans() -> String {
    let csv = long_format_csv();
    let mut out = String::from("station,t,y\n");
    for name in ["north", "south"] {
        let own: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with(&format!("{name},")))
            .collect();
        let first_test = own.len() - own.len() / 5;
        for (i, line) in own.iter().enumerate() {
            let (head, y) = line.rsplit_once(',').unwrap();
            let y: f64 = y.parse().unwrap();
            let y = if i >= first_test { 40.0 - 3.0 * y } else { y };
            out.push_str(&format!("{head},{y}\n"));
        }
    }
    out
}

#[test]
fn rewriting_every_test_span_changes_no_choice_only_the_test_scores() {
    let grid = "horizon = 1\n\n[grid]\nhidden_dim = [4, 8]\nseed = [0, 1]";
    let spec = series_spec(grid)
        .replace("hidden_dim = 4\n", "")
        .replace("seed = 0\n", "");
    let outcome = |csv: String| {
        let sb = Sandbox::new(&spec);
        std::fs::write(sb.path("stations.csv"), csv).unwrap();
        sb.sweep().success();
        let board = json_of(&sb, &["report"]);
        let ranked: Vec<(String, f64, f64)> = board["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let m = &r["metrics"];
                (
                    r["params"].to_string(),
                    m["val_rmse"].as_f64().unwrap(),
                    m["test_rmse"].as_f64().unwrap(),
                )
            })
            .collect();
        let best = json_of(&sb, &["report", "--best"]);
        (ranked, best["params"].clone(), best["series"].clone())
    };
    let (before, best_before, series_before) = outcome(long_format_csv());
    let (after, best_after, series_after) = outcome(rewritten_test_spans());
    assert_eq!(before.len(), 4);
    let choices = |v: &[(String, f64, f64)]| -> Vec<(String, f64)> {
        v.iter().map(|(p, val, _)| (p.clone(), *val)).collect()
    };
    assert_eq!(
        choices(&before),
        choices(&after),
        "ranking and val_rmse unchanged"
    );
    assert_eq!(best_before, best_after);
    for name in ["north", "south"] {
        assert_eq!(
            series_before[name]["val_rmse"],
            series_after[name]["val_rmse"]
        );
        assert_ne!(
            series_before[name]["test_rmse"], series_after[name]["test_rmse"],
            "{name}"
        );
    }
}

/// Rolling origins over several series: every series is scored on every fold, its mean is
/// recorded beside the pooled one, and the last fold (the single split) scores each series
/// exactly as a sweep without folds does.
#[test]
fn rolling_origins_score_every_series_on_every_fold() {
    let single = stations("horizon = 1");
    single.sweep().success();
    let cv_sb = stations("horizon = 1\n\n[eval]\nfolds = 3\nstep = 8");
    cv_sb.sweep().success();
    let (single, cv) = (&single.runs()[0], &cv_sb.runs()[0]);
    for name in ["north", "south"] {
        let s = &cv["series"][name];
        for key in ["cv_val_rmse", "naive_cv_val_rmse", "val_rmse", "val_mae"] {
            assert!(
                s[key].as_f64().is_some_and(f64::is_finite),
                "{name}.{key} in {s}"
            );
        }
        for key in ["val_rmse", "val_mae", "naive_val_rmse"] {
            assert_eq!(s[key], single["series"][name][key], "{name}.{key}");
        }
        // Earlier origins score other rows: the mean over folds is not the last fold's.
        assert_ne!(s["cv_val_rmse"], s["val_rmse"], "{s}");
        assert_ne!(s["naive_cv_val_rmse"], s["naive_val_rmse"], "{s}");
    }
    let cv_rmse = |n: &str| cv["series"][n]["cv_val_rmse"].as_f64().unwrap();
    assert!(cv_rmse("north") > cv_rmse("south"), "{cv}");

    let text = cv_sb.cmd(&["report", "--best"]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    let table = &text[text
        .find("by series (worst first)")
        .expect("a by-series table")..];
    let head = table.lines().nth(1).unwrap();
    assert!(
        head.contains("val_rmse") && head.contains("cv_val_rmse"),
        "{table}"
    );
    let north = table
        .lines()
        .find(|l| l.trim_start().starts_with("north"))
        .unwrap();
    assert!(
        north.contains(&format!("{:.4}", cv_rmse("north"))),
        "{table}"
    );
}
