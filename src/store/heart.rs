//! Heartbeats of this process's running runs. A timer thread refreshes them every
//! [`HEARTBEAT_EVERY`], so a run whose epoch takes longer than the staleness limit is never
//! reaped while alive; epoch writes carry a heartbeat too when one is due, which keeps most
//! epoch transactions from touching the run's row.

use super::backend::Backend;
use super::liveness::HEARTBEAT_EVERY;
use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Heart {
    backend: Arc<dyn Backend>,
    /// Running runs of this process → time of their last heartbeat.
    live: Arc<Mutex<HashMap<String, f64>>>,
    timer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Heart {
    pub fn new(backend: Arc<dyn Backend>) -> Heart {
        Heart {
            backend,
            live: Arc::default(),
            timer: Mutex::new(None),
        }
    }

    pub fn started(&self, run_id: &str, at: f64) {
        lock(&self.live).insert(run_id.to_string(), at);
        let mut timer = lock(&self.timer);
        if timer.is_none() {
            let (tx, rx) = mpsc::channel::<()>();
            let (backend, live) = (self.backend.clone(), self.live.clone());
            let handle = std::thread::Builder::new()
                .name("aerocast-heartbeat".into())
                .spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(HEARTBEAT_EVERY) {
                        beat(backend.as_ref(), &live);
                    }
                })
                .expect("spawning the heartbeat thread");
            *timer = Some((tx, handle));
        }
    }

    /// The time to write as `run_id`'s heartbeat with its epochs, if one is due.
    pub fn due(&self, run_id: &str) -> Option<f64> {
        let now = super::now();
        let mut live = lock(&self.live);
        let last = live.get_mut(run_id)?;
        (now - *last >= HEARTBEAT_EVERY.as_secs_f64()).then(|| {
            *last = now;
            now
        })
    }

    pub fn ended(&self, run_id: &str) {
        lock(&self.live).remove(run_id);
    }
}

impl Drop for Heart {
    fn drop(&mut self) {
        if let Some((tx, handle)) = lock(&self.timer).take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

fn beat(backend: &dyn Backend, live: &Mutex<HashMap<String, f64>>) {
    let now = super::now();
    let ids: Vec<String> = {
        let mut live = lock(live);
        live.values_mut().for_each(|t| *t = now);
        live.keys().cloned().collect()
    };
    if !ids.is_empty() {
        // A failed refresh is retried at the next tick; the run itself reports store errors.
        let _ = backend.heartbeat(&ids, now);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
