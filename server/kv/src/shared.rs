//! Server-wide state shared by connections, commands, the cron and the persistence
//! thread: the locked keyspace, the live configuration, persistence handles, counters and
//! the stop signal.
//!
//! **Locking.** The whole keyspace sits behind one `parking_lot::Mutex` ([`Shared::store`]).
//! Each connection parses every complete request in its read buffer, takes the lock once,
//! applies them all and releases it before writing the replies, so the lock is held for
//! microseconds and never across `.await`. On a two-core machine this beats sharding: a
//! pipelined batch costs one acquisition, cross-key commands (RENAME, SUNIONSTORE, LMOVE,
//! MULTI/EXEC) stay atomic without lock ordering, and append-only records come out in
//! execution order for free.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::config::KvConfig;
use crate::keyspace::Store;
use crate::persistence::Persistence;

/// Server-wide state.
pub(crate) struct Shared {
    /// The keyspace.
    pub store: Mutex<Store>,
    /// Live configuration (`CONFIG SET` changes it).
    pub config: RwLock<KvConfig>,
    /// Append-only file and snapshots.
    pub persist: Persistence,
    /// Start time.
    pub started: Instant,
    /// Next client id.
    pub next_id: AtomicU64,
    /// Resident memory (bytes), sampled by the cron.
    pub rss: AtomicU64,
    /// `maxmemory` of the live configuration (0: no limit); see [`Shared::set_config`].
    maxmemory: AtomicU64,
    /// Connected clients.
    pub connected: AtomicU64,
    /// Bound port.
    pub port: AtomicU16,
    /// Config file given on the command line.
    pub conf_file: Option<PathBuf>,
    /// 0 default, 1 `SHUTDOWN SAVE`, 2 `SHUTDOWN NOSAVE`.
    pub shutdown_save: AtomicU8,
    stopping: AtomicBool,
    stop_tx: watch::Sender<bool>,
}

impl Shared {
    /// Fresh state for a server about to load its data files.
    pub(crate) fn new(cfg: &KvConfig, persist: Persistence, conf_file: Option<PathBuf>) -> Shared {
        let (stop_tx, _) = watch::channel(false);
        Shared {
            store: Mutex::new(Store::new(cfg.databases, cfg.appendonly)),
            config: RwLock::new(cfg.clone()),
            persist,
            started: Instant::now(),
            next_id: AtomicU64::new(1),
            rss: AtomicU64::new(rss_bytes()),
            maxmemory: AtomicU64::new(cfg.maxmemory),
            connected: AtomicU64::new(0),
            port: AtomicU16::new(0),
            conf_file,
            shutdown_save: AtomicU8::new(0),
            stopping: AtomicBool::new(false),
            stop_tx,
        }
    }
    /// Samples the resident memory (the cron calls this).
    pub(crate) fn sample_rss(&self) {
        self.rss.store(rss_bytes(), Ordering::Relaxed);
    }
    /// True when `maxmemory` is set and exceeded. Asked by every command that may grow
    /// memory, so it reads two atomics instead of taking the configuration lock.
    pub(crate) fn over_maxmemory(&self) -> bool {
        let max = self.maxmemory.load(Ordering::Relaxed);
        max > 0 && self.rss.load(Ordering::Relaxed) > max
    }
    /// Applies a new configuration (`CONFIG SET`), keeping the cached `maxmemory` in step.
    pub(crate) fn set_config(&self, cfg: KvConfig) {
        self.maxmemory.store(cfg.maxmemory, Ordering::Relaxed);
        *self.config.write() = cfg;
    }
    /// Starts the shutdown sequence.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
    }
    /// True once shutdown started.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
    /// A receiver that changes when shutdown starts.
    pub(crate) fn stop_rx(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }
}

/// Bytes the program has allocated and not freed, from the allocator's own statistics
/// (`INFO memory` `used_memory`): the binary runs on jemalloc, as redis-server does, so
/// the figure counts what redis-server's counts (every live allocation at its size-class
/// size). 0 when the statistics cannot be read.
pub(crate) fn allocated_bytes() -> u64 {
    // jemalloc caches its statistics; advancing the epoch refreshes them.
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map_or(0, |n| n as u64)
}

/// Resident set size from `/proc/self/statm` (0 where unavailable).
fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
