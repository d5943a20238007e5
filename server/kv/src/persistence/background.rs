//! Persistence work off the request path: the `everysec` fsync tick, append-only
//! rewrites (requested or automatic), snapshots (requested or by `save` rules), and the
//! retries after a failure: a failing append-only file every [`RETRY_EVERY`], a failed
//! snapshot rule after [`SNAPSHOT_RETRY_DELAY`] (Redis waits 5 s too), so a full disk
//! is not hammered and the log is not flooded.

use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::aof::{AofError, Persistence};
use super::snapshot::serialize;
use super::status::Target;
use crate::config::{Fsync, KvConfig};
use crate::keyspace::{now_ms, Store};

/// How often a failing append-only write or fsync is retried.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Least time between a failed snapshot and the next one started by a `save` rule.
const SNAPSHOT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The body of the background thread: `everysec` fsyncs, rewrites and snapshots on
/// request or rule, until `stopping` says so.
pub(crate) fn background(
    persist: &Persistence,
    store: &Mutex<Store>,
    config: &RwLock<KvConfig>,
    stopping: impl Fn() -> bool,
) {
    let mut last_sync = Instant::now();
    let mut last_retry = Instant::now();
    let mut snapshot_failed_at: Option<Instant> = None;
    while !stopping() {
        std::thread::sleep(Duration::from_millis(50));
        if *persist.fsync.lock() == Fsync::EverySec && last_sync.elapsed() >= Duration::from_secs(1)
        {
            persist.sync_if_needed();
            last_sync = Instant::now();
        }
        if persist.status.is_failing(Target::Aof) && last_retry.elapsed() >= RETRY_EVERY {
            persist.retry(store);
            last_retry = Instant::now();
        }
        let cfg = config.read().clone();
        let (rewrite, save) = {
            let mut st = store.lock();
            let now = now_ms() / 1000;
            let retry_ok = snapshot_failed_at.is_none_or(|t| t.elapsed() >= SNAPSHOT_RETRY_DELAY);
            let rule = retry_ok
                && cfg
                    .save
                    .iter()
                    .any(|(secs, changes)| st.dirty >= *changes && now >= st.last_save + secs);

            (
                std::mem::take(&mut st.rewrite_requested),
                std::mem::take(&mut st.bgsave_requested) || rule,
            )
        };
        let auto = cfg.appendonly
            && persist.wants_rewrite(
                cfg.auto_aof_rewrite_percentage,
                cfg.auto_aof_rewrite_min_size,
            );
        if rewrite || auto {
            run_rewrite(persist, store);
        }
        if save {
            // A failure is logged (rate-limited) by the status; this line is for debugging.
            snapshot_failed_at = match bgsave(persist, store) {
                Ok(()) => None,
                Err(e) => {
                    tracing::debug!(error = %e, "Background save failed.");
                    Some(Instant::now())
                }
            };
        }
    }
}

/// Runs a rewrite now, logging the result.
pub(crate) fn run_rewrite(persist: &Persistence, store: &Mutex<Store>) {
    use std::sync::atomic::Ordering;
    if persist.rewriting.swap(true, Ordering::SeqCst) {
        return;
    }
    let t = Instant::now();
    match persist.rewrite(store) {
        Ok(()) => tracing::info!(
            ms = t.elapsed().as_millis() as u64,
            "Append-only file rewritten."
        ),
        Err(e) => tracing::error!(error = %e, "Append-only file rewrite failed."),
    }
    persist.rewriting.store(false, Ordering::SeqCst);
}

/// Snapshot: serialise under the lock, write outside it.
pub(crate) fn bgsave(persist: &Persistence, store: &Mutex<Store>) -> Result<(), AofError> {
    let (data, dirty) = {
        let st = store.lock();
        (serialize(&st), st.dirty)
    };
    persist.write_snapshot(&data)?;
    let mut st = store.lock();
    st.dirty = st.dirty.saturating_sub(dirty);
    st.last_save = now_ms() / 1000;
    Ok(())
}
