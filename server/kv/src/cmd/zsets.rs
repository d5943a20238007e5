//! Sorted-set commands: ZADD with all flags, score/rank lookups, the unified `ZRANGE`
//! (by rank, score or lex, reversed, limited) and its legacy spellings, removals, pops.

use bytes::Bytes;

use super::ctx::tri;
use super::ctx::{get_zset, zset_or_new, Ctx};
use super::keys::scan_opts;
use super::spec::spec;
use super::spec::{Spec, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::types::ZSet;
use crate::protocol::args::{float, index_range, int, is, syntax, LexBound, ScoreBound};
use crate::protocol::reply::{fmt_double, Reply};
use crate::util::glob;

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), zadd),
    spec!("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), zincrby),
    spec!("zscore", 3, READONLY | FAST, (1, 1, 1), zscore),
    spec!("zmscore", -3, READONLY | FAST, (1, 1, 1), zmscore),
    spec!("zcard", 2, READONLY | FAST, (1, 1, 1), zcard),
    spec!("zcount", 4, READONLY | FAST, (1, 1, 1), zcount),
    spec!("zlexcount", 4, READONLY | FAST, (1, 1, 1), zlexcount),
    spec!("zrank", 3, READONLY | FAST, (1, 1, 1), zrank),
    spec!("zrevrank", 3, READONLY | FAST, (1, 1, 1), zrevrank),
    spec!("zrange", -4, READONLY, (1, 1, 1), zrange),
    spec!("zrevrange", -4, READONLY, (1, 1, 1), zrevrange),
    spec!("zrangebyscore", -4, READONLY, (1, 1, 1), zrangebyscore),
    spec!(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        zrevrangebyscore
    ),
    spec!("zrangebylex", -4, READONLY, (1, 1, 1), zrangebylex),
    spec!("zrevrangebylex", -4, READONLY, (1, 1, 1), zrevrangebylex),
    spec!("zrem", -3, WRITE | FAST, (1, 1, 1), zrem),
    spec!("zremrangebyrank", 4, WRITE, (1, 1, 1), zremrangebyrank),
    spec!("zremrangebyscore", 4, WRITE, (1, 1, 1), zremrangebyscore),
    spec!("zremrangebylex", 4, WRITE, (1, 1, 1), zremrangebylex),
    spec!("zpopmin", -2, WRITE | FAST, (1, 1, 1), zpopmin),
    spec!("zpopmax", -2, WRITE | FAST, (1, 1, 1), zpopmax),
    spec!("zscan", -3, READONLY, (1, 1, 1), zscan),
];

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        match () {
            _ if is(o, "nx") => f.nx = true,
            _ if is(o, "xx") => f.xx = true,
            _ if is(o, "gt") => f.gt = true,
            _ if is(o, "lt") => f.lt = true,
            _ if is(o, "ch") => f.ch = true,
            _ if is(o, "incr") => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &a[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return syntax();
    }
    if f.nx && f.xx {
        return Reply::err("XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Reply::err("GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && pairs.len() > 2 {
        return Reply::err("INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        scores.push((tri!(float(&p[0])), p[1].clone()));
    }
    if f.xx && tri!(get_zset(ctx, &a[1])).is_none() {
        ctx.propagate_none();
        return if f.incr { Reply::Nil } else { Reply::Int(0) };
    }
    let z = tri!(zset_or_new(ctx, &a[1]));
    let (mut added, mut changed) = (0, 0);
    let mut last = None;
    for (s, m) in scores {
        match apply_one(z, &f, s, m) {
            Ok(Some((new, score, was_added))) => {
                added += was_added as i64;
                changed += (new && !was_added) as i64;
                last = Some(score);
            }
            Ok(None) => last = None,
            Err(r) => {
                ctx.drop_if_empty(&a[1]);
                return r;
            }
        }
    }
    ctx.drop_if_empty(&a[1]);
    ctx.signal(&a[1]);
    if f.incr {
        return last.map_or(Reply::Nil, Reply::Double);
    }
    Reply::Int(if f.ch { added + changed } else { added })
}

/// Applies one score; `Ok(None)` when a flag vetoed it, else (changed, score, added).
fn apply_one(
    z: &mut ZSet,
    f: &AddFlags,
    s: f64,
    m: Bytes,
) -> Result<Option<(bool, f64, bool)>, Reply> {
    match z.score(&m) {
        Some(cur) => {
            if f.nx {
                return Ok(None);
            }
            let new = if f.incr { cur + s } else { s };
            if new.is_nan() {
                return Err(Reply::err("resulting score is not a number (NaN)"));
            }
            if (f.gt && new <= cur) || (f.lt && new >= cur) {
                return Ok(None);
            }
            let changed = new != cur;
            z.insert(&m, new);
            Ok(Some((changed, new, false)))
        }
        None => {
            if f.xx {
                return Ok(None);
            }
            z.insert(&m, s);
            Ok(Some((true, s, true)))
        }
    }
}

fn zincrby(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let by = tri!(float(&a[2]));
    let z = tri!(zset_or_new(ctx, &a[1]));
    let new = z.score(&a[3]).unwrap_or(0.0) + by;
    if new.is_nan() {
        ctx.drop_if_empty(&a[1]);
        return Reply::err("resulting score is not a number (NaN)");
    }
    z.insert(&a[3], new);
    ctx.signal(&a[1]);
    Reply::Double(new)
}

fn zscore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    tri!(get_zset(ctx, &a[1]))
        .and_then(|z| z.score(&a[2]))
        .map_or(Reply::Nil, Reply::Double)
}

fn zmscore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let z = tri!(get_zset(ctx, &a[1]));
    Reply::Array(
        a[2..]
            .iter()
            .map(|m| {
                z.as_ref()
                    .and_then(|z| z.score(m))
                    .map_or(Reply::Nil, Reply::Double)
            })
            .collect(),
    )
}

fn zcard(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_zset(ctx, &a[1])).map_or(0, |z| z.len() as i64))
}

fn score_bounds(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), Reply> {
    match (ScoreBound::parse(min), ScoreBound::parse(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Reply::err("min or max is not a float")),
    }
}

fn lex_bounds(min: &Bytes, max: &Bytes) -> Result<(LexBound, LexBound), Reply> {
    match (LexBound::parse(min), LexBound::parse(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Reply::err("min or max not valid string range item")),
    }
}

fn by_score(z: &ZSet, min: ScoreBound, max: ScoreBound) -> Vec<(Bytes, f64)> {
    z.iter_from(min.v)
        .skip_while(|(_, s)| !min.above_min(*s))
        .take_while(|(_, s)| max.below_max(*s))
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

fn lex_key(b: &LexBound) -> (u8, &[u8], bool) {
    match b {
        LexBound::Min => (0, &[], false),
        LexBound::Val(v, incl) => (1, &v[..], !incl),
        LexBound::Max => (2, &[], false),
    }
}

/// Redis's quick rejection: an inverted range, or one that misses the set's first
/// (lowest-scored) and last members, is empty.
fn lex_range_possible(z: &ZSet, min: &LexBound, max: &LexBound) -> bool {
    let (a, b) = (lex_key(min), lex_key(max));
    if (a.0, a.1) > (b.0, b.1) || ((a.0, a.1) == (b.0, b.1) && (a.2 || b.2)) {
        return false;
    }
    match (z.first(), z.last()) {
        (Some((first, _)), Some((last, _))) => min.above_min(&last) && max.below_max(&first),
        _ => false,
    }
}

/// Lex range in score order, the way Redis walks it: start at the first member at or
/// above `min`, then take members while they stay at or below `max`. (Lex ranges assume
/// equal scores; with mixed scores this reproduces what Redis returns.)
fn by_lex(z: &ZSet, min: &LexBound, max: &LexBound) -> Vec<(Bytes, f64)> {
    if !lex_range_possible(z, min, max) {
        return vec![];
    }
    z.iter()
        .skip_while(|(m, _)| !min.above_min(m))
        .take_while(|(m, _)| max.below_max(m))
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

/// Reverse lex range: start at the last member at or below `max`, walk down while at or
/// above `min`.
fn by_lex_rev(z: &ZSet, min: &LexBound, max: &LexBound) -> Vec<(Bytes, f64)> {
    if !lex_range_possible(z, min, max) {
        return vec![];
    }
    z.iter()
        .rev()
        .skip_while(|(m, _)| !max.below_max(m))
        .take_while(|(m, _)| min.above_min(m))
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

fn zcount(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (min, max) = tri!(score_bounds(&a[2], &a[3]));
    Reply::Int(tri!(get_zset(ctx, &a[1])).map_or(0, |z| by_score(z, min, max).len() as i64))
}

fn zlexcount(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (min, max) = tri!(lex_bounds(&a[2], &a[3]));
    Reply::Int(tri!(get_zset(ctx, &a[1])).map_or(0, |z| by_lex(z, &min, &max).len() as i64))
}

fn rank(ctx: &mut Ctx, a: &[Bytes], rev: bool) -> Reply {
    let Some(z) = tri!(get_zset(ctx, &a[1])) else {
        return Reply::Nil;
    };
    match z.rank(&a[2]) {
        Some(r) => Reply::Int(if rev {
            (z.len() - 1 - r) as i64
        } else {
            r as i64
        }),
        None => Reply::Nil,
    }
}

fn zrank(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    rank(ctx, a, false)
}
fn zrevrank(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    rank(ctx, a, true)
}

/// Members with scores as the client expects them.
fn scored_reply(items: Vec<(Bytes, f64)>, withscores: bool, resp3: bool) -> Reply {
    if !withscores {
        return Reply::bulks(items.into_iter().map(|(m, _)| m));
    }
    if resp3 {
        return Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        );
    }
    Reply::Array(
        items
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
            .collect(),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

struct RangeReq {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
    withscores: bool,
}

fn apply_limit(mut v: Vec<(Bytes, f64)>, limit: Option<(i64, i64)>) -> Vec<(Bytes, f64)> {
    let Some((off, count)) = limit else { return v };
    if off < 0 || off as usize >= v.len() {
        return vec![];
    }
    v.drain(..off as usize);
    if count >= 0 {
        v.truncate(count as usize);
    }
    v
}

/// The core of every ZRANGE spelling; `lo`/`hi` are in the caller's argument order.
fn range_generic(ctx: &mut Ctx, key: &Bytes, lo: &Bytes, hi: &Bytes, r: &RangeReq) -> Reply {
    let items = match r.by {
        By::Rank => {
            let (s, e) = (tri!(int(lo)), tri!(int(hi)));
            let Some(z) = tri!(get_zset(ctx, key)) else {
                return Reply::Array(vec![]);
            };
            let Some((x, y)) = index_range(s, e, z.len()) else {
                return Reply::Array(vec![]);
            };
            let it = z.iter().map(|(m, s)| (m.clone(), s));
            if r.rev {
                it.rev().skip(x).take(y - x).collect()
            } else {
                it.skip(x).take(y - x).collect()
            }
        }
        By::Score => {
            let (min, max) = if r.rev {
                tri!(score_bounds(hi, lo))
            } else {
                tri!(score_bounds(lo, hi))
            };
            let Some(z) = tri!(get_zset(ctx, key)) else {
                return Reply::Array(vec![]);
            };
            let mut v = by_score(z, min, max);
            if r.rev {
                v.reverse();
            }
            apply_limit(v, r.limit)
        }
        By::Lex => {
            let (min, max) = if r.rev {
                tri!(lex_bounds(hi, lo))
            } else {
                tri!(lex_bounds(lo, hi))
            };
            let Some(z) = tri!(get_zset(ctx, key)) else {
                return Reply::Array(vec![]);
            };
            let v = if r.rev {
                by_lex_rev(z, &min, &max)
            } else {
                by_lex(z, &min, &max)
            };
            apply_limit(v, r.limit)
        }
    };
    scored_reply(items, r.withscores, ctx.client.resp3)
}

/// Parses trailing `WITHSCORES` / `LIMIT o c` (and for ZRANGE, `BYSCORE|BYLEX|REV`).
fn parse_range_opts(a: &[Bytes], by: By, rev: bool, unified: bool) -> Result<RangeReq, Reply> {
    let mut r = RangeReq {
        by,
        rev,
        limit: None,
        withscores: false,
    };
    let mut i = 4;
    while i < a.len() {
        let o = &a[i];
        if is(o, "withscores") {
            r.withscores = true;
        } else if is(o, "limit") && i + 2 < a.len() {
            r.limit = Some((int(&a[i + 1])?, int(&a[i + 2])?));
            i += 2;
        } else if unified && is(o, "byscore") {
            r.by = By::Score;
        } else if unified && is(o, "bylex") {
            r.by = By::Lex;
        } else if unified && is(o, "rev") {
            r.rev = true;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if r.limit.is_some() && r.by == By::Rank {
        return Err(Reply::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if r.withscores && r.by == By::Lex {
        return Err(Reply::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(r)
}

fn zrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let r = tri!(parse_range_opts(a, By::Rank, false, true));
    range_generic(ctx, &a[1], &a[2], &a[3], &r)
}
fn zrevrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let r = tri!(parse_range_opts(a, By::Rank, true, false));
    if r.limit.is_some() {
        return syntax();
    }
    range_generic(ctx, &a[1], &a[2], &a[3], &r)
}
fn zrangebyscore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let r = tri!(parse_range_opts(a, By::Score, false, false));
    range_generic(ctx, &a[1], &a[2], &a[3], &r)
}
fn zrevrangebyscore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let r = tri!(parse_range_opts(a, By::Score, true, false));
    range_generic(ctx, &a[1], &a[2], &a[3], &r)
}
fn zrangebylex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let r = tri!(parse_range_opts(a, By::Lex, false, false));
    range_generic(ctx, &a[1], &a[2], &a[3], &r)
}
fn zrevrangebylex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let r = tri!(parse_range_opts(a, By::Lex, true, false));
    range_generic(ctx, &a[1], &a[2], &a[3], &r)
}

fn zrem(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(z) = tri!(get_zset(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let n = a[2..].iter().filter(|m| z.remove(m)).count();
    ctx.drop_if_empty(&a[1]);
    Reply::Int(n as i64)
}

fn remove_members(ctx: &mut Ctx, key: &Bytes, members: Vec<(Bytes, f64)>) -> Reply {
    let n = members.len();
    if let Ok(Some(z)) = get_zset(ctx, key) {
        members.iter().for_each(|(m, _)| {
            z.remove(m);
        });
    }
    ctx.drop_if_empty(key);
    Reply::Int(n as i64)
}

fn zremrangebyrank(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (s, e) = (tri!(int(&a[2])), tri!(int(&a[3])));
    let Some(z) = tri!(get_zset(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let Some((x, y)) = index_range(s, e, z.len()) else {
        return Reply::Int(0);
    };
    let v: Vec<(Bytes, f64)> = z
        .iter()
        .skip(x)
        .take(y - x)
        .map(|(m, s)| (m.clone(), s))
        .collect();
    remove_members(ctx, &a[1], v)
}

fn zremrangebyscore(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (min, max) = tri!(score_bounds(&a[2], &a[3]));
    let Some(z) = tri!(get_zset(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let v = by_score(z, min, max);
    remove_members(ctx, &a[1], v)
}

fn zremrangebylex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (min, max) = tri!(lex_bounds(&a[2], &a[3]));
    let Some(z) = tri!(get_zset(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let v = by_lex(z, &min, &max);
    remove_members(ctx, &a[1], v)
}

fn zpop(ctx: &mut Ctx, a: &[Bytes], max: bool) -> Reply {
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
    let resp3 = ctx.client.resp3;
    let Some(z) = tri!(get_zset(ctx, &a[1])) else {
        return Reply::Array(vec![]);
    };
    let mut out = Vec::new();
    for _ in 0..count.unwrap_or(1) {
        let Some((m, s)) = (if max { z.last() } else { z.first() }) else {
            break;
        };
        z.remove(&m);
        out.push((m, s));
    }
    ctx.drop_if_empty(&a[1]);
    scored_reply(out, true, resp3 && count.is_some())
}

fn zpopmin(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    zpop(ctx, a, false)
}
fn zpopmax(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    zpop(ctx, a, true)
}

/// Returns all members in one page (cursor 0), scores as `%.17g` strings.
fn zscan(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (_, o) = tri!(scan_opts(a, 2, false));
    let mut out = Vec::new();
    if let Some(z) = tri!(get_zset(ctx, &a[1])) {
        for (m, s) in z.iter() {
            if o.pat.as_ref().is_none_or(|p| glob::matches(p, m)) {
                out.push(Reply::Bulk(m.clone()));
                out.push(Reply::bulk(fmt_double(s)));
            }
        }
    }
    Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(out)])
}
