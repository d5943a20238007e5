//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. `EXEC` checks the queue and the
//! watched keys here; running the queued commands is the dispatcher's job
//! ([`Nested::Transaction`]).

use bytes::Bytes;

use super::ctx::{Ctx, Nested};
use super::spec::{spec, Spec, FAST, NOMULTI};
use crate::protocol::reply::{Reply, OK};

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("multi", 1, FAST | NOMULTI, (0, 0, 0), multi),
    spec!("exec", 1, NOMULTI, (0, 0, 0), exec),
    spec!("discard", 1, FAST | NOMULTI, (0, 0, 0), discard),
    spec!("watch", -2, FAST | NOMULTI, (1, -1, 1), watch),
    spec!("unwatch", 1, FAST | NOMULTI, (0, 0, 0), unwatch),
];

fn watch(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::err("WATCH inside MULTI is not allowed");
    }
    let db = ctx.client.db;
    for k in &a[1..] {
        if ctx
            .client
            .watching
            .iter()
            .any(|(d, w, _)| *d == db && w == k)
        {
            continue;
        }
        let existed = ctx.get(k).is_some();
        ctx.store.watches.watch(ctx.client.id, db, k.clone());
        ctx.client.watching.push((db, k.clone(), existed));
    }
    OK
}

/// Drops all of the client's watches.
pub(crate) fn unwatch_all(ctx: &mut Ctx) {
    let keys = std::mem::take(&mut ctx.client.watching);
    ctx.store.watches.unwatch(ctx.client.id, &keys);
}

fn unwatch(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    unwatch_all(ctx);
    OK
}

/// True when a watched key changed (touched, or existed at WATCH and is gone now).
fn watch_broken(ctx: &mut Ctx) -> bool {
    if ctx.store.watches.is_broken(ctx.client.id) {
        return true;
    }
    let now = ctx.expiry_now();
    let watched = ctx.client.watching.clone();
    watched
        .iter()
        .any(|(db, k, existed)| *existed && ctx.store.dbs[*db].peek(k, now).is_none())
}

fn multi(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::err("MULTI calls can not be nested");
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    OK
}

fn discard(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    if ctx.client.multi.take().is_none() {
        return Reply::err("DISCARD without MULTI");
    }
    unwatch_all(ctx);
    ctx.client.multi_error = false;
    OK
}

fn exec(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    let Some(queue) = ctx.client.multi.take() else {
        return Reply::err("EXEC without MULTI");
    };
    if std::mem::take(&mut ctx.client.multi_error) {
        unwatch_all(ctx);
        return Reply::Error("EXECABORT Transaction discarded because of previous errors.".into());
    }
    let broken = watch_broken(ctx);
    unwatch_all(ctx);
    if broken {
        return Reply::NilArray;
    }
    ctx.nested = Some(Nested::Transaction(queue));
    // Replaced by the dispatcher with the replies of the queued commands.
    Reply::NilArray
}
