//! What a hostile new user tried, through the real binary: closed pipes, runaway retries,
//! absurd flags, read-only and missing stores, unordered time, gaps, early stopping, tags.

mod common;

use common::{Sandbox, snapshot, spawn, spec_text, summary, wait_exit, wait_for_count};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_aerocast");

/// One job: seed 0, hidden 4, lr 0.01, 2 epochs.
fn one_job() -> String {
    spec_text("[0.01]")
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4]")
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `aerocast ARGS --store S` with stdout a pipe whose reader is already gone: every write
/// to stdout fails with EPIPE, deterministically.
fn with_closed_stdout(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(BIN)
        .current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .args(args)
        .arg("--store")
        .arg(sb.store())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_never_panics_and_the_sweep_report_is_still_written() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    // The issue's own reproduction: `sweep | head -1`.
    let out = Command::new("bash")
        .current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{BIN}' sweep spec.toml --store '{}' | head -1",
            sb.store().display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
    let report = sb.store().join("reports/tiny/index.html");
    assert!(report.is_file(), "the report was not written");

    // Every printing command, with stdout closed before it starts.
    std::fs::remove_file(&report).unwrap();
    for args in [
        &["sweep", "spec.toml"][..],
        &["sweep", "spec.toml", "--json"],
        &["runs"],
        &["runs", "--json"],
        &["report", "--best"],
        &["report", "--best", "--json"],
        &["report"],
        &["history"],
        &["history", "--json"],
    ] {
        let out = with_closed_stdout(&sb, args);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(
        report.is_file(),
        "sweep with a closed stdout wrote no report"
    );
}

#[test]
fn a_job_failed_max_attempts_times_is_given_up_with_its_history() {
    // lr 1e30 diverges at epoch 1, every time.
    let spec = one_job()
        .replace("lr = [0.01]", "lr = [1e30]")
        .replace("batch_size = 32", "batch_size = 32\nmax_attempts = 2");
    let sb = Sandbox::new(&spec);
    for attempt in 1..=2 {
        let s = summary(&sb.sweep().code(1));
        assert_eq!(
            (s["failed"].as_u64(), s["gave_up"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(sb.runs().len(), attempt);
    }
    // Third sweep: no training, the last attempt records the history; and so on after.
    for _ in 0..2 {
        let out = sb.sweep().code(1);
        let s = summary(&out);
        assert_eq!(
            (s["failed"].as_u64(), s["gave_up"].as_u64()),
            (Some(1), Some(1))
        );
        let runs = sb.runs();
        assert_eq!(runs.len(), 2, "a given-up job is not run again");
        let reason = runs[1]["failure_reason"].as_str().unwrap();
        assert!(
            reason.starts_with("gave up after 2 attempts (max_attempts = 2)"),
            "{reason}"
        );
        assert!(
            reason.contains("1. failed: diverged at epoch 1")
                && reason.contains("2. failed: diverged"),
            "{reason}"
        );
        assert_eq!(runs[1]["status"], "failed");
    }
    // Raising the budget in the spec retries it.
    std::fs::write(
        sb.path("spec.toml"),
        spec.replace("max_attempts = 2", "max_attempts = 3"),
    )
    .unwrap();
    sb.sweep().code(1);
    assert_eq!(sb.runs().len(), 3);
}

#[test]
fn a_job_killed_max_attempts_times_is_not_restarted_forever() {
    // The loop: a run that dies with its process was marked killed and started again
    // by every rerun. With max_attempts = 1, the rerun after one kill gives up.
    let spec = one_job()
        .replace("epochs = 2", "epochs = 5000")
        .replace("batch_size = 32", "batch_size = 32\nmax_attempts = 1");
    let sb = Sandbox::new(&spec);
    let mut child = spawn(&sb, &["sweep", "spec.toml", "--quiet"]);
    wait_for_count(
        &sb.store(),
        "SELECT count(*) FROM metric_history WHERE key = 'val_loss'",
        1,
        60.0,
    );
    child.kill().unwrap();
    wait_exit(&mut child, 30.0);

    let out = sb.sweep().code(1);
    let s = summary(&out);
    assert_eq!(
        (s["reaped"].as_u64(), s["gave_up"].as_u64()),
        (Some(1), Some(1))
    );
    let runs = sb.runs();
    assert_eq!(runs.len(), 1, "the killed job was not started again");
    assert_eq!(runs[0]["status"], "failed");
    let reason = runs[0]["failure_reason"].as_str().unwrap();
    assert!(reason.starts_with("gave up after 1 attempt "), "{reason}");
    assert!(reason.contains("1. killed: process"), "{reason}");
}

#[test]
fn absurd_jobs_are_refused_and_the_pool_never_outnumbers_the_trials() {
    let sb = Sandbox::new(&one_job());
    let out = sb
        .cmd(&["sweep", "spec.toml", "--jobs", "100000"])
        .assert()
        .code(2);
    let stderr = stderr_of(out.get_output());
    assert!(
        stderr.contains("--jobs: 100000 is more than 256"),
        "{stderr}"
    );
    assert!(!sb.store().exists());
    // 200 workers asked, one trial: one worker thread.
    let mut child = spawn(&sb, &["sweep", "spec.toml", "--jobs", "200", "--quiet"]);
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        let threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
            .map(|d| d.count())
            .unwrap_or(0);
        most = most.max(threads);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = wait_exit(&mut child, 60.0);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(most < 10, "{most} threads for one trial");
}

/// Runs `aerocast ARGS --store S` as a user who may not write the store: uid `nobody` when the
/// tests run as root (where permissions do not bite), the store folder made read-only otherwise.
fn as_reader(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(BIN);
    cmd.current_dir("/")
        .env_remove("AEROCAST_STORE")
        .args(args)
        .arg("--store")
        .arg(sb.store());
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    cmd.output().unwrap()
}

#[test]
fn read_commands_work_on_a_store_they_may_not_write() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(&one_job());
    sb.sweep().success();
    let read_only = |mode| {
        for dir in [sb.dir.path(), &sb.store(), &sb.store().join("artifacts")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    read_only(0o555);
    let before = snapshot(&sb.store());
    let runs = as_reader(&sb, &["runs", "--json"]);
    let best = as_reader(&sb, &["report", "--best", "--json"]);
    let after = snapshot(&sb.store());
    // A sweep needs to write: refused with exit 2, naming the database.
    let sweep = as_reader(&sb, &["sweep", &sb.path("spec.toml").display().to_string()]);
    read_only(0o755);
    assert_eq!(runs.status.code(), Some(0), "{}", stderr_of(&runs));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(best.status.code(), Some(0), "{}", stderr_of(&best));
    assert!(before == after, "a read command changed the store");
    assert_eq!(sweep.status.code(), Some(2), "{}", stderr_of(&sweep));
    assert!(
        stderr_of(&sweep).contains("aerocast.db"),
        "{}",
        stderr_of(&sweep)
    );
}

#[test]
fn store_paths_are_never_invented() {
    let sb = Sandbox::new(&one_job());
    let deep = sb.path("nonexistent/deep/store");
    for args in [
        &["sweep", "spec.toml"][..],
        &["runs"],
        &["report", "--best"],
    ] {
        let out = Command::new(BIN)
            .current_dir(sb.dir.path())
            .env_remove("AEROCAST_STORE")
            .args(args)
            .arg("--store")
            .arg(&deep)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("nonexistent/deep/store"),
            "{}",
            stderr_of(&out)
        );
        assert!(
            !sb.path("nonexistent").exists(),
            "{args:?} created the path"
        );
    }
    let out = Command::new(BIN)
        .current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .args(["sweep", "spec.toml", "--store"])
        .arg(&deep)
        .output()
        .unwrap();
    assert!(
        stderr_of(&out).contains("does not exist"),
        "{}",
        stderr_of(&out)
    );

    // An empty AEROCAST_STORE is unset: the default ./aerocast-runs is used.
    let out = Command::new(BIN)
        .current_dir(sb.dir.path())
        .env("AEROCAST_STORE", "")
        .args(["sweep", "spec.toml", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(sb.path("aerocast-runs/aerocast.db").is_file());
}

#[test]
fn report_out_naming_a_file_is_refused_before_any_work() {
    let sb = Sandbox::new(&one_job());
    sb.sweep().success();
    std::fs::write(sb.path("taken"), "mine").unwrap();
    let before = snapshot(&sb.store());
    let out = sb.cmd(&["report", "--out", "taken"]).assert().code(2);
    let stderr = stderr_of(out.get_output());
    assert!(stderr.contains("--out: taken is a file"), "{stderr}");
    assert_eq!(std::fs::read(sb.path("taken")).unwrap(), b"mine");
    assert!(before == snapshot(&sb.store()));
}

#[test]
fn a_corrupt_store_exits_2_for_every_command() {
    let sb = Sandbox::new(&one_job());
    std::fs::create_dir_all(sb.store().join("artifacts")).unwrap();
    std::fs::write(sb.store().join("aerocast.db"), "this is not sqlite").unwrap();
    for args in [
        &["sweep", "spec.toml"][..],
        &["runs"],
        &["report", "--best"],
    ] {
        let out = sb.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("aerocast.db"),
            "{}",
            stderr_of(&out)
        );
    }
    assert_eq!(
        std::fs::read(sb.store().join("aerocast.db")).unwrap(),
        b"this is not sqlite"
    );
}

/// The sandbox's data with its rows in reverse order.
fn reverse_rows(sb: &Sandbox) {
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(sb.path("weather.csv"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn rows_out_of_time_order_are_refused_unless_sorted_on_request() {
    let sb = Sandbox::new(&one_job());
    reverse_rows(&sb);
    let out = sb.cmd(&["sweep", "spec.toml"]).assert().code(2);
    let stderr = stderr_of(out.get_output());
    assert!(stderr.contains("weather.csv:3:"), "{stderr}");
    assert!(stderr.contains("not in time order"), "{stderr}");
    assert!(!sb.store().exists());

    // Sorted on request, the reversed file trains exactly like the original.
    std::fs::write(
        sb.path("spec.toml"),
        one_job().replace("time = \"date\"", "time = \"date\"\nsort = true"),
    )
    .unwrap();
    let reversed = summary(&sb.sweep().success());
    let sb2 = Sandbox::new(&one_job());
    let original = summary(&sb2.sweep().success());
    assert_eq!(reversed["best"]["val_rmse"], original["best"]["val_rmse"]);
}

#[test]
fn dropped_rows_are_counted_and_recorded() {
    let sb = Sandbox::new(&one_job().replace("window = 7", "window = 7\nmissing = \"drop\""));
    // Blank the target in 5 rows spread over the file.
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = header.iter().position(|h| *h == "temp_max").unwrap();
    for row in [20, 60, 100, 150, 250] {
        let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
        cells[col].clear();
        lines[row] = cells.join(",");
    }
    std::fs::write(sb.path("weather.csv"), lines.join("\n") + "\n").unwrap();
    let out = sb.cmd(&["sweep", "spec.toml"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("data: 5 rows with missing values dropped"),
        "{stdout}"
    );
    let s = summary(&sb.sweep().success());
    assert_eq!(s["dropped_rows"], 5);
    assert_eq!(sb.runs()[0]["tags"]["aerocast.dropped_rows"], "5");
}

#[test]
fn a_wide_table_gets_a_warning() {
    let sb = Sandbox::new(&one_job());
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut csv = format!("Year,{}\n", months.join(","));
    for year in 1950..2000 {
        let cells: Vec<String> = (0..12)
            .map(|m| format!("{}", (year * 7 + m * 13) % 40))
            .collect();
        csv += &format!("{year},{}\n", cells.join(","));
    }
    std::fs::write(sb.path("wide.csv"), csv).unwrap();
    let spec = "[experiment]\nname = \"wide\"\n[data]\npath = \"wide.csv\"\ntarget = \"Jan\"\n\
                time = \"Year\"\nwindow = 3\n[train]\nepochs = 1\nhidden_dim = 2\nlr = 0.01\n";
    std::fs::write(sb.path("wide.toml"), spec).unwrap();
    let out = sb
        .cmd(&["sweep", "wide.toml", "--quiet"])
        .assert()
        .success();
    let stderr = stderr_of(out.get_output());
    assert!(
        stderr.contains("warning: wide.csv:1: the header has 12 month columns"),
        "{stderr}"
    );
    assert!(
        stderr.contains("reshape it to one row per month"),
        "{stderr}"
    );
}

#[test]
fn a_semicolon_file_reads_with_its_delimiter() {
    let sb = Sandbox::new(&one_job().replace("window = 7", "window = 7\ndelimiter = \";\""));
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    std::fs::write(sb.path("weather.csv"), text.replace(',', ";")).unwrap();
    let s = summary(&sb.sweep().success());
    let sb2 = Sandbox::new(&one_job());
    assert_eq!(
        s["best"]["val_rmse"],
        summary(&sb2.sweep().success())["best"]["val_rmse"]
    );
}

#[test]
fn early_stopping_ends_a_run_and_keep_picks_the_weights() {
    // lr 0.05 on 300 rows overfits fast: val_loss stalls well before 60 epochs.
    let spec = one_job()
        .replace("epochs = 2", "epochs = 60\npatience = 3")
        .replace("lr = [0.01]", "lr = [0.05]");
    let sb = Sandbox::new(&spec);
    sb.sweep().success();
    let run = &sb.runs()[0];
    let m = &run["metrics"];
    assert_eq!(run["status"], "finished");
    let trained = m["epochs_trained"].as_f64().unwrap();
    let best = m["best_epoch"].as_f64().unwrap();
    assert!(trained < 60.0, "early stopping never fired: {m}");
    assert_eq!(trained, best + 3.0, "stopped 3 epochs after the best: {m}");
    let reason = run["tags"]["aerocast.early_stopped"].as_str().unwrap();
    assert!(reason.contains("has not improved for 3 epochs"), "{reason}");
    // keep = "best" (the default): the final metrics are the best epoch's.
    assert_eq!(m["kept_epoch"], m["best_epoch"]);
    assert_eq!(m["val_loss"], m["best_val_loss"]);

    // keep = "last": the last epoch's weights and metrics.
    let sb = Sandbox::new(&spec.replace("patience = 3", "patience = 3\nkeep = \"last\""));
    sb.sweep().success();
    let run = &sb.runs()[0];
    let m = &run["metrics"];
    assert_eq!(m["kept_epoch"], m["epochs_trained"]);
    assert!(m["val_loss"].as_f64() > m["best_val_loss"].as_f64(), "{m}");
}

#[test]
fn tags_from_the_spec_and_the_command_line_show_in_runs_json() {
    let sb = Sandbox::new(&one_job().replace(
        "name = \"tiny\"",
        "name = \"tiny\"\ntags = { team = \"ops\", ticket = 12 }",
    ));
    sb.sweep().success();
    let run = &sb.runs()[0];
    assert_eq!(run["tags"]["team"], "ops");
    assert_eq!(run["tags"]["ticket"], "12");
    let id = run["run_id"].as_str().unwrap().to_string();

    sb.cmd(&["runs", "tag", &id[..8], "reviewed=yes"])
        .assert()
        .success();
    sb.cmd(&[
        "runs",
        "note",
        &id[..8],
        "dips in March; check the wind sensor",
    ])
    .assert()
    .success();
    let run = &sb.runs()[0];
    assert_eq!(run["tags"]["reviewed"], "yes");
    assert_eq!(
        run["tags"]["aerocast.note"],
        "dips in March; check the wind sensor"
    );

    let before = snapshot(&sb.store());
    let refused: [(&[&str], &str); 4] = [
        (
            &["runs", "tag", "zzzz", "k=v"],
            "no run id starts with \"zzzz\"",
        ),
        (&["runs", "tag", &id[..8], "novalue"], "is not key=value"),
        (
            &["runs", "tag", &id[..8], "aerocast.study=x"],
            "aerocast's own",
        ),
        (&["runs", "tag", "", "k=v"], "no run id starts with"),
    ];
    for (args, needle) in refused {
        let out = sb.cmd(args).assert().code(2);
        let stderr = stderr_of(out.get_output());
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(
        before == snapshot(&sb.store()),
        "a refused tag changed the store"
    );
}

#[test]
fn a_single_run_sweep_reads_well() {
    let sb = Sandbox::new(&one_job().replace("seed = [0]\n", "").replace(
        "[grid]\nhidden_dim = [4]\nlr = [0.01]",
        "hidden_dim = 4\nlr = 0.01",
    ));
    let out = sb.cmd(&["sweep", "spec.toml"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = stderr_of(out.get_output());
    assert!(stdout.contains(": 1 trial — 1 finished"), "{stdout}");
    assert!(stderr.contains(" (nothing swept)"), "{stderr}");
    assert!(stderr.contains("sweep: 1 job, 1 to run"), "{stderr}");
}

#[test]
fn no_window_reaches_across_dropped_rows_and_every_run_scores_the_same_rows() {
    // Rows dropped near the split would let short windows score rows long ones cannot.
    let spec = spec_text("[0.01]")
        .replace("seed = [0, 1]", "seed = [0]")
        .replace("hidden_dim = [4, 8]", "hidden_dim = [4]")
        .replace("window = 7\n", "missing = \"drop\"\n")
        .replace("[grid]", "[grid]\nwindow = [3, 9]");
    let sb = Sandbox::new(&spec);
    let text = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[250].split(',').map(String::from).collect();
    cells[2].clear();
    lines[250] = cells.join(",");
    std::fs::write(sb.path("weather.csv"), lines.join("\n") + "\n").unwrap();
    sb.sweep().success();
    let naive: Vec<f64> = sb
        .runs()
        .iter()
        .map(|r| r["metrics"]["naive_val_rmse"].as_f64().unwrap())
        .collect();
    assert_eq!(naive.len(), 2);
    assert_eq!(
        naive[0], naive[1],
        "both windows are scored on the same rows"
    );

    // Recomputed here: the kept rows, the gap after kept row 249, the 80% split, and the
    // validation rows whose 10-row reach (window 9 + horizon 1) stays clear of the gap.
    let temp_max: Vec<f32> = lines[1..]
        .iter()
        .filter_map(|l| l.split(',').nth(2).filter(|c| !c.is_empty()))
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(temp_max.len(), 299);
    let (split, gap, reach) = (239, 249, 10);
    let scored: Vec<usize> = (split..temp_max.len())
        .filter(|&t| !(t + 1 - reach < gap && gap <= t))
        .collect();
    assert_eq!(scored.len(), 60 - 9);
    let se: f64 = scored
        .iter()
        .map(|&t| (temp_max[t - 1] as f64 - temp_max[t] as f64).powi(2))
        .sum();
    let expected = (se / scored.len() as f64).sqrt();
    assert!(
        (naive[0] - expected).abs() < 1e-9,
        "naive_val_rmse {} is not the gap-free {expected}",
        naive[0]
    );
}

#[test]
fn an_older_store_is_upgraded_once_by_whoever_may_write_it() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(&one_job());
    sb.sweep().success();
    let version = || -> i64 {
        common::db(&sb.store())
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    let current = version();
    assert!(current >= 4, "{current}");
    // The store as the schema before the retry budget (migration 3, and those after it)
    // left it.
    common::db(&sb.store())
        .execute_batch("DROP INDEX runs_by_job; PRAGMA user_version = 2;")
        .unwrap();
    let set_mode = |mode| {
        for dir in [sb.dir.path(), &sb.store(), &sb.store().join("artifacts")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    // A reader who may not write it cannot upgrade it: told so, exit 2, nothing changed.
    set_mode(0o555);
    let before = snapshot(&sb.store());
    let out = as_reader(&sb, &["runs"]);
    let after = snapshot(&sb.store());
    set_mode(0o755);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("older than this aerocast"), "{stderr}");
    assert!(before == after);
    // Its owner's first command upgrades it.
    assert_eq!(sb.runs().len(), 1);
    assert_eq!(version(), current);
    let index: i64 = common::db(&sb.store())
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'runs_by_job'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
}

#[test]
fn a_run_too_big_for_the_memory_limit_is_refused_before_it_starts() {
    // hidden 4096 x 2 layers: each knob within its cap, together about 6.8 GiB of weights,
    // gradients and Adam state; under a 4 GiB address-space limit a run may use 2 GiB.
    let spec = one_job()
        .replace("hidden_dim = [4]", "hidden_dim = [4096]")
        .replace("batch_size = 32", "batch_size = 32\nnum_layers = 2");
    let sb = Sandbox::new(&spec);
    let out = Command::new("bash")
        .current_dir(sb.dir.path())
        .env_remove("AEROCAST_STORE")
        .arg("-c")
        .arg(format!(
            "ulimit -v 4194304; exec '{BIN}' sweep spec.toml --store store"
        ))
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("spec.toml:18: [grid.hidden_dim]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("would need about 6.8 GiB of memory"),
        "{stderr}"
    );
    assert!(stderr.contains("a run may use 2.0 GiB here"), "{stderr}");
    assert!(!sb.store().exists());
}
