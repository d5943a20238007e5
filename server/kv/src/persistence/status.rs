//! Whether the data files can be written, and the refusal that follows when they cannot.
//!
//! Redis 7 stops acknowledging writes when persistence fails: every write command (and
//! `PING`, so monitoring notices) gets a `MISCONF` error until a write succeeds again.
//! [`DiskStatus`] keeps the two conditions that trigger it, with the same precedence as
//! Redis: a failed snapshot (when `stop-writes-on-bgsave-error` is on and save rules
//! exist) and a failed append-only write or fsync. It also owns the logging of those
//! failures: one ERROR line when a condition starts, then at most one every
//! [`LOG_EVERY`] while it lasts (each failure would otherwise log once per write and
//! flood the very disk that is full), and one INFO line when it clears.
//!
//! The flags are atomics because every write command asks them under the store lock;
//! the texts sit behind their own small mutex that is never held while taking another
//! lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Least time between two log lines about a condition that persists (Redis: 30 s).
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(30);

/// Redis's refusal while the last snapshot failed (`stop-writes-on-bgsave-error`).
pub(crate) const SNAPSHOT_REFUSAL: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// One failure condition: when it started, when it was last logged, how often it recurred.
#[derive(Debug)]
struct Condition {
    error: String,
    logged: Instant,
    repeats: u64,
}

/// The persistence health that decides whether writes are acknowledged.
#[derive(Debug, Default)]
pub(crate) struct DiskStatus {
    aof_failing: AtomicBool,
    snapshot_failing: AtomicBool,
    aof: Mutex<Option<Condition>>,
    snapshot: Mutex<Option<Condition>>,
}

/// What failed, for the log lines.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// The append-only file (write or fsync).
    Aof,
    /// A snapshot (`SAVE`, `BGSAVE`, a `save` rule, shutdown).
    Snapshot,
}

/// The operating system's text for an I/O error, without Rust's " (os error N)" suffix:
/// what C's `strerror` prints, so the `MISCONF` text matches Redis's byte for byte.
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

impl DiskStatus {
    fn slot(&self, t: Target) -> (&AtomicBool, &Mutex<Option<Condition>>) {
        match t {
            Target::Aof => (&self.aof_failing, &self.aof),
            Target::Snapshot => (&self.snapshot_failing, &self.snapshot),
        }
    }

    /// Records a failure of `t` (`what` says which file and operation); logs it if it is
    /// new or the last line is older than [`LOG_EVERY`].
    pub(crate) fn failed(&self, t: Target, what: &str, error: &std::io::Error) {
        let (flag, cond) = self.slot(t);
        let text = strerror(error);
        let mut c = cond.lock();
        match c.as_mut() {
            None => {
                tracing::error!(what, error = %text, "Persistence failed; write commands are refused (MISCONF) until it succeeds again.");
                *c = Some(Condition {
                    error: text,
                    logged: Instant::now(),
                    repeats: 0,
                });
            }
            Some(c) => {
                c.repeats += 1;
                c.error = text;
                if c.logged.elapsed() >= LOG_EVERY {
                    tracing::error!(what, error = %c.error, failures = c.repeats, "Persistence still failing; write commands are still refused.");
                    c.logged = Instant::now();
                    c.repeats = 0;
                }
            }
        }
        flag.store(true, Ordering::SeqCst);
    }

    /// Records a success of `t`; logs once if that ends a failure.
    pub(crate) fn succeeded(&self, t: Target) {
        let (flag, cond) = self.slot(t);
        if !flag.load(Ordering::SeqCst) {
            return;
        }
        if cond.lock().take().is_some() {
            tracing::info!(what = ?t, "Persistence works again; accepting write commands.");
        }
        flag.store(false, Ordering::SeqCst);
    }

    /// True while `t` is failing.
    pub(crate) fn is_failing(&self, t: Target) -> bool {
        self.slot(t).0.load(Ordering::SeqCst)
    }

    /// The `MISCONF` error line for write commands, if they must be refused now.
    /// `snapshot_counts` says whether a failed snapshot refuses writes
    /// (`stop-writes-on-bgsave-error yes` and save rules configured); it is only called
    /// when a snapshot failed, so the common path reads two atomics.
    pub(crate) fn refusal(&self, snapshot_counts: impl FnOnce() -> bool) -> Option<String> {
        if self.snapshot_failing.load(Ordering::Relaxed) && snapshot_counts() {
            return Some(SNAPSHOT_REFUSAL.to_string());
        }
        if self.aof_failing.load(Ordering::Relaxed) {
            let error = self.aof.lock().as_ref().map(|c| c.error.clone());
            return Some(format!(
                "MISCONF Errors writing to the AOF file: {}",
                error.unwrap_or_default()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_follows_failures_and_recoveries() {
        let s = DiskStatus::default();
        assert_eq!(s.refusal(|| true), None);
        let full = std::io::Error::from_raw_os_error(28);
        s.failed(Target::Aof, "write", &full);
        s.failed(Target::Aof, "write", &full);
        assert_eq!(
            s.refusal(|| true).as_deref(),
            Some("MISCONF Errors writing to the AOF file: No space left on device")
        );
        s.failed(Target::Snapshot, "save", &full);
        assert_eq!(s.refusal(|| true).as_deref(), Some(SNAPSHOT_REFUSAL));
        assert!(s.refusal(|| false).unwrap().contains("AOF"));
        s.succeeded(Target::Aof);
        assert_eq!(s.refusal(|| false), None);
        s.succeeded(Target::Snapshot);
        assert_eq!(s.refusal(|| true), None);
    }
}
