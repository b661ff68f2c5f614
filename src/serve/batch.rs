//! Dynamic batching of forecasts. Requests that arrive together share one forward pass: a
//! model's inference thread takes every window waiting in its queue (up to [`MAX_BATCH`]),
//! forecasts them at once and answers each request. Under load the batches fill by
//! themselves; a lone request is forecast alone, without waiting for company. A batch gives
//! every window exactly the numbers it would get alone (the GRU's products sum each element
//! in order, whatever the batch), so batching never changes an answer.

use crate::forecast::Forecaster;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use tokio::sync::oneshot;

/// The most windows forecast in one pass: past this the pass takes long enough that the
/// first request in it waits noticeably.
pub const MAX_BATCH: usize = 32;

/// One window (raw values, `[window, features]`) and where its forecast goes.
pub struct Job {
    pub window: Vec<f32>,
    /// The window's series ("" for a model of one series).
    pub series: String,
    pub reply: oneshot::Sender<Result<f64, String>>,
}

/// Starts the inference thread of `model`; it ends when every sender is dropped (when the
/// served version it belongs to is swapped out and its last request has finished).
pub fn start(model: Arc<Forecaster>) -> std::io::Result<Sender<Job>> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("inference".into())
        .spawn(move || run(&model, &rx))?;
    Ok(tx)
}

fn run(model: &Forecaster, rx: &Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let windows: Vec<(&[f32], &str)> = jobs
            .iter()
            .map(|j| (j.window.as_slice(), j.series.as_str()))
            .collect();
        match model.forecast_batch(&windows) {
            Ok(values) => {
                for (job, v) in jobs.into_iter().zip(values) {
                    let _ = job.reply.send(Ok(v));
                }
            }
            Err(e) => {
                let message = format!("the forecast failed: {e:#}");
                for job in jobs {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}
