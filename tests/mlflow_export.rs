//! `export mlflow` and `sweep --mlflow` without a working MLflow server: a server that is down,
//! and, played by a tiny local HTTP listener, what a real server cannot be made to do on cue (a
//! 500 in the middle of an export, a 503 on a read, accepting connections and never answering).
//! Sweeps and the store are real. The round trip against a real server is
//! tests/mlflow/roundtrip.sh.

mod common;

use common::{Sandbox, snapshot, spec_text, summary};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fake tracking server: answers each request with `reply(method, path, nth call of that
/// path)` and records every request.
struct Mock {
    uri: String,
    log: Arc<Mutex<Vec<(String, String)>>>,
    server: Arc<tiny_http::Server>,
}

type Reply = dyn Fn(&str, &str, usize) -> (u16, String) + Send + Sync;

impl Mock {
    fn start(reply: Box<Reply>) -> Mock {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (server.clone(), log.clone());
        std::thread::spawn(move || {
            while let Ok(mut req) = s.recv() {
                let method = req.method().to_string();
                let path = req.url().split('?').next().unwrap().to_string();
                let mut body = Vec::new();
                std::io::Read::read_to_end(req.as_reader(), &mut body).unwrap();
                let nth = {
                    let mut log = l.lock().unwrap();
                    log.push((method.clone(), path.clone()));
                    log.iter().filter(|(_, p)| *p == path).count()
                };
                let (status, text) = reply(&method, &path, nth);
                let _ =
                    req.respond(tiny_http::Response::from_string(text).with_status_code(status));
            }
        });
        Mock {
            uri: format!("http://127.0.0.1:{port}"),
            log,
            server,
        }
    }

    fn calls(&self, path_end: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|(_, p)| p.ends_with(path_end)).count()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// What a healthy MLflow answers to the calls an export makes.
fn healthy(path: &str, nth: usize) -> (u16, String) {
    let body = if path.ends_with("/experiments/get-by-name") {
        r#"{"experiment": {"experiment_id": "7", "lifecycle_stage": "active"}}"#.to_string()
    } else if path.ends_with("/runs/search") {
        r#"{"runs": []}"#.to_string()
    } else if path.ends_with("/runs/create") {
        format!(
            r#"{{"run": {{"info": {{"run_id": "m{nth}", "status": "RUNNING",
                "artifact_uri": "mlflow-artifacts:/7/m{nth}/artifacts"}}, "data": {{}}}}}}"#
        )
    } else {
        "{}".to_string()
    };
    (200, body)
}

fn export(sb: &Sandbox, uri: &str) -> assert_cmd::assert::Assert {
    sb.cmd(&["export", "mlflow", "--tracking-uri", uri])
        .env_remove("MLFLOW_TRACKING_URI")
        .assert()
}

fn swept() -> Sandbox {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    sb.sweep().success();
    sb
}

#[test]
fn a_500_fails_the_run_with_the_servers_text_is_never_resent_and_leaves_the_store_alone() {
    let sb = swept();
    let db = sb.store().join("aerocast.db");
    // The runs' files the export writes out of the database (into `artifacts/`) aside.
    let records = || -> Vec<_> {
        let files = sb.store().join("artifacts");
        snapshot(&sb.store())
            .into_iter()
            .filter(|(p, _)| !p.starts_with(&files))
            .collect()
    };
    let before = records();
    let mock = Mock::start(Box::new(|_, path, nth| {
        if path.ends_with("/runs/log-batch") {
            let body = r#"{"error_code": "INTERNAL_ERROR", "message": "disk I/O error"}"#;
            (500, body.to_string())
        } else {
            healthy(path, nth)
        }
    }));
    let out = export(&sb, &mock.uri).code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("HTTP 500") && stderr.contains("disk I/O error"),
        "{stderr}"
    );
    assert!(stderr.contains("4 run(s) not exported"), "{stderr}");
    // A batch of metric points may have been stored before the 500: sending it again could
    // duplicate them, so each run's batch went exactly once, and no run was ended.
    assert_eq!(mock.calls("/runs/log-batch"), 4);
    assert_eq!(mock.calls("/runs/update"), 0);
    assert!(db.is_file());
    assert_eq!(before, records(), "the export wrote to the store");
}

#[test]
fn a_503_on_a_read_is_retried_and_the_export_completes() {
    let sb = swept();
    let mock = Mock::start(Box::new(|_, path, nth| {
        if path.ends_with("/runs/search") && nth == 1 {
            (503, "Service Unavailable".to_string())
        } else {
            healthy(path, nth)
        }
    }));
    let out = export(&sb, &mock.uri).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("4 created"), "{stdout}");
    // The failed search, its retry, and the search for duplicates after creating runs.
    assert_eq!(mock.calls("/runs/search"), 3);
    assert_eq!(mock.calls("/runs/create"), 4);
    assert_eq!(mock.calls("/runs/update"), 4);
    // Three artifacts per run, each uploaded once.
    assert_eq!(
        mock.calls(".safetensors") + mock.calls(".json") + mock.calls(".svg"),
        12
    );
}

#[test]
fn a_server_that_never_answers_does_not_fail_the_sweep() {
    // Accepts connections (the kernel's backlog does) and never reads or answers them.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", silent.local_addr().unwrap());
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let out = sb
        .cmd(&[
            "sweep",
            "spec.toml",
            "--json",
            "--jobs",
            "2",
            "--mlflow",
            &uri,
        ])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let s = summary(&out);
    assert_eq!(s["finished"], 4);
    let m = &s["mlflow"];
    assert_eq!((m["runs"].as_u64(), m["sent"].as_u64()), (Some(4), Some(0)));
    assert_eq!(m["not_sent"], 4);
    assert!(m["error"].as_str().unwrap().contains("grace"), "{m}");
    drop(silent);
}

#[test]
fn a_down_server_does_not_fail_the_sweep_and_the_summary_says_what_was_not_sent() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let out = sb
        .cmd(&["sweep", "spec.toml", "--jobs", "2", "--mlflow", &uri])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains(&format!(
            "mlflow: 0 of 4 ended run(s) mirrored to {uri}; 4 not sent"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("cannot reach the MLflow tracking server"),
        "{stdout}"
    );
    assert_eq!(sb.runs().len(), 4);
}

#[test]
fn export_needs_an_http_tracking_uri() {
    let sb = swept();
    let out = sb
        .cmd(&["export", "mlflow"])
        .env_remove("MLFLOW_TRACKING_URI")
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("MLFLOW_TRACKING_URI"), "{stderr}");
    let out = export(&sb, "file:///tmp/mlruns").code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("not an http(s) tracking server"),
        "{stderr}"
    );
}

#[test]
fn the_specs_mlflow_section_mirrors_each_run_as_it_ends() {
    let mock = Mock::start(Box::new(|_, path, nth| healthy(path, nth)));
    let spec = format!(
        "{}\n[mlflow]\ntracking_uri = \"{}\"\n",
        spec_text("[0.01]"),
        mock.uri
    );
    let sb = Sandbox::new(&spec);
    let s = summary(&sb.sweep().success());
    let m = &s["mlflow"];
    assert_eq!(
        (m["runs"].as_u64(), m["sent"].as_u64()),
        (Some(4), Some(4)),
        "{m}"
    );
    // Each run: found missing by its tag, created, one batch, three files, ended.
    assert_eq!(mock.calls("/runs/search"), 4);
    assert_eq!(mock.calls("/runs/create"), 4);
    assert_eq!(mock.calls("/runs/log-batch"), 4);
    assert_eq!(mock.calls("/runs/update"), 4);
}
