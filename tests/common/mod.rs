//! Helpers shared by the integration tests: a tiny real sweep on a slice of the shipped data.

#![allow(dead_code)]

pub mod pg;

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/seattle-weather.csv");

/// The first `rows` data rows of the shipped Seattle data, written into `dir`.
pub fn data_slice(dir: &Path, rows: usize) -> PathBuf {
    let text = std::fs::read_to_string(DATA).unwrap();
    let slice: Vec<&str> = text.lines().take(rows + 1).collect();
    let path = dir.join("weather.csv");
    std::fs::write(&path, slice.join("\n") + "\n").unwrap();
    path
}

/// A small multivariate spec: 2 seeds x 2 hidden sizes x `lrs`, 2 epochs.
pub fn spec_text(lrs: &str) -> String {
    format!(
        r#"[experiment]
name = "tiny"

[data]
path = "weather.csv"
target = "temp_max"
features = ["temp_max", "temp_min", "precipitation", "wind"]
time = "date"
window = 7

[train]
epochs = 2
batch_size = 32

[grid]
seed = [0, 1]
hidden_dim = [4, 8]
lr = {lrs}
"#
    )
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// `--store` for every command: the sandbox's `store` folder unless set.
    pub store_arg: Option<String>,
}

impl Sandbox {
    /// A temp folder with 300 data rows and `spec.toml` holding `spec`.
    pub fn new(spec: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        data_slice(dir.path(), 300);
        std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
        Sandbox {
            dir,
            store_arg: None,
        }
    }

    /// A sandbox whose commands use `store` (a folder or a database URL) as their store.
    pub fn with_store(spec: &str, store: Option<&str>) -> Sandbox {
        let mut sb = Sandbox::new(spec);
        sb.store_arg = store.map(str::to_string);
        sb
    }

    /// What every command gets as `--store`.
    pub fn store_value(&self) -> std::ffi::OsString {
        match &self.store_arg {
            Some(s) => s.into(),
            None => self.store().into(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// `aerocast ARGS --store <sandbox store>`, run in the sandbox, environment cleaned.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("aerocast").unwrap();
        cmd.current_dir(self.dir.path())
            .env_remove("AEROCAST_STORE")
            .env("AEROCAST_CACHE", self.path("cache"))
            .args(args)
            .arg("--store")
            .arg(self.store_value());
        cmd
    }

    pub fn sweep(&self) -> assert_cmd::assert::Assert {
        self.cmd(&["sweep", "spec.toml", "--json", "--jobs", "2"])
            .assert()
    }

    pub fn runs(&self) -> Vec<serde_json::Value> {
        let out = self.cmd(&["runs", "--json"]).assert().success();
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.get_output().stdout).unwrap()
    }
}

pub fn summary(assert: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&assert.get_output().stdout).expect("sweep --json prints JSON")
}

/// Every file under `dir` with its bytes, to prove a command left a store untouched.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                files.push((p, bytes));
            }
        }
    }
    files.sort();
    files
}

/// `aerocast ARGS --store <sandbox store>` as a child process, for tests that signal or kill it.
pub fn spawn(sb: &Sandbox, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_aerocast"))
        .current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .env("AEROCAST_CACHE", sb.path("cache"))
        .args(args)
        .arg("--store")
        .arg(sb.store_value())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aerocast starts")
}

/// Waits up to `secs` for the child to exit; kills it and panics past that.
pub fn wait_exit(child: &mut std::process::Child, secs: f64) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            let out = child.wait_with_output_ref();
            panic!(
                "aerocast did not exit within {secs}s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output_ref()
}

trait WaitRef {
    fn wait_with_output_ref(&mut self) -> std::process::Output;
}

impl WaitRef for std::process::Child {
    /// `wait_with_output` for a borrowed child (its pipes are taken).
    fn wait_with_output_ref(&mut self) -> std::process::Output {
        use std::io::Read;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(mut s) = self.stdout.take() {
            s.read_to_end(&mut stdout).unwrap();
        }
        if let Some(mut s) = self.stderr.take() {
            s.read_to_end(&mut stderr).unwrap();
        }
        let status = self.wait().unwrap();
        std::process::Output {
            status,
            stdout,
            stderr,
        }
    }
}

/// A connection to the sandbox store's database (waits for writers instead of failing).
pub fn db(store: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(store.join("aerocast.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    conn
}

/// Polls `query` (one integer) until it is at least `min`, for up to `secs`.
pub fn wait_for_count(store: &Path, query: &str, min: i64, secs: f64) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    loop {
        if store.join("aerocast.db").is_file() {
            let n: i64 = db(store).query_row(query, [], |r| r.get(0)).unwrap_or(0);
            if n >= min {
                return n;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {query} >= {min}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub fn integrity_ok(store: &Path) {
    let check: String = db(store)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Opens a sweep of `experiment` in `store` without a spec or data file, for tests that
/// write through the store API: (experiment id, sweep id).
pub fn begin_sweep(
    store: &aerocast::store::Store,
    experiment: &str,
    n_jobs: usize,
) -> (i64, String) {
    store
        .begin_sweep(&aerocast::store::SweepInfo {
            experiment,
            spec_path: "test.toml",
            spec_text: "",
            spec_hash: "0",
            data_path: "none.csv",
            data_hash: "0",
            data_id: None,
            data_rows: 0,
            n_jobs,
        })
        .expect("begin sweep")
}

/// A univariate spec (the target is the only input, horizon 1): recursive forecasts work.
pub fn univariate_spec() -> String {
    spec_text("[0.01]")
        .replace(
            "features = [\"temp_max\", \"temp_min\", \"precipitation\", \"wind\"]\n",
            "",
        )
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4]")
}

/// The best run of the sandbox's store (`report --best --json`): (run id, val_rmse).
pub fn best_run(sb: &Sandbox) -> (String, f64) {
    let out = sb.cmd(&["report", "--best", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    (
        v["run_id"].as_str().unwrap().to_string(),
        v["metrics"]["val_rmse"].as_f64().unwrap(),
    )
}

/// Runs `aerocast ARGS --json` and parses its stdout.
pub fn json_of(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = sb.cmd(&all).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.get_output().stdout)
        )
    })
}

/// Runs `aerocast ARGS`, expects exit 2, returns stderr.
pub fn input_error(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.cmd(args).assert().code(2);
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// Long-format data: two stations of very different scale over integer times, `south` missing time 60.
pub fn long_format_csv() -> String {
    let mut csv = String::from("station,t,y\n");
    for (name, level, amp) in [("north", 100.0, 20.0), ("south", 5.0, 0.5)] {
        for t in 0..120 {
            if name == "south" && t == 60 {
                continue;
            }
            let v = level + amp * (t as f64 * 0.5).sin() + amp * 0.1 * ((t * 7 % 5) as f64);
            csv.push_str(&format!("{name},{t},{v:.3}\n"));
        }
    }
    csv
}

pub fn series_spec(extra: &str) -> String {
    format!(
        r#"[experiment]
name = "stations"

[data]
path = "stations.csv"
series = "station"
time = "t"
target = "y"
window = 4
test_fraction = 0.2
{extra}

[train]
epochs = 2
batch_size = 16
hidden_dim = 4
lr = 0.01
seed = 0
"#
    )
}

/// A sandbox holding the station data and a one-run spec over it.
pub fn stations(extra: &str) -> Sandbox {
    let sb = Sandbox::new(&series_spec(extra));
    std::fs::write(sb.path("stations.csv"), long_format_csv()).unwrap();
    sb
}
