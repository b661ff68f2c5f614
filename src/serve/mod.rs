//! `aerocast serve`: an HTTP server (axum on tokio) answering forecasts from registered
//! models. The async workers parse and check requests; each served version has one
//! inference thread that forecasts every waiting window in one forward pass of the detached
//! model (`batch`). Aliases are followed by polling the store; SIGTERM and SIGINT stop
//! accepting, let requests in flight finish, and exit 0.

mod api;
mod batch;
mod models;
mod request;

pub use api::MAX_BODY_BYTES;

use crate::error::InputError;
use crate::store::{ModelRef, Store};
use anyhow::{Context, Result};
use models::{Models, Served};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct ServeOptions {
    pub models: Vec<ModelRef>,
    pub addr: SocketAddr,
    /// The store the models are registered in; polled for alias moves.
    pub store: Store,
    /// How often the store is asked where aliases point.
    pub poll: Duration,
}

pub fn run(opts: ServeOptions) -> Result<()> {
    let store = opts.store;
    let mut names = HashSet::new();
    let mut served = Vec::new();
    for r in &opts.models {
        if !names.insert(r.name().to_string()) {
            return Err(InputError::usage(
                "--model",
                format!(
                    "model {:?} is given twice; serve one reference per name",
                    r.name()
                ),
            )
            .into());
        }
        served.push(Served::load(&store, r)?);
    }
    let models = Arc::new(Models::new(served));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (models, stop, every) = (models.clone(), stop.clone(), opts.poll);
        std::thread::Builder::new()
            .name("registry-poll".into())
            .spawn(move || models::poll(models, store, every, stop))?
    };
    let result = runtime.block_on(serve(models.clone(), opts.addr));
    stop.store(true, Ordering::Relaxed);
    // The poller sleeps between polls; it holds nothing that needs closing, so don't wait.
    drop(poller);
    result
}

async fn serve(models: Arc<Models>, addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| InputError::usage("--addr", format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    for s in models.all() {
        println!(
            "serving {} version {} (run {}) as /v1/models/{}/predict",
            s.reference,
            s.version.version,
            &s.version.run_id[..8],
            s.version.name
        );
    }
    // Tests and scripts read the port from this line (with --addr 127.0.0.1:0).
    println!("listening on http://{local}");
    use std::io::Write;
    std::io::stdout().flush().ok();
    axum::serve(listener, api::router(models))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    eprintln!("serve: stopped; requests in flight were answered");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => eprintln!("serve: SIGTERM, draining"),
        _ = int.recv() => eprintln!("serve: SIGINT, draining"),
    }
}
