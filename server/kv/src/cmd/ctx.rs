//! What a command handler can reach ([`Ctx`]): the locked store, the calling client,
//! server-wide state; typed lookups with Redis's WRONGTYPE rule; and what a handler hands
//! back besides its reply (a block request, nested commands, the propagated form).

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::client::ClientState;
use crate::keyspace::types::{Stream, ZSet};
use crate::keyspace::{Db, Entry, Map, Set, Store, Value};
use crate::protocol::args::wrongtype;
use crate::protocol::reply::Reply;
use crate::shared::Shared;

/// A client that must block: the caller waits on `rx` for at most `timeout`.
pub(crate) struct Blocked {
    /// Waiter id (to unregister on timeout).
    pub id: u64,
    /// Where the reply arrives.
    pub rx: oneshot::Receiver<Reply>,
    /// `None`: block forever.
    pub timeout: Option<std::time::Duration>,
    /// Reply on timeout (nil array for pops, nil for moves).
    pub on_timeout: Reply,
}

/// What a handler can reach.
pub(crate) struct Ctx<'a> {
    /// The locked store.
    pub store: &'a mut Store,
    /// The calling connection.
    pub client: &'a mut ClientState,
    /// Server-wide state (config, shutdown, persistence).
    pub shared: &'a Shared,
    /// Command time in ms (cached like Redis's `mstime` per command).
    pub now: u64,
    /// True inside `EXEC` (blocking commands do not block there).
    pub in_exec: bool,
    /// Override of what is propagated to the append-only file (empty: nothing).
    pub prop: Option<Vec<Vec<Bytes>>>,
    /// Set by blocking commands that found nothing.
    pub block: Option<Blocked>,
    /// Set by commands that run other commands (EXEC, DEBUG RELOAD): the dispatcher runs
    /// them right after the handler returns.
    pub nested: Option<Nested>,
    /// Set by the dispatcher when the command's reply acknowledges a write (a write
    /// command or `EXEC` ran): the connection withholds it if the write is not persisted.
    pub acks_write: bool,
}

/// Commands a handler asks the dispatcher to run once it returns. Running commands is
/// the dispatcher's job, so no command family depends on the dispatcher or the table.
pub(crate) enum Nested {
    /// `EXEC`: the queued commands, run as one transaction; their replies, as an array,
    /// become the reply.
    Transaction(Vec<Vec<Bytes>>),
    /// `DEBUG RELOAD`: commands that rebuild the keyspace, replayed like a load (expiry
    /// suspended, nothing propagated); the handler's reply stands.
    Reload(Vec<Vec<Bytes>>),
}

impl<'a> Ctx<'a> {
    /// The context of one command run by `client` at `now` (ms).
    pub(crate) fn new(
        store: &'a mut Store,
        client: &'a mut ClientState,
        shared: &'a Shared,
        now: u64,
        in_exec: bool,
    ) -> Ctx<'a> {
        Ctx {
            store,
            client,
            shared,
            now,
            in_exec,
            prop: None,
            block: None,
            nested: None,
            acks_write: false,
        }
    }
    /// Current database.
    pub(crate) fn db(&mut self) -> &mut Db {
        let i = self.client.db;
        &mut self.store.dbs[i]
    }
    /// Lookup with lazy expiry.
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.expiry_now();
        let i = self.client.db;
        self.store.dbs[i].get(key, now)
    }
    /// "Now" for expiry decisions: 0 (never expire) while loading.
    pub(crate) fn expiry_now(&self) -> u64 {
        if self.store.loading {
            0
        } else {
            self.now
        }
    }
    /// Deletes `key` if its container became empty.
    pub(crate) fn drop_if_empty(&mut self, key: &[u8]) {
        if self.get(key).is_some_and(|e| e.val.is_empty_container()) {
            self.db().remove(key);
        }
    }
    /// Replace what gets propagated.
    pub(crate) fn propagate(&mut self, cmd: Vec<Bytes>) {
        self.prop.get_or_insert_with(Vec::new).push(cmd);
    }
    /// True when commands are being logged (skip building effect forms otherwise).
    pub(crate) fn aof_on(&self) -> bool {
        self.store.aof.enabled
    }
    /// Propagate nothing for this command.
    pub(crate) fn propagate_none(&mut self) {
        self.prop.get_or_insert_with(Vec::new);
    }
    /// Marks a key as possibly unblocking waiters.
    pub(crate) fn signal(&mut self, key: &Bytes) {
        let db = self.client.db;
        self.store.blocking.signal(db, key);
    }
}

macro_rules! typed_getter {
    ($name:ident, $variant:ident, $ty:ty) => {
        /// Typed lookup: `Ok(None)` if missing, WRONGTYPE if another type.
        pub(crate) fn $name<'b>(
            ctx: &'b mut Ctx,
            key: &[u8],
        ) -> Result<Option<&'b mut $ty>, Reply> {
            match ctx.get(key) {
                None => Ok(None),
                Some(Entry {
                    val: Value::$variant(v),
                    ..
                }) => Ok(Some(&mut **v)),
                Some(_) => Err(wrongtype()),
            }
        }
    };
}
/// Typed lookup of a string: `Ok(None)` if missing, WRONGTYPE if another type.
pub(crate) fn get_str<'b>(
    ctx: &'b mut Ctx,
    key: &[u8],
) -> Result<Option<&'b mut Box<[u8]>>, Reply> {
    match ctx.get(key) {
        None => Ok(None),
        Some(Entry {
            val: Value::Str(v), ..
        }) => Ok(Some(v)),
        Some(_) => Err(wrongtype()),
    }
}
typed_getter!(get_list, List, VecDeque<Box<[u8]>>);
typed_getter!(get_set, Set, Set<Box<[u8]>>);
typed_getter!(get_hash, Hash, Map<Bytes, Bytes>);
typed_getter!(get_zset, ZSet, ZSet);
typed_getter!(get_stream, Stream, Stream);

macro_rules! typed_creator {
    ($name:ident, $variant:ident, $ty:ty, $new:expr) => {
        /// Typed lookup that creates an empty value when missing; WRONGTYPE otherwise.
        pub(crate) fn $name<'b>(ctx: &'b mut Ctx, key: &Bytes) -> Result<&'b mut $ty, Reply> {
            if ctx.get(key).is_none() {
                ctx.db().set(&key, Value::$variant($new));
            }
            match ctx.get(key) {
                Some(Entry {
                    val: Value::$variant(v),
                    ..
                }) => Ok(&mut **v),
                _ => Err(wrongtype()),
            }
        }
    };
}
typed_creator!(list_or_new, List, VecDeque<Box<[u8]>>, Box::default());
typed_creator!(set_or_new, Set, Set<Box<[u8]>>, Box::default());
typed_creator!(hash_or_new, Hash, Map<Bytes, Bytes>, Box::default());
typed_creator!(zset_or_new, ZSet, ZSet, Box::default());
typed_creator!(stream_or_new, Stream, Stream, Box::default());

/// Unwraps a `Result<T, Reply>` inside a handler, returning the error reply.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

pub(crate) use tri;
