//! Helpers shared by the integration tests: a tiny real sweep on a slice of the shipped data.

#![allow(dead_code)]

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
}

impl Sandbox {
    /// A temp folder with 300 data rows and `spec.toml` holding `spec`.
    pub fn new(spec: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        data_slice(dir.path(), 300);
        std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
        Sandbox { dir }
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
            .args(args)
            .arg("--store")
            .arg(self.store());
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
