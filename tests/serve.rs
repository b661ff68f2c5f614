//! `aerocast serve` as a real server on a free loopback port: every endpoint, every kind of
//! bad request (4xx with a JSON error, the server stays up), the same numbers as `predict`,
//! an alias moved by another process and followed without a restart, and a SIGTERM that lets
//! a request in flight finish before exiting 0.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `aerocast serve ARGS --addr 127.0.0.1:0` and waits for its "listening on" line.
fn start(sb: &Sandbox, args: &[&str]) -> Server {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aerocast"))
        .current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0", "--poll", "0.2", "--store"])
        .arg(sb.store())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base: format!("http://{addr}"),
        addr,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// (status, parsed JSON body).
fn get(s: &Server, path: &str) -> (u16, Value) {
    let mut r = agent().get(format!("{}{path}", s.base)).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&text).unwrap())
}

fn post(s: &Server, path: &str, body: &str) -> (u16, Value) {
    let mut r = agent()
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .with_config()
        .limit(10 << 20)
        .read_to_string()
        .unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {text:?}: {e}"));
    (status, v)
}

/// The last `n` rows of the sandbox CSV as request rows, numbers exactly as written.
fn rows(sb: &Sandbox, n: usize, skip_last: usize, with_time: bool) -> Vec<Value> {
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let end = lines.len() - skip_last;
    lines[end - n..end]
        .iter()
        .map(|l| {
            let mut row = serde_json::Map::new();
            for (name, cell) in header.iter().zip(l.split(',')) {
                match *name {
                    "date" if with_time => {
                        row.insert("time".into(), json!(cell));
                    }
                    "temp_max" | "temp_min" | "precipitation" | "wind" => {
                        let num: serde_json::Number = cell.parse().unwrap();
                        row.insert(name.to_string(), Value::Number(num));
                    }
                    _ => {}
                }
            }
            Value::Object(row)
        })
        .collect()
}

fn registered(sb: &Sandbox) -> (String, String) {
    sb.sweep().success();
    let (best, _) = best_run(sb);
    let other = sb
        .runs()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .find(|r| *r != best)
        .unwrap();
    sb.cmd(&[
        "model",
        "register",
        "temp",
        "--run",
        &best,
        "--alias",
        "production",
    ])
    .assert()
    .success();
    sb.cmd(&["model", "register", "temp", "--run", &other])
        .assert()
        .success();
    (best, other)
}

#[test]
fn endpoints_answer_as_predict_does() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let (best, _) = registered(&sb);
    let s = start(&sb, &["--model", "temp@production"]);

    assert_eq!(get(&s, "/health"), (200, json!({"status": "ok"})));
    let (code, models) = get(&s, "/v1/models");
    assert_eq!(code, 200);
    assert_eq!(
        models["models"][0],
        json!({"name": "temp", "version": 1, "alias": "production", "run_id": best,
               "target": "temp_max",
               "features": ["temp_max", "temp_min", "precipitation", "wind"],
               "window": 7, "horizon": 1})
    );

    // The last 7 rows of the data: the same number `predict` gives for the whole file.
    let cli = json_of(&sb, &["predict", "--model", "temp@production"]);
    let body = json!({ "rows": rows(&sb, 7, 0, true) }).to_string();
    let (code, p) = post(&s, "/v1/models/temp/predict", &body);
    assert_eq!(code, 200, "{p}");
    assert_eq!(
        p["model"],
        json!({"name": "temp", "version": 1, "run_id": best})
    );
    assert_eq!(p["forecasts"], cli["forecasts"]);

    // More rows than the window: the last window counts. No times: no time in the answer.
    let (_, longer) = post(
        &s,
        "/v1/models/temp/predict",
        &json!({ "rows": rows(&sb, 30, 0, false) }).to_string(),
    );
    assert_eq!(
        longer["forecasts"][0]["value"],
        cli["forecasts"][0]["value"]
    );
    assert!(longer["forecasts"][0].get("time").is_none());

    // The batch form answers each instance in order.
    let batch = json!({ "instances": [
        { "rows": rows(&sb, 7, 0, true) },
        { "rows": rows(&sb, 7, 1, false) },
    ]});
    let (code, b) = post(&s, "/v1/models/temp/predict", &batch.to_string());
    assert_eq!(code, 200, "{b}");
    let preds = b["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[0]["forecasts"], cli["forecasts"]);
    let (_, earlier) = post(
        &s,
        "/v1/models/temp/predict",
        &json!({ "rows": rows(&sb, 7, 1, false) }).to_string(),
    );
    assert_eq!(preds[1]["forecasts"], earlier["forecasts"]);
    assert_ne!(preds[1]["forecasts"], preds[0]["forecasts"]);

    // Intervals as `predict --level` gives them, for the batch form too; a level the model
    // does not calibrate is a 400.
    let cli = json_of(
        &sb,
        &["predict", "--model", "temp@production", "--level", "80,95"],
    );
    let body = json!({ "rows": rows(&sb, 7, 0, true), "level": [95, 80] }).to_string();
    let (code, p) = post(&s, "/v1/models/temp/predict", &body);
    assert_eq!(code, 200, "{p}");
    assert!(p["forecasts"][0]["upper_95"].is_number(), "{p}");
    assert_eq!(p["forecasts"], cli["forecasts"]);
    let batch = json!({ "instances": [{ "rows": rows(&sb, 7, 0, true) }], "level": [80, 95] });
    let (_, b) = post(&s, "/v1/models/temp/predict", &batch.to_string());
    assert_eq!(b["predictions"][0]["forecasts"], cli["forecasts"]);
    for (level, says) in [("[70]", "no 70% interval"), ("[\"80\"]", "whole percents")] {
        let body = format!(
            r#"{{"rows": {}, "level": {level}}}"#,
            json!(rows(&sb, 7, 0, true))
        );
        let (code, e) = post(&s, "/v1/models/temp/predict", &body);
        assert_eq!(code, 400, "{e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{e}");
    }
}

#[test]
fn bad_requests_get_4xx_json_and_the_server_stays_up() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    registered(&sb);
    let s = start(&sb, &["--model", "temp@production"]);
    let good = rows(&sb, 7, 0, false);
    let with = |f: &dyn Fn(&mut Vec<Value>)| {
        let mut r = good.clone();
        f(&mut r);
        json!({ "rows": r }).to_string()
    };
    let url = "/v1/models/temp/predict";
    let huge = format!("{{\"rows\": [\"{}\"]}}", "x".repeat(1 << 20));
    let cases: Vec<(String, &str, u16, &str)> = vec![
        ("{\"rows\": [".into(), url, 400, "not valid JSON"),
        ("[1, 2]".into(), url, 400, "JSON object"),
        ("{}".into(), url, 400, "needs \"rows\""),
        (
            with(&|r| {
                r[3].as_object_mut().unwrap().remove("wind");
            }),
            url,
            400,
            "rows[3].wind is missing",
        ),
        (
            with(&|r| r[2]["temp_min"] = json!("cold")),
            url,
            400,
            "rows[2].temp_min must be a number, not a string",
        ),
        (with(&|r| r[0]["wind"] = Value::Null), url, 400, "not null"),
        (good_with_text(&good, "NaN"), url, 400, "not valid JSON"),
        (good_with_text(&good, "1e999"), url, 400, "not valid JSON"),
        (
            good_with_text(&good, "1e39"),
            url,
            400,
            "32-bit float range",
        ),
        (
            json!({ "rows": &good[..5] }).to_string(),
            url,
            400,
            "5 rows, but the model reads a window of 7",
        ),
        (
            json!({ "rows": good, "steps": 3 }).to_string(),
            url,
            400,
            "recursive",
        ),
        (
            json!({ "instances": [] }).to_string(),
            url,
            400,
            "\"instances\" must hold",
        ),
        (
            json!({ "instances": [{"rows": good}, {"rows": []}] }).to_string(),
            url,
            400,
            "instances[1].rows has 0 rows",
        ),
        (huge, url, 413, "larger than 1048576 bytes"),
        (
            json!({ "rows": good }).to_string(),
            "/v1/models/nope/predict",
            404,
            "no model named \"nope\"",
        ),
        (
            json!({ "rows": good }).to_string(),
            "/v2/anything",
            404,
            "no such endpoint",
        ),
    ];
    for (body, path, status, needle) in cases {
        let (code, v) = post(&s, path, &body);
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {v}"));
        assert_eq!(
            code,
            status,
            "{path} {}: {msg}",
            &body[..body.len().min(80)]
        );
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    }
    let (code, v) = get(&s, url);
    assert_eq!(code, 405);
    assert!(v["error"].as_str().unwrap().contains("method not allowed"));
    assert_eq!(get(&s, "/health").0, 200);
    let (code, _) = post(&s, url, &json!({ "rows": good }).to_string());
    assert_eq!(code, 200);
}

/// The good rows with row 1's wind written as the raw JSON text `literal`.
fn good_with_text(good: &[Value], literal: &str) -> String {
    let mut r = good.to_vec();
    r[1]["wind"] = json!("@@");
    json!({ "rows": r }).to_string().replace("\"@@\"", literal)
}

#[test]
fn a_moved_alias_is_served_without_a_restart() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let (best, other) = registered(&sb);
    let s = start(&sb, &["--model", "temp@production"]);
    let body = json!({ "rows": rows(&sb, 7, 0, false) }).to_string();
    let url = "/v1/models/temp/predict";
    assert_eq!(post(&s, url, &body).1["model"]["run_id"], best.as_str());

    sb.cmd(&["model", "alias", "temp", "production", "2"])
        .assert()
        .success();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, p) = post(&s, url, &body);
        assert_eq!(code, 200);
        if p["model"]["run_id"] == other.as_str() {
            assert_eq!(p["model"]["version"], 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the alias move was not picked up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&s, "/v1/models").1["models"][0]["version"], 2);
    let cli = json_of(&sb, &["predict", "--model", "temp@production"]);
    let timed = json!({ "rows": rows(&sb, 7, 0, true) }).to_string();
    assert_eq!(post(&s, url, &timed).1["forecasts"], cli["forecasts"]);
}

#[test]
fn sigterm_drains_the_request_in_flight_and_exits_0() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    registered(&sb);
    let mut s = start(&sb, &["--model", "temp"]);
    let body = json!({ "rows": rows(&sb, 7, 0, false) }).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    // A request whose body is still arriving when the signal comes.
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        conn,
        "POST /v1/models/temp/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    conn.write_all(tail.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"forecasts\""), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn startup_errors_are_input_errors() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    registered(&sb);
    let e = input_error(&sb, &["serve", "--model", "nope", "--addr", "127.0.0.1:0"]);
    assert!(e.contains("no model named \"nope\""), "{e}");
    let e = input_error(
        &sb,
        &[
            "serve",
            "--model",
            "temp",
            "--model",
            "temp@production",
            "--addr",
            "127.0.0.1:0",
        ],
    );
    assert!(e.contains("given twice"), "{e}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let e = input_error(&sb, &["serve", "--model", "temp", "--addr", &addr]);
    assert!(e.contains("cannot listen on"), "{e}");
}

#[test]
fn a_model_of_several_series_serves_each_in_its_own_units() {
    let sb = common::stations("horizon = 1");
    sb.sweep().success();
    let (best, _) = best_run(&sb);
    sb.cmd(&["model", "register", "stations", "--run", &best])
        .assert()
        .success();
    let predicted = json_of(&sb, &["predict", "--model", "stations"]);
    let server = start(&sb, &["--model", "stations"]);
    let csv = common::long_format_csv();
    for (i, name) in ["north", "south"].iter().enumerate() {
        let own: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with(&format!("{name},")))
            .collect();
        let last: Vec<Value> = own[own.len() - 4..]
            .iter()
            .map(|l| json!({"y": l.rsplit(',').next().unwrap().parse::<f64>().unwrap()}))
            .collect();
        let body = json!({"rows": last, "series": name}).to_string();
        let (status, v) = post(&server, "/v1/models/stations/predict", &body);
        assert_eq!(status, 200, "{v}");
        let want = predicted["series"][i]["forecasts"][0]["value"]
            .as_f64()
            .unwrap();
        let got = v["forecasts"][0]["value"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{name}: {got} vs {want}"
        );
    }
    let rows: Vec<Value> = (0..4).map(|_| json!({"y": 5.0})).collect();
    let (status, v) = post(
        &server,
        "/v1/models/stations/predict",
        &json!({ "rows": rows }).to_string(),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("name one"), "{v}");
}

#[test]
fn a_direct_head_answers_every_step_to_its_horizon() {
    let sb = common::stations("horizon = 3\noutput = \"direct\"");
    sb.sweep().success();
    let (best, _) = best_run(&sb);
    sb.cmd(&["model", "register", "direct", "--run", &best])
        .assert()
        .success();
    let predicted = json_of(&sb, &["predict", "--model", "direct", "--series", "north"]);
    let server = start(&sb, &["--model", "direct"]);
    let csv = common::long_format_csv();
    let north: Vec<&str> = csv.lines().filter(|l| l.starts_with("north,")).collect();
    let rows: Vec<Value> = north[north.len() - 4..]
        .iter()
        .map(|l| json!({"y": l.rsplit(',').next().unwrap().parse::<f64>().unwrap()}))
        .collect();
    let body = json!({"rows": rows, "series": "north"}).to_string();
    let (status, v) = post(&server, "/v1/models/direct/predict", &body);
    assert_eq!(status, 200, "{v}");
    let values = |list: &Value| -> Vec<(u64, f64)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|f| (f["step"].as_u64().unwrap(), f["value"].as_f64().unwrap()))
            .collect()
    };
    let want = values(&predicted["series"][0]["forecasts"]);
    assert_eq!(want.len(), 3);
    assert_eq!(values(&v["forecasts"]), want);
}
