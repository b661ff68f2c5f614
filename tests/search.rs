//! Random and TPE search and pruning through the binary, on real training.

mod common;

use common::{Sandbox, summary};

fn search_spec(method: &str, trials: usize) -> String {
    format!(
        r#"[experiment]
name = "search"

[data]
path = "weather.csv"
target = "temp_max"
window = 7

[train]
epochs = 2

[search]
method = "{method}"
trials = {trials}
seed = 5
startup_trials = 2

[space]
lr = {{ distribution = "log_uniform", min = 1e-3, max = 3e-2 }}
hidden_dim = {{ values = [4, 8] }}
seed = {{ values = [0, 1, 2] }}
"#
    )
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn random_search_resumes_up_to_exactly_the_trial_count() {
    let sb = Sandbox::new(&search_spec("random", 3));
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "total"), count(&s, "finished")), (3, 3));
    let first: Vec<serde_json::Value> = sb.runs().iter().map(|r| r["params"].clone()).collect();
    for p in &first {
        let lr = p["lr"].as_f64().unwrap();
        assert!((1e-3..=3e-2).contains(&lr), "{lr}");
    }

    // Raising `trials` extends the same study: the first three are recognised, two are new.
    std::fs::write(sb.path("spec.toml"), search_spec("random", 5)).unwrap();
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "skipped"), count(&s, "finished")), (3, 2));
    let runs = sb.runs();
    assert_eq!(runs.len(), 5);
    let params: Vec<serde_json::Value> = runs.iter().map(|r| r["params"].clone()).collect();
    assert_eq!(&params[..3], &first[..], "earlier proposals are kept");

    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "skipped"), count(&s, "finished")), (5, 0));
}

#[test]
fn tpe_search_runs_in_parallel_and_reruns_only_what_is_missing() {
    let sb = Sandbox::new(&search_spec("tpe", 6));
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "total"), count(&s, "finished")), (6, 6));
    assert_eq!(s["method"], "tpe");
    let victim = sb.runs()[4]["run_id"].as_str().unwrap().to_string();
    {
        let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
        conn.execute(
            "UPDATE runs SET status = 'running', pid = 999999999 WHERE run_id = ?1",
            [&victim],
        )
        .unwrap();
    }
    let s = summary(&sb.sweep().success());
    assert_eq!(
        (
            count(&s, "skipped"),
            count(&s, "finished"),
            count(&s, "reaped")
        ),
        (5, 1, 1)
    );
    let runs = sb.runs();
    assert_eq!(runs.iter().filter(|r| r["status"] == "finished").count(), 6);
    assert_eq!(runs.iter().filter(|r| r["status"] == "killed").count(), 1);
}

#[test]
fn median_pruner_stops_runs_that_lag_the_others() {
    let spec = r#"[experiment]
name = "prune"

[data]
path = "weather.csv"
target = "temp_max"
window = 7

[train]
epochs = 5
hidden_dim = 8

[grid]
lr = [0.01, 0.000001]
seed = [0, 1, 2]

[prune]
method = "median"
warmup_epochs = 1
min_runs = 3
"#;
    let sb = Sandbox::new(spec);
    // One worker: the three good runs finish before the slow ones start, so the verdict is fixed.
    let out = sb
        .cmd(&["sweep", "spec.toml", "--json", "--jobs", "1"])
        .assert()
        .success();
    let s = summary(&out);
    assert_eq!((count(&s, "finished"), count(&s, "pruned")), (3, 3));
    assert_eq!(count(&s, "epochs_saved"), 9, "pruned after epoch 2 of 5");
    for r in sb.runs() {
        let slow = r["params"]["lr"].as_f64().unwrap() < 1e-3;
        assert_eq!(r["status"], if slow { "pruned" } else { "finished" });
        if slow {
            let reason = r["failure_reason"].as_str().unwrap();
            assert!(reason.starts_with("pruned at epoch 2"), "{reason}");
            assert_eq!(r["metrics"]["epochs_trained"], 2.0);
            assert_eq!(
                r["artifacts"].as_array().unwrap().len(),
                3,
                "a pruned model is kept"
            );
        }
    }
    let table = sb.cmd(&["runs"]).assert().success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert_eq!(
        table.lines().filter(|l| l.ends_with("  pruned")).count(),
        3,
        "{table}"
    );
    assert_eq!(
        table.matches(": pruned at epoch 2").count(),
        3,
        "reasons are listed: {table}"
    );
    // A pruned run was judged: a rerun (or another worker) never trains its job again.
    let again = summary(
        &sb.cmd(&["sweep", "spec.toml", "--json", "--jobs", "2"])
            .assert()
            .success(),
    );
    assert_eq!(
        (count(&again, "skipped"), count(&again, "finished")),
        (6, 0)
    );
    assert_eq!(sb.runs().len(), 6);
}

/// One rule ranks every output: a pruned run whose metric beats every finished run's still
/// ranks after them, in the terminal table, `report --json`, the CSV and the HTML alike.
#[test]
fn every_report_output_ranks_runs_alike() {
    let spec = r#"[experiment]
name = "rank"

[data]
path = "weather.csv"
target = "temp_max"
window = 7

[train]
epochs = 3
hidden_dim = 4

[grid]
lr = [0.01, 0.000001]
seed = [0, 1, 2]

[prune]
method = "median"
warmup_epochs = 1
min_runs = 3
"#;
    let sb = Sandbox::new(spec);
    let s = summary(
        &sb.cmd(&["sweep", "spec.toml", "--json", "--jobs", "1"])
            .assert()
            .success(),
    );
    assert_eq!((count(&s, "finished"), count(&s, "pruned")), (3, 3));
    // Make one pruned run look better than every finished one.
    let pruned = sb
        .runs()
        .into_iter()
        .find(|r| r["status"] == "pruned")
        .unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let conn = rusqlite::Connection::open(sb.store().join("aerocast.db")).unwrap();
        conn.execute(
            "UPDATE metrics SET value = 0.001 WHERE run_id = ?1 AND key = 'val_rmse'",
            [&pruned],
        )
        .unwrap();
    }

    let out_dir = sb.path("out");
    let text = sb
        .cmd(&["report", "--out", out_dir.to_str().unwrap()])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    // Table rows start with the rank; the failure-reason lines after the table do not.
    let terminal: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            cells.next()?.parse::<usize>().ok()?;
            cells.next().map(String::from)
        })
        .collect();

    let json = sb.cmd(&["report", "--json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let from_json: Vec<String> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    let statuses: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses[..3],
        ["finished"; 3],
        "finished first: {statuses:?}"
    );
    assert_eq!(statuses[3..], ["pruned"; 3]);
    assert_eq!(
        from_json[3], pruned,
        "the best pruned run leads the pruned ones"
    );
    assert_eq!(
        doc["runs"][3]["metric"], 0.001,
        "its metric shows as recorded"
    );

    let csv_dir = sb.path("csv");
    sb.cmd(&[
        "report",
        "--format",
        "csv",
        "--out",
        csv_dir.to_str().unwrap(),
    ])
    .assert()
    .success();
    let csv = std::fs::read_to_string(csv_dir.join("leaderboard.csv")).unwrap();
    let from_csv: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();

    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    let table = &html[html.find("id=\"leaderboard-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let from_html: Vec<String> = table
        .split("data-sort=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .filter(|s| s.len() == 36 && s.matches('-').count() == 4)
        .collect();

    assert_eq!(from_json, from_csv, "JSON and CSV agree");
    assert_eq!(from_json, from_html, "JSON and HTML agree");
    let short: Vec<String> = from_json.iter().map(|id| id[..8].to_string()).collect();
    assert_eq!(short, terminal, "JSON and the terminal agree:\n{text}");
}

/// Two readings of the same file are two datasets: a TPE study over `missing = "drop"` and
/// one over `missing = "ffill"` each train their own trials.
#[test]
fn tpe_studies_differ_by_how_missing_cells_are_read() {
    let tpe = |missing: &str| {
        format!(
            r#"[experiment]
name = "gaps"

[data]
path = "weather.csv"
target = "temp_max"
features = ["temp_max", "temp_min"]
window = 5
missing = "{missing}"

[train]
epochs = 1
hidden_dim = 4

[search]
method = "tpe"
trials = 2
seed = 3
startup_trials = 1

[space]
lr = {{ distribution = "log_uniform", min = 1e-3, max = 3e-2 }}
"#
        )
    };
    let sb = Sandbox::new(&tpe("drop"));
    // Blank a few temp_min cells.
    let csv = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let holed: Vec<String> = csv
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i > 0 && i % 37 == 0 {
                let mut cells: Vec<&str> = line.split(',').collect();
                cells[3] = "";
                cells.join(",")
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(sb.path("weather.csv"), holed.join("\n") + "\n").unwrap();

    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "finished"), count(&s, "skipped")), (2, 0));
    std::fs::write(sb.path("spec.toml"), tpe("ffill")).unwrap();
    let s = summary(&sb.sweep().success());
    assert_eq!(
        (count(&s, "finished"), count(&s, "skipped")),
        (2, 0),
        "ffill reads other rows than drop: its trials are new"
    );
    // `runs` lists the latest reading's runs; --all-data lists both.
    assert_eq!(sb.runs().len(), 2);
    let all = sb.cmd(&["runs", "--json", "--all-data"]).assert().success();
    let all: Vec<serde_json::Value> = serde_json::from_slice(&all.get_output().stdout).unwrap();
    assert_eq!(all.len(), 4);
    // Rerunning either reading finds its own trials done.
    let s = summary(&sb.sweep().success());
    assert_eq!((count(&s, "finished"), count(&s, "skipped")), (0, 2));
}
