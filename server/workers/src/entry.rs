//! Stream entries as the workers see them, and the parsing of `XREAD` replies (RESP2
//! arrays or RESP3 maps). Malformed parts are skipped, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Bytes;
use d4_core::keys::stream;
use d4_core::store::{value, Value};

/// One stream entry as the workers see it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Stream id.
    pub(crate) id: String,
    /// Sensor uuid field.
    pub(crate) uuid: String,
    /// Payload.
    pub(crate) message: Bytes,
}

/// Parses an `XREAD` reply (RESP2 arrays or RESP3 maps) into (stream key, entries).
/// Malformed parts are skipped, never a panic.
pub(crate) fn parse_xread(v: Value) -> Vec<(String, Vec<Entry>)> {
    pairs_of(v)
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = value::text(key)?;
            let Value::Array(entries) = entries else {
                return Some((key, Vec::new()));
            };
            Some((key, entries.into_iter().filter_map(parse_entry).collect()))
        })
        .collect()
}

/// `[[k, v], ...]` (RESP2 `XREAD`) or a RESP3 map as (k, v) pairs.
fn pairs_of(v: Value) -> Vec<(Value, Value)> {
    match v {
        Value::Array(items) => items.into_iter().filter_map(pair).collect(),
        Value::Map(m) => m,
        _ => Vec::new(),
    }
}

fn pair(v: Value) -> Option<(Value, Value)> {
    match v {
        Value::Array(mut a) if a.len() == 2 => {
            let second = a.pop()?;
            let first = a.pop()?;
            Some((first, second))
        }
        _ => None,
    }
}

/// `[id, [field, value, ...]]` (the fields as a map in RESP3) as an [`Entry`].
fn parse_entry(v: Value) -> Option<Entry> {
    let (id, fields) = pair(v)?;
    let mut e = Entry {
        id: value::text(id)?,
        uuid: String::new(),
        message: Bytes::new(),
    };
    let flat: Vec<(Value, Value)> = match fields {
        Value::Array(a) => {
            let mut it = a.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }
        Value::Map(m) => m,
        _ => Vec::new(),
    };
    for (k, v) in flat {
        let Some(k) = value::bytes(k) else { continue };
        if k == stream::FIELD_MESSAGE.as_bytes() {
            e.message = value::bytes(v).map(Bytes::from).unwrap_or_default();
        } else if k == stream::FIELD_UUID.as_bytes() {
            e.uuid = value::text(v).unwrap_or_default();
        }
    }
    Some(e)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    fn entry_fields(msg: &[u8]) -> Vec<Value> {
        vec![
            bulk(b"message"),
            bulk(msg),
            bulk(b"uuid"),
            bulk(b"ff7ba400e76c4053982dfeec42bdef38"),
            bulk(b"timestamp"),
            bulk(b"1700000000"),
        ]
    }

    fn check(parsed: Vec<(String, Vec<Entry>)>) {
        assert_eq!(parsed.len(), 1);
        let (key, entries) = &parsed[0];
        assert_eq!(key, "stream:8:s1");
        let got: Vec<(&str, &str, &[u8])> = entries
            .iter()
            .map(|e| (e.id.as_str(), e.uuid.as_str(), e.message.as_ref()))
            .collect();
        let u = "ff7ba400e76c4053982dfeec42bdef38";
        assert_eq!(
            got,
            vec![("1-0", u, &b"a\nb"[..]), ("2-0", u, &b"\xff\x00c\n"[..])]
        );
    }

    #[test]
    fn xread_replies_parse_in_both_protocols() {
        let e =
            |id: &[u8], msg: &[u8]| Value::Array(vec![bulk(id), Value::Array(entry_fields(msg))]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk(b"stream:8:s1"),
            Value::Array(vec![e(b"1-0", b"a\nb"), e(b"2-0", b"\xff\x00c\n")]),
        ])]);
        check(parse_xread(resp2));
        let m = |id: &[u8], msg: &[u8]| {
            let f = entry_fields(msg);
            let mut it = f.into_iter();
            let map = std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect();
            Value::Array(vec![bulk(id), Value::Map(map)])
        };
        let resp3 = Value::Map(vec![(
            bulk(b"stream:8:s1"),
            Value::Array(vec![m(b"1-0", b"a\nb"), m(b"2-0", b"\xff\x00c\n")]),
        )]);
        check(parse_xread(resp3));
    }

    #[test]
    fn timeouts_and_malformed_replies_give_nothing() {
        assert!(parse_xread(Value::Nil).is_empty());
        assert!(parse_xread(Value::Array(vec![Value::Int(3)])).is_empty());
        let odd = Value::Array(vec![Value::Array(vec![
            bulk(b"k"),
            Value::Array(vec![
                Value::Array(vec![Value::Nil, Value::Array(vec![bulk(b"x")])]),
                Value::Int(7),
            ]),
        ])]);
        assert_eq!(parse_xread(odd)[0].1.len(), 0);
        let no_key = Value::Array(vec![Value::Array(vec![Value::Nil, Value::Nil])]);
        assert!(parse_xread(no_key).is_empty());
    }
}
