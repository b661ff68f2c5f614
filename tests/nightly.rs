//! Nights of a growing data file: each sweep trains on a new snapshot, and reports, listings
//! and `report --best` answer for the latest one unless asked for every snapshot.

mod common;

use common::{DATA, Sandbox, spec_text};

/// The first `rows` data rows of the shipped data, as the nightly file.
fn grow_to(sb: &Sandbox, rows: usize) {
    let text = std::fs::read_to_string(DATA).unwrap();
    let slice: Vec<&str> = text.lines().take(rows + 1).collect();
    std::fs::write(sb.path("weather.csv"), slice.join("\n") + "\n").unwrap();
}

fn json(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = sb.cmd(args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn reports_scope_to_the_latest_data_snapshot() {
    let spec = spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]");
    let sb = Sandbox::new(&spec);
    grow_to(&sb, 250);
    sb.sweep().success();
    let first_night: Vec<String> = sb
        .runs()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first_night.len(), 2);

    grow_to(&sb, 300);
    sb.sweep().success();
    let tonight = sb.runs();
    assert_eq!(tonight.len(), 2, "runs lists tonight's snapshot only");
    assert!(
        tonight
            .iter()
            .all(|r| !first_night.contains(&r["run_id"].as_str().unwrap().to_string()))
    );
    let everything = json(&sb, &["runs", "--json", "--all-data"]);
    assert_eq!(everything.as_array().unwrap().len(), 4);

    let best = json(&sb, &["report", "--best", "--json"]);
    let best_id = best["run_id"].as_str().unwrap().to_string();
    assert!(
        !first_night.contains(&best_id),
        "best of tonight's snapshot"
    );

    let board = json(&sb, &["report", "--json"]);
    assert_eq!(board["runs"].as_array().unwrap().len(), 2);
    let all = sb
        .cmd(&["report", "--all-data", "--format", "csv", "--out", "all"])
        .assert()
        .success();
    let _ = all;
    let csv = std::fs::read_to_string(sb.path("all/leaderboard.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("rank,run_id,data_snapshot,"), "{header}");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().any(|r| r.contains(" 250 rows ")), "{csv}");
    assert!(rows.iter().any(|r| r.contains(" 300 rows ")), "{csv}");

    // The nights: one row per sweep, each judged on its own snapshot.
    let nights = json(&sb, &["history", "--json"]);
    let nights = nights.as_array().unwrap();
    assert_eq!(nights.len(), 2);
    assert_eq!(nights[0]["data_rows"], 250);
    assert_eq!(nights[1]["data_rows"], 300);
    assert_eq!(nights[1]["best_run"], best["run_id"]);
    for n in nights {
        let (best, naive) = (
            n["best_val_rmse"].as_f64().unwrap(),
            n["naive_val_rmse"].as_f64().unwrap(),
        );
        let skill = n["skill"].as_f64().unwrap();
        assert!((skill - (1.0 - best / naive)).abs() < 1e-12);
        assert_eq!(n["finished"], 2);
    }
    assert!(first_night.contains(&nights[0]["best_run"].as_str().unwrap().to_string()));
    let table = sb.cmd(&["history"]).assert().success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert_eq!(table.lines().count(), 3, "{table}");
    sb.cmd(&["report", "--out", "html"]).assert().success();
    let html = std::fs::read_to_string(sb.path("html/index.html")).unwrap();
    assert!(html.contains("id=\"nights-table\""));
    assert!(
        sb.path("html/skill.svg").is_file(),
        "the skill chart is drawn"
    );

    // One sweep's runs, by id prefix or `latest`.
    let latest = json(&sb, &["runs", "--json", "--sweep", "latest"]);
    let sweep_id = latest[0]["sweep_id"].as_str().unwrap().to_string();
    let by_prefix = json(&sb, &["runs", "--json", "--sweep", &sweep_id[..8]]);
    assert_eq!(latest, by_prefix);
}

/// A store written before snapshots were recorded opens, upgrades, and reports as before:
/// its old sweeps have no snapshot, so nothing is hidden until a new sweep records one.
#[test]
fn a_store_from_before_snapshots_upgrades_in_place() {
    let spec = spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]");
    let sb = Sandbox::new(&spec);
    sb.sweep().success();
    {
        let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
        conn.execute_batch(
            "DROP INDEX tags_by_key_value;
             ALTER TABLE sweeps DROP COLUMN data_id;
             ALTER TABLE sweeps DROP COLUMN data_rows;
             DELETE FROM tags WHERE key = 'aerocast.data';
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    assert_eq!(sb.runs().len(), 2, "old runs are listed");
    let version: i64 = rusqlite::Connection::open(sb.store().join("aerocast.db"))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 2, "upgraded to {version}");
    json(&sb, &["report", "--best", "--json"]);
}

fn runs_all(sb: &Sandbox) -> Vec<serde_json::Value> {
    json(sb, &["runs", "--json", "--all-data"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn gc_deletes_old_snapshots_but_keeps_each_nights_best_and_is_safe_beside_a_sweep() {
    let spec = spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]");
    let sb = Sandbox::new(&spec);
    for rows in [250, 275, 300] {
        grow_to(&sb, rows);
        sb.sweep().success();
    }
    assert_eq!(runs_all(&sb).len(), 6);
    let nights_before = json(&sb, &["history", "--json"]);

    let before = common::snapshot(&sb.store());
    let dry = json(&sb, &["gc", "--keep-sweeps", "1", "--dry-run", "--json"]);
    assert_eq!(dry["runs"].as_array().unwrap().len(), 2, "{dry}");
    assert_eq!(dry["kept_best"], 2);
    assert!(dry["artifact_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        common::snapshot(&sb.store()),
        before,
        "a dry run changes nothing"
    );

    // gc while tonight's sweep trains into the same store (it starts once a run is training).
    grow_to(&sb, 320);
    let spec_bigger = spec.replace("epochs = 2", "epochs = 100");
    std::fs::write(sb.path("spec.toml"), spec_bigger).unwrap();
    let mut sweep = common::spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sb.runs().iter().any(|r| r["status"] == "running") {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let done = json(&sb, &["gc", "--keep-sweeps", "2", "--json"]);
    let deleted: Vec<String> = done["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let planned: Vec<String> = dry["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        deleted, planned,
        "the two oldest nights lose all but their best"
    );

    let out = common::wait_exit(&mut sweep, 120.0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for id in &deleted {
        assert!(
            !sb.store().join("artifacts").join(id).exists(),
            "{id}'s folder removed"
        );
    }
    let left = runs_all(&sb);
    assert_eq!(left.len(), 8 - deleted.len());
    assert!(left.iter().all(|r| r["status"] == "finished"));
    // Every night keeps its best run, so the history is unchanged.
    let nights_after = json(&sb, &["history", "--json"]);
    for (a, b) in nights_before
        .as_array()
        .unwrap()
        .iter()
        .zip(nights_after.as_array().unwrap())
    {
        assert_eq!(a["best_run"], b["best_run"]);
        assert_eq!(a["best_val_rmse"], b["best_val_rmse"]);
    }
    let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn runs_are_found_with_mlflow_filters_sorted_and_limited() {
    let sb = Sandbox::new(&spec_text("[0.01, 0.05]"));
    sb.sweep().success();
    let all = sb.runs();
    assert_eq!(all.len(), 8);

    let small = json(
        &sb,
        &[
            "runs",
            "--json",
            "--filter",
            "params.lr < 0.02 and params.hidden_dim >= 8 and status = 'finished'",
        ],
    );
    let small = small.as_array().unwrap();
    assert_eq!(small.len(), 2);
    assert!(
        small
            .iter()
            .all(|r| r["params"]["lr"] == 0.01 && r["params"]["hidden_dim"] == 8)
    );

    let sorted = json(
        &sb,
        &[
            "runs",
            "--format",
            "json",
            "--sort",
            "metrics.val_rmse",
            "--limit",
            "3",
        ],
    );
    let values: Vec<f64> = sorted
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["val_rmse"].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    let best = json(&sb, &["report", "--best", "--json"]);
    assert_eq!(sorted[0]["run_id"], best["run_id"]);

    let csv = sb
        .cmd(&[
            "runs",
            "--format",
            "csv",
            "--filter",
            "metrics.val_rmse > 0",
        ])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&csv.get_output().stdout).to_string();
    assert_eq!(csv.lines().count(), 9, "{csv}");

    // One run in full, by id prefix.
    let id = best["run_id"].as_str().unwrap();
    let shown = json(&sb, &["runs", "show", &id[..8], "--json"]);
    assert_eq!(shown["run_id"], id);
    assert_eq!(shown["history"]["val_loss"].as_array().unwrap().len(), 2);
    assert_eq!(shown["sweep"]["data_rows"], 300);
    assert_eq!(shown["params"], best["params"]);
    let text = sb.cmd(&["runs", "show", &id[..8]]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(text.contains("history") && text.contains(id), "{text}");

    let bad = sb
        .cmd(&["runs", "--filter", "params.lr < < 3"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(err.contains("expected a number"), "{err}");
    assert!(err.contains("  params.lr < < 3\n              ^"), "{err}");
    let unknown = sb.cmd(&["runs", "--filter", "score < 3"]).assert().code(2);
    let err = String::from_utf8_lossy(&unknown.get_output().stderr).to_string();
    assert!(err.contains("unknown field `score`"), "{err}");
}

fn promote(sb: &Sandbox, extra: &[&str]) -> (serde_json::Value, Option<i32>) {
    let mut args = vec![
        "sweep",
        "spec.toml",
        "--json",
        "--quiet",
        "--promote",
        "temp",
    ];
    args.extend_from_slice(extra);
    let out = sb.cmd(&args).output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (summary["promotion"].clone(), out.status.code())
}

/// Three nights: the first best becomes the champion, the second is promoted only if it beats
/// the champion on tonight's rows, and on a night whose training rows are spoiled the champion
/// stays, `--fail-on-regression` exits 4, and the history and registry say so.
#[test]
fn nightly_promotion_keeps_the_better_model_in_production() {
    let spec = spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]");
    let sb = Sandbox::new(&spec);
    grow_to(&sb, 250);
    let (p, code) = promote(&sb, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(p["decision"], "promoted", "{p}");
    assert_eq!(p["version"], 1);
    assert!(p["champion"].is_null(), "no champion the first night");

    grow_to(&sb, 300);
    let (p, code) = promote(&sb, &["--min-improvement", "0.0"]);
    assert_eq!(code, Some(0));
    let champion = p["champion"]["rmse"].as_f64().unwrap();
    let challenger = p["challenger"]["rmse"].as_f64().unwrap();
    assert_eq!(p["decision"] == "promoted", challenger < champion, "{p}");
    assert!(
        p["naive_rmse"].as_f64().is_some(),
        "baselines on the same span: {p}"
    );
    let champion_after_night_2 = p["version"].clone();

    // Night 3: the training rows are spoiled (a sensor fault), the validation rows are real.
    grow_to(&sb, 320);
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let spoiled: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if (1..=180).contains(&i) {
                let mut cells: Vec<String> = line.split(',').map(String::from).collect();
                cells[2] = format!("{}", 200.0 + 80.0 * (i as f64 * 0.7).sin());
                cells.join(",")
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(sb.path("weather.csv"), spoiled.join("\n") + "\n").unwrap();
    let (p, code) = promote(&sb, &["--fail-on-regression"]);
    assert_eq!(p["decision"], "kept", "{p}");
    assert!(p["champion"]["rmse"].as_f64() < p["challenger"]["rmse"].as_f64());
    assert_eq!(code, Some(4), "the champion beat tonight's best");
    assert_eq!(p["version"], champion_after_night_2);

    let shown = json(&sb, &["model", "show", "temp@production", "--json"]);
    assert_eq!(shown["version"], champion_after_night_2, "{shown}");
    let nights = json(&sb, &["history", "--json"]);
    let nights = nights.as_array().unwrap();
    assert_eq!(nights.len(), 3);
    assert_eq!(nights[0]["promoted"], serde_json::json!(["temp v1"]));
    assert_eq!(nights[2]["promoted"], serde_json::json!([]));

    // gc keeps the champion's run although its night's snapshot is old.
    let champion_run = shown["run_id"].as_str().unwrap().to_string();
    sb.cmd(&["gc", "--keep-sweeps", "1"]).assert().success();
    let left = runs_all(&sb);
    assert!(left.iter().any(|r| r["run_id"] == champion_run.as_str()));
}
