//! The comparison report, end to end: a tiny real sweep through the binary, then every format.

mod common;
use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn aerocast() -> Command {
    Command::cargo_bin("aerocast").expect("binary")
}

/// The first 300 rows of the Seattle data beside a 2-epoch spec; returns the spec path.
fn write_spec(dir: &Path, experiment: &str, grid: &str) -> PathBuf {
    let data = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/seattle-weather.csv"
    ))
    .expect("data file");
    let head: String = data.lines().take(301).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("small.csv"), head).expect("write data");
    let spec = format!(
        r#"[experiment]
name = {name}

[data]
path = "small.csv"
target = "temp_max"
features = ["temp_max", "temp_min", "precipitation", "wind"]
time = "date"
window = 10
horizon = 1
train_fraction = 0.8

[train]
epochs = 2
batch_size = 32

[grid]
{grid}
"#,
        name = serde_json::to_string(experiment).expect("name")
    );
    let path = dir.join("spec.toml");
    std::fs::write(&path, spec).expect("write spec");
    path
}

fn sweep(spec: &Path, store: &Path) -> std::process::Output {
    aerocast()
        .args(["sweep", "-q", "-j", "2", "--store"])
        .arg(store)
        .arg(spec)
        .output()
        .expect("run sweep")
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// The path after `report: ` on stdout.
fn report_path(out: &str) -> PathBuf {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report path in {out}"));
    PathBuf::from(line.trim())
}

fn run_ids(store: &Path) -> Vec<String> {
    let out = stdout(aerocast().args(["runs", "--json", "--store"]).arg(store));
    let runs: serde_json::Value = serde_json::from_str(&out).expect("runs json");
    runs.as_array()
        .expect("array")
        .iter()
        .map(|r| r["run_id"].as_str().expect("id").to_string())
        .collect()
}

/// Every `src="…"` in the page names a file beside it that is a valid SVG or PNG.
fn check_images(html: &str, dir: &Path) -> usize {
    let mut n = 0;
    for part in html.split("src=\"").skip(1) {
        let src = &part[..part.find('"').expect("closing quote")];
        assert!(!src.contains('/') && !src.starts_with('.'), "{src}");
        let path = dir.join(src);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{src}: {e}"));
        if src.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{src}");
        } else {
            let text = String::from_utf8(bytes).expect("svg utf8");
            let doc = roxmltree::Document::parse(&text)
                .unwrap_or_else(|e| panic!("{src} is not XML: {e}"));
            assert_eq!(doc.root_element().tag_name().name(), "svg", "{src}");
        }
        n += 1;
    }
    n
}

#[test]
fn report_of_a_small_real_sweep() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let name = "<script>alert(1)</script>";
    let spec = write_spec(
        tmp.path(),
        name,
        "seed = [0, 1]\nhidden_dim = [8, 16]\nlr = [0.003, 0.01]",
    );
    let store = tmp.path().join("store");
    let out = sweep(&spec, &store);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let ids = run_ids(&store);
    assert_eq!(ids.len(), 8);

    // The sweep wrote the report itself, inside the store, under a sanitised name.
    let reports = store.join("reports");
    let folders: Vec<_> = std::fs::read_dir(&reports)
        .expect("reports folder")
        .map(|e| e.expect("entry").file_name().into_string().expect("name"))
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(
        folders[0]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );

    let out = stdout(aerocast().args(["report", "--store"]).arg(&store));
    let index = report_path(&out);
    assert_eq!(index.file_name().unwrap(), "index.html");
    assert!(index.starts_with(&reports));
    let html = std::fs::read_to_string(&index).expect("index.html");
    for id in &ids {
        assert!(html.contains(id.as_str()), "run {id} missing from the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    let dir = index.parent().unwrap();
    // Two loss charts, two sensitivity charts (hidden_dim, lr), forecast, parallel coordinates.
    assert_eq!(check_images(&html, dir), 6, "{html}");
    assert!(html.contains("forecast.svg"), "forecast missing");
    // It shades the best run's 80% interval, with the share of that span it covers, as
    // `predict --backtest --level 80` counts it.
    let svg = std::fs::read_to_string(dir.join("forecast.svg")).unwrap();
    let backtest: serde_json::Value = serde_json::from_str(&stdout(
        aerocast()
            .args([
                "predict",
                "--best",
                "--backtest",
                "--level",
                "80",
                "--json",
                "--store",
            ])
            .arg(&store),
    ))
    .unwrap();
    let covered = backtest["metrics"]["coverage_80"].as_f64().unwrap();
    let legend = format!("80% interval (covers {:.0}% here)", 100.0 * covered);
    assert!(
        svg.contains(&legend) && svg.contains("<polygon"),
        "{legend}"
    );
    // Each knob's share of the metric's variance, the seed's among them, on the page.
    let shares = html
        .split("explained by each knob alone")
        .nth(1)
        .expect("the knobs' shares");
    for knob in ["hidden_dim", "lr", "seed"] {
        assert!(
            shares.contains(&format!("<strong>{knob}</strong>")),
            "{knob}"
        );
    }

    // Markdown: a row per run and the same images.
    let md_dir = tmp.path().join("md");
    let out = stdout(
        aerocast()
            .args(["report", "--format", "md", "--store"])
            .arg(&store)
            .arg("--out")
            .arg(&md_dir),
    );
    let md = std::fs::read_to_string(report_path(&out)).expect("report.md");
    for id in &ids {
        assert!(
            md.contains(&format!("`{id}`")),
            "run {id} missing from markdown"
        );
    }
    assert!(md.contains("&lt;script&gt;"));
    assert!(md.contains("![") && md_dir.join("loss_all.svg").is_file());

    // JSON and CSV: the leaderboard, best first.
    let json_dir = tmp.path().join("json");
    let out = stdout(
        aerocast()
            .args(["report", "--format", "json", "--store"])
            .arg(&store)
            .arg("--out")
            .arg(&json_dir),
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_path(&out)).unwrap()).unwrap();
    assert_eq!(doc["experiment"], name);
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 8);
    assert_eq!(runs[0]["best"], true);
    let metrics: Vec<f64> = runs.iter().map(|r| r["metric"].as_f64().unwrap()).collect();
    assert!(metrics.windows(2).all(|w| w[0] <= w[1]), "{metrics:?}");

    let out = stdout(
        aerocast()
            .args(["report", "--format", "csv", "--store"])
            .arg(&store)
            .arg("--out")
            .arg(tmp.path().join("csv")),
    );
    let csv = std::fs::read_to_string(report_path(&out)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(
        lines[0],
        "rank,run_id,hidden_dim,lr,seed,val_rmse,naive_val_rmse,linear_val_rmse,val_mae,\
         val_mase,beats_naive,beats_linear,best_epoch,duration_s,status,failure_reason"
    );
    for id in &ids {
        assert!(csv.contains(id.as_str()));
    }

    // --sweep keeps to one sweep's runs; an unknown sweep is an input error.
    let listing: serde_json::Value = serde_json::from_str(&stdout(
        aerocast().args(["runs", "--json", "--store"]).arg(&store),
    ))
    .unwrap();
    let sweep_id = listing[0]["sweep_id"].as_str().unwrap().to_string();
    let out = stdout(
        aerocast()
            .args([
                "report", "--format", "json", "--sweep", &sweep_id, "--store",
            ])
            .arg(&store)
            .arg("--out")
            .arg(tmp.path().join("by-sweep")),
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_path(&out)).unwrap()).unwrap();
    assert_eq!(doc["sweep_id"], sweep_id.as_str());
    assert_eq!(doc["runs"].as_array().unwrap().len(), 8);
    aerocast()
        .args(["report", "--sweep", "no-such-sweep", "--store"])
        .arg(&store)
        .assert()
        .code(2);

    // Without its data file the forecast is skipped with a note; the rest still renders.
    std::fs::remove_file(tmp.path().join("small.csv")).unwrap();
    let out = stdout(aerocast().args(["report", "--store"]).arg(&store));
    let html = std::fs::read_to_string(report_path(&out)).unwrap();
    assert!(
        html.contains("Not drawn: the data could not be reloaded"),
        "{html}"
    );
    assert!(!html.contains("forecast.svg") && !dir.join("forecast.svg").exists());
    assert_eq!(check_images(&html, dir), 5);

    // --best --json is unchanged.
    let out = stdout(
        aerocast()
            .args(["report", "--best", "--json", "--store"])
            .arg(&store),
    );
    let best: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(best["run_id"], runs[0]["run_id"]);
}

#[test]
fn report_with_only_failed_runs_still_renders() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A learning rate this large overflows f32 in the first epoch: every run diverges.
    let spec = write_spec(
        tmp.path(),
        "diverges",
        "seed = [0, 1]\nhidden_dim = [8]\nlr = [1e30]",
    );
    let store = tmp.path().join("store");
    let out = sweep(&spec, &store);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = stdout(aerocast().args(["runs", "--json", "--store"]).arg(&store));
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "failed")
    );

    let out = stdout(aerocast().args(["report", "--store"]).arg(&store));
    let index = report_path(&out);
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(html.contains("No finished runs"), "{html}");
    assert!(html.contains("diverged"));
    for id in run_ids(&store) {
        assert!(html.contains(&id));
    }
    check_images(&html, index.parent().unwrap());
}

/// `best_run` on a 100,000-run store must answer in < 100 ms. Run with
/// `cargo test --release --test report -- --ignored best_run_on_100k`.
#[test]
#[ignore = "builds a 100,000-run store (~1 min)"]
fn best_run_on_100k_runs_is_fast() {
    use aerocast::store::Store;
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("store");
    let (experiment_id, sweep_id) = common::begin_sweep(&store, "big", 100_000);
    // Bulk rows through SQL in one transaction; the write API would take minutes.
    let mut conn = rusqlite::Connection::open(tmp.path().join("aerocast.db")).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut run = tx
            .prepare(
                "INSERT INTO runs (run_id, experiment_id, sweep_id, job_key, status, start_time,
                    end_time, heartbeat, host, pid, data_hash, aerocast_version)
                 VALUES (?1, ?2, ?3, ?1, ?4, 0, 1, 1, 'h', 1, '0', '0')",
            )
            .unwrap();
        let mut metric = tx
            .prepare("INSERT INTO metrics (run_id, key, value) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut param = tx
            .prepare("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)")
            .unwrap();
        for i in 0..100_000u64 {
            let id = format!("run-{i:06}");
            let status = if i % 10 == 0 { "failed" } else { "finished" };
            run.execute(rusqlite::params![id, experiment_id, sweep_id, status])
                .unwrap();
            let v = ((i * 7919) % 100_003) as f64 / 1000.0;
            for (k, x) in [("val_rmse", v), ("val_mae", v * 0.8), ("best_epoch", 5.0)] {
                metric.execute(rusqlite::params![id, k, x]).unwrap();
            }
            for (k, x) in [("seed", "0"), ("lr", "0.001"), ("hidden_dim", "16")] {
                param.execute(rusqlite::params![id, k, x]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    let t = std::time::Instant::now();
    let best = store
        .best_run("big", "val_rmse", None)
        .unwrap()
        .expect("a best run");
    let took = t.elapsed();
    eprintln!("best_run on 100,000 runs: {took:?}");
    assert_eq!(best.status, aerocast::store::RunStatus::Finished);
    assert!(took.as_millis() < 100, "{took:?}");

    let t = std::time::Instant::now();
    aerocast()
        .args(["report", "--best", "--json", "--store"])
        .arg(tmp.path())
        .assert()
        .success();
    eprintln!(
        "`aerocast report --best --json` on 100,000 runs: {:?}",
        t.elapsed()
    );
}

/// A report of many runs stays small: the HTML shows the top of the leaderboard with the whole
/// of it beside the page, and the loss chart draws the spread instead of a line per run.
#[test]
fn reports_of_many_runs_show_the_top_and_the_spread() {
    use aerocast::jobs::{Job, Params};
    use aerocast::spec::knobs::ParamValue;
    use aerocast::store::{Claim, Store};
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let runs = 260;
    let (experiment_id, sweep_id) = common::begin_sweep(&store, "many", runs);
    for i in 0..runs {
        let mut params = Params::new();
        params.insert("lr".into(), ParamValue::Float(1e-4 * (1 + i) as f64));
        params.insert("seed".into(), ParamValue::Int((i % 2) as i64));
        let job = Job {
            index: i,
            params,
            key: format!("job-{i}"),
        };
        let Claim::Run(id) = store
            .claim(experiment_id, &sweep_id, "0", &job, &[])
            .unwrap()
        else {
            panic!("claimed")
        };
        for e in 1..=5 {
            let v = 1.0 + i as f64 / 100.0 + 1.0 / e as f64;
            store
                .log_epoch(&id, e, &[("train_loss", v), ("val_loss", v)])
                .unwrap();
        }
        let m = 2.0 + i as f64 / 100.0;
        store
            .finish_run(&id, &[("val_rmse", m), ("naive_val_rmse", 3.0)], &[])
            .unwrap();
    }
    drop(store);
    let out_dir = tmp.path().join("out");
    stdout(
        aerocast()
            .args(["report", "--store"])
            .arg(tmp.path())
            .arg("--out")
            .arg(&out_dir),
    );
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    let table = &html[html.find("id=\"leaderboard-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(
        table.matches("<tr").count(),
        1 + 200,
        "header + the top 200"
    );
    assert!(html.contains("Showing the top 200 of 260 runs"));
    let csv = std::fs::read_to_string(out_dir.join("leaderboard.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 260,
        "the whole leaderboard beside the page"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("leaderboard.json")).unwrap())
            .unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 260);
    let svg = std::fs::read_to_string(out_dir.join("loss_all.svg")).unwrap();
    assert!(
        svg.contains("90th percentile of all 260 runs"),
        "the spread is drawn"
    );
    assert!(svg.len() < 400_000, "loss chart is {} bytes", svg.len());
}

/// `report --spec` finds the store the spec's `[store] path` names, as `sweep` did; without it
/// the error says where aerocast looked.
#[test]
fn read_commands_find_the_store_through_the_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    std::fs::create_dir(&dir).unwrap();
    let spec = write_spec(&dir, "by-spec", "seed = [0]\nhidden_dim = [4]\nlr = [0.01]");
    let text = std::fs::read_to_string(&spec).unwrap() + "\n[store]\npath = \"runs\"\n";
    std::fs::write(&spec, text).unwrap();
    aerocast()
        .current_dir(tmp.path())
        .env_remove("AEROCAST_STORE")
        .args(["sweep", "project/spec.toml", "--quiet"])
        .assert()
        .success();
    assert!(dir.join("runs/aerocast.db").is_file());

    let missing = aerocast()
        .current_dir(tmp.path())
        .env_remove("AEROCAST_STORE")
        .args(["report", "--best"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&missing.get_output().stderr).to_string();
    assert!(err.contains("aerocast-runs"), "{err}");
    assert!(err.contains("looked at the default"), "{err}");
    assert!(err.contains("--spec SPEC"), "{err}");

    let out = stdout(
        aerocast()
            .current_dir(tmp.path())
            .env_remove("AEROCAST_STORE")
            .args(["report", "--best", "--spec", "project/spec.toml"]),
    );
    assert!(out.contains("best run of \"by-spec\""), "{out}");
}
