//! `WATCH`: optimistic locking for `MULTI`/`EXEC`.
//!
//! Watched keys map to the clients watching them. Every successful write command marks
//! the keys it names (per its key positions) as touched, which flags their watchers; a
//! flagged client's `EXEC` returns a null reply without running anything. A watched key
//! that existed at `WATCH` time and is gone at `EXEC` (deleted or expired) also aborts.
//! Marking may over-approximate (e.g. the source keys of `SUNIONSTORE`), which only
//! makes a client retry, never lets a conflicting transaction through.

use bytes::Bytes;

use super::hash::{Map, Set};

/// Watch registry, part of the store.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    by_key: Map<(usize, Bytes), Vec<u64>>,
    broken: Set<u64>,
}

impl Watches {
    /// True when nobody watches anything (the write path skips marking).
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Registers `client` as watching `key` in `db`.
    pub(crate) fn watch(&mut self, client: u64, db: usize, key: Bytes) {
        let v = self.by_key.entry((db, key)).or_default();
        if !v.contains(&client) {
            v.push(client);
        }
    }

    /// Marks a key as modified.
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(v) = self.by_key.get(&(db, Bytes::copy_from_slice(key))) {
            self.broken.extend(v.iter().copied());
        }
    }

    /// Marks every watched key of `db` (None: of every db) as modified.
    pub(crate) fn touch_db(&mut self, db: Option<usize>) {
        for ((d, _), v) in &self.by_key {
            if db.is_none_or(|x| x == *d) {
                self.broken.extend(v.iter().copied());
            }
        }
    }

    /// True if a watched key of `client` was touched.
    pub(crate) fn is_broken(&self, client: u64) -> bool {
        self.broken.contains(&client)
    }

    /// Forgets everything `client` watches (`EXEC`, `DISCARD`, `UNWATCH`, disconnect).
    pub(crate) fn unwatch(&mut self, client: u64, keys: &[(usize, Bytes, bool)]) {
        for (db, k, _) in keys {
            let slot = (*db, k.clone());
            if let Some(v) = self.by_key.get_mut(&slot) {
                v.retain(|c| *c != client);
                if v.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        self.broken.remove(&client);
    }
}
