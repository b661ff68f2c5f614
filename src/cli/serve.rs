//! `aerocast serve`: its flags and the handler that starts the HTTP server.

use super::{EXIT_OK, StoreAt};
use crate::error::InputError;
use crate::serve;
use crate::store::ModelRef;
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    /// A registered model to serve: NAME (latest version) or NAME@ALIAS, followed as it
    /// moves; NAME/VERSION pins one version. Repeatable, one per name.
    #[arg(long, required = true)]
    pub model: Vec<String>,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Seconds between asking the store where aliases point.
    #[arg(long, default_value_t = 1.0)]
    pub poll: f64,
    #[command(flatten)]
    pub store: StoreAt,
}

pub(super) fn serve_cmd(args: ServeArgs) -> Result<ExitCode> {
    let models = args
        .model
        .iter()
        .map(|m| ModelRef::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.poll.is_finite() && args.poll > 0.0) {
        return Err(InputError::usage("--poll", "must be a positive number of seconds").into());
    }
    let store = args.store.open()?;
    serve::run(serve::ServeOptions {
        models,
        addr: args.addr,
        store,
        poll: std::time::Duration::from_secs_f64(args.poll),
    })?;
    Ok(ExitCode::from(EXIT_OK))
}
