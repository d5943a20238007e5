//! Serialisation of the whole keyspace as the commands that rebuild it: the body of a
//! snapshot file and of a rewritten append-only file (same format, see `aof`).

use bytes::Bytes;

use crate::keyspace::{Entry, Store, Value};
use crate::protocol::frame::encode_request;
use crate::protocol::reply::fmt_double;

/// Serialises the whole keyspace as commands that rebuild it.
pub(crate) fn serialize(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, db) in store.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        encode_request(
            &mut out,
            &[Bytes::from_static(b"SELECT"), Bytes::from(i.to_string())],
        );
        for (k, e) in db.iter() {
            serialize_entry(&mut out, &Bytes::copy_from_slice(k), e);
        }
    }
    out
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn chunked(out: &mut Vec<u8>, head: &[Bytes], items: impl Iterator<Item = Vec<Bytes>>) {
    let mut cmd = head.to_vec();
    for it in items {
        cmd.extend(it);
        if cmd.len() >= 256 {
            encode_request(out, &cmd);
            cmd.truncate(head.len());
        }
    }
    if cmd.len() > head.len() {
        encode_request(out, &cmd);
    }
}

fn serialize_entry(out: &mut Vec<u8>, k: &Bytes, e: &Entry) {
    match &e.val {
        Value::Str(v) => encode_request(out, &[b("SET"), k.clone(), Bytes::copy_from_slice(v)]),
        Value::List(l) => chunked(
            out,
            &[b("RPUSH"), k.clone()],
            l.iter().map(|v| vec![Bytes::copy_from_slice(v)]),
        ),
        Value::Set(s) => chunked(
            out,
            &[b("SADD"), k.clone()],
            s.iter().map(|v| vec![Bytes::copy_from_slice(v)]),
        ),
        Value::Hash(h) => chunked(
            out,
            &[b("HSET"), k.clone()],
            h.iter().map(|(f, v)| vec![f.clone(), v.clone()]),
        ),
        Value::ZSet(z) => chunked(
            out,
            &[b("ZADD"), k.clone()],
            z.iter()
                .map(|(m, s)| vec![Bytes::from(fmt_double(s)), m.clone()]),
        ),
        Value::Stream(s) => {
            if s.entries.is_empty() {
                encode_request(out, &[b("XADD"), k.clone(), b("0-1"), b("x"), b("y")]);
                encode_request(out, &[b("XDEL"), k.clone(), b("0-1")]);
            }
            for (id, fields) in &s.entries {
                let mut cmd = vec![b("XADD"), k.clone(), id.to_bytes()];
                fields
                    .iter()
                    .for_each(|(f, v)| cmd.extend([f.clone(), v.clone()]));
                encode_request(out, &cmd);
            }
            let added = Bytes::from(s.entries_added.to_string());
            encode_request(
                out,
                &[
                    b("XSETID"),
                    k.clone(),
                    s.last_id.to_bytes(),
                    b("ENTRIESADDED"),
                    added,
                ],
            );
        }
    }
    if let Some(t) = e.exp() {
        encode_request(
            out,
            &[b("PEXPIREAT"), k.clone(), Bytes::from(t.to_string())],
        );
    }
}
