//! The keyspace: everything the store lock protects, with no I/O and no command parsing.
//!
//! - [`store`]: databases, typed values, expiry, statistics; the [`Store`] itself.
//! - [`types`]: sorted sets and streams.
//! - [`hash`]: the keyspace hasher and map aliases.
//! - [`blocking`]: clients blocked in BLPOP/BRPOP/BLMOVE/XREAD.
//! - [`watch`]: WATCH bookkeeping for optimistic transactions.
//! - [`feed`]: append-only output pending under the lock (the file itself is `persistence`'s).
//! - [`clients`]: what `CLIENT LIST` shows about each connection.
//! - [`owned`]: exact-size copies of request arguments, so a stored value never pins a read buffer.

pub(crate) mod blocking;
pub(crate) mod clients;
pub(crate) mod feed;
pub(crate) mod hash;
pub(crate) mod owned;
pub(crate) mod store;
pub(crate) mod types;
pub(crate) mod watch;

pub(crate) use hash::{Map, Set};
pub(crate) use owned::own;
pub(crate) use store::{now_ms, Db, Entry, Store, Value};
