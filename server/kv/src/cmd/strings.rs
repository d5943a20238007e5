//! String commands: GET/SET family, counters, APPEND/STRLEN/GETRANGE/SETRANGE.

use bytes::Bytes;

use super::ctx::tri;
use super::ctx::{get_str, Ctx};
use super::spec::spec;
use super::spec::{Spec, DENYOOM, FAST, READONLY, WRITE};
use crate::keyspace::Value;
use crate::protocol::args::{float, int, is, not_float, not_int, parse_f64, parse_i64, syntax};
use crate::protocol::reply::{Reply, OK};

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("get", 2, READONLY | FAST, (1, 1, 1), get),
    spec!("set", -3, WRITE | DENYOOM, (1, 1, 1), set),
    spec!("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), setnx),
    spec!("setex", 4, WRITE | DENYOOM, (1, 1, 1), setex),
    spec!("psetex", 4, WRITE | DENYOOM, (1, 1, 1), psetex),
    spec!("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), getset),
    spec!("getdel", 2, WRITE | FAST, (1, 1, 1), getdel),
    spec!("getex", -2, WRITE | FAST, (1, 1, 1), getex),
    spec!("mget", -2, READONLY | FAST, (1, -1, 1), mget),
    spec!("mset", -3, WRITE | DENYOOM, (1, -1, 2), mset),
    spec!("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), msetnx),
    spec!("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), incr),
    spec!("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), decr),
    spec!("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrby),
    spec!("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), decrby),
    spec!(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        incrbyfloat
    ),
    spec!("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), append),
    spec!("strlen", 2, READONLY | FAST, (1, 1, 1), strlen),
    spec!("getrange", 4, READONLY, (1, 1, 1), getrange),
    spec!("substr", 4, READONLY, (1, 1, 1), getrange),
    spec!("setrange", 4, WRITE | DENYOOM, (1, 1, 1), setrange),
];

fn get(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    match tri!(get_str(ctx, &a[1])) {
        Some(v) => Reply::Bulk(Bytes::copy_from_slice(v)),
        None => Reply::Nil,
    }
}

/// Parsed `SET` options.
#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// Absolute deadline (ms).
    at: Option<u64>,
}

fn expire_arg(ctx: &Ctx, v: &[u8], unit_ms: u64, absolute: bool, cmd: &str) -> Result<u64, Reply> {
    let n = int(v)?;
    let bad = || Reply::err(format!("invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(bad());
    }
    let ms = (n as u64)
        .checked_mul(unit_ms)
        .filter(|m| *m <= i64::MAX as u64)
        .ok_or_else(bad)?;
    if absolute {
        Ok(ms)
    } else {
        ctx.now
            .checked_add(ms)
            .filter(|m| *m <= i64::MAX as u64)
            .ok_or_else(bad)
    }
}

fn parse_set_opts(ctx: &Ctx, a: &[Bytes]) -> Result<SetOpts, Reply> {
    let mut o = SetOpts::default();
    let mut i = 3;
    let mut has_exp = false;
    while i < a.len() {
        let opt = &a[i];
        let next = a.get(i + 1);
        match () {
            _ if is(opt, "nx") && !o.xx => o.nx = true,
            _ if is(opt, "xx") && !o.nx => o.xx = true,
            _ if is(opt, "get") => o.get = true,
            _ if is(opt, "keepttl") && !has_exp => o.keepttl = true,
            _ if !has_exp
                && !o.keepttl
                && next.is_some()
                && ["ex", "px", "exat", "pxat"].iter().any(|k| is(opt, k)) =>
            {
                let unit = if is(opt, "ex") || is(opt, "exat") {
                    1000
                } else {
                    1
                };
                let abs = is(opt, "exat") || is(opt, "pxat");
                o.at = Some(expire_arg(
                    ctx,
                    next.map(|b| &b[..]).unwrap_or_default(),
                    unit,
                    abs,
                    "set",
                )?);
                has_exp = true;
                i += 1;
            }
            _ => return Err(syntax()),
        }
        i += 1;
    }
    Ok(o)
}

fn set(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let o = tri!(parse_set_opts(ctx, a));
    let key = &a[1];
    let old = if o.get {
        match tri!(get_str(ctx, key)) {
            Some(v) => Reply::Bulk(Bytes::copy_from_slice(v)),
            None => Reply::Nil,
        }
    } else {
        Reply::Nil
    };
    let exists = ctx.get(key).is_some();
    if (o.nx && exists) || (o.xx && !exists) {
        ctx.propagate_none();
        return if o.get { old } else { Reply::Nil };
    }
    write_string(ctx, key, a[2].clone(), o.at, o.keepttl);
    if o.get {
        old
    } else {
        OK
    }
}

/// Stores a string with an optional absolute deadline and propagates `SET key v PXAT t`.
fn write_string(ctx: &mut Ctx, key: &Bytes, val: Bytes, at: Option<u64>, keepttl: bool) {
    if keepttl {
        ctx.db().set_keep_ttl(key, Value::Str(val[..].into()));
    } else {
        ctx.db().insert(key, Value::Str(val[..].into()), at);
    }
    if !ctx.aof_on() {
        ctx.propagate_none();
        return;
    }
    let mut cmd = vec![Bytes::from_static(b"SET"), key.clone(), val];
    if let Some(t) = at {
        cmd.push(Bytes::from_static(b"PXAT"));
        cmd.push(Bytes::from(t.to_string()));
    } else if keepttl {
        cmd.push(Bytes::from_static(b"KEEPTTL"));
    }
    ctx.propagate(cmd);
}

fn setnx(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if ctx.get(&a[1]).is_some() {
        ctx.propagate_none();
        return Reply::Int(0);
    }
    write_string(ctx, &a[1], a[2].clone(), None, false);
    Reply::Int(1)
}

fn setex_common(ctx: &mut Ctx, a: &[Bytes], unit: u64, cmd: &str) -> Reply {
    let at = tri!(expire_arg(ctx, &a[2], unit, false, cmd));
    write_string(ctx, &a[1], a[3].clone(), Some(at), false);
    OK
}

fn setex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    setex_common(ctx, a, 1000, "setex")
}

fn psetex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    setex_common(ctx, a, 1, "psetex")
}

fn getset(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let old =
        tri!(get_str(ctx, &a[1])).map_or(Reply::Nil, |v| Reply::Bulk(Bytes::copy_from_slice(v)));
    write_string(ctx, &a[1], a[2].clone(), None, false);
    old
}

fn getdel(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let Some(v) = tri!(get_str(ctx, &a[1])).cloned() else {
        return Reply::Nil;
    };
    ctx.db().remove(&a[1]);
    Reply::Bulk(v.into())
}

fn getex(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut at = None;
    let mut persist = false;
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "persist") && at.is_none() && !persist {
            persist = true;
        } else if at.is_none()
            && !persist
            && i + 1 < a.len()
            && ["ex", "px", "exat", "pxat"].iter().any(|k| is(&a[i], k))
        {
            let unit = if is(&a[i], "ex") || is(&a[i], "exat") {
                1000
            } else {
                1
            };
            let abs = is(&a[i], "exat") || is(&a[i], "pxat");
            at = Some(tri!(expire_arg(ctx, &a[i + 1], unit, abs, "getex")));
            i += 1;
        } else {
            return syntax();
        }
        i += 1;
    }
    let Some(v) = tri!(get_str(ctx, &a[1])).cloned() else {
        return Reply::Nil;
    };
    if let Some(t) = at {
        ctx.db().set_expire(&a[1], t);
        ctx.propagate(vec![
            Bytes::from_static(b"PEXPIREAT"),
            a[1].clone(),
            Bytes::from(t.to_string()),
        ]);
    } else if persist {
        ctx.db().persist(&a[1]);
        ctx.propagate(vec![Bytes::from_static(b"PERSIST"), a[1].clone()]);
    } else {
        ctx.propagate_none();
    }
    Reply::Bulk(v.into())
}

fn mget(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let out = a[1..]
        .iter()
        .map(|k| match ctx.get(k) {
            Some(crate::keyspace::Entry {
                val: Value::Str(v), ..
            }) => Reply::Bulk(Bytes::copy_from_slice(v)),
            _ => Reply::Nil,
        })
        .collect();
    Reply::Array(out)
}

fn mset(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len().is_multiple_of(2) {
        return crate::protocol::args::arity(std::str::from_utf8(&a[0]).unwrap_or("mset"));
    }
    for kv in a[1..].chunks(2) {
        ctx.db().set(&kv[0], Value::Str(kv[1][..].into()));
    }
    OK
}

fn msetnx(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len().is_multiple_of(2) {
        return crate::protocol::args::arity("msetnx");
    }
    if a[1..].chunks(2).any(|kv| ctx.get(&kv[0]).is_some()) {
        ctx.propagate_none();
        return Reply::Int(0);
    }
    mset(ctx, a);
    Reply::Int(1)
}

/// Adds `by` to the integer at `key` (creating it). An existing value is replaced in place:
/// one lookup, deadline kept.
fn incr_by(ctx: &mut Ctx, key: &Bytes, by: i64) -> Reply {
    let bump = |cur: i64| {
        cur.checked_add(by)
            .ok_or_else(|| Reply::err("increment or decrement would overflow"))
    };
    let text = |n: i64| itoa::Buffer::new().format(n).as_bytes().into();
    match tri!(get_str(ctx, key)) {
        Some(v) => {
            let n = tri!(bump(tri!(parse_i64(v).ok_or_else(not_int))));
            *v = text(n);
            Reply::Int(n)
        }
        None => {
            let n = tri!(bump(0));
            ctx.db().set(key, Value::Str(text(n)));
            Reply::Int(n)
        }
    }
}

fn incr(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    incr_by(ctx, &a[1], 1)
}

fn decr(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    incr_by(ctx, &a[1], -1)
}

fn incrby(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let by = tri!(int(&a[2]));
    incr_by(ctx, &a[1], by)
}

fn decrby(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let by = tri!(int(&a[2]));
    if by == i64::MIN {
        return Reply::err("decrement would overflow");
    }
    incr_by(ctx, &a[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let cur = match tri!(get_str(ctx, &a[1])) {
        Some(v) => {
            tri!(parse_f64(v).ok_or_else(not_float));
            Bytes::copy_from_slice(v)
        }
        None => Bytes::from_static(b"0"),
    };
    tri!(float(&a[2]));
    let Some(text) = crate::util::decimal::add(&cur, &a[2]) else {
        return Reply::err("increment would produce NaN or Infinity");
    };
    let text = Bytes::from(text);
    ctx.db().set_keep_ttl(&a[1], Value::Str(text[..].into()));
    ctx.propagate(vec![
        Bytes::from_static(b"SET"),
        a[1].clone(),
        text.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    Reply::Bulk(text)
}

/// Refuses strings over Redis's 512 MB limit.
fn check_size(len: usize) -> Result<(), Reply> {
    if len > 512 * 1024 * 1024 {
        return Err(Reply::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

fn append(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let cur = tri!(get_str(ctx, &a[1])).cloned().unwrap_or_default();
    tri!(check_size(cur.len() + a[2].len()));
    let mut v = Vec::with_capacity(cur.len() + a[2].len());
    v.extend_from_slice(&cur);
    v.extend_from_slice(&a[2]);
    let n = v.len();
    ctx.db()
        .set_keep_ttl(&a[1], Value::Str(v.into_boxed_slice()));
    Reply::Int(n as i64)
}

fn strlen(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Int(tri!(get_str(ctx, &a[1])).map_or(0, |v| v.len() as i64))
}

fn getrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let (mut s, mut e) = (tri!(int(&a[2])), tri!(int(&a[3])));
    let v = tri!(get_str(ctx, &a[1])).cloned().unwrap_or_default();
    let len = v.len() as i64;
    if s < 0 && e < 0 && s > e {
        return Reply::bulk(Bytes::new());
    }
    if s < 0 {
        s = (len + s).max(0);
    }
    if e < 0 {
        e = (len + e).max(0);
    }
    e = e.min(len - 1);
    if s > e || len == 0 {
        return Reply::bulk(Bytes::new());
    }
    Reply::bulk(Bytes::copy_from_slice(&v[s as usize..e as usize + 1]))
}

fn setrange(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let off = tri!(int(&a[2]));
    if off < 0 {
        return Reply::err("offset is out of range");
    }
    let cur = tri!(get_str(ctx, &a[1])).cloned();
    let val = &a[3];
    if val.is_empty() {
        ctx.propagate_none();
        return Reply::Int(cur.map_or(0, |c| c.len() as i64));
    }
    let off = off as usize;
    tri!(check_size(off + val.len()));
    let mut v = cur.map(|c| c.to_vec()).unwrap_or_default();
    if v.len() < off + val.len() {
        v.resize(off + val.len(), 0);
    }
    v[off..off + val.len()].copy_from_slice(val);
    let n = v.len();
    ctx.db()
        .set_keep_ttl(&a[1], Value::Str(v.into_boxed_slice()));
    Reply::Int(n as i64)
}
