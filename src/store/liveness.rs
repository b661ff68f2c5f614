//! Who is alive: the policy the store facade hands to every backend. A run's owner on this
//! host is judged by its pid (`/proc`); on another host only its heartbeat can be seen, so it
//! is presumed dead once the heartbeat is older than the staleness limit.

use super::backend::Owner;
use std::time::Duration;

/// The default staleness limit; `AEROCAST_STALE_AFTER` (seconds) overrides it.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// How often a running run's heartbeat is refreshed by the timer (and at most by epochs).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Liveness {
    pub host: String,
    pub pid: u32,
    pub stale_after: Duration,
}

impl Liveness {
    /// This process, with the staleness limit from the environment or the default.
    pub fn this_process() -> Liveness {
        let stale_after = std::env::var("AEROCAST_STALE_AFTER")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_STALE_AFTER, Duration::from_secs_f64);
        Liveness {
            host: hostname(),
            pid: std::process::id(),
            stale_after,
        }
    }

    /// This process as the owner of a run or sweep starting now.
    pub fn owner(&self) -> Owner {
        Owner {
            host: self.host.clone(),
            pid: self.pid,
            heartbeat: super::now(),
        }
    }

    pub fn alive(&self, owner: &Owner) -> bool {
        if super::now() - owner.heartbeat > self.stale_after.as_secs_f64() {
            return false;
        }
        if owner.host != self.host {
            // Another machine: its heartbeat is all we can see.
            return true;
        }
        process_exists(owner.pid)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> bool {
    // Without /proc, trust the heartbeat alone.
    true
}
