//! `aerocast slurm`: its flags and the handler that writes (and submits) the job array.

use super::{EXIT_OK, StoreArg};
use crate::error::InputError;
use crate::export;
use crate::slurm;
use crate::spec::Spec;
use crate::store::Location;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SlurmArgs {
    /// The sweep spec (TOML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Array tasks, each running `aerocast sweep` on the same store.
    #[arg(long)]
    pub workers: usize,
    /// CPUs per task; each task trains this many runs at once.
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// Time limit per task (sbatch --time), e.g. 01:30:00.
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Allow a SQLite (folder) store with several workers by keeping every task on one node.
    #[arg(long)]
    pub single_node: bool,
    /// Where to write the script [default: ./aerocast-<experiment>.sbatch]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run sbatch on the script and print the job id.
    #[arg(long)]
    pub submit: bool,
}

pub(super) fn slurm_cmd(args: SlurmArgs) -> Result<ExitCode> {
    let spec = Spec::load(&args.spec)?;
    let store = args.store.location(spec.store.as_deref())?;
    let exe = std::env::current_exe()?;
    let job = slurm::SlurmJob {
        spec: &spec,
        store: &store,
        workers: args.workers,
        cpus_per_task: args.cpus_per_task,
        time: args.time.as_deref(),
        partition: args.partition.as_deref(),
        single_node: args.single_node,
        exe: &exe,
    };
    slurm::check(&job)?;
    let path = args.out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "aerocast-{}.sbatch",
            export::slug(&spec.experiment)
        ))
    });
    std::fs::write(&path, slurm::script(&job))
        .map_err(|e| InputError::usage("--out", format!("cannot write {}: {e}", path.display())))?;
    println!("{}", path.display());
    if args.submit {
        let mut sbatch = std::process::Command::new("sbatch");
        sbatch.arg("--parsable").arg(&path);
        if let Location::Postgres(url) = &store {
            // The script does not hold the password: the tasks get the URL from here.
            sbatch.env("AEROCAST_STORE", url.secret());
        }
        let out = sbatch
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run sbatch: {e}"))?;
        if !out.status.success() {
            anyhow::bail!(
                "sbatch failed: {}",
                store.redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        let id = String::from_utf8_lossy(&out.stdout);
        println!(
            "submitted job {}",
            id.trim().split(';').next().unwrap_or("")
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}
