//! Hash commands.

use bytes::Bytes;

use super::ctx::tri;
use super::ctx::{get_hash, hash_or_new, Ctx};
use super::keys::scan_opts;
use super::spec::spec;
use super::spec::{Spec, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::own;
use crate::protocol::args::{arity, float, int, parse_f64, parse_i64};
use crate::protocol::reply::{Reply, OK};
use crate::util::glob;

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hset),
    spec!("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hmset),
    spec!("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hsetnx),
    spec!("hget", 3, READONLY | FAST, (1, 1, 1), hget),
    spec!("hmget", -3, READONLY | FAST, (1, 1, 1), hmget),
    spec!("hdel", -3, WRITE | FAST, (1, 1, 1), hdel),
    spec!("hexists", 3, READONLY | FAST, (1, 1, 1), hexists),
    spec!("hgetall", 2, READONLY, (1, 1, 1), hgetall),
    spec!("hkeys", 2, READONLY, (1, 1, 1), hkeys),
    spec!("hvals", 2, READONLY, (1, 1, 1), hvals),
    spec!("hlen", 2, READONLY | FAST, (1, 1, 1), hlen),
    spec!("hstrlen", 3, READONLY | FAST, (1, 1, 1), hstrlen),
    spec!("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hincrby),
    spec!(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hincrbyfloat
    ),
    spec!("hscan", -3, READONLY, (1, 1, 1), hscan),
];

fn hset(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if !a.len().is_multiple_of(2) {
        return arity("hset");
    }
    let h = tri!(hash_or_new(ctx, &a[1]));
    let n = a[2..]
        .chunks(2)
        .filter(|fv| match h.get_mut(&fv[0][..]) {
            Some(v) => {
                *v = own(&fv[1]);
                false
            }
            None => h.insert(own(&fv[0]), own(&fv[1])).is_none(),
        })
        .count();
    Reply::Int(n as i64)
}

fn hmset(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if !a.len().is_multiple_of(2) {
        return arity("hmset");
    }
    let r = hset(ctx, a);
    if r.is_error() {
        r
    } else {
        OK
    }
}

fn hsetnx(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let h = tri!(hash_or_new(ctx, &a[1]));
    if h.contains_key(&a[2][..]) {
        return Reply::Int(0);
    }
    h.insert(own(&a[2]), own(&a[3]));
    Reply::Int(1)
}

fn hget(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    tri!(get_hash(ctx, &a[1]))
        .and_then(|h| h.get(&a[2][..]))
        .map_or(Reply::Nil, |v| Reply::Bulk(v.clone()))
}

fn hmget(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let h = tri!(get_hash(ctx, &a[1]));
    Reply::Array(
        a[2..]
            .iter()
            .map(|f| {
                h.as_ref()
                    .and_then(|h| h.get(&f[..]))
                    .map_or(Reply::Nil, |v| Reply::Bulk(v.clone()))
            })
            .collect(),
    )
}

fn hdel(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(h) = tri!(get_hash(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let n = a[2..].iter().filter(|f| h.remove(&f[..]).is_some()).count();
    ctx.drop_if_empty(&a[1]);
    Reply::Int(n as i64)
}

fn hexists(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_hash(ctx, &a[1])).is_some_and(|h| h.contains_key(&a[2][..])) as i64)
}

fn hgetall(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(h) = tri!(get_hash(ctx, &a[1])) else {
        return Reply::Map(vec![]);
    };
    Reply::Map(
        h.iter()
            .map(|(k, v)| (Reply::Bulk(k.clone()), Reply::Bulk(v.clone())))
            .collect(),
    )
}

fn hkeys(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::bulks(
        tri!(get_hash(ctx, &a[1]))
            .map(|h| h.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default(),
    )
}

fn hvals(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::bulks(
        tri!(get_hash(ctx, &a[1]))
            .map(|h| h.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default(),
    )
}

fn hlen(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_hash(ctx, &a[1])).map_or(0, |h| h.len() as i64))
}

fn hstrlen(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(
        tri!(get_hash(ctx, &a[1]))
            .and_then(|h| h.get(&a[2][..]))
            .map_or(0, |v| v.len() as i64),
    )
}

fn hincrby(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let by = tri!(int(&a[3]));
    let h = tri!(hash_or_new(ctx, &a[1]));
    let cur = match h.get(&a[2][..]) {
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return Reply::err("hash value is not an integer"),
        },
        None => 0,
    };
    let Some(n) = cur.checked_add(by) else {
        return Reply::err("increment or decrement would overflow");
    };
    h.insert(a[2].clone(), Bytes::from(n.to_string()));
    Reply::Int(n)
}

fn hincrbyfloat(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if !tri!(float(&a[3])).is_finite() {
        return Reply::err("value is NaN or Infinity");
    }
    let h = tri!(hash_or_new(ctx, &a[1]));
    let cur = match h.get(&a[2][..]) {
        Some(v) if parse_f64(v).is_some() => v.clone(),
        Some(_) => return Reply::err("hash value is not a float"),
        None => Bytes::from_static(b"0"),
    };
    let Some(text) = crate::util::decimal::add(&cur, &a[3]) else {
        return Reply::err("increment would produce NaN or Infinity");
    };
    let text = Bytes::from(text);
    h.insert(a[2].clone(), text.clone());
    ctx.propagate(vec![
        Bytes::from_static(b"HSET"),
        a[1].clone(),
        a[2].clone(),
        text.clone(),
    ]);
    Reply::Bulk(text)
}

/// Returns all fields in one page (cursor 0), filtered by MATCH.
fn hscan(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (_, o) = tri!(scan_opts(a, 2, false));
    let mut out = Vec::new();
    if let Some(h) = tri!(get_hash(ctx, &a[1])) {
        for (k, v) in h.iter() {
            if o.pat.as_ref().is_none_or(|p| glob::matches(p, k)) {
                out.push(Reply::Bulk(k.clone()));
                out.push(Reply::Bulk(v.clone()));
            }
        }
    }
    Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(out)])
}
