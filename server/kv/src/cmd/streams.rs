//! Stream commands as the D4 server and workers use them: XADD (with trimming), XLEN,
//! XRANGE/XREVRANGE, XREAD (COUNT, BLOCK), XDEL, XTRIM, and XSETID (used by rewrites).

use std::time::Duration;

use bytes::Bytes;

use super::ctx::tri;
use super::ctx::{get_stream, stream_or_new, Ctx};
use super::spec::spec;
use super::spec::{Spec, BLOCKING, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::blocking::BlockKind;
use crate::keyspace::types::{Fields, Stream, StreamId};
use crate::keyspace::{own, Entry, Store, Value};
use crate::protocol::args::{arity, is, parse_i64, syntax};
use crate::protocol::reply::Reply;

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), xadd),
    spec!("xlen", 2, READONLY | FAST, (1, 1, 1), xlen),
    spec!("xrange", -4, READONLY, (1, 1, 1), xrange),
    spec!("xrevrange", -4, READONLY, (1, 1, 1), xrevrange),
    spec!("xread", -4, READONLY | BLOCKING, (0, 0, 0), xread),
    spec!("xdel", -3, WRITE | FAST, (1, 1, 1), xdel),
    spec!("xtrim", -4, WRITE, (1, 1, 1), xtrim),
    spec!("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), xsetid),
];

fn invalid_id() -> Reply {
    Reply::err("Invalid stream ID specified as stream command argument")
}

/// Parses `ms[-seq]`; a missing seq becomes `missing_seq`.
fn parse_id(b: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    let s = std::str::from_utf8(b).map_err(|_| invalid_id())?;
    let (ms, seq) = match s.split_once('-') {
        Some((ms, seq)) => (ms, Some(seq)),
        None => (s, None),
    };
    let ms: u64 = ms.parse().map_err(|_| invalid_id())?;
    let seq = match seq {
        Some(q) => q.parse().map_err(|_| invalid_id())?,
        None => missing_seq,
    };
    Ok(StreamId { ms, seq })
}

/// A range bound: `-`, `+`, `(id`, `id`.
fn range_bound(b: &[u8], start: bool) -> Result<Option<StreamId>, Reply> {
    match b {
        b"-" => Ok(Some(StreamId::default())),
        b"+" => Ok(Some(StreamId::MAX)),
        _ => {
            let (excl, rest) = match b.strip_prefix(b"(") {
                Some(r) => (true, r),
                None => (false, b),
            };
            let id = parse_id(rest, if start { 0 } else { u64::MAX })?;
            if !excl {
                return Ok(Some(id));
            }
            match (start, if start { id.next() } else { id.prev() }) {
                (_, Some(id)) => Ok(Some(id)),
                (true, None) => Err(Reply::err("invalid start ID for the interval")),
                (false, None) => Err(Reply::err("invalid end ID for the interval")),
            }
        }
    }
}

/// Trimming request of XADD / XTRIM.
struct Trim {
    maxlen: Option<usize>,
    minid: Option<StreamId>,
    limit: usize,
}

/// Parses `MAXLEN|MINID [=|~] threshold [LIMIT n]` at `a[i]`; returns the next index.
fn parse_trim(a: &[Bytes], mut i: usize, t: &mut Trim) -> Result<usize, Reply> {
    let minid = is(&a[i], "minid");
    i += 1;
    let mut approx = false;
    if a.get(i).is_some_and(|x| &x[..] == b"~" || &x[..] == b"=") {
        approx = &a[i][..] == b"~";
        i += 1;
    }
    let Some(th) = a.get(i) else {
        return Err(syntax());
    };
    if minid {
        t.minid = Some(parse_id(th, 0)?);
    } else {
        let n = parse_i64(th).ok_or_else(crate::protocol::args::not_int)?;
        if n < 0 {
            return Err(Reply::err("The MAXLEN argument must be >= 0."));
        }
        t.maxlen = Some(n as usize);
    }
    i += 1;
    if a.get(i).is_some_and(|x| is(x, "limit")) {
        let Some(l) = a.get(i + 1) else {
            return Err(syntax());
        };
        let l = parse_i64(l)
            .filter(|l| *l >= 0)
            .ok_or_else(|| Reply::err("The LIMIT argument must be >= 0."))?;
        if !approx {
            return Err(Reply::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        if l > 0 {
            t.limit = l as usize;
        }
        i += 2;
    }
    Ok(i)
}

fn apply_trim(s: &mut Stream, t: &Trim) -> usize {
    match (t.maxlen, t.minid) {
        (Some(n), _) => s.trim_maxlen(n, t.limit),
        (_, Some(id)) => s.trim_minid(id, t.limit),
        _ => 0,
    }
}

fn xadd(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut t = Trim {
        maxlen: None,
        minid: None,
        limit: usize::MAX,
    };
    let mut nomk = false;
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "nomkstream") {
            nomk = true;
            i += 1;
        } else if is(&a[i], "maxlen") || is(&a[i], "minid") {
            i = tri!(parse_trim(a, i, &mut t));
        } else {
            break;
        }
    }
    let Some(idarg) = a.get(i) else {
        return syntax();
    };
    let fields = &a[i + 1..];
    if fields.is_empty() || !fields.len().is_multiple_of(2) {
        return arity("xadd");
    }
    // Validate the ID syntax before touching the key.
    let explicit = match &idarg[..] {
        b"*" => None,
        x if x.ends_with(b"-*") => Some((tri!(parse_id(&x[..x.len() - 2], 0)), true)),
        x => Some((tri!(parse_id(x, 0)), false)),
    };
    if explicit.is_some_and(|(id, auto)| !auto && id == StreamId::default()) {
        return Reply::err("The ID specified in XADD must be greater than 0-0");
    }
    if nomk && tri!(get_stream(ctx, &a[1])).is_none() {
        ctx.propagate_none();
        return Reply::Nil;
    }
    let now = ctx.now;
    let s = tri!(stream_or_new(ctx, &a[1]));
    let id = match next_id(s, explicit, now) {
        Ok(id) => id,
        Err(r) => {
            ctx.drop_empty_new_stream(&a[1]);
            return r;
        }
    };
    let entry: Fields = fields
        .chunks(2)
        .map(|fv| (own(&fv[0]), own(&fv[1])))
        .collect();
    s.entries.insert(id, entry);
    s.last_id = id;
    s.entries_added += 1;
    let trimmed = apply_trim(s, &t);
    let first = s.entries.first_key_value().map(|(k, _)| *k);
    let idb = id.to_bytes();
    ctx.signal(&a[1]);
    if !ctx.aof_on() {
        ctx.propagate_none();
        return Reply::Bulk(idb);
    }
    let mut cmd = vec![Bytes::from_static(b"XADD"), a[1].clone(), idb.clone()];
    cmd.extend(fields.iter().cloned());
    ctx.propagate(cmd);
    if trimmed > 0 {
        let min = first.unwrap_or(StreamId::MAX);
        ctx.propagate(vec![
            Bytes::from_static(b"XTRIM"),
            a[1].clone(),
            Bytes::from_static(b"MINID"),
            min.to_bytes(),
        ]);
    }
    Reply::Bulk(idb)
}

impl Ctx<'_> {
    /// Removes a stream that XADD just created but then refused to add to.
    fn drop_empty_new_stream(&mut self, key: &[u8]) {
        if let Some(Entry {
            val: Value::Stream(s),
            ..
        }) = self.get(key)
        {
            if s.is_empty() && s.entries_added == 0 {
                self.db().remove(key);
            }
        }
    }
}

fn next_id(s: &Stream, explicit: Option<(StreamId, bool)>, now: u64) -> Result<StreamId, Reply> {
    let last = s.last_id;
    let too_small = || {
        Reply::err("The ID specified in XADD is equal or smaller than the target stream top item")
    };
    match explicit {
        None => {
            if now > last.ms {
                Ok(StreamId { ms: now, seq: 0 })
            } else {
                last.next().ok_or_else(too_small)
            }
        }
        Some((id, true)) => {
            if id.ms > last.ms {
                Ok(StreamId { ms: id.ms, seq: 0 })
            } else if id.ms == last.ms && (last.seq < u64::MAX) && s.entries_added > 0 {
                Ok(StreamId {
                    ms: id.ms,
                    seq: last.seq + 1,
                })
            } else if id.ms == last.ms && s.entries_added == 0 && last == StreamId::default() {
                Ok(StreamId { ms: 0, seq: 1 })
            } else {
                Err(too_small())
            }
        }
        Some((id, false)) => {
            if id > last {
                Ok(id)
            } else {
                Err(too_small())
            }
        }
    }
}

fn xlen(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_stream(ctx, &a[1])).map_or(0, |s| s.len() as i64))
}

/// `[id, [f, v, ...]]`
fn entry_reply(id: &StreamId, f: &Fields) -> Reply {
    let fv = f
        .iter()
        .flat_map(|(k, v)| [Reply::Bulk(k.clone()), Reply::Bulk(v.clone())])
        .collect();
    Reply::Array(vec![Reply::Bulk(id.to_bytes()), Reply::Array(fv)])
}

fn range(ctx: &mut Ctx, a: &[Bytes], rev: bool) -> Reply {
    let (lo, hi) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let start = tri!(range_bound(lo, true));
    let end = tri!(range_bound(hi, false));
    let mut count = usize::MAX;
    match a.len() {
        4 => {}
        6 if is(&a[4], "count") => match parse_i64(&a[5]) {
            Some(n) if n <= 0 => return Reply::Array(vec![]),
            Some(n) => count = n as usize,
            None => return crate::protocol::args::not_int(),
        },
        _ => return syntax(),
    }
    let Some(s) = tri!(get_stream(ctx, &a[1])) else {
        return Reply::Array(vec![]);
    };
    let (Some(start), Some(end)) = (start, end) else {
        return Reply::Array(vec![]);
    };
    if start > end {
        return Reply::Array(vec![]);
    }
    let it = s.entries.range(start..=end);
    let out: Vec<Reply> = if rev {
        it.rev()
            .take(count)
            .map(|(id, f)| entry_reply(id, f))
            .collect()
    } else {
        it.take(count).map(|(id, f)| entry_reply(id, f)).collect()
    };
    Reply::Array(out)
}

fn xrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    range(ctx, a, false)
}
fn xrevrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    range(ctx, a, true)
}

/// Entries strictly after `after`, at most `count`.
fn entries_after(s: &Stream, after: StreamId, count: Option<usize>) -> Vec<Reply> {
    let Some(from) = after.next() else {
        return vec![];
    };
    s.entries
        .range(from..)
        .take(count.unwrap_or(usize::MAX))
        .map(|(id, f)| entry_reply(id, f))
        .collect()
}

fn xread_reply(items: Vec<(Bytes, Vec<Reply>)>, resp3: bool) -> Reply {
    if resp3 {
        Reply::Map(
            items
                .into_iter()
                .map(|(k, e)| (Reply::Bulk(k), Reply::Array(e)))
                .collect(),
        )
    } else {
        Reply::Array(
            items
                .into_iter()
                .map(|(k, e)| Reply::Array(vec![Reply::Bulk(k), Reply::Array(e)]))
                .collect(),
        )
    }
}

fn xread(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (mut count, mut block) = (None, None);
    let mut i = 1;
    while i < a.len() {
        if is(&a[i], "streams") {
            break;
        }
        let Some(v) = a.get(i + 1) else {
            return syntax();
        };
        if is(&a[i], "count") {
            let n = tri!(crate::protocol::args::int(v));
            count = (n > 0).then_some(n as usize);
        } else if is(&a[i], "block") {
            let n = tri!(crate::protocol::args::int(v));
            if n < 0 {
                return Reply::err("timeout is negative");
            }
            block = Some(n as u64);
        } else {
            return syntax();
        }
        i += 2;
    }
    let rest = &a[(i + 1).min(a.len())..];
    if i >= a.len() || rest.is_empty() || !rest.len().is_multiple_of(2) {
        if i >= a.len() {
            return syntax();
        }
        return Reply::err("Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.");
    }
    let n = rest.len() / 2;
    let (keys, idargs) = rest.split_at(n);
    let mut ids = Vec::with_capacity(n);
    for (k, id) in keys.iter().zip(idargs) {
        let s = tri!(get_stream(ctx, k));
        ids.push(if &id[..] == b"$" {
            s.map_or(StreamId::default(), |s| s.last_id)
        } else {
            tri!(parse_id(id, 0))
        });
    }
    let mut found = Vec::new();
    for (k, id) in keys.iter().zip(&ids) {
        if let Some(s) = tri!(get_stream(ctx, k)) {
            let e = entries_after(s, *id, count);
            if !e.is_empty() {
                found.push((k.clone(), e));
            }
        }
    }
    if !found.is_empty() {
        return xread_reply(found, ctx.client.resp3);
    }
    match block {
        Some(ms) if !ctx.in_exec => {
            let timeout = (ms > 0).then(|| Duration::from_millis(ms));
            let kind = BlockKind::XRead {
                keys: keys.to_vec(),
                ids,
                count,
            };
            super::lists::block_on(ctx, keys.to_vec(), kind, timeout, Reply::NilArray)
        }
        _ => Reply::NilArray,
    }
}

/// Serves a blocked `XREAD` when `key` got new entries.
pub(crate) fn serve_xread(
    store: &mut Store,
    db: usize,
    key: &Bytes,
    kind: &BlockKind,
    resp3: bool,
    now: u64,
) -> Option<Reply> {
    let BlockKind::XRead { keys, ids, count } = kind else {
        return None;
    };
    let pos = keys.iter().position(|k| k == key)?;
    let Some(Entry {
        val: Value::Stream(s),
        ..
    }) = store.dbs[db].get(key, now)
    else {
        return None;
    };
    let e = entries_after(s, ids[pos], *count);
    if e.is_empty() {
        return None;
    }
    Some(xread_reply(vec![(key.clone(), e)], resp3))
}

fn xdel(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut ids = Vec::new();
    for x in &a[2..] {
        ids.push(tri!(parse_id(x, 0)));
    }
    let Some(s) = tri!(get_stream(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    Reply::Int(
        ids.iter()
            .filter(|id| s.entries.remove(id).is_some())
            .count() as i64,
    )
}

fn xtrim(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if !(is(&a[2], "maxlen") || is(&a[2], "minid")) {
        return syntax();
    }
    let mut t = Trim {
        maxlen: None,
        minid: None,
        limit: usize::MAX,
    };
    let end = tri!(parse_trim(a, 2, &mut t));
    if end != a.len() {
        return syntax();
    }
    let Some(s) = tri!(get_stream(ctx, &a[1])) else {
        return Reply::Int(0);
    };
    let n = apply_trim(s, &t);
    let first = s
        .entries
        .first_key_value()
        .map(|(k, _)| *k)
        .unwrap_or(StreamId::MAX);
    ctx.propagate(vec![
        Bytes::from_static(b"XTRIM"),
        a[1].clone(),
        Bytes::from_static(b"MINID"),
        first.to_bytes(),
    ]);
    Reply::Int(n as i64)
}

fn xsetid(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let id = tri!(parse_id(&a[2], 0));
    let mut added = None;
    if a.len() >= 5 && is(&a[3], "entriesadded") {
        added = parse_i64(&a[4]).map(|n| n.max(0) as u64);
    }
    let Some(s) = tri!(get_stream(ctx, &a[1])) else {
        return Reply::err("no such key");
    };
    if s.entries.last_key_value().is_some_and(|(k, _)| *k > id) {
        return Reply::err("The ID specified in XSETID is smaller than the target stream top item");
    }
    s.last_id = id;
    if let Some(n) = added {
        s.entries_added = n;
    }
    crate::protocol::reply::OK
}
