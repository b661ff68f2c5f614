//! Ctrl-C and cron timeouts. The first SIGINT or SIGTERM asks the sweep to stop: no new job is
//! claimed, running trainings stop at the end of their current epoch and are recorded
//! `interrupted`, and the process exits with 128 + the signal (130 for SIGINT, 143 for SIGTERM).
//! A second signal exits at once with the same convention.

use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicI32, Ordering};

/// The first stop signal received, or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers. Safe to call more than once (later calls add nothing new that matters:
/// the handler is idempotent).
pub fn install() -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM] {
        // SAFETY: the handler only touches an atomic and calls `_exit`, both async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                if RECEIVED
                    .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    signal_hook::low_level::exit(128 + sig);
                }
            })?;
        }
    }
    Ok(())
}

/// The signal that asked us to stop, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

pub fn stop_requested() -> bool {
    received().is_some()
}

/// The exit status for a stop by `sig`: 128 + the signal number, as shells report it.
pub fn exit_status(sig: i32) -> u8 {
    (128 + sig).clamp(0, 255) as u8
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The error a training returns when it stopped early because of a stop signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {} after epoch {epoch} of {epochs}", name(*signal))]
pub struct Interrupted {
    pub signal: i32,
    pub epoch: usize,
    pub epochs: usize,
}
