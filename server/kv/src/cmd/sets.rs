//! Set commands, including the algebra (`SUNION`/`SINTER`/`SDIFF` and STORE forms).

use bytes::Bytes;
use rand::seq::IteratorRandom;
use rand::Rng;

use super::ctx::tri;
use super::ctx::{get_set, set_or_new, Ctx};
use super::keys::scan_opts;
use super::spec::spec;
use super::spec::{Spec, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::{Set, Value};
use crate::protocol::args::{int, is, syntax};
use crate::protocol::reply::Reply;
use crate::util::glob;

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd),
    spec!("srem", -3, WRITE | FAST, (1, 1, 1), srem),
    spec!("smembers", 2, READONLY, (1, 1, 1), smembers),
    spec!("sismember", 3, READONLY | FAST, (1, 1, 1), sismember),
    spec!("smismember", -3, READONLY | FAST, (1, 1, 1), smismember),
    spec!("scard", 2, READONLY | FAST, (1, 1, 1), scard),
    spec!("spop", -2, WRITE | FAST, (1, 1, 1), spop),
    spec!("srandmember", -2, READONLY, (1, 1, 1), srandmember),
    spec!("sscan", -3, READONLY, (1, 1, 1), sscan),
    spec!("sunion", -2, READONLY, (1, -1, 1), sunion),
    spec!("sinter", -2, READONLY, (1, -1, 1), sinter),
    spec!("sdiff", -2, READONLY, (1, -1, 1), sdiff),
    spec!("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), sunionstore),
    spec!("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), sinterstore),
    spec!("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), sdiffstore),
    spec!("sintercard", -3, READONLY, (2, -1, 1), sintercard),
    spec!("smove", 4, WRITE | FAST, (1, 2, 1), smove),
];

fn sadd(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let s = tri!(set_or_new(ctx, &a[1]));
    let new = a[2..]
        .iter()
        .filter(|m| !s.contains(&m[..]) && s.insert(m[..].into()));
    Reply::Int(new.count() as i64)
}

fn srem(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(s) = tri!(get_set(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let n = a[2..].iter().filter(|m| s.remove(&m[..])).count();
    ctx.drop_if_empty(&a[1]);
    Reply::Int(n as i64)
}

/// A set as stored: exact-size copies of its members.
type Members = Set<Box<[u8]>>;

fn set_reply(items: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Set(items.into_iter().map(Reply::Bulk).collect())
}

/// A reply's copy of a stored member.
fn member(m: &[u8]) -> Bytes {
    Bytes::copy_from_slice(m)
}

fn smembers(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    match tri!(get_set(ctx, &a[1])) {
        Some(s) => set_reply(s.iter().map(|m| member(m))),
        None => Reply::Set(vec![]),
    }
}

fn sismember(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_set(ctx, &a[1])).is_some_and(|s| s.contains(&a[2][..])) as i64)
}

fn smismember(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let s = tri!(get_set(ctx, &a[1]));
    Reply::Array(
        a[2..]
            .iter()
            .map(|m| Reply::Int(s.as_ref().is_some_and(|s| s.contains(&m[..])) as i64))
            .collect(),
    )
}

fn scard(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_set(ctx, &a[1])).map_or(0, |s| s.len() as i64))
}

fn spop(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len() > 3 {
        return syntax();
    }
    let count = match a.get(2) {
        Some(c) => match crate::protocol::args::parse_i64(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Reply::err("value is out of range, must be positive"),
        },
        None => None,
    };
    let Some(s) = tri!(get_set(ctx, &a[1])) else {
        ctx.propagate_none();
        return if count.is_some() {
            Reply::Set(vec![])
        } else {
            Reply::Nil
        };
    };
    let n = count.unwrap_or(1);
    let picked: Vec<Box<[u8]>> = s
        .iter()
        .cloned()
        .choose_multiple(&mut rand::thread_rng(), n);
    for m in &picked {
        s.remove(m);
    }
    ctx.drop_if_empty(&a[1]);
    if picked.is_empty() {
        ctx.propagate_none();
    } else {
        let mut cmd = vec![Bytes::from_static(b"SREM"), a[1].clone()];
        cmd.extend(picked.iter().map(|m| member(m)));
        ctx.propagate(cmd);
    }
    match count {
        None => picked
            .into_iter()
            .next()
            .map_or(Reply::Nil, |m| Reply::Bulk(m.into())),
        Some(_) => set_reply(picked.into_iter().map(Bytes::from)),
    }
}

fn srandmember(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len() > 3 {
        return syntax();
    }
    let count = match a.get(2) {
        Some(c) => Some(tri!(int(c))),
        None => None,
    };
    if count.is_some_and(|c| c < -(i64::MAX / 2)) {
        return Reply::err("value is out of range");
    }
    let Some(s) = tri!(get_set(ctx, &a[1])) else {
        return if count.is_some() {
            Reply::Array(vec![])
        } else {
            Reply::Nil
        };
    };
    let mut rng = rand::thread_rng();
    match count {
        None => s
            .iter()
            .choose(&mut rng)
            .map_or(Reply::Nil, |m| Reply::Bulk(member(m))),
        Some(c) if c >= 0 => Reply::bulks(
            s.iter()
                .choose_multiple(&mut rng, c as usize)
                .into_iter()
                .map(|m| member(m)),
        ),
        Some(c) => {
            let all: Vec<&Box<[u8]>> = s.iter().collect();
            Reply::bulks((0..c.unsigned_abs()).map(|_| member(all[rng.gen_range(0..all.len())])))
        }
    }
}

/// Returns all members in one page (cursor 0), filtered by MATCH; COUNT is a hint only.
fn sscan(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (_, o) = tri!(scan_opts(a, 2, false));
    let items: Vec<Bytes> = match tri!(get_set(ctx, &a[1])) {
        Some(s) => s
            .iter()
            .filter(|m| o.pat.as_ref().is_none_or(|p| glob::matches(p, m)))
            .map(|m| member(m))
            .collect(),
        None => vec![],
    };
    Reply::Array(vec![Reply::bulk_str("0"), Reply::bulks(items)])
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// Computes a set operation over keys (missing keys are empty sets).
fn compute(ctx: &mut Ctx, keys: &[Bytes], op: Op) -> Result<Members, Reply> {
    let mut sets: Vec<Option<Members>> = Vec::with_capacity(keys.len());
    for k in keys {
        sets.push(get_set(ctx, k)?.map(|s| s.clone()));
    }
    let mut it = sets.into_iter();
    let first = it.next().flatten().unwrap_or_default();
    let rest: Vec<Option<Members>> = it.collect();
    Ok(match op {
        Op::Union => rest.into_iter().flatten().fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        Op::Inter => {
            if rest.iter().any(Option::is_none) {
                return Ok(Set::default());
            }
            let rest: Vec<Members> = rest.into_iter().flatten().collect();
            first
                .into_iter()
                .filter(|m| rest.iter().all(|s| s.contains(m)))
                .collect()
        }
        Op::Diff => {
            let rest: Vec<Members> = rest.into_iter().flatten().collect();
            first
                .into_iter()
                .filter(|m| !rest.iter().any(|s| s.contains(m)))
                .collect()
        }
    })
}

fn sunion(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    set_reply(
        tri!(compute(ctx, &a[1..], Op::Union))
            .into_iter()
            .map(Bytes::from),
    )
}
fn sinter(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    set_reply(
        tri!(compute(ctx, &a[1..], Op::Inter))
            .into_iter()
            .map(Bytes::from),
    )
}
fn sdiff(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    set_reply(
        tri!(compute(ctx, &a[1..], Op::Diff))
            .into_iter()
            .map(Bytes::from),
    )
}

fn store(ctx: &mut Ctx, a: &[Bytes], op: Op) -> Reply {
    let r = tri!(compute(ctx, &a[2..], op));
    let n = r.len();
    ctx.db().remove(&a[1]);
    if n > 0 {
        ctx.db().set(&a[1], Value::Set(Box::new(r)));
    }
    Reply::Int(n as i64)
}

fn sunionstore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    store(ctx, a, Op::Union)
}
fn sinterstore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    store(ctx, a, Op::Inter)
}
fn sdiffstore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    store(ctx, a, Op::Diff)
}

fn sintercard(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let n = match crate::protocol::args::parse_i64(&a[1]) {
        Some(n) if n > 0 => n as usize,
        _ => return Reply::err("numkeys should be greater than 0"),
    };
    if a.len() < 2 + n {
        return Reply::err("Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let rest = &a[2 + n..];
    if !rest.is_empty() {
        if rest.len() != 2 || !is(&rest[0], "limit") {
            return syntax();
        }
        match crate::protocol::args::parse_i64(&rest[1]) {
            Some(l) if l >= 0 => limit = l as usize,
            _ => return Reply::err("LIMIT can't be negative"),
        }
    }
    let r = tri!(compute(ctx, &a[2..2 + n], Op::Inter)).len();
    Reply::Int(if limit > 0 { r.min(limit) } else { r } as i64)
}

fn smove(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (src, dst, m) = (&a[1], &a[2], &a[3]);
    if ctx.get(src).is_none() {
        return Reply::Int(0);
    }
    tri!(get_set(ctx, src));
    tri!(get_set(ctx, dst));
    let Some(s) = tri!(get_set(ctx, src)) else {
        return Reply::Int(0);
    };
    if src == dst {
        let hit = s.contains(&m[..]);
        ctx.propagate_none();
        return Reply::Int(hit as i64);
    }
    if !s.remove(&m[..]) {
        return Reply::Int(0);
    }
    ctx.drop_if_empty(src);
    tri!(set_or_new(ctx, dst)).insert(m[..].into());
    Reply::Int(1)
}
