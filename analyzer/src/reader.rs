//! The COF server's read connection to the pDNS store.
//!
//! Ingestion writes through `fred` (see [`crate::store`]); the COF server reads through a
//! `redis-rs` multiplexed connection instead. A query is two short pipelines (the type sets,
//! then the first/last/count values), and under `fred` those cost more CPU than the rest of
//! the request: it flushes the socket after every pipelined command and moves a large future
//! per command. `redis-rs` packs a pipeline into one buffer and writes the pipelines of
//! concurrent requests in one system call: with it the server's CPU per query fell from about
//! 60 µs to under 40 µs and throughput at 16 clients rose by a third (`bench/analyzer/run.sh`).
//!
//! The connection is lazy and self-healing: nothing is opened until the first query, a
//! store that is down makes queries fail fast (the API answers 503), and the connection is
//! re-established on the next query once the store is back.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Pipeline, Value};

use crate::store::{parse_int, StoreError};

/// One lazily connected, multiplexed store connection (clone it freely: clones share it).
#[derive(Clone)]
pub struct Reader {
    conn: ConnectionManager,
}

impl Reader {
    /// A reader for `url` (`redis://host:port/db`) whose commands time out after `timeout`.
    /// Does not connect yet; only a malformed URL is an error here.
    pub fn new(url: &str, timeout: Duration) -> Result<Reader, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::Read)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.min(Duration::from_secs(2))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).map_err(StoreError::Read)?;
        Ok(Reader { conn })
    }

    /// Runs `pipe` and returns one reply per command. A command the server refused (e.g.
    /// `WRONGTYPE`) yields [`Value::ServerError`] in its place; only a failure of the
    /// connection itself is an error.
    pub async fn run(&self, pipe: &Pipeline) -> Result<Vec<Value>, StoreError> {
        let mut conn = self.conn.clone();
        pipe.query_async(&mut conn).await.map_err(StoreError::Read)
    }
}

/// Builds a pipeline whose refused commands come back in place instead of failing it.
pub fn pipeline() -> Pipeline {
    let mut p = redis::pipe();
    p.ignore_errors();
    p
}

/// The members of a set reply (empty for a missing key or a key of another type).
pub fn members(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.into_iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

/// A string reply as text (lossy for invalid UTF-8, as stored names are ASCII in practice).
pub fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(
            String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()),
        ),
        Value::SimpleString(s) => Some(s),
        Value::VerbatimString { text, .. } => Some(text),
        _ => None,
    }
}

/// An integer reply or an integer stored as text (`"17"`, or the legacy `"17.0"`).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Double(d) if d.is_finite() => Some(*d as i64),
        Value::BulkString(b) => parse_int(std::str::from_utf8(b).ok()?),
        Value::SimpleString(s) => parse_int(s),
        _ => None,
    }
}

/// `(member, score)` pairs of a `ZREVRANGE ... WITHSCORES` reply: a flat array in RESP2,
/// an array of pairs in RESP3.
pub fn scored_pairs(v: Value) -> Vec<(String, i64)> {
    let items = match v {
        Value::Array(items) => items,
        _ => return Vec::new(),
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    if items.iter().all(|i| matches!(i, Value::Array(_))) {
        for pair in items {
            if let Value::Array(p) = pair {
                let mut p = p.into_iter();
                if let (Some(m), Some(s)) = (p.next(), p.next()) {
                    out.push((text(m).unwrap_or_default(), int(&s).unwrap_or(0)));
                }
            }
        }
    } else {
        let mut it = items.into_iter();
        while let (Some(m), Some(s)) = (it.next(), it.next()) {
            out.push((text(m).unwrap_or_default(), int(&s).unwrap_or(0)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_like_the_store_writes_them() {
        assert_eq!(int(&Value::BulkString(b"17".to_vec())), Some(17));
        assert_eq!(int(&Value::BulkString(b"17.0".to_vec())), Some(17));
        assert_eq!(int(&Value::Int(3)), Some(3));
        assert_eq!(int(&Value::Nil), None);
        assert_eq!(int(&Value::BulkString(b"x".to_vec())), None);
        let set = Value::Array(vec![
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"b".to_vec()),
        ]);
        assert_eq!(members(set), vec!["a", "b"]);
        assert!(members(Value::Nil).is_empty());
    }

    #[test]
    fn scored_pairs_in_both_protocols() {
        let flat = Value::Array(vec![
            Value::BulkString(b"s1".to_vec()),
            Value::BulkString(b"5".to_vec()),
            Value::BulkString(b"s2".to_vec()),
            Value::BulkString(b"2".to_vec()),
        ]);
        let nested = Value::Array(vec![
            Value::Array(vec![Value::BulkString(b"s1".to_vec()), Value::Double(5.0)]),
            Value::Array(vec![Value::BulkString(b"s2".to_vec()), Value::Double(2.0)]),
        ]);
        let want = vec![("s1".to_string(), 5), ("s2".to_string(), 2)];
        assert_eq!(scored_pairs(flat), want);
        assert_eq!(scored_pairs(nested), want);
    }
}
