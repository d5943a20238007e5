//! List commands, including the blocking pops and moves.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::ctx::tri;
use super::ctx::{get_list, list_or_new, Blocked, Ctx};
use super::spec::spec;
use super::spec::{Spec, BLOCKING, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::blocking::{BlockKind, Waiter};
use crate::keyspace::{Entry, Store, Value};
use crate::protocol::args::{int, is, parse_f64, syntax};
use crate::protocol::reply::{Reply, OK};

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), lpush),
    spec!("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), rpush),
    spec!("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), lpushx),
    spec!("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), rpushx),
    spec!("lpop", -2, WRITE | FAST, (1, 1, 1), lpop),
    spec!("rpop", -2, WRITE | FAST, (1, 1, 1), rpop),
    spec!("llen", 2, READONLY | FAST, (1, 1, 1), llen),
    spec!("lrange", 4, READONLY, (1, 1, 1), lrange),
    spec!("lindex", 3, READONLY, (1, 1, 1), lindex),
    spec!("lset", 4, WRITE | DENYOOM, (1, 1, 1), lset),
    spec!("ltrim", 4, WRITE, (1, 1, 1), ltrim),
    spec!("lrem", 4, WRITE, (1, 1, 1), lrem),
    spec!("linsert", 5, WRITE | DENYOOM, (1, 1, 1), linsert),
    spec!("lpos", -3, READONLY, (1, 1, 1), lpos),
    spec!("lmove", 5, WRITE | DENYOOM, (1, 2, 1), lmove),
    spec!("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), rpoplpush),
    spec!("blpop", -3, WRITE | BLOCKING, (1, -2, 1), blpop),
    spec!("brpop", -3, WRITE | BLOCKING, (1, -2, 1), brpop),
    spec!("blmove", 6, WRITE | DENYOOM | BLOCKING, (1, 2, 1), blmove),
    spec!(
        "brpoplpush",
        4,
        WRITE | DENYOOM | BLOCKING,
        (1, 2, 1),
        brpoplpush
    ),
];

fn push(ctx: &mut Ctx, a: &[Bytes], left: bool, only_existing: bool) -> Reply {
    if only_existing && tri!(get_list(ctx, &a[1])).is_none() {
        return Reply::Int(0);
    }
    let l = tri!(list_or_new(ctx, &a[1]));
    for v in &a[2..] {
        if left {
            l.push_front(v[..].into());
        } else {
            l.push_back(v[..].into());
        }
    }
    let n = l.len();
    ctx.signal(&a[1]);
    Reply::Int(n as i64)
}

fn lpush(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    push(ctx, a, true, false)
}
fn rpush(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    push(ctx, a, false, false)
}
fn lpushx(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    push(ctx, a, true, true)
}
fn rpushx(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    push(ctx, a, false, true)
}

fn pop(ctx: &mut Ctx, a: &[Bytes], left: bool) -> Reply {
    if a.len() > 3 {
        return crate::protocol::args::arity(if left { "lpop" } else { "rpop" });
    }
    let count = match a.get(2) {
        Some(c) => match crate::protocol::args::parse_i64(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Reply::err("value is out of range, must be positive"),
        },
        None => None,
    };
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        };
    };
    let out = match count {
        None => {
            let v = if left { l.pop_front() } else { l.pop_back() };
            v.map_or(Reply::Nil, |v| Reply::Bulk(v.into()))
        }
        Some(n) => {
            let n = n.min(l.len());
            let items: Vec<Bytes> = (0..n)
                .filter_map(|_| if left { l.pop_front() } else { l.pop_back() })
                .map(Bytes::from)
                .collect();
            Reply::bulks(items)
        }
    };
    ctx.drop_if_empty(&a[1]);
    out
}

fn lpop(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    pop(ctx, a, true)
}
fn rpop(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    pop(ctx, a, false)
}

fn llen(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_list(ctx, &a[1])).map_or(0, |l| l.len() as i64))
}

fn lrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (s, e) = (tri!(int(&a[2])), tri!(int(&a[3])));
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return Reply::Array(vec![]);
    };
    match crate::protocol::args::index_range(s, e, l.len()) {
        Some((x, y)) => Reply::bulks(l.range(x..y).map(|v| Bytes::copy_from_slice(v))),
        None => Reply::Array(vec![]),
    }
}

fn abs_index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return Reply::Nil;
    };
    let i = tri!(int(&a[2]));
    abs_index(i, l.len())
        .and_then(|i| l.get(i))
        .map_or(Reply::Nil, |v| Reply::Bulk(Bytes::copy_from_slice(v)))
}

fn lset(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return Reply::err("no such key");
    };
    let i = tri!(int(&a[2]));
    match abs_index(i, l.len()) {
        Some(i) => {
            l[i] = a[3][..].into();
            OK
        }
        None => Reply::err("index out of range"),
    }
}

fn ltrim(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (s, e) = (tri!(int(&a[2])), tri!(int(&a[3])));
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return OK;
    };
    match crate::protocol::args::index_range(s, e, l.len()) {
        Some((x, y)) => {
            l.truncate(y);
            l.drain(..x);
        }
        None => l.clear(),
    }
    ctx.drop_if_empty(&a[1]);
    OK
}

fn lrem(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let count = tri!(int(&a[2]));
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    let v = &a[3];
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < limit {
            if l[i][..] == v[..] {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < limit {
            i -= 1;
            if l[i][..] == v[..] {
                l.remove(i);
                removed += 1;
            }
        }
    }
    ctx.drop_if_empty(&a[1]);
    Reply::Int(removed as i64)
}

fn linsert(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let before = if is(&a[2], "before") {
        true
    } else if is(&a[2], "after") {
        false
    } else {
        return syntax();
    };
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let Some(pos) = l.iter().position(|x| x[..] == a[3][..]) else {
        return Reply::Int(-1);
    };
    l.insert(if before { pos } else { pos + 1 }, a[4][..].into());
    let n = l.len();
    ctx.signal(&a[1]);
    Reply::Int(n as i64)
}

fn lpos(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return syntax();
        };
        let n = tri!(int(v));
        if is(&a[i], "rank") {
            if n == 0 || n == i64::MIN {
                return Reply::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            rank = n;
        } else if is(&a[i], "count") {
            if n < 0 {
                return Reply::err("COUNT can't be negative");
            }
            count = Some(n as usize);
        } else if is(&a[i], "maxlen") {
            if n < 0 {
                return Reply::err("MAXLEN can't be negative");
            }
            maxlen = n as usize;
        } else {
            return syntax();
        }
        i += 2;
    }
    let Some(l) = tri!(get_list(ctx, &a[1])) else {
        return if count.is_some() {
            Reply::Array(vec![])
        } else {
            Reply::Nil
        };
    };
    let len = l.len();
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    let idx: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..scan)
    } else {
        Box::new((len - scan..len).rev())
    };
    let mut skip = rank.unsigned_abs() - 1;
    let want = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    let mut found = Vec::new();
    for i in idx {
        if l[i][..] == a[2][..] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(Reply::Int(i as i64));
            if found.len() >= want {
                break;
            }
        }
    }
    match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    }
}

fn side(b: &[u8]) -> Option<bool> {
    if is(b, "left") {
        Some(true)
    } else if is(b, "right") {
        Some(false)
    } else {
        None
    }
}

/// Moves one element; `Ok(None)` when the source is empty.
fn move_one(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Result<Option<Bytes>, Reply> {
    let Some(l) = get_list(ctx, src)? else {
        return Ok(None);
    };
    if l.is_empty() {
        return Ok(None);
    }
    // Check the destination type before popping, so a WRONGTYPE error changes nothing.
    get_list(ctx, dst)?;
    let Some(l) = get_list(ctx, src)? else {
        return Ok(None);
    };
    let Some(v) = (if from_left {
        l.pop_front()
    } else {
        l.pop_back()
    }) else {
        return Ok(None);
    };
    ctx.drop_if_empty(src);
    let d = list_or_new(ctx, dst)?;
    if to_left {
        d.push_front(v.clone());
    } else {
        d.push_back(v.clone());
    }
    ctx.signal(dst);
    Ok(Some(v.into()))
}

fn lmove(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (Some(fl), Some(tl)) = (side(&a[3]), side(&a[4])) else {
        return syntax();
    };
    tri!(move_one(ctx, &a[1], &a[2], fl, tl)).map_or(Reply::Nil, Reply::Bulk)
}

fn rpoplpush(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    tri!(move_one(ctx, &a[1], &a[2], false, true)).map_or(Reply::Nil, Reply::Bulk)
}

/// Parses a blocking timeout in seconds; `None` = forever.
pub(crate) fn timeout_arg(b: &[u8]) -> Result<Option<Duration>, Reply> {
    let t = parse_f64(b)
        .filter(|t| t.is_finite())
        .ok_or_else(|| Reply::err("timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(Reply::err("timeout is negative"));
    }
    if t > 1e12 {
        return Err(Reply::err("timeout is out of range"));
    }
    Ok((t > 0.0).then(|| Duration::from_secs_f64(t)))
}

/// Registers the calling client as blocked.
pub(crate) fn block_on(
    ctx: &mut Ctx,
    keys: Vec<Bytes>,
    kind: BlockKind,
    timeout: Option<Duration>,
    on_timeout: Reply,
) -> Reply {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let w = Waiter {
        db: ctx.client.db,
        keys,
        kind,
        tx,
        resp3: ctx.client.resp3,
        client: ctx.client.id,
        on_timeout: on_timeout.clone(),
    };
    let id = ctx.store.blocking.register(w);
    ctx.block = Some(Blocked {
        id,
        rx,
        timeout,
        on_timeout,
    });
    ctx.propagate_none();
    Reply::Nil
}

fn bpop(ctx: &mut Ctx, a: &[Bytes], left: bool) -> Reply {
    let timeout = tri!(timeout_arg(&a[a.len() - 1]));
    let keys = &a[1..a.len() - 1];
    for k in keys {
        if let Some(l) = tri!(get_list(ctx, k)) {
            if let Some(v) = if left { l.pop_front() } else { l.pop_back() } {
                ctx.drop_if_empty(k);
                ctx.propagate(vec![
                    Bytes::from_static(if left { b"LPOP" } else { b"RPOP" }),
                    k.clone(),
                ]);
                return Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Bulk(v.into())]);
            }
        }
    }
    if ctx.in_exec {
        ctx.propagate_none();
        return Reply::NilArray;
    }
    block_on(
        ctx,
        keys.to_vec(),
        BlockKind::Pop { left },
        timeout,
        Reply::NilArray,
    )
}

fn blpop(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    bpop(ctx, a, true)
}
fn brpop(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    bpop(ctx, a, false)
}

fn bmove(ctx: &mut Ctx, src: &Bytes, dst: &Bytes, fl: bool, tl: bool, t: &[u8]) -> Reply {
    let timeout = tri!(timeout_arg(t));
    if let Some(v) = tri!(move_one(ctx, src, dst, fl, tl)) {
        ctx.propagate(move_cmd(src, dst, fl, tl));
        return Reply::Bulk(v);
    }
    if ctx.in_exec {
        ctx.propagate_none();
        return Reply::Nil;
    }
    let kind = BlockKind::Move {
        dst: dst.clone(),
        from_left: fl,
        to_left: tl,
    };
    block_on(ctx, vec![src.clone()], kind, timeout, Reply::Nil)
}

fn move_cmd(src: &Bytes, dst: &Bytes, fl: bool, tl: bool) -> Vec<Bytes> {
    let s = |l: bool| Bytes::from_static(if l { b"LEFT" } else { b"RIGHT" });
    vec![
        Bytes::from_static(b"LMOVE"),
        src.clone(),
        dst.clone(),
        s(fl),
        s(tl),
    ]
}

fn blmove(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (Some(fl), Some(tl)) = (side(&a[3]), side(&a[4])) else {
        return syntax();
    };
    bmove(ctx, &a[1], &a[2], fl, tl, &a[5])
}

fn brpoplpush(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    bmove(ctx, &a[1], &a[2], false, true, &a[3])
}

fn list_mut<'a>(
    store: &'a mut Store,
    db: usize,
    key: &[u8],
    now: u64,
) -> Option<&'a mut VecDeque<Box<[u8]>>> {
    match store.dbs[db].get(key, now) {
        Some(Entry {
            val: Value::List(l),
            ..
        }) if !l.is_empty() => Some(l),
        _ => None,
    }
}

fn drop_empty(store: &mut Store, db: usize, key: &[u8], now: u64) {
    if list_mut(store, db, key, now).is_none() {
        if let Some(Entry {
            val: Value::List(_),
            ..
        }) = store.dbs[db].get(key, now)
        {
            store.dbs[db].remove(key);
        }
    }
}

/// Serves a blocked `BLPOP`/`BRPOP` from a ready key.
pub(crate) fn serve_pop(
    store: &mut Store,
    db: usize,
    key: &Bytes,
    left: bool,
    now: u64,
) -> Option<Reply> {
    let l = list_mut(store, db, key, now)?;
    let v = if left { l.pop_front() } else { l.pop_back() }?;
    drop_empty(store, db, key, now);
    store.aof.push(
        db,
        &[
            Bytes::from_static(if left { b"LPOP" } else { b"RPOP" }),
            key.clone(),
        ],
    );
    store.dirty += 1;
    store.watches.touch(db, key);
    Some(Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Bulk(v.into()),
    ]))
}

/// Serves a blocked `BLMOVE`/`BRPOPLPUSH` from a ready key.
pub(crate) fn serve_move(
    store: &mut Store,
    db: usize,
    src: &Bytes,
    dst: &Bytes,
    fl: bool,
    tl: bool,
    now: u64,
) -> Option<Reply> {
    list_mut(store, db, src, now)?;
    if let Some(e) = store.dbs[db].get(dst, now) {
        if !matches!(e.val, Value::List(_)) {
            return Some(crate::protocol::args::wrongtype());
        }
    }
    let l = list_mut(store, db, src, now)?;
    let v = if fl { l.pop_front() } else { l.pop_back() }?;
    drop_empty(store, db, src, now);
    if store.dbs[db].get(dst, now).is_none() {
        store.dbs[db].set(dst, Value::List(Box::default()));
    }
    if let Some(Entry {
        val: Value::List(d),
        ..
    }) = store.dbs[db].get(dst, now)
    {
        if tl {
            d.push_front(v.clone());
        } else {
            d.push_back(v.clone());
        }
    }
    store.aof.push(db, &move_cmd(src, dst, fl, tl));
    store.watches.touch(db, src);
    store.watches.touch(db, dst);
    store.dirty += 1;
    store.blocking.signal(db, dst);
    Some(Reply::Bulk(v.into()))
}
