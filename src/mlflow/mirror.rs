//! The live mirror: a sweep hands each run that ends to a background thread, which exports it.
//! The hand-off never blocks: the queue is bounded and a run that does not fit is left for the
//! next `aerocast export mlflow`. A slow or unreachable server costs the sweep nothing but the
//! short grace it gives the mirror at the end; what was not sent is counted in the summary.

use super::client::{ApiError, Client, Timeouts};
use super::export::{Experiments, Scope, export_runs};
use super::tracking::Tracking;
use crate::store::{Location, Store};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Ended runs waiting to be sent; more than a sweep ends while one run is being exported.
const QUEUE: usize = 256;
/// How long the end of a sweep waits for the mirror to send what is queued.
pub const GRACE: Duration = Duration::from_secs(3);
/// Short timeouts: a stalled server should make the mirror give up, not wait.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    request: Duration::from_secs(20),
};

/// What the mirror did during a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorReport {
    pub tracking_uri: String,
    /// Runs that ended during the sweep.
    pub runs: usize,
    /// Of those, complete in MLflow.
    pub sent: usize,
    /// Left for the next `aerocast export mlflow`.
    pub not_sent: usize,
    /// The first reason a run was not sent.
    pub error: Option<String>,
}

impl std::fmt::Display for MirrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mlflow: {} of {} ended run(s) mirrored to {}",
            self.sent, self.runs, self.tracking_uri
        )?;
        if self.not_sent > 0 {
            write!(
                f,
                "; {} not sent ({}); `aerocast export mlflow --tracking-uri {}` sends them",
                self.not_sent,
                self.error.as_deref().unwrap_or("unknown reason"),
                self.tracking_uri
            )?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Counts {
    queued: AtomicUsize,
    sent: AtomicUsize,
    error: Mutex<Option<String>>,
}

impl Counts {
    fn note_error(&self, e: String) {
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    }
}

pub struct Mirror {
    queue: SyncSender<String>,
    counts: Arc<Counts>,
    // In a mutex only because sweep workers share the mirror, and a receiver is not `Sync`.
    done: Mutex<Receiver<()>>,
    uri: String,
}

impl Mirror {
    /// Starts the mirror thread for the store at `store`.
    pub fn start(tracking: Tracking, store: Location) -> std::io::Result<Mirror> {
        let (queue, runs) = sync_channel::<String>(QUEUE);
        let (done_tx, done) = channel();
        let counts = Arc::new(Counts::default());
        let uri = tracking.display().to_string();
        let thread_counts = counts.clone();
        std::thread::Builder::new()
            .name("aerocast-mlflow".into())
            .spawn(move || {
                work(tracking, &store, runs, &thread_counts);
                let _ = done_tx.send(());
            })?;
        Ok(Mirror {
            queue,
            counts,
            done: Mutex::new(done),
            uri,
        })
    }

    /// Queues a run that has just ended; never waits.
    pub fn run_ended(&self, run_id: &str) {
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(run_id.to_string()).is_err() {
            self.counts
                .note_error("the mirror's queue was full".to_string());
        }
    }

    /// Stops taking runs, waits up to `grace` for the queued ones, and says what was sent.
    pub fn finish(self, grace: Duration) -> MirrorReport {
        drop(self.queue);
        let done = self.done.into_inner().unwrap_or_else(|p| p.into_inner());
        if done.recv_timeout(grace).is_err() {
            self.counts.note_error(format!(
                "still sending after the sweep's {}s grace",
                grace.as_secs()
            ));
        }
        let runs = self.counts.queued.load(Ordering::Relaxed);
        let sent = self.counts.sent.load(Ordering::Relaxed);
        MirrorReport {
            tracking_uri: self.uri,
            runs,
            sent,
            not_sent: runs - sent,
            error: self
                .counts
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Exports each queued run. After an error no later request can survive (server gone,
/// credentials refused), the rest of the queue is only drained.
fn work(tracking: Tracking, at: &Location, runs: Receiver<String>, counts: &Counts) {
    let client = Client::new(tracking, TIMEOUTS);
    let experiments = Experiments::default();
    let store = match Store::open_read_only(at) {
        Ok(s) => s,
        Err(e) => {
            counts.note_error(format!("{e:#}"));
            return;
        }
    };
    let mut broken = false;
    for run_id in runs {
        if broken {
            continue;
        }
        match export_one(&client, &experiments, &store, &run_id) {
            Ok(()) => {
                counts.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err((message, fatal)) => {
                counts.note_error(message);
                broken = fatal;
            }
        }
    }
}

/// Exports one run; on failure, the message and whether to stop trying.
fn export_one(
    client: &Client,
    experiments: &Experiments,
    store: &Store,
    run_id: &str,
) -> Result<(), (String, bool)> {
    let run = match store.run(run_id) {
        Ok(Some(r)) => r,
        Ok(None) => return Err((format!("run {run_id} is not in the store"), false)),
        Err(e) => return Err((format!("{e:#}"), false)),
    };
    match export_runs(client, experiments, store, &[run], Scope::Run(run_id)) {
        Ok(report) if report.running > 0 => {
            Err((format!("run {run_id} is still recorded as running"), false))
        }
        Ok(report) if report.complete() => Ok(()),
        Ok(report) => {
            let message = report
                .aborted
                .clone()
                .or_else(|| report.failed.first().map(|f| f.error.clone()))
                .unwrap_or_else(|| "not exported".to_string());
            Err((message, report.aborted.is_some()))
        }
        Err(e) => {
            let fatal = e.downcast_ref::<ApiError>().is_some_and(ApiError::is_fatal);
            Err((format!("{e:#}"), fatal))
        }
    }
}
