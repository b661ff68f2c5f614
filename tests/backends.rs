//! The same store behaviour on both backends: each scenario runs on a SQLite folder and on a
//! fresh PostgreSQL database (when `AEROCAST_TEST_PG_URL` names a server; `.ci/run` starts
//! one). Checks go through the binary's own JSON output, which reads either backend alike.

mod common;

use common::pg::PgDb;
use common::{
    Sandbox, best_run, data_slice, input_error, json_of, spawn, spec_text, summary, wait_exit,
};
use std::collections::BTreeMap;

/// A scenario's store: `None` is the sandbox's SQLite folder.
fn each_backend(test: &str, scenario: impl Fn(Option<&str>)) {
    scenario(None);
    if let Some(db) = PgDb::create(test) {
        scenario(Some(&db.url));
    }
}

fn spec(epochs: usize) -> String {
    spec_text("[0.01]").replace("epochs = 2", &format!("epochs = {epochs}"))
}

/// `aerocast` in the sandbox without a `--store`.
fn bare(sb: &Sandbox) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("aerocast").unwrap();
    cmd.current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .env("AEROCAST_CACHE", sb.path("cache"));
    cmd
}

/// Runs per job key with their statuses.
fn runs_per_job(sb: &Sandbox) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in sb.runs() {
        let key = serde_json::to_string(&run["params"]).unwrap();
        out.entry(key)
            .or_default()
            .push(run["status"].as_str().unwrap().to_string());
    }
    out
}

#[test]
fn a_sweep_resumes_and_its_report_reloads_models() {
    each_backend("resume", |store| {
        let sb = Sandbox::with_store(&spec(2), store);
        let first = summary(&sb.sweep().success());
        assert_eq!(first["finished"], 4, "{first}");
        let again = summary(&sb.sweep().success());
        assert_eq!(
            (again["finished"].as_u64(), again["skipped"].as_u64()),
            (Some(0), Some(4))
        );
        let runs = runs_per_job(&sb);
        assert_eq!(runs.len(), 4);
        assert!(runs.values().all(|s| s == &["finished"]), "{runs:?}");
        // The report reloads the best run's model from the store's artifacts: with
        // PostgreSQL, from the database alone (this machine's cache of it is deleted first).
        if store.is_some() {
            std::fs::remove_dir_all(sb.path("cache")).unwrap();
        }
        let out = sb.cmd(&["report", "--out", "rep"]).assert().success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(!stderr.contains("could not"), "{stderr}");
        assert!(sb.path("rep/index.html").is_file());
        assert!(sb.path("rep/forecast.svg").is_file(), "{stderr}");
    });
}

#[test]
fn two_sweeps_at_once_train_each_job_exactly_once() {
    each_backend("twosweeps", |store| {
        let sb = Sandbox::with_store(&spec(12), store);
        let mut a = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
        let mut b = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
        let (oa, ob) = (wait_exit(&mut a, 120.0), wait_exit(&mut b, 120.0));
        for o in [&oa, &ob] {
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let (sa, sb_): (serde_json::Value, serde_json::Value) = (
            serde_json::from_slice(&oa.stdout).unwrap(),
            serde_json::from_slice(&ob.stdout).unwrap(),
        );
        assert_eq!(
            sa["finished"].as_u64().unwrap() + sb_["finished"].as_u64().unwrap(),
            4,
            "{sa}\n{sb_}"
        );
        let runs = runs_per_job(&sb);
        assert_eq!(runs.len(), 4);
        assert!(runs.values().all(|s| s == &["finished"]), "{runs:?}");
    });
}

#[test]
fn a_killed_sweep_rerun_finishes_exactly_what_is_missing() {
    each_backend("killresume", |store| {
        let sb = Sandbox::with_store(&spec(40), store);
        let mut child = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "2"]);
        // Kill it once a run has finished and others are mid-training.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let out = sb.cmd(&["runs", "--json"]).output().unwrap();
            if out.status.success() {
                let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
                if runs.iter().any(|r| r["status"] == "finished") {
                    break;
                }
            }
            assert!(std::time::Instant::now() < deadline, "no run finished");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.kill().unwrap();
        let _ = wait_exit(&mut child, 30.0);
        let before = runs_per_job(&sb);
        let finished_before = before
            .values()
            .flatten()
            .filter(|s| *s == "finished")
            .count();
        assert!(finished_before < 4, "the kill came too late: {before:?}");

        let rerun = summary(&sb.sweep().success());
        assert_eq!(
            rerun["skipped"].as_u64().unwrap() as usize,
            finished_before,
            "{rerun}"
        );
        assert_eq!(
            rerun["finished"].as_u64().unwrap() as usize,
            4 - finished_before,
            "{rerun}"
        );
        let after = runs_per_job(&sb);
        assert_eq!(after.len(), 4);
        for (job, statuses) in &after {
            let finished = statuses.iter().filter(|s| *s == "finished").count();
            assert_eq!(finished, 1, "{job}: {statuses:?}");
            assert!(
                statuses.iter().all(|s| s == "finished" || s == "killed"),
                "{statuses:?}"
            );
        }
    });
}

/// `store copy` from a SQLite folder to the backend and back to a new folder: the same runs
/// (ids, statuses, params, metrics, artifacts' bytes) arrive each way, and a second copy
/// writes nothing.
#[test]
fn store_copy_goes_there_and_back_idempotently() {
    each_backend("copy", |store| {
        let sb = Sandbox::new(&spec(2));
        summary(&sb.sweep().success());
        let (best, _) = best_run(&sb);
        for alias in ["staging", "production"] {
            sb.cmd(&["model", "register", "m", "--run", &best, "--alias", alias])
                .assert()
                .success();
        }
        let middle = store
            .map(str::to_string)
            .unwrap_or_else(|| sb.path("middle").display().to_string());
        let back = sb.path("back").display().to_string();
        let src = sb.store().display().to_string();
        let copy = |from: &str, to: &str| -> serde_json::Value {
            let out = bare(&sb)
                .args(["store", "copy", from, to, "--json"])
                .assert()
                .success();
            serde_json::from_slice(&out.get_output().stdout).unwrap()
        };
        let first = copy(&src, &middle);
        assert_eq!(
            (
                first["copied"].as_u64(),
                first["sweeps"].as_u64(),
                first["model_versions"].as_u64()
            ),
            (Some(4), Some(1), Some(2))
        );
        let again = copy(&src, &middle);
        assert_eq!(
            (
                again["copied"].as_u64(),
                again["present"].as_u64(),
                again["model_versions"].as_u64()
            ),
            (Some(0), Some(4), Some(0))
        );
        copy(&middle, &back);
        let models = |at: &str| -> Vec<(String, i64, String, Vec<String>)> {
            let out = bare(&sb)
                .args(["model", "list", "--json", "--store", at])
                .assert()
                .success();
            let list: Vec<serde_json::Value> =
                serde_json::from_slice(&out.get_output().stdout).unwrap();
            list.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap().to_string(),
                        v["version"].as_i64().unwrap(),
                        v["run_id"].as_str().unwrap().to_string(),
                        serde_json::from_value(v["aliases"].clone()).unwrap(),
                    )
                })
                .collect()
        };
        let registered = models(&src);
        assert_eq!(registered.len(), 2, "{registered:?}");
        assert_eq!(models(&middle), registered);
        assert_eq!(models(&back), registered);

        let listing = |at: &str| -> Vec<serde_json::Value> {
            let out = bare(&sb)
                .args(["runs", "--json", "--store", at])
                .assert()
                .success();
            let mut runs: Vec<serde_json::Value> =
                serde_json::from_slice(&out.get_output().stdout).unwrap();
            for r in &mut runs {
                // Artifact paths name each store's own folder; compare their files instead.
                let files: Vec<String> = r["artifacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().rsplit('/').next().unwrap().to_string())
                    .collect();
                r["artifacts"] = serde_json::json!(files);
            }
            runs
        };
        let original = listing(&src);
        assert_eq!(original.len(), 4);
        assert_eq!(listing(&middle), original);
        assert_eq!(listing(&back), original);
        // The model files came back byte for byte.
        let (from, to) = (
            aerocast::store::Store::open_existing(&sb.store()).unwrap(),
            aerocast::store::Store::open_existing(&sb.path("back")).unwrap(),
        );
        for run in &original {
            let id = run["run_id"].as_str().unwrap();
            let weights = from.read_artifact(id, "model.safetensors").unwrap();
            assert!(weights.is_some(), "{id}");
            assert_eq!(to.read_artifact(id, "model.safetensors").unwrap(), weights);
        }
    });
}

/// A real server refusing a password, and a database of a newer schema: exit 2, the message
/// names the server, never the password, and nothing is created locally.
#[test]
fn a_wrong_password_or_a_newer_schema_is_an_input_error() {
    let Some(db) = PgDb::create("badpg") else {
        return;
    };
    let sb = Sandbox::new(&spec(2));
    let (base, rest) = db.url.rsplit_once('@').unwrap();
    let (user, _) = base.rsplit_once(':').unwrap();
    let wrong = format!("{user}:not-the-pw-9@{rest}");
    let server = rest.to_string();
    let out = bare(&sb)
        .args(["sweep", "spec.toml", "--quiet", "--store", &wrong])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains(&server), "{stderr}");
    assert!(
        stderr.contains("password"),
        "the server's reason is given: {stderr}"
    );
    assert!(!stderr.contains("not-the-pw-9"), "{stderr}");

    // A store migrated by a newer aerocast is refused, for writing and for reading.
    summary(
        &bare(&sb)
            .args(["sweep", "spec.toml", "--json", "--store", &db.url])
            .assert()
            .success(),
    );
    db.client()
        .batch_execute("UPDATE aerocast_schema SET version = 99")
        .unwrap();
    for args in [&["sweep", "spec.toml", "--quiet"][..], &["runs"][..]] {
        let out = bare(&sb)
            .args(args)
            .args(["--store", &db.url])
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains("schema version 99"), "{stderr}");
        assert!(
            !stderr.contains(":postgres@") && !stderr.contains("s3cret"),
            "{stderr}"
        );
    }
    assert!(!sb.path("aerocast-runs").exists());
}

#[test]
fn tags_registry_history_and_gc_work_alike() {
    each_backend("features", |store| {
        let sb = Sandbox::with_store(&spec(2), store);
        sb.sweep().success();
        let (best, _) = best_run(&sb);
        let other = sb
            .runs()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .find(|id| *id != best)
            .unwrap();

        // Tags and notes set after the fact.
        sb.cmd(&["runs", "tag", &best[..8], "reviewed=yes"])
            .assert()
            .success();
        sb.cmd(&["runs", "note", &best[..8], "keep this one"])
            .assert()
            .success();
        let runs = sb.runs();
        let run = runs.iter().find(|r| r["run_id"] == best.as_str()).unwrap();
        assert_eq!(run["tags"]["reviewed"], "yes", "{run}");
        assert_eq!(run["tags"]["aerocast.note"], "keep this one");
        let shown = json_of(&sb, &["runs", "show", &best[..8]]);
        assert_eq!(shown["run_id"], best.as_str(), "{shown}");
        assert_eq!(
            shown["history"]["val_loss"].as_array().map(Vec::len),
            Some(2)
        );

        // The registry: versions count up, an alias moves, a reference resolves.
        let v1 = json_of(
            &sb,
            &[
                "model",
                "register",
                "m",
                "--run",
                &other[..8],
                "--alias",
                "production",
            ],
        );
        assert_eq!(v1["version"], 1, "{v1}");
        let v2 = json_of(&sb, &["model", "register", "m", "--run", &best[..8]]);
        assert_eq!(v2["version"], 2, "{v2}");
        sb.cmd(&["model", "alias", "m", "production", "2"])
            .assert()
            .success();
        let shown = json_of(&sb, &["model", "show", "m@production"]);
        assert_eq!(shown["run_id"], best.as_str(), "{shown}");
        let missing = sb.cmd(&["model", "show", "m/7"]).assert().code(2);
        let stderr = String::from_utf8_lossy(&missing.get_output().stderr).to_string();
        assert!(stderr.contains("has no version 7"), "{stderr}");
        // Predicting by reference reloads the model from the store alone.
        if store.is_some() {
            let _ = std::fs::remove_dir_all(sb.path("cache"));
        }
        let p = json_of(&sb, &["predict", "--model", "m@production"]);
        assert!(p.to_string().contains(&best[..8]), "{p}");

        // Two more sweeps: history lists three on one snapshot, and gc of the older sweeps
        // deletes nothing on the latest snapshot.
        sb.sweep().success();
        sb.sweep().success();
        let nights = json_of(&sb, &["history"]);
        let nights = nights.as_array().unwrap();
        assert_eq!(nights.len(), 3, "{nights:?}");
        assert!(nights.iter().all(|n| n["data_rows"].as_i64() > Some(0)));
        let gc = json_of(&sb, &["gc", "--keep-sweeps", "1"]);
        assert_eq!(gc["runs"].as_array().map(Vec::len), Some(0), "{gc}");
        assert_eq!(gc["kept_pinned"], 2, "{gc}");
        assert_eq!(sb.runs().len(), 4);
    });
}

#[test]
fn serve_answers_as_predict_does_alike() {
    each_backend("serve", |store| {
        let sb = Sandbox::with_store(&spec(2), store);
        sb.sweep().success();
        let (best, _) = best_run(&sb);
        sb.cmd(&["model", "register", "temp", "--run", &best[..8]])
            .args(["--alias", "production"])
            .assert()
            .success();
        // Both load the model from the store alone: with PostgreSQL, from the database.
        let _ = std::fs::remove_dir_all(sb.path("cache"));
        let cli = json_of(&sb, &["predict", "--model", "temp@production"]);
        let _ = std::fs::remove_dir_all(sb.path("cache"));
        let server = Served::start(&sb, &["--model", "temp@production"]);
        // The last window of the data file: the forecast `predict` makes for the whole file.
        let rows = last_rows(&sb, 7);
        let body = serde_json::json!({ "rows": rows }).to_string();
        let (code, answer) = server.post("/v1/models/temp/predict", &body);
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["model"]["run_id"], best.as_str(), "{answer}");
        assert_eq!(answer["forecasts"], cli["forecasts"], "{answer}\n{cli}");
        assert!(answer["forecasts"][0]["value"].is_number(), "{answer}");
    });
}

/// `aerocast serve ARGS` on a free loopback port with the sandbox's store; killed when dropped.
struct Served {
    child: std::process::Child,
    base: String,
}

impl Served {
    fn start(sb: &Sandbox, args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aerocast"))
            .current_dir(sb.dir.path())
            .env_remove("AEROCAST_STORE")
            .env("AEROCAST_CACHE", sb.path("cache"))
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0", "--store"])
            .arg(sb.store_value())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            if let Some(a) = line.strip_prefix("listening on ") {
                break a.to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Served { child, base: addr }
    }

    /// (status, parsed JSON body).
    fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(20)))
            .build()
            .into();
        let mut r = agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), serde_json::from_str(&text).unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sandbox CSV's last `n` rows as request rows (time and the four features, numbers as
/// written in the file).
fn last_rows(sb: &Sandbox, n: usize) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    lines[lines.len() - n..]
        .iter()
        .map(|line| {
            let mut row = serde_json::Map::new();
            for (name, cell) in header.iter().zip(line.split(',')) {
                let value = match *name {
                    "date" => serde_json::Value::String(cell.to_string()),
                    "temp_max" | "temp_min" | "precipitation" | "wind" => {
                        serde_json::Value::Number(cell.parse().unwrap())
                    }
                    _ => continue,
                };
                let key = if *name == "date" { "time" } else { name };
                row.insert(key.to_string(), value);
            }
            serde_json::Value::Object(row)
        })
        .collect()
}

/// `tests/cluster/pg.sh` starts the server with TLS and lets the role `aerocast_tls` in only
/// over TLS: a sweep as that role with `sslmode=require` (or the default, `prefer`) works, and
/// `sslmode=disable` is refused with the server's reason, naming the host, not the password.
#[test]
fn sslmode_require_connects_over_tls() {
    let Some(db) = PgDb::create("tls") else {
        return;
    };
    let mut admin = db.client();
    let tls_only = admin
        .query_one(
            "SELECT count(*) FROM pg_hba_file_rules
             WHERE type = 'hostnossl' AND 'aerocast_tls' = ANY(user_name)",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0);
    let ssl: String = admin.query_one("SHOW ssl", &[]).unwrap().get(0);
    if ssl != "on" || tls_only == 0 {
        eprintln!(
            "notice: the server has no TLS-only role aerocast_tls (tests/cluster/pg.sh makes one); skipping"
        );
        return;
    }
    // The role outlives the test's database: a later run finds it there.
    let _ = admin.batch_execute("CREATE ROLE aerocast_tls LOGIN PASSWORD 'tls-pw-31'");
    admin
        .batch_execute(&format!("ALTER DATABASE {} OWNER TO aerocast_tls", db.name))
        .unwrap();
    let (_, server_db) = db.url.rsplit_once('@').unwrap();
    let url = format!("postgresql://aerocast_tls:tls-pw-31@{server_db}");

    let sb = Sandbox::with_store(&spec(1), Some(&format!("{url}?sslmode=require")));
    let s = summary(&sb.sweep().success());
    assert_eq!(s["finished"], 4, "{s}");
    let plain = Sandbox::with_store(&spec(1), Some(&url));
    assert_eq!(
        plain.runs().len(),
        4,
        "prefer: TLS when the server offers it"
    );

    let refused = Sandbox::with_store(&spec(1), Some(&format!("{url}?sslmode=disable")));
    let out = refused.cmd(&["runs"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("no encryption"), "{stderr}");
    let (host, _) = server_db.split_once('/').unwrap();
    assert!(stderr.contains(host), "{stderr}");
    assert!(!stderr.contains("tls-pw-31"), "{stderr}");

    // A certificate-checking mode is refused rather than silently weakened.
    let verify = Sandbox::with_store(&spec(1), Some(&format!("{url}?sslmode=verify-full")));
    let stderr = input_error(&verify, &["runs"]);
    assert!(
        stderr.contains("sslmode is disable, prefer or require"),
        "{stderr}"
    );
}

#[test]
fn a_job_failing_max_attempts_times_is_given_up_alike() {
    each_backend("budget", |store| {
        // lr 1e30 diverges at epoch 1, every time: four jobs fail on each sweep.
        let spec =
            spec_text("[1e30]").replace("batch_size = 32", "batch_size = 32\nmax_attempts = 2");
        let sb = Sandbox::with_store(&spec, store);
        for attempt in 1..=2 {
            let s = summary(&sb.sweep().code(1));
            assert_eq!(
                (s["failed"].as_u64(), s["gave_up"].as_u64()),
                (Some(4), Some(0)),
                "{s}"
            );
            assert_eq!(sb.runs().len(), 4 * attempt);
        }
        let s = summary(&sb.sweep().code(1));
        assert_eq!(s["gave_up"].as_u64(), Some(4), "{s}");
        let runs = sb.runs();
        assert_eq!(runs.len(), 8, "a given-up job is not run again");
        let given_up: Vec<_> = runs
            .iter()
            .filter_map(|r| r["failure_reason"].as_str())
            .filter(|r| r.starts_with("gave up after 2 attempts (max_attempts = 2)"))
            .collect();
        assert_eq!(given_up.len(), 4, "{runs:?}");
        assert!(given_up.iter().all(|r| r.contains("1. failed: diverged")));
    });
}

#[test]
fn gc_deletes_older_snapshots_runs_but_keeps_registered_ones_alike() {
    each_backend("gc", |store| {
        let sb = Sandbox::with_store(&spec(2), store);
        data_slice(sb.dir.path(), 250);
        sb.sweep().success();
        let (first_best, _) = best_run(&sb);
        let old: Vec<String> = sb
            .runs()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .filter(|id| *id != first_best)
            .collect();
        assert_eq!(old.len(), 3);
        data_slice(sb.dir.path(), 300);
        sb.sweep().success();
        sb.cmd(&["model", "register", "kept", "--run", &old[0]])
            .assert()
            .success();

        // What the deleted runs' artifacts take: their files, written out of the store.
        let written: u64 = old[1..]
            .iter()
            .map(|id| {
                let dest = sb.path("written").join(id);
                sb.cmd(&["runs", "artifacts", id, "--dest", dest.to_str().unwrap()])
                    .assert()
                    .success();
                artifact_files_bytes(&sb.path("written"), id)
            })
            .sum();
        assert!(written > 0);
        let dry = json_of(&sb, &["gc", "--keep-sweeps", "1", "--dry-run"]);
        assert_eq!(dry["artifact_bytes"], written, "{dry}");
        assert_eq!(dry["artifact_bytes_freed"], 0, "{dry}");

        let done = json_of(&sb, &["gc", "--keep-sweeps", "1"]);
        // The store reports the artifact bytes it held and deleted; SQLite's file shrinks by
        // at least as much (VACUUM), where PostgreSQL keeps the space for new rows.
        assert_eq!(done["artifact_bytes_freed"], written, "{done}");
        if store.is_none() {
            assert!(done["bytes_freed"].as_u64() >= Some(written), "{done}");
        }
        let mut deleted: Vec<String> = done["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        deleted.sort();
        let mut expected = old[1..].to_vec();
        expected.sort();
        assert_eq!(deleted, expected, "{done}");
        assert_eq!(done["kept_pinned"], 1, "{done}");
        let out = sb.cmd(&["runs", "--json", "--all-data"]).assert().success();
        let all: Vec<serde_json::Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let left: Vec<String> = all
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            left.len(),
            6,
            "4 new runs, the old best and the registered one"
        );
        assert!(deleted.iter().all(|d| !left.contains(d)));
        // The registered run's model still loads, from the store alone.
        if store.is_some() {
            let _ = std::fs::remove_dir_all(sb.path("cache"));
        }
        let p = json_of(&sb, &["predict", "--model", "kept"]);
        assert_eq!(p["run_id"], old[0].as_str());
    });
}

/// Bytes of the files in every `RUN_ID` folder under `root`.
fn artifact_files_bytes(root: &std::path::Path, run_id: &str) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !path.is_dir() {
            continue;
        }
        if path.ends_with(run_id) {
            total += std::fs::read_dir(&path)
                .unwrap()
                .flatten()
                .filter_map(|f| f.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum::<u64>();
        } else {
            total += artifact_files_bytes(&path, run_id);
        }
    }
    total
}

/// Runs shorter than the epoch-write interval write their curve in the transaction that
/// closes them: every finished run still has each epoch's train and val loss, in order.
#[test]
fn a_short_runs_curve_is_written_with_its_end_alike() {
    each_backend("curve", |store| {
        let sb = Sandbox::with_store(&spec(3), store);
        let first = summary(&sb.sweep().success());
        assert_eq!(first["finished"], 4, "{first}");
        for run in sb.runs() {
            let id = run["run_id"].as_str().unwrap();
            let detail = json_of(&sb, &["runs", "show", id]);
            for key in ["train_loss", "val_loss"] {
                let steps: Vec<u64> = detail["history"][key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{id}: no {key} history: {detail}"))
                    .iter()
                    .map(|p| {
                        assert!(p[1].as_f64().is_some_and(f64::is_finite), "{id} {key}: {p}");
                        p[0].as_u64().unwrap()
                    })
                    .collect();
                assert_eq!(steps, [1, 2, 3], "{id} {key}");
            }
        }
    });
}
