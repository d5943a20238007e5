//! Persistence work off the request path: the `everysec` fsync tick, append-only
//! rewrites (requested or automatic) and snapshots (requested or by `save` rules).

use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::aof::{AofError, Persistence};
use super::snapshot::serialize;
use crate::config::{Fsync, KvConfig};
use crate::keyspace::{now_ms, Store};

/// The body of the background thread: `everysec` fsyncs, rewrites and snapshots on
/// request or rule, until `stopping` says so.
pub(crate) fn background(
    persist: &Persistence,
    store: &Mutex<Store>,
    config: &RwLock<KvConfig>,
    stopping: impl Fn() -> bool,
) {
    let mut last_sync = Instant::now();
    while !stopping() {
        std::thread::sleep(Duration::from_millis(50));
        if *persist.fsync.lock() == Fsync::EverySec && last_sync.elapsed() >= Duration::from_secs(1)
        {
            persist.sync_if_needed();
            last_sync = Instant::now();
        }
        let cfg = config.read().clone();
        let (rewrite, save) = {
            let mut st = store.lock();
            let now = now_ms() / 1000;
            let rule = cfg
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
            if let Err(e) = bgsave(persist, store) {
                tracing::error!(error = %e, "Background save failed.");
            }
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
