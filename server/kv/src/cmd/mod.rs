//! Command table and dispatch.
//!
//! Each family file (`strings.rs`, `lists.rs`, ...) holds plain functions
//! `fn(&mut Ctx, &[Bytes]) -> Reply` that parse their arguments and *return* the reply;
//! nothing here touches a socket, so a whole pipelined batch is applied under one lock
//! and written once. [`exec`] does what is common to every command: lookup, arity,
//! authentication, `MULTI` queueing, `maxmemory`, append-only propagation and serving
//! clients blocked on keys the command just filled.

pub mod hashes;
pub mod keyspace;
pub mod lists;
pub mod server;
pub mod sets;
pub mod streams;
pub mod strings;
pub mod zsets;

use std::collections::VecDeque;
use std::sync::OnceLock;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::args::wrongtype;
use super::client::ClientState;
use super::reply::Reply;
use super::server::Shared;
use super::store::{Db, Entry, Map, Set, Store, Value};
use super::types::{Stream, ZSet};

/// Handler signature.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> Reply;

/// Modifies data: propagated to the append-only file.
pub const WRITE: u16 = 1;
/// May grow memory: refused over `maxmemory`.
pub const DENYOOM: u16 = 2;
/// Allowed before `AUTH`.
pub const NOAUTH: u16 = 4;
/// Runs immediately even inside `MULTI`.
pub const NOMULTI: u16 = 8;
/// Read-only data command.
pub const READONLY: u16 = 16;
/// May block.
pub const BLOCKING: u16 = 32;
/// Administrative.
pub const ADMIN: u16 = 64;
/// Fast (O(1)) command.
pub const FAST: u16 = 128;

/// One command's static description.
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: exact count if positive, minimum if negative (name included).
    pub arity: i32,
    /// Flag bits.
    pub flags: u16,
    /// First key, last key, key step (for `COMMAND`).
    pub keys: (i32, i32, i32),
    /// Implementation.
    pub run: Handler,
}

/// A client that must block: the caller waits on `rx` for at most `timeout`.
pub struct Blocked {
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
pub struct Ctx<'a> {
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
}

impl Ctx<'_> {
    /// Current database.
    pub fn db(&mut self) -> &mut Db {
        let i = self.client.db;
        &mut self.store.dbs[i]
    }
    /// Lookup with lazy expiry.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.expiry_now();
        let i = self.client.db;
        self.store.dbs[i].get(key, now)
    }
    /// "Now" for expiry decisions: 0 (never expire) while loading.
    pub fn expiry_now(&self) -> u64 {
        if self.store.loading {
            0
        } else {
            self.now
        }
    }
    /// Deletes `key` if its container became empty.
    pub fn drop_if_empty(&mut self, key: &[u8]) {
        if self.get(key).is_some_and(|e| e.val.is_empty_container()) {
            self.db().remove(key);
        }
    }
    /// Replace what gets propagated.
    pub fn propagate(&mut self, cmd: Vec<Bytes>) {
        self.prop.get_or_insert_with(Vec::new).push(cmd);
    }
    /// True when commands are being logged (skip building effect forms otherwise).
    pub fn aof_on(&self) -> bool {
        self.store.aof.enabled
    }
    /// Propagate nothing for this command.
    pub fn propagate_none(&mut self) {
        self.prop.get_or_insert_with(Vec::new);
    }
    /// Marks a key as possibly unblocking waiters.
    pub fn signal(&mut self, key: &Bytes) {
        let db = self.client.db;
        self.store.blocking.signal(db, key);
    }
}

macro_rules! typed_getter {
    ($name:ident, $variant:ident, $ty:ty) => {
        /// Typed lookup: `Ok(None)` if missing, WRONGTYPE if another type.
        pub fn $name<'b>(ctx: &'b mut Ctx, key: &[u8]) -> Result<Option<&'b mut $ty>, Reply> {
            match ctx.get(key) {
                None => Ok(None),
                Some(Entry {
                    val: Value::$variant(v),
                    ..
                }) => Ok(Some(v)),
                Some(_) => Err(wrongtype()),
            }
        }
    };
}
typed_getter!(get_str, Str, Bytes);
typed_getter!(get_list, List, VecDeque<Bytes>);
typed_getter!(get_set, Set, Set<Bytes>);
typed_getter!(get_hash, Hash, Map<Bytes, Bytes>);
typed_getter!(get_zset, ZSet, ZSet);
typed_getter!(get_stream, Stream, Box<Stream>);

macro_rules! typed_creator {
    ($name:ident, $variant:ident, $ty:ty, $new:expr) => {
        /// Typed lookup that creates an empty value when missing; WRONGTYPE otherwise.
        pub fn $name<'b>(ctx: &'b mut Ctx, key: &Bytes) -> Result<&'b mut $ty, Reply> {
            if ctx.get(key).is_none() {
                ctx.db().set(key.clone(), Value::$variant($new));
            }
            match ctx.get(key) {
                Some(Entry {
                    val: Value::$variant(v),
                    ..
                }) => Ok(v),
                _ => Err(wrongtype()),
            }
        }
    };
}
typed_creator!(list_or_new, List, VecDeque<Bytes>, VecDeque::new());
typed_creator!(set_or_new, Set, Set<Bytes>, Set::default());
typed_creator!(hash_or_new, Hash, Map<Bytes, Bytes>, Map::default());
typed_creator!(zset_or_new, ZSet, ZSet, ZSet::default());
typed_creator!(stream_or_new, Stream, Box<Stream>, Box::default());

/// Unwraps a `Result<T, Reply>` inside a handler, returning the error reply.
#[macro_export]
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn table() -> &'static Map<&'static [u8], &'static Spec> {
    static TABLE: OnceLock<Map<&'static [u8], &'static Spec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut m = Map::default();
        for s in server::SPECS
            .iter()
            .chain(keyspace::SPECS)
            .chain(strings::SPECS)
            .chain(lists::SPECS)
            .chain(sets::SPECS)
            .chain(hashes::SPECS)
            .chain(zsets::SPECS)
            .chain(streams::SPECS)
        {
            m.insert(s.name.as_bytes(), s);
        }
        m
    })
}

/// Looks a command up by (any-case) name.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    table().get(&*lower).copied()
}

/// All commands (for `COMMAND`).
pub fn all() -> impl Iterator<Item = &'static Spec> {
    table().values().copied()
}

/// Redis's reply for an unknown command, quoting the start of the arguments.
pub fn unknown_command(args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]);
    let name: String = name.chars().take(128).collect();
    let mut tail = String::new();
    for a in &args[1..] {
        if tail.len() >= 128 {
            break;
        }
        let room = 128 - tail.len();
        let a = String::from_utf8_lossy(a);
        let a: String = a.chars().take(room).collect();
        tail.push_str(&format!("'{a}' "));
    }
    Reply::err(format!(
        "unknown command '{name}', with args beginning with: {tail}"
    ))
}

/// `ERR unknown subcommand 'x'. Try FOO HELP.`
pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> Reply {
    let sub = String::from_utf8_lossy(sub);
    let sub: String = sub.chars().take(128).collect();
    Reply::err(format!(
        "unknown subcommand '{sub}'. Try {} HELP.",
        cmd.to_ascii_uppercase()
    ))
}

fn arity_ok(spec: &Spec, n: usize) -> bool {
    let n = n as i32;
    if spec.arity >= 0 {
        n == spec.arity
    } else {
        n >= -spec.arity
    }
}

/// Runs one command from a client (queueing it when inside `MULTI`).
pub fn exec(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(spec) = lookup(&args[0]) else {
        flag_multi_error(ctx);
        return unknown_command(args);
    };
    if !arity_ok(spec, args.len()) {
        flag_multi_error(ctx);
        return super::args::arity(spec.name);
    }
    if !ctx.client.authed && spec.flags & NOAUTH == 0 {
        flag_multi_error(ctx);
        return Reply::Error("NOAUTH Authentication required.".into());
    }
    if ctx.client.multi.is_some() && spec.flags & NOMULTI == 0 {
        if spec.flags & DENYOOM != 0 && ctx.shared.over_maxmemory() {
            flag_multi_error(ctx);
            return oom();
        }
        if let Some(q) = ctx.client.multi.as_mut() {
            q.push(args.to_vec());
        }
        return Reply::Status("QUEUED");
    }
    run(ctx, spec, args)
}

fn flag_multi_error(ctx: &mut Ctx) {
    if ctx.client.multi.is_some() {
        ctx.client.multi_error = true;
    }
}

fn oom() -> Reply {
    Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
}

/// Runs a command that is known to exist and have a valid arity.
pub fn run(ctx: &mut Ctx, spec: &Spec, args: &[Bytes]) -> Reply {
    if spec.flags & DENYOOM != 0 && ctx.shared.over_maxmemory() {
        return oom();
    }
    ctx.prop = None;
    let reply = (spec.run)(ctx, args);
    ctx.store.stats.commands += 1;
    if spec.flags & WRITE != 0 && !reply.is_error() {
        let db = ctx.client.db;
        match ctx.prop.take() {
            None => ctx.store.aof.push(db, args),
            Some(cmds) => cmds.iter().for_each(|c| ctx.store.aof.push(db, c)),
        }
        ctx.store.dirty += 1;
        if !ctx.store.watches.is_empty() {
            touch_keys(ctx.store, db, spec, args);
        }
    }
    // Inside EXEC, waiters are served once the whole transaction ran (as in Redis).
    if !ctx.in_exec && !ctx.store.blocking.ready.is_empty() {
        serve_ready(ctx.store, ctx.now);
    }
    reply
}

/// Marks the keys a write command names as modified for `WATCH`.
fn touch_keys(store: &mut Store, db: usize, spec: &Spec, args: &[Bytes]) {
    match spec.name {
        "flushdb" => return store.watches.touch_db(Some(db)),
        "flushall" | "swapdb" => return store.watches.touch_db(None),
        "move" | "copy" => return store.watches.touch_db(None),
        _ => {}
    }
    let (first, last, step) = spec.keys;
    if first <= 0 || step <= 0 {
        return;
    }
    let n = args.len() as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    let mut i = first;
    while i <= last && i < n {
        store.watches.touch(db, &args[i as usize]);
        i += step;
    }
}

/// Hands elements of ready keys to blocked clients, in blocking order.
pub fn serve_ready(store: &mut Store, now: u64) {
    while let Some((db, key)) = store.blocking.ready.pop_front() {
        for id in store.blocking.queue(db, &key) {
            let Some(w) = store.blocking.waiters.get(&id) else {
                continue;
            };
            if w.tx.is_closed() {
                store.blocking.remove(id);
                continue;
            }
            let (kind, resp3) = (w.kind.clone(), w.resp3);
            let Some(reply) = serve_one(store, db, &key, &kind, resp3, now) else {
                // Nothing (left) for this waiter: for lists nobody else can be served either,
                // but stream waiters each have their own last-seen ID.
                if matches!(kind, super::blocking::BlockKind::XRead { .. }) {
                    continue;
                }
                break;
            };
            if let Some(w) = store.blocking.remove(id) {
                let _ = w.tx.send(reply);
            }
        }
    }
}

fn serve_one(
    store: &mut Store,
    db: usize,
    key: &Bytes,
    kind: &super::blocking::BlockKind,
    resp3: bool,
    now: u64,
) -> Option<Reply> {
    use super::blocking::BlockKind;
    match kind {
        BlockKind::Pop { left } => lists::serve_pop(store, db, key, *left, now),
        BlockKind::Move {
            dst,
            from_left,
            to_left,
        } => lists::serve_move(store, db, key, dst, *from_left, *to_left, now),
        BlockKind::XRead { .. } => streams::serve_xread(store, db, key, kind, resp3, now),
    }
}

/// Builds a `Spec` table entry.
#[macro_export]
macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $run:expr) => {
        $crate::cmd::Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            run: $run,
        }
    };
}
