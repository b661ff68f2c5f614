//! The bad-input corpus (tests/bad_inputs/MANIFEST): every bad spec or CSV exits 2 with a
//! message naming the file and the line, key or row, and leaves an existing store byte for byte
//! unchanged. Plus the store-side cases: a newer schema, an unreadable folder, a path that is a
//! file, and a data file with one enormous line.

mod common;

use common::snapshot;
use std::path::{Path, PathBuf};
use std::process::Command;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad_inputs");

/// The spec a CSV case runs with.
fn csv_spec(csv: &str) -> String {
    format!(
        "[experiment]\nname = \"bad\"\n\n[data]\npath = \"{csv}\"\ntarget = \"y\"\n\
         features = [\"x\", \"y\"]\ntime = \"t\"\nwindow = 2\ntrain_fraction = 0.5\n\n\
         [train]\nepochs = 1\nhidden_dim = 2\nlr = 0.1\n"
    )
}

/// A copy of the corpus in a temp folder, with a store made by one real (tiny) sweep.
struct Corpus {
    dir: tempfile::TempDir,
}

impl Corpus {
    fn new() -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(CORPUS).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
        let c = Corpus { dir };
        std::fs::write(c.path("ok.toml"), csv_spec("good.csv")).unwrap();
        let out = c.run(&["sweep", "ok.toml", "--quiet"], &c.store());
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        c
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    fn run(&self, args: &[&str], store: &Path) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_aerocast"))
            .current_dir(self.dir.path())
            .env_remove("AEROCAST_STORE")
            .args(args)
            .arg("--store")
            .arg(store)
            .output()
            .unwrap()
    }

    /// Runs a sweep that must be refused: exit 2, every needle in stderr, store unchanged.
    fn refused(&self, case: &str, spec: &str, store: &Path, needles: &[&str]) -> String {
        let before = snapshot(store);
        let out = self.run(&["sweep", spec, "--quiet"], store);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{case}: expected {n:?} in {stderr:?}");
        }
        assert!(
            stderr.lines().count() <= 3,
            "{case}: a short message, got {stderr:?}"
        );
        assert!(before == snapshot(store), "{case}: the store changed");
        stderr
    }
}

fn manifest() -> Vec<(String, Vec<String>)> {
    std::fs::read_to_string(Path::new(CORPUS).join("MANIFEST"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split(" | ").map(str::to_string);
            let file = parts.next().unwrap();
            (file, parts.collect())
        })
        .collect()
}

#[test]
fn every_bad_input_in_the_corpus_exits_2_located_and_leaves_the_store_unchanged() {
    let corpus = Corpus::new();
    let cases = manifest();
    assert!(
        cases.len() >= 50,
        "the corpus shrank: {} cases",
        cases.len()
    );
    // Every file in the corpus is a case (or the shared good data).
    for entry in std::fs::read_dir(CORPUS).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name != "MANIFEST" && name != "good.csv" {
            assert!(
                cases.iter().any(|(f, _)| *f == name),
                "{name} is not in the MANIFEST"
            );
        }
    }
    let mut failures = Vec::new();
    for (file, needles) in &cases {
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        let spec = if file.ends_with(".csv") {
            let spec = format!("{file}.toml");
            std::fs::write(corpus.path(&spec), csv_spec(file)).unwrap();
            spec
        } else {
            file.clone()
        };
        let result = std::panic::catch_unwind(|| {
            corpus.refused(file, &spec, &corpus.store(), &needles);
        });
        if let Err(e) = result {
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| file.clone()),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{} bad inputs refused", cases.len());
}

#[test]
fn store_problems_exit_2_and_change_nothing() {
    let corpus = Corpus::new();

    // A store from a newer aerocast: refused by sweep, runs and report alike.
    let newer = corpus.path("newer");
    std::fs::create_dir_all(newer.join("artifacts")).unwrap();
    std::fs::copy(
        corpus.store().join("aerocast.db"),
        newer.join("aerocast.db"),
    )
    .unwrap();
    {
        let conn = rusqlite::Connection::open(newer.join("aerocast.db")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    corpus.refused(
        "newer schema",
        "ok.toml",
        &newer,
        &["aerocast.db", "schema version 99", "upgrade aerocast"],
    );
    for args in [&["runs", "--json"][..], &["report", "--best"][..]] {
        let before = snapshot(&newer);
        let out = corpus.run(args, &newer);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("schema version 99"));
        assert!(before == snapshot(&newer), "{args:?} changed the store");
    }

    // The store path is a file.
    let file = corpus.path("store-file");
    std::fs::write(&file, "not a folder").unwrap();
    corpus.refused(
        "store is a file",
        "ok.toml",
        &file,
        &["store-file", "is a file"],
    );
    let out = corpus.run(&["runs"], &file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");

    // A store folder that cannot be created (its parent is a file): the same refusal a
    // permission error gets.
    let under_file = file.join("store");
    corpus.refused(
        "store under a file",
        "ok.toml",
        &under_file,
        &["store-file/store", "cannot create the store folder"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");

    // The store's database is not a database.
    let junk = corpus.path("junk");
    std::fs::create_dir_all(junk.join("artifacts")).unwrap();
    std::fs::write(junk.join("aerocast.db"), "this is not sqlite").unwrap();
    corpus.refused(
        "db is junk",
        "ok.toml",
        &junk,
        &["aerocast.db", "not a database"],
    );

    // An unreadable store folder. Root ignores permissions, so there it proves nothing.
    if unsafe { libc::geteuid() } == 0 {
        println!(
            "note: running as root, where chmod 000 does not bite: unreadable-store case skipped"
        );
    } else {
        use std::os::unix::fs::PermissionsExt;
        let locked = corpus.path("locked");
        std::fs::create_dir_all(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = corpus.run(&["sweep", "ok.toml", "--quiet"], &locked);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("locked"), "{stderr}");
        assert!(std::fs::read_dir(&locked).unwrap().next().is_none());
    }
}

#[test]
fn a_data_file_with_one_enormous_line_is_refused_quickly_and_briefly() {
    let corpus = Corpus::new();
    // 200 MB in one line: past the loader's 1 MiB line limit, so it stops before parsing.
    let path = corpus.path("enormous.csv");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"t,x,y\n2024-01-01,1,").unwrap();
        let chunk = vec![b'9'; 1 << 20];
        for _ in 0..200 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n").unwrap();
    }
    std::fs::write(corpus.path("enormous.toml"), csv_spec("enormous.csv")).unwrap();
    let started = std::time::Instant::now();
    let stderr = corpus.refused(
        "enormous line",
        "enormous.toml",
        &corpus.store(),
        &[
            "enormous.csv:2:",
            "line 2 is 209715213 bytes long",
            "at most 1024 KiB",
        ],
    );
    assert!(stderr.len() < 400, "{stderr}");
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_spec_path_that_is_not_a_spec_file_is_refused() {
    let corpus = Corpus::new();
    std::fs::create_dir_all(corpus.path("a-folder.toml")).unwrap();
    std::fs::write(corpus.path("huge.toml"), vec![b'#'; 2 << 20]).unwrap();
    let cases: [(&str, &[&str]); 4] = [
        ("nope.toml", &["nope.toml", "No such file"]),
        ("a-folder.toml", &["a-folder.toml", "not a regular file"]),
        ("/dev/zero", &["/dev/zero", "not a regular file"]),
        ("huge.toml", &["huge.toml", "too large for a sweep spec"]),
    ];
    for (spec, needles) in cases {
        corpus.refused(spec, spec, &corpus.store(), needles);
    }
}
