//! The retry budget (`[train] max_attempts`): when a job's failed and killed attempts use it
//! up, the job is given up, and its latest attempt records why. The same words in every backend.

/// A failed or killed attempt: run id, status, failure reason.
pub type Attempt = (String, String, Option<String>);

/// What a job's record says once its attempts are used up.
const GAVE_UP: &str = "gave up after";

/// A job given up: the attempt that records it, the reason, and whether the reason still has
/// to be written (a later sweep finds it written).
pub struct Verdict {
    pub run_id: String,
    pub reason: String,
    pub record: bool,
}

/// `None` while the attempts (oldest first) are fewer than `max_attempts`.
pub fn judge(attempts: &[Attempt], max_attempts: usize) -> Option<Verdict> {
    if attempts.len() < max_attempts {
        return None;
    }
    let (last_id, _, last_reason) = attempts.last()?;
    if let Some(reason) = last_reason.as_deref().filter(|r| r.starts_with(GAVE_UP)) {
        return Some(Verdict {
            run_id: last_id.clone(),
            reason: reason.to_string(),
            record: false,
        });
    }
    let history = attempts
        .iter()
        .enumerate()
        .map(|(i, (_, status, reason))| {
            format!(
                "{}. {status}: {}",
                i + 1,
                reason.as_deref().unwrap_or("no reason")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let n = attempts.len();
    let reason = format!(
        "{GAVE_UP} {n} attempt{} (max_attempts = {max_attempts}); not retried until the spec or the data change — {history}",
        if n == 1 { "" } else { "s" }
    );
    Some(Verdict {
        run_id: last_id.clone(),
        reason,
        record: true,
    })
}
