//! The models a server answers for, and their hot swap: a background thread polls the store
//! and, when an alias (or "latest") points at another version, loads it off the request path
//! and swaps it in. Requests hold an `Arc` to the version they started with, so a swap never
//! changes a request in flight.

use super::batch::{self, Job};
use crate::forecast::{self, Forecaster};
use crate::store::{ModelRef, ModelVersion, Store};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One served version of a model.
pub struct Served {
    pub reference: ModelRef,
    pub version: ModelVersion,
    pub forecaster: Arc<Forecaster>,
    /// The queue of this version's inference thread (see `batch`).
    pub batcher: Sender<Job>,
}

impl Served {
    pub fn load(store: &Store, reference: &ModelRef) -> Result<Served> {
        let version = store.resolve_model(reference)?;
        let run = forecast::load_model(store, &version.run_id)
            .with_context(|| format!("loading {reference} (version {})", version.version))?;
        let forecaster = Arc::new(Forecaster::new(run));
        let batcher = batch::start(forecaster.clone()).context("starting an inference thread")?;
        Ok(Served {
            reference: reference.clone(),
            version,
            forecaster,
            batcher,
        })
    }
}

/// Name → the version served now.
#[derive(Default)]
pub struct Models {
    by_name: RwLock<BTreeMap<String, Arc<Served>>>,
}

impl Models {
    pub fn new(served: Vec<Served>) -> Models {
        let by_name = served
            .into_iter()
            .map(|s| (s.reference.name().to_string(), Arc::new(s)))
            .collect();
        Models {
            by_name: RwLock::new(by_name),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Served>> {
        self.read().get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Served>> {
        self.read().values().cloned().collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Served>>> {
        // The map is only ever replaced whole, so a poisoned lock still holds a valid map.
        self.by_name.read().unwrap_or_else(|p| p.into_inner())
    }

    fn swap(&self, served: Served) {
        let mut map = self.by_name.write().unwrap_or_else(|p| p.into_inner());
        map.insert(served.reference.name().to_string(), Arc::new(served));
    }

    /// Asks the store where each reference points now and loads what moved. A failure (a
    /// locked store, a missing file) keeps the version being served and is logged.
    pub fn refresh(&self, store: &Store) {
        for current in self.all() {
            let moved = match store.resolve_model(&current.reference) {
                Ok(v) => v.version != current.version.version || v.run_id != current.version.run_id,
                Err(e) => {
                    eprintln!("serve: cannot resolve {}: {e:#}", current.reference);
                    continue;
                }
            };
            if !moved {
                continue;
            }
            match Served::load(store, &current.reference) {
                Ok(next) => {
                    eprintln!(
                        "serve: {} now serves version {} (run {}), was version {}",
                        current.reference,
                        next.version.version,
                        &next.version.run_id[..8],
                        current.version.version
                    );
                    self.swap(next);
                }
                Err(e) => eprintln!("serve: cannot load {}: {e:#}", current.reference),
            }
        }
    }
}

/// Refreshes `models` from the store every `every` until `stop` is set.
pub fn poll(models: Arc<Models>, store: Store, every: Duration, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(every);
        models.refresh(&store);
    }
}
