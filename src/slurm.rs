//! `aerocast slurm`: a sweep as a Slurm job array. Every array task runs the same
//! `aerocast sweep SPEC --store URL`; the store's atomic claims share the jobs out, so the
//! script needs no task-to-job mapping, and a resubmission finishes exactly what is missing.

use crate::error::InputError;
use crate::spec::Spec;
use crate::store::Location;
use std::path::{Path, PathBuf};

pub struct SlurmJob<'a> {
    pub spec: &'a Spec,
    pub store: &'a Location,
    pub workers: usize,
    pub cpus_per_task: usize,
    pub time: Option<&'a str>,
    pub partition: Option<&'a str>,
    /// Allow a folder (SQLite) store with several workers: they must share one host.
    pub single_node: bool,
    /// The aerocast binary the tasks run.
    pub exe: &'a Path,
}

/// Checks the request; a folder store with several workers is refused unless they share a
/// node, since SQLite's WAL needs every process on one host and is unsafe over NFS.
pub fn check(job: &SlurmJob) -> Result<(), InputError> {
    if job.workers == 0 {
        return Err(InputError::usage("--workers", "must be at least 1"));
    }
    if job.cpus_per_task == 0 {
        return Err(InputError::usage("--cpus-per-task", "must be at least 1"));
    }
    if let Some(t) = job.time
        && !valid_time(t)
    {
        return Err(InputError::usage(
            "--time",
            format!("{t:?} is not a Slurm time limit such as 01:30:00 or 2-00:00:00"),
        ));
    }
    if matches!(job.store, Location::Folder(_)) && job.workers > 1 && !job.single_node {
        return Err(InputError::usage(
            "--workers",
            format!(
                "{} workers cannot share a SQLite store ({}): SQLite needs every process on one host and is unsafe over network file systems. Use a PostgreSQL store (--store postgres://user:password@host:port/db), or pass --single-node to pin the array to one node",
                job.workers, job.store
            ),
        ));
    }
    Ok(())
}

/// `[D-]HH:MM:SS`, `MM:SS` or minutes, as sbatch takes them.
fn valid_time(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    days.is_none_or(digits)
        && (1..=3).contains(&rest.split(':').count())
        && rest.split(':').all(digits)
}

/// The sbatch script. A store URL with a password is not written into the file: the tasks
/// read it from `AEROCAST_STORE`, which sbatch passes on from the submitting shell.
pub fn script(job: &SlurmJob) -> String {
    let name = format!("aerocast-{}", crate::export::slug(&job.spec.experiment));
    let mut s = String::from("#!/bin/bash\n");
    s += &format!("#SBATCH --job-name={name}\n");
    s += &format!("#SBATCH --array=0-{}\n", job.workers - 1);
    s += &format!("#SBATCH --cpus-per-task={}\n", job.cpus_per_task);
    s += "#SBATCH --output=aerocast-%A_%a.out\n";
    if let Some(t) = job.time {
        s += &format!("#SBATCH --time={t}\n");
    }
    if let Some(p) = job.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    if job.single_node && job.workers > 1 {
        // All tasks on the node of the first: a SQLite store's processes must share a host.
        s += "#SBATCH --nodes=1\n";
    }
    s += "# Every task runs the same sweep; the store's atomic claims share the jobs out.\n";
    s += "# Slurm's time-limit SIGTERM stops a task at its epoch end (exit 143); resubmit\n";
    s += "# this script to finish exactly what is missing.\n";
    s += "set -euo pipefail\n";
    match store_in_script(job.store) {
        Some(store) => s += &format!("export AEROCAST_STORE={}\n", quote(&store)),
        None => {
            s += "if [ -z \"${AEROCAST_STORE:-}\" ]; then\n";
            s += &format!(
                "  echo 'set AEROCAST_STORE to the store URL ({}) before sbatch' >&2; exit 2\nfi\n",
                job.store
            );
        }
    }
    s += &format!(
        "exec {} sweep {} --store \"$AEROCAST_STORE\" --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\" --quiet\n",
        quote(&job.exe.display().to_string()),
        quote(&absolute(&job.spec.path).display().to_string())
    );
    s
}

/// What the script may hold: a folder made absolute, or a URL without a password.
fn store_in_script(store: &Location) -> Option<String> {
    match store {
        Location::Folder(p) => Some(absolute(p).display().to_string()),
        Location::Postgres(url) => (url.to_string() == url.secret()).then(|| url.to_string()),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Single-quotes `s` for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n").unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "[experiment]\nname = \"e x\"\n[data]\npath = \"d.csv\"\ntarget = \"x\"\nwindow = 2\n[train]\nepochs = 1\nhidden_dim = 2\nlr = 0.1\n",
        )
        .unwrap();
        let spec = Spec::load(&path).unwrap();
        std::mem::forget(dir);
        spec
    }

    #[test]
    fn scripts_keep_passwords_out_and_refuse_shared_sqlite() {
        let spec = spec();
        // A password with a '-', which no temporary folder's random name (in the script's
        // spec path) can contain by chance.
        let url = Location::parse("s", "postgres://u:pw-1@h:5/d").unwrap();
        let mut job = SlurmJob {
            spec: &spec,
            store: &url,
            workers: 4,
            cpus_per_task: 2,
            time: Some("01:00:00"),
            partition: Some("debug"),
            single_node: false,
            exe: Path::new("/bin/aerocast"),
        };
        check(&job).unwrap();
        let s = script(&job);
        assert!(s.contains("#SBATCH --array=0-3\n"), "{s}");
        assert!(
            s.contains("#SBATCH --cpus-per-task=2\n#SBATCH --output"),
            "{s}"
        );
        assert!(s.contains("--time=01:00:00") && s.contains("--partition=debug"));
        assert!(!s.contains("pw-1"), "{s}");
        assert!(s.contains("sweep '") && s.contains("--jobs \"${SLURM_CPUS_PER_TASK:-1}\""));

        let folder = Location::parse("s", "runs").unwrap();
        job.store = &folder;
        let e = check(&job).unwrap_err();
        assert!(e.message.contains("--single-node"), "{e}");
        job.single_node = true;
        check(&job).unwrap();
        assert!(script(&job).contains("#SBATCH --nodes=1"));
        job.time = Some("1h");
        assert!(check(&job).is_err());
    }
}
