//! The keyspace hasher and the map and set aliases every keyspace structure uses.

use std::collections::{HashMap, HashSet};

/// Fast, DoS-resistant hasher for all keyspace maps.
pub(crate) type Hasher = foldhash::fast::RandomState;
/// Hash map with the keyspace hasher.
pub(crate) type Map<K, V> = HashMap<K, V, Hasher>;
/// Hash set with the keyspace hasher.
pub(crate) type Set<K> = HashSet<K, Hasher>;
