//! Ctrl-C and cron timeouts through the real binary: the first SIGINT/SIGTERM stops the sweep at
//! the end of the running epoch, records the run `interrupted`, and exits 130/143; a rerun redoes
//! the job; a second signal exits at once.

mod common;

use common::{Sandbox, db, integrity_ok, spawn, spec_text, wait_exit, wait_for_count};
use std::time::{Duration, Instant};

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn spec(seeds: &str, hidden: &str, epochs: usize) -> String {
    spec_text("[0.01]")
        .replace("seed = [0, 1]", &format!("seed = {seeds}"))
        .replace("hidden_dim = [4, 8]", &format!("hidden_dim = {hidden}"))
        .replace("epochs = 2", &format!("epochs = {epochs}"))
}

const EPOCHS_LOGGED: &str = "SELECT count(*) FROM metric_history WHERE key = 'val_loss'";

#[test]
fn sigint_then_sigterm_stop_at_an_epoch_end_and_the_rerun_redoes_the_job() {
    // Two long jobs, one at a time: the first is stopped mid-training, the second never starts.
    let sb = Sandbox::new(&spec("[0, 1]", "[16]", 2000));
    let mut child = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    wait_for_count(&sb.store(), EPOCHS_LOGGED, 3, 60.0);
    signal(&child, libc::SIGINT);
    let out = wait_exit(&mut child, 30.0);
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(
        (
            s["interrupted"].as_u64(),
            s["not_started"].as_u64(),
            s["finished"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{s}"
    );
    integrity_ok(&sb.store());

    let conn = db(&sb.store());
    let (job_key, status, reason, ended): (String, String, String, Option<f64>) = conn
        .query_row(
            "SELECT job_key, status, failure_reason, end_time FROM runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(status, "interrupted");
    assert!(ended.is_some());
    assert!(
        reason.starts_with("interrupted by SIGINT after epoch "),
        "{reason}"
    );
    // The epochs done before the stop are all in the history, the last one completed.
    let epoch: i64 = reason["interrupted by SIGINT after epoch ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let logged: i64 = conn.query_row(EPOCHS_LOGGED, [], |r| r.get(0)).unwrap();
    assert_eq!(logged, epoch);
    let sweep_status: String = conn
        .query_row("SELECT status FROM sweeps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sweep_status, "interrupted");
    drop(conn);
    // The stopped sweep still wrote its report (of an interrupted sweep).
    assert!(
        sb.store().join("reports/tiny/index.html").is_file(),
        "no report after SIGINT: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The rerun takes the interrupted job again (it is not finished); SIGTERM stops it with 143.
    let mut child = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    wait_for_count(
        &sb.store(),
        "SELECT count(*) FROM runs WHERE status = 'running'",
        1,
        60.0,
    );
    let rerun_key: String = db(&sb.store())
        .query_row(
            "SELECT job_key FROM runs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        rerun_key, job_key,
        "the rerun redoes the interrupted job first"
    );
    wait_for_count(&sb.store(), EPOCHS_LOGGED, logged + 2, 60.0);
    signal(&child, libc::SIGTERM);
    let out = wait_exit(&mut child, 30.0);
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    let conn = db(&sb.store());
    let statuses: Vec<(String, String)> = conn
        .prepare("SELECT status, failure_reason FROM runs ORDER BY start_time")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.iter().all(|(s, _)| s == "interrupted"));
    assert!(statuses[1].1.contains("SIGTERM"), "{statuses:?}");
    let sweeps: i64 = conn
        .query_row(
            "SELECT count(*) FROM sweeps WHERE status = 'interrupted' AND ended_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sweeps, 2);
    integrity_ok(&sb.store());
}

#[test]
fn a_second_sigint_exits_at_once_without_waiting_for_the_epoch() {
    // Epochs long enough (hundreds of ms) that waiting for one would show.
    let sb = Sandbox::new(&spec("[0]", "[384]", 50));
    let mut child = spawn(&sb, &["sweep", "spec.toml", "--json", "--jobs", "1"]);
    let conn_wait = |n| wait_for_count(&sb.store(), EPOCHS_LOGGED, n, 120.0);
    conn_wait(1);
    let t1: f64 = db(&sb.store())
        .query_row("SELECT max(timestamp) FROM metric_history", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn_wait(2);
    // Right after an epoch ended, the next one has just begun.
    let t2: f64 = db(&sb.store())
        .query_row("SELECT max(timestamp) FROM metric_history", [], |r| {
            r.get(0)
        })
        .unwrap();
    let epoch = t2 - t1;
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(20));
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let out = wait_exit(&mut child, 60.0);
    let waited = sent.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(
        waited < epoch * 0.75,
        "exited {waited:.3}s after the second SIGINT; an epoch takes {epoch:.3}s"
    );
    // Nothing was recorded after the second signal: the run is left for the next sweep to reap.
    let status: String = db(&sb.store())
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .unwrap();
    assert!(status == "running" || status == "interrupted", "{status}");
    integrity_ok(&sb.store());
}
