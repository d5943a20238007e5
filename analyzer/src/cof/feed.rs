//! `GET /new`: the newly observed names and records (the `ix:new` stream that ingestion and
//! import write, see `crate::index`), oldest first, as NDJSON:
//! `{"id": "<stream id>", "kind": "name" | "record", "rrname": ..., ["rrtype": ..., "rdata": ...,]
//! "time_first": <epoch s>}`.
//!
//! Parameters: `since` (epoch seconds, or negative = seconds before now; default: the whole
//! feed), `after` (a stream id from the previous answer: continue strictly after it), `kind`
//! (`name` or `record`), `limit` (entries, default and maximum [`MAX_LIMIT`]), `saf=1` (SAF
//! framing, `limited` when entries remain). The feed is bounded (about `index::FEED_MAX`
//! entries), so `since` older than its oldest entry starts at the oldest. Entries are read
//! [`CHUNK`] at a time and streamed as they arrive.

use d4_core::store::{cmd, Store, StoreError, Value};

use super::record::py_json_str;
use crate::model::keys;

/// One feed entry: its stream id and its field/value pairs.
pub(crate) type Entry = (String, Vec<(String, String)>);

/// Entries per `XRANGE`.
pub(crate) const CHUNK: usize = 1000;
/// Most entries per answer.
pub(crate) const MAX_LIMIT: usize = 100_000;

/// What `/new` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeedQuery {
    /// First stream id to read (`XRANGE` start, `(` = exclusive).
    pub(crate) start: String,
    /// Only this kind of entry.
    pub(crate) kind: Option<String>,
    /// Most entries.
    pub(crate) limit: usize,
    /// SAF framing.
    pub(crate) saf: bool,
}

/// Parses the query string; `now` resolves a relative `since`.
pub(crate) fn parse(query: &str, now: i64) -> Result<FeedQuery, String> {
    let mut q = FeedQuery {
        start: "-".into(),
        kind: None,
        limit: MAX_LIMIT,
        saf: false,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "1"));
        let v = super::dnsdb::decode(v)?;
        match k {
            "since" => {
                let t: i64 = v
                    .parse()
                    .map_err(|_| format!("since: expected epoch seconds, got {v:?}"))?;
                let t = crate::search::Fence::resolve(t, now).max(0);
                q.start = format!("{}", t.saturating_mul(1000));
            }
            "after" => {
                let ok = v
                    .split_once('-')
                    .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
                if !ok {
                    return Err(format!("after: expected a feed id <ms>-<seq>, got {v:?}"));
                }
                q.start = format!("({v}");
            }
            "kind" => match v.as_str() {
                "name" | "record" => q.kind = Some(v),
                _ => return Err(format!("kind: expected name or record, got {v:?}")),
            },
            "limit" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("limit: expected a number, got {v:?}"))?;
                q.limit = if n == 0 { MAX_LIMIT } else { n.min(MAX_LIMIT) };
            }
            "saf" => {
                q.saf = d4_core::config::parse_bool(&v)
                    .ok_or_else(|| format!("saf: expected 1 or 0, got {v:?}"))?;
            }
            _ => {}
        }
    }
    Ok(q)
}

/// One chunk of entries from `start`: `(id, fields)` in stream order.
pub(crate) async fn read(
    store: &Store,
    start: &str,
    count: usize,
) -> Result<Vec<Entry>, StoreError> {
    let mut c = cmd("XRANGE");
    c.arg(keys::NEW_FEED)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(count);
    let reply: Value = store.query(&c).await?;
    Ok(entries(reply))
}

/// Entries of an `XRANGE` reply (malformed ones skipped).
fn entries(reply: Value) -> Vec<Entry> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = d4_core::store::value::pairs(parts.pop()?);
            let id = d4_core::store::value::text(parts.pop()?)?;
            Some((id, fields))
        })
        .collect()
}

/// One entry as an NDJSON line (with `\n`), or `None` when its kind is filtered out.
pub(crate) fn line(id: &str, fields: &[(String, String)], kind: Option<&str>) -> Option<String> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    if kind.is_some_and(|k| get("kind") != Some(k)) {
        return None;
    }
    let mut out = String::from("{\"id\": ");
    py_json_str(&mut out, id);
    for (k, v) in fields {
        out.push_str(", ");
        py_json_str(&mut out, k);
        out.push_str(": ");
        match (k.as_str(), v.parse::<i64>()) {
            ("time_first", Ok(n)) => out.push_str(&n.to_string()),
            _ => py_json_str(&mut out, v),
        }
    }
    out.push_str("}\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters() {
        let q = parse("since=-60&kind=name&limit=5&saf=1", 1000).expect("parse");
        assert_eq!(q.start, "940000");
        assert_eq!((q.kind.as_deref(), q.limit, q.saf), (Some("name"), 5, true));
        assert_eq!(parse("after=17-3", 0).expect("after").start, "(17-3");
        assert_eq!(parse("", 0).expect("empty").start, "-");
        for bad in ["since=x", "after=17", "kind=other", "limit=-1", "saf=maybe"] {
            assert!(parse(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn entry_lines() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"1700000000000-0".to_vec()),
            Value::Array(
                [
                    "kind",
                    "record",
                    "rrname",
                    "a.example",
                    "rrtype",
                    "A",
                    "rdata",
                    "192.0.2.1",
                    "time_first",
                    "1700000000",
                ]
                .iter()
                .map(|s| Value::BulkString(s.as_bytes().to_vec()))
                .collect(),
            ),
        ])]);
        let e = entries(reply);
        assert_eq!(e.len(), 1);
        let (id, fields) = &e[0];
        assert_eq!(
            line(id, fields, None).as_deref(),
            Some("{\"id\": \"1700000000000-0\", \"kind\": \"record\", \"rrname\": \"a.example\", \"rrtype\": \"A\", \"rdata\": \"192.0.2.1\", \"time_first\": 1700000000}\n")
        );
        assert_eq!(line(id, fields, Some("name")), None);
    }
}
