//! Dispatch: what is common to every command (lookup, arity, protected commands,
//! authentication, `MISCONF` refusal while persistence fails, `MULTI` queueing,
//! `maxmemory`, append-only propagation, `WATCH` marking), nested commands (`EXEC`,
//! `DEBUG RELOAD`), and serving clients blocked on keys a command just filled.

use bytes::Bytes;

use super::ctx::{Ctx, Nested};
use super::spec::{Spec, DENYOOM, NOAUTH, NOMULTI, PROTECTED, WRITE};
use super::table::lookup;
use super::{lists, streams};
use crate::keyspace::blocking::BlockKind;
use crate::keyspace::Store;
use crate::protocol::args::arity;
use crate::protocol::reply::Reply;

/// Redis's reply for an unknown command, quoting the start of the arguments.
pub(crate) fn unknown_command(args: &[Bytes]) -> Reply {
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

fn arity_ok(spec: &Spec, n: usize) -> bool {
    let n = n as i32;
    if spec.arity >= 0 {
        n == spec.arity
    } else {
        n >= -spec.arity
    }
}

/// Runs one command from a client (queueing it when inside `MULTI`).
pub(crate) fn exec(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(spec) = lookup(&args[0]) else {
        flag_multi_error(ctx);
        return unknown_command(args);
    };
    if !arity_ok(spec, args.len()) {
        flag_multi_error(ctx);
        return arity(spec.name);
    }
    if spec.flags & PROTECTED != 0 && !protected_allowed(ctx) {
        flag_multi_error(ctx);
        return Reply::err(format!("{} command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.", spec.name.to_ascii_uppercase()));
    }
    if !ctx.client.authed && spec.flags & NOAUTH == 0 {
        flag_multi_error(ctx);
        return Reply::Error("NOAUTH Authentication required.".into());
    }
    if let Some(refusal) = disk_refusal(ctx, spec) {
        if spec.name == "exec" {
            return exec_abort(ctx, &refusal);
        }
        flag_multi_error(ctx);
        return Reply::Error(refusal);
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
    // A write command's or EXEC's reply acknowledges a write: it must not go out before
    // the write is persisted. Read commands also feed the append-only file (a lazily
    // expired key's `DEL`) but acknowledge nothing.
    ctx.acks_write = spec.flags & WRITE != 0 || spec.name == "exec";
    run(ctx, spec, args)
}

/// True when `enable-debug-command` lets this client run `DEBUG` (the only protected
/// command d4-kv has; it has no `MODULE`).
fn protected_allowed(ctx: &Ctx) -> bool {
    let peer = ctx.client.peer_ip();
    ctx.shared.config.read().enable_debug_command.allows(peer)
}

/// True for commands Redis refuses while persistence fails: writes, `EXEC` of a queue
/// holding a write, and `PING` (so health checks notice).
fn refused_on_disk_error(spec: &Spec, multi: Option<&[Vec<Bytes>]>) -> bool {
    match spec.name {
        "ping" => true,
        "exec" => multi.is_some_and(|q| q.iter().any(|a| is_write(&a[0]))),
        _ => spec.flags & WRITE != 0,
    }
}

/// True when `name` is a command that modifies data.
fn is_write(name: &[u8]) -> bool {
    lookup(name).is_some_and(|s| s.flags & WRITE != 0)
}

/// The `MISCONF` error when persistence is failing and `spec` must be refused.
/// Asks the status first: two atomic loads while the disk is healthy.
fn disk_refusal(ctx: &Ctx, spec: &Spec) -> Option<String> {
    if ctx.store.loading {
        return None;
    }
    let refusal = ctx.shared.persist.status.refusal(|| {
        let cfg = ctx.shared.config.read();
        cfg.stop_writes_on_bgsave_error && !cfg.save.is_empty()
    })?;
    refused_on_disk_error(spec, ctx.client.multi.as_deref()).then_some(refusal)
}

/// Redis's answer to an `EXEC` refused before it ran: the transaction is discarded.
fn exec_abort(ctx: &mut Ctx, refusal: &str) -> Reply {
    ctx.client.multi = None;
    ctx.client.multi_error = false;
    super::transactions::unwatch_all(ctx);
    Reply::Error(format!(
        "EXECABORT Transaction discarded because of: {refusal}"
    ))
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
pub(crate) fn run(ctx: &mut Ctx, spec: &Spec, args: &[Bytes]) -> Reply {
    if spec.flags & DENYOOM != 0 && ctx.shared.over_maxmemory() {
        return oom();
    }
    ctx.prop = None;
    let mut reply = (spec.run)(ctx, args);
    match ctx.nested.take() {
        None => {}
        Some(Nested::Transaction(queue)) => reply = transaction(ctx, &queue),
        Some(Nested::Reload(cmds)) => reload(ctx, cmds),
    }
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

/// Runs `EXEC`'s queue as one transaction: wrapped in `MULTI`/`EXEC` in the append-only
/// file (nothing at all when no command wrote), blocked clients served only at the end.
fn transaction(ctx: &mut Ctx, queue: &[Vec<Bytes>]) -> Reply {
    let db = ctx.client.db;
    let mark = ctx.store.aof.mark();
    ctx.store.aof.push(db, &[Bytes::from_static(b"MULTI")]);
    let after_multi = ctx.store.aof.seq;
    let was = std::mem::replace(&mut ctx.in_exec, true);
    let mut out = Vec::with_capacity(queue.len());
    for a in queue {
        match lookup(&a[0]) {
            Some(spec) => out.push(run(ctx, spec, a)),
            None => out.push(unknown_command(a)),
        }
    }
    ctx.in_exec = was;
    if ctx.store.aof.seq == after_multi {
        ctx.store.aof.rollback(mark);
    } else {
        let db = ctx.client.db;
        ctx.store.aof.push(db, &[Bytes::from_static(b"EXEC")]);
    }
    Reply::Array(out)
}

/// Replays `DEBUG RELOAD`'s rebuild commands like a load: expiry suspended, nothing
/// propagated, the client's database restored afterwards.
fn reload(ctx: &mut Ctx, cmds: Vec<Vec<Bytes>>) {
    let (db, enabled) = (ctx.client.db, ctx.store.aof.enabled);
    ctx.store.aof.enabled = false;
    ctx.store.loading = true;
    for c in cmds {
        if let Some(spec) = lookup(&c[0]) {
            run(ctx, spec, &c);
        }
    }
    ctx.store.loading = false;
    ctx.store.aof.enabled = enabled;
    ctx.client.db = db;
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
pub(crate) fn serve_ready(store: &mut Store, now: u64) {
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
                if matches!(kind, BlockKind::XRead { .. }) {
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
    kind: &BlockKind,
    resp3: bool,
    now: u64,
) -> Option<Reply> {
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
