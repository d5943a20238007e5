//! The keyspace: 16 (configurable) databases of typed values with expiry times.
//!
//! All state lives in one [`Store`] behind one mutex (see `net/server.rs` for why a single
//! lock beats sharding on two cores: a whole pipelined batch runs under one acquisition).
//! Expiry is lazy (every lookup checks the deadline) and active (a cron pops deadlines off
//! an ordered index). While the append-only file is being loaded, expiry is suspended so
//! the replay sees exactly what the original commands saw.

use std::collections::{BTreeSet, VecDeque};
use std::num::NonZeroU64;

use bytes::Bytes;

use super::blocking::Blocking;
use super::clients::ClientInfo;
use super::feed::Feed;
use super::hash::{Map, Set};
use super::types::{Stream, ZSet};
use super::watch::Watches;

/// A typed value. Containers are boxed so that every slot of the key table is as small
/// as a string's (see [`Db`] on memory per key).
// A boxed collection costs an extra block, but keeps a table slot 24 bytes (tag and a
// string's 16) where an unboxed `VecDeque` or hash set would make every slot 40 or more.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// String (also integers and floats in text form): its own exact-size copy, 16 bytes
    /// in the slot (a `Bytes` would take 32, and a second block once shared by a reply).
    Str(Box<[u8]>),
    /// List of exact-size element copies (16 bytes a slot, where a `Bytes` takes 32).
    List(Box<VecDeque<Box<[u8]>>>),
    /// Set of exact-size member copies (16 bytes a slot, where a `Bytes` takes 32).
    Set(Box<Set<Box<[u8]>>>),
    /// Hash.
    Hash(Box<Map<Bytes, Bytes>>),
    /// Sorted set.
    ZSet(Box<ZSet>),
    /// Stream.
    Stream(Box<Stream>),
}

impl Value {
    /// The `TYPE` name.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
    /// True when a container value has no elements left (and the key must go).
    pub(crate) fn is_empty_container(&self) -> bool {
        match self {
            Value::Str(_) | Value::Stream(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
    /// Rough memory footprint in bytes, for `INFO memory`.
    pub(crate) fn approx_size(&self) -> usize {
        match self {
            Value::Str(b) => b.len(),
            Value::List(l) => l.iter().map(|b| b.len() + 16).sum(),
            Value::Set(s) => s.iter().map(|b| b.len() + 24).sum(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + 32).sum(),
            Value::ZSet(z) => z.len() * 64,
            Value::Stream(s) => s.len() * 64,
        }
    }
}

/// A value and its absolute expiry time (ms since the epoch).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The value.
    pub val: Value,
    /// Deadline, if any.
    exp: Option<NonZeroU64>,
}

impl Entry {
    /// The deadline (ms since the epoch), if any.
    pub(crate) fn exp(&self) -> Option<u64> {
        self.exp.map(NonZeroU64::get)
    }
}

/// A deadline as an entry stores it: 8 bytes instead of an `Option<u64>`'s 16. Time 0 (only
/// ever set while loading, when expiry is suspended) becomes 1 ms, as far in the past.
fn deadline(at: u64) -> NonZeroU64 {
    NonZeroU64::new(at).unwrap_or(NonZeroU64::MIN)
}

/// A key as the table stores it: its own exact-size copy (16 bytes in the slot), never a
/// slice of a request buffer, which would keep the whole buffer alive as long as the key.
type Key = Box<[u8]>;

/// One database.
///
/// **Memory per key.** A slot of the table is 48 bytes: the key (16, its own copy), the
/// value (24: a string's own copy, or a boxed container) and the deadline (8). Keys, string
/// values and list and set elements are copied out of the request, so the only heap blocks
/// a key costs are its own. `tests/bench/kv/run.sh` prints `used_memory` per key beside
/// redis-server's.
#[derive(Debug, Default)]
pub(crate) struct Db {
    map: Map<Key, Entry>,
    ttl: BTreeSet<(u64, Key)>,
}

impl Db {
    /// Number of keys (including not yet collected expired ones, like Redis).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
    /// True when the database has no keys.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Number of keys with a deadline.
    pub(crate) fn expires(&self) -> usize {
        self.ttl.len()
    }

    fn expired(&self, key: &[u8], now: u64) -> bool {
        now != 0 && matches!(self.map.get(key), Some(e) if e.exp().is_some_and(|t| t <= now))
    }

    /// Looks a key up, deleting it first if its deadline has passed (`now == 0`: no expiry).
    pub(crate) fn get(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        if self.expired(key, now) {
            self.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }

    /// Read-only lookup honouring deadlines without deleting.
    pub(crate) fn peek(&self, key: &[u8], now: u64) -> Option<&Entry> {
        if self.expired(key, now) {
            return None;
        }
        self.map.get(key)
    }

    /// Removes a key; returns its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (k, e) = self.map.remove_entry(key)?;
        if let Some(t) = e.exp() {
            self.ttl.remove(&(t, k));
        }
        Some(e)
    }

    /// Stores a value, dropping any deadline. An existing key keeps its stored copy; a
    /// new one is copied (see [`Key`]).
    pub(crate) fn set(&mut self, key: &[u8], val: Value) {
        match self.map.get_mut(key) {
            Some(e) => {
                e.val = val;
                if let Some(t) = e.exp.take().map(NonZeroU64::get) {
                    self.ttl.remove(&(t, key.into()));
                }
            }
            None => {
                self.map.insert(key.into(), Entry { val, exp: None });
            }
        }
    }

    /// Stores a value, keeping the existing deadline.
    pub(crate) fn set_keep_ttl(&mut self, key: &[u8], val: Value) {
        match self.map.get_mut(key) {
            Some(e) => e.val = val,
            None => {
                self.map.insert(key.into(), Entry { val, exp: None });
            }
        }
    }

    /// Inserts a value with an optional deadline (replacing any old entry).
    pub(crate) fn insert(&mut self, key: &[u8], val: Value, exp: Option<u64>) {
        self.set(key, val);
        if let Some(t) = exp {
            self.set_expire(key, t);
        }
    }

    /// Sets the deadline of an existing key; false if the key does not exist.
    pub(crate) fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let at = deadline(at).get();
        let Some((k, e)) = self.map.get_key_value(key) else {
            return false;
        };
        let k = k.clone();
        let old = e.exp();
        if let Some(t) = old {
            self.ttl.remove(&(t, k.clone()));
        }
        self.ttl.insert((at, k));
        if let Some(e) = self.map.get_mut(key) {
            e.exp = Some(deadline(at));
        }
        true
    }

    /// Drops the deadline; true if there was one.
    pub(crate) fn persist(&mut self, key: &[u8]) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let Some(t) = e.exp.take().map(NonZeroU64::get) else {
            return false;
        };
        self.ttl.remove(&(t, key.into()));
        true
    }

    /// Active expiry: deletes up to `max` keys whose deadline is `<= now`.
    pub(crate) fn expire_some(&mut self, now: u64, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some((t, k)) = self.ttl.first().cloned() else {
                break;
            };
            if t > now {
                break;
            }
            self.ttl.pop_first();
            self.map.remove(&k);
            n += 1;
        }
        n
    }

    /// All live keys.
    pub(crate) fn keys(&self, now: u64) -> Vec<Bytes> {
        self.map
            .iter()
            .filter(|(_, e)| !matches!(e.exp(), Some(t) if now != 0 && t <= now))
            .map(|(k, _)| Bytes::copy_from_slice(k))
            .collect()
    }

    /// Iterates all entries (for snapshots).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.map.iter().map(|(k, e)| (&**k, e))
    }

    /// A random live key.
    pub(crate) fn random_key(&self) -> Option<Bytes> {
        use rand::seq::IteratorRandom;
        self.map
            .keys()
            .choose(&mut rand::thread_rng())
            .map(|k| Bytes::copy_from_slice(k))
    }

    /// Removes everything.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.ttl.clear();
    }
}

/// Counters shown by `INFO stats`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    /// Commands executed.
    pub commands: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections refused by `maxclients`.
    pub rejected: u64,
    /// Keys deleted by expiry.
    pub expired: u64,
    /// Successful key lookups.
    pub hits: u64,
    /// Failed key lookups.
    pub misses: u64,
}

/// Everything the lock protects.
pub(crate) struct Store {
    /// The databases.
    pub dbs: Vec<Db>,
    /// True while replaying the append-only file (expiry suspended, nothing propagated).
    pub loading: bool,
    /// Blocked clients and keys that became ready for them.
    pub blocking: Blocking,
    /// Pending append-only output.
    pub aof: Feed,
    /// Changes since the last snapshot (`save` rules, `INFO persistence`).
    pub dirty: u64,
    /// Statistics.
    pub stats: Stats,
    /// Connected clients, for `CLIENT LIST` / `INFO clients`.
    pub clients: Map<u64, ClientInfo>,
    /// Unix time (s) of the last successful snapshot.
    pub last_save: u64,
    /// Set by `BGREWRITEAOF` / `BGSAVE`; the persistence thread picks it up.
    pub rewrite_requested: bool,
    /// Set by `BGSAVE`.
    pub bgsave_requested: bool,
    /// Keys watched by clients (`WATCH`).
    pub watches: Watches,
}

impl Store {
    /// An empty store with `n` databases.
    pub(crate) fn new(n: usize, aof_enabled: bool) -> Store {
        Store {
            dbs: (0..n).map(|_| Db::default()).collect(),
            loading: false,
            blocking: Blocking::default(),
            aof: Feed::new(aof_enabled),
            dirty: 0,
            stats: Stats::default(),
            clients: Map::default(),
            last_save: now_ms() / 1000,
            rewrite_requested: false,
            bgsave_requested: false,
            watches: Default::default(),
        }
    }

    /// Runs active expiry on every database, bounded per call.
    pub(crate) fn active_expire(&mut self, now: u64) {
        if self.loading {
            return;
        }
        for db in &mut self.dbs {
            let n = db.expire_some(now, 2000);
            self.stats.expired += n as u64;
        }
    }

    /// Total keys over all databases.
    pub(crate) fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_and_active_expiry() {
        let mut db = Db::default();
        db.insert(b"a", Value::Str(b"1"[..].into()), Some(100));
        db.insert(b"b", Value::Str(b"2"[..].into()), Some(300));
        db.set(b"c", Value::Str(b"3"[..].into()));
        assert!(db.get(b"a", 50).is_some());
        assert!(db.get(b"a", 0).is_some(), "loading: no expiry");
        assert!(db.get(b"a", 150).is_none());
        assert_eq!(db.expire_some(400, 10), 1);
        assert_eq!(db.len(), 1);
        assert_eq!(db.expires(), 0);
    }

    #[test]
    fn set_drops_deadline_and_persist() {
        let mut db = Db::default();
        db.insert(b"a", Value::Str(b"1"[..].into()), Some(100));
        db.set(b"a", Value::Str(b"2"[..].into()));
        assert_eq!(db.expires(), 0);
        db.set_expire(b"a", 500);
        assert!(db.persist(b"a"));
        assert!(!db.persist(b"a"));
        assert_eq!(db.expire_some(1000, 10), 0);
    }
}
