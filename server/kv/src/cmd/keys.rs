//! Generic key commands: DEL/EXISTS/TYPE/KEYS/SCAN/RENAME, deadlines (EXPIRE family,
//! TTL, PERSIST) and RANDOMKEY.

use std::hash::BuildHasher;

use bytes::Bytes;

use super::ctx::tri;
use super::ctx::Ctx;
use super::spec::spec;
use super::spec::{Spec, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::Value;
use crate::protocol::args::{int, is, syntax};
use crate::protocol::reply::{Reply, OK};
use crate::util::glob;

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("del", -2, WRITE, (1, -1, 1), del),
    spec!("unlink", -2, WRITE | FAST, (1, -1, 1), del),
    spec!("exists", -2, READONLY | FAST, (1, -1, 1), exists),
    spec!("type", 2, READONLY | FAST, (1, 1, 1), type_),
    spec!("keys", 2, READONLY, (0, 0, 0), keys),
    spec!("scan", -2, READONLY, (0, 0, 0), scan),
    spec!("randomkey", 1, READONLY, (0, 0, 0), randomkey),
    spec!("rename", 3, WRITE, (1, 2, 1), rename),
    spec!("renamenx", 3, WRITE | FAST, (1, 2, 1), renamenx),
    spec!("expire", -3, WRITE | FAST, (1, 1, 1), expire),
    spec!("pexpire", -3, WRITE | FAST, (1, 1, 1), pexpire),
    spec!("expireat", -3, WRITE | FAST, (1, 1, 1), expireat),
    spec!("pexpireat", -3, WRITE | FAST, (1, 1, 1), pexpireat),
    spec!("ttl", 2, READONLY | FAST, (1, 1, 1), ttl),
    spec!("pttl", 2, READONLY | FAST, (1, 1, 1), pttl),
    spec!("expiretime", 2, READONLY | FAST, (1, 1, 1), expiretime),
    spec!("pexpiretime", 2, READONLY | FAST, (1, 1, 1), pexpiretime),
    spec!("persist", 2, WRITE | FAST, (1, 1, 1), persist),
    spec!("copy", -3, WRITE | DENYOOM, (1, 2, 1), copy),
    spec!("move", 3, WRITE | FAST, (1, 1, 1), move_),
];

fn move_(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let n = tri!(int(&a[2]));
    if n < 0 || n as usize >= ctx.store.dbs.len() {
        return Reply::err("DB index is out of range");
    }
    let db = n as usize;
    if db == ctx.client.db {
        return Reply::err("source and destination objects are the same");
    }
    if ctx.get(&a[1]).is_none() {
        return Reply::Int(0);
    }
    let now = ctx.expiry_now();
    if ctx.store.dbs[db].get(&a[1], now).is_some() {
        return Reply::Int(0);
    }
    let Some(e) = ctx.db().remove(&a[1]) else {
        return Reply::Int(0);
    };
    let blockable = matches!(e.val, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
    let exp = e.exp();
    ctx.store.dbs[db].insert(&a[1], e.val, exp);
    if blockable {
        ctx.store.blocking.signal(db, &a[1]);
    }
    Reply::Int(1)
}

fn copy(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (mut db, mut replace) = (ctx.client.db, false);
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "replace") {
            replace = true;
        } else if is(&a[i], "db") && i + 1 < a.len() {
            let n = tri!(int(&a[i + 1]));
            if n < 0 || n as usize >= ctx.store.dbs.len() {
                return Reply::err("DB index is out of range");
            }
            db = n as usize;
            i += 1;
        } else {
            return syntax();
        }
        i += 1;
    }
    if db == ctx.client.db && a[1] == a[2] {
        return Reply::err("source and destination objects are the same");
    }
    let Some(e) = ctx.get(&a[1]).cloned() else {
        return Reply::Int(0);
    };
    let now = ctx.expiry_now();
    if ctx.store.dbs[db].get(&a[2], now).is_some() {
        if !replace {
            return Reply::Int(0);
        }
        ctx.store.dbs[db].remove(&a[2]);
    }
    let is_blockable = matches!(e.val, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
    let exp = e.exp();
    ctx.store.dbs[db].insert(&a[2], e.val, exp);
    if is_blockable {
        ctx.store.blocking.signal(db, &a[2]);
    }
    Reply::Int(1)
}

fn del(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut n = 0;
    for k in &a[1..] {
        if ctx.get(k).is_some() {
            ctx.db().remove(k);
            n += 1;
        }
    }
    Reply::Int(n)
}

fn exists(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(a[1..].iter().filter(|k| ctx.get(k).is_some()).count() as i64)
}

fn type_(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Status(ctx.get(&a[1]).map_or("none", |e| e.val.type_name()))
}

fn keys(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let now = ctx.expiry_now();
    let all = ctx.db().keys(now);
    let pat = &a[1];
    let star = &pat[..] == b"*";
    Reply::bulks(all.into_iter().filter(|k| star || glob::matches(pat, k)))
}

/// Position of a key in SCAN order: a fixed hash, so a cursor stays meaningful while
/// keys come and go (every key present for the whole scan is returned).
fn scan_pos(k: &[u8]) -> u64 {
    const SEED: u64 = 0x5eed_d4d4_5eed_d4d4;
    (foldhash::fast::FixedState::with_seed(SEED).hash_one(k) >> 1) + 1
}

/// Common `SCAN`-style options: MATCH, COUNT, TYPE.
pub(crate) struct ScanOpts {
    /// MATCH pattern.
    pub pat: Option<Bytes>,
    /// COUNT hint.
    pub count: usize,
    /// TYPE filter.
    pub kind: Option<Bytes>,
}

/// Parses `cursor [MATCH p] [COUNT n] [TYPE t]` starting at `a[i]` (the cursor).
pub(crate) fn scan_opts(a: &[Bytes], i: usize, allow_type: bool) -> Result<(u64, ScanOpts), Reply> {
    let cursor: u64 = std::str::from_utf8(&a[i])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Reply::err("invalid cursor"))?;
    let mut o = ScanOpts {
        pat: None,
        count: 10,
        kind: None,
    };
    let mut j = i + 1;
    while j < a.len() {
        let Some(v) = a.get(j + 1) else {
            return Err(syntax());
        };
        if is(&a[j], "match") {
            o.pat = Some(v.clone());
        } else if is(&a[j], "count") {
            let n = int(v)?;
            if n < 1 {
                return Err(syntax());
            }
            o.count = n as usize;
        } else if allow_type && is(&a[j], "type") {
            o.kind = Some(v.clone());
        } else {
            return Err(syntax());
        }
        j += 2;
    }
    Ok((cursor, o))
}

/// One SCAN step. The first call (cursor 0) snapshots the key names sorted by position;
/// following calls of the same client continue from that snapshot, skipping keys deleted
/// since. Keys present for the whole iteration are therefore returned exactly once, and a
/// full iteration costs one O(n log n) pass instead of one per call.
fn scan(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (cursor, o) = tri!(scan_opts(a, 1, true));
    let db = ctx.client.db;
    let reuse = cursor != 0 && matches!(&ctx.client.scan_snapshot, Some((d, _)) if *d == db);
    if !reuse {
        let now = ctx.expiry_now();
        let mut all: Vec<(u64, Bytes)> = ctx
            .db()
            .keys(now)
            .into_iter()
            .map(|k| (scan_pos(&k), k))
            .collect();
        all.sort_unstable_by_key(|(p, _)| *p);
        ctx.client.scan_snapshot = Some((db, all));
    }
    let (page, next) = match &ctx.client.scan_snapshot {
        Some((_, snap)) => {
            let start = snap.partition_point(|(p, _)| *p < cursor);
            let mut end = (start + o.count).min(snap.len());
            // Never split keys with the same position across two calls.
            while end > start && end < snap.len() && snap[end].0 == snap[end - 1].0 {
                end += 1;
            }
            let next = if end < snap.len() { snap[end].0 } else { 0 };
            (
                snap[start..end]
                    .iter()
                    .map(|(_, k)| k.clone())
                    .collect::<Vec<_>>(),
                next,
            )
        }
        None => (Vec::new(), 0),
    };
    if next == 0 {
        ctx.client.scan_snapshot = None;
    }
    let mut out = Vec::new();
    for k in page {
        if o.pat.as_ref().is_some_and(|p| !glob::matches(p, &k)) {
            continue;
        }
        let Some(e) = ctx.get(&k) else { continue };
        if let Some(t) = &o.kind {
            if !t.eq_ignore_ascii_case(e.val.type_name().as_bytes()) {
                continue;
            }
        }
        out.push(Reply::Bulk(k));
    }
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

fn randomkey(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    for _ in 0..100 {
        let Some(k) = ctx.db().random_key() else {
            return Reply::Nil;
        };
        if ctx.get(&k).is_some() {
            return Reply::Bulk(k);
        }
    }
    Reply::Nil
}

fn rename_common(ctx: &mut Ctx, a: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&a[1], &a[2]);
    if ctx.get(src).is_none() {
        return Reply::err("no such key");
    }
    if src == dst {
        ctx.propagate_none();
        return if nx { Reply::Int(0) } else { OK };
    }
    if nx && ctx.get(dst).is_some() {
        ctx.propagate_none();
        return Reply::Int(0);
    }
    let Some(e) = ctx.db().remove(src) else {
        return Reply::err("no such key");
    };
    let is_list = matches!(e.val, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
    let exp = e.exp();
    ctx.db().insert(dst, e.val, exp);
    if is_list {
        ctx.signal(dst);
    }
    if nx {
        Reply::Int(1)
    } else {
        OK
    }
}

fn rename(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    rename_common(ctx, a, false)
}

fn renamenx(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    rename_common(ctx, a, true)
}

/// `EXPIRE` family: `unit` ms per argument unit, `absolute` for the *AT forms.
fn expire_generic(ctx: &mut Ctx, a: &[Bytes], unit: i64, absolute: bool) -> Reply {
    let cmd = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        match () {
            _ if is(o, "nx") => nx = true,
            _ if is(o, "xx") => xx = true,
            _ if is(o, "gt") => gt = true,
            _ if is(o, "lt") => lt = true,
            _ => return Reply::err(format!("Unsupported option {}", String::from_utf8_lossy(o))),
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::err("NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::err("GT and LT options at the same time are not compatible");
    }
    let n = tri!(int(&a[2]));
    let bad = || Reply::err(format!("invalid expire time in '{cmd}' command"));
    let Some(ms) = n.checked_mul(unit) else {
        return bad();
    };
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(ctx.now as i64)
    };
    let Some(at) = at else { return bad() };
    let Some(e) = ctx.get(&a[1]) else {
        ctx.propagate_none();
        return Reply::Int(0);
    };
    let cur = e.exp();
    let ok = match cur {
        None => !xx && !gt,
        Some(t) => !nx && (!gt || at > t as i64) && (!lt || at < t as i64),
    };
    if !ok {
        ctx.propagate_none();
        return Reply::Int(0);
    }
    if at <= ctx.now as i64 && !ctx.store.loading {
        ctx.db().remove(&a[1]);
        ctx.store.stats.expired += 1;
        ctx.propagate(vec![Bytes::from_static(b"DEL"), a[1].clone()]);
        return Reply::Int(1);
    }
    ctx.db().set_expire(&a[1], at.max(0) as u64);
    ctx.propagate(vec![
        Bytes::from_static(b"PEXPIREAT"),
        a[1].clone(),
        Bytes::from(at.to_string()),
    ]);
    Reply::Int(1)
}

fn expire(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    expire_generic(ctx, a, 1000, false)
}
fn pexpire(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    expire_generic(ctx, a, 1, false)
}
fn expireat(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    expire_generic(ctx, a, 1000, true)
}
fn pexpireat(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    expire_generic(ctx, a, 1, true)
}

/// -2 missing, -1 no deadline, else `f(deadline)`.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], f: impl Fn(u64, u64) -> i64) -> Reply {
    let now = ctx.now;
    match ctx.get(key) {
        None => Reply::Int(-2),
        Some(e) => Reply::Int(e.exp().map_or(-1, |t| f(t, now))),
    }
}

fn ttl(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    ttl_generic(ctx, &a[1], |t, now| {
        ((t.saturating_sub(now) + 500) / 1000) as i64
    })
}
fn pttl(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    ttl_generic(ctx, &a[1], |t, now| t.saturating_sub(now) as i64)
}
fn expiretime(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    ttl_generic(ctx, &a[1], |t, _| (t / 1000) as i64)
}
fn pexpiretime(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    ttl_generic(ctx, &a[1], |t, _| t as i64)
}

fn persist(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if ctx.get(&a[1]).is_none() {
        return Reply::Int(0);
    }
    Reply::Int(ctx.db().persist(&a[1]) as i64)
}
