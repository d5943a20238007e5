//! The write side of the d4-rs search indexes, beside the upstream keys (which stay exactly as
//! they are): which index keys a record belongs to, how a record is named inside them, and
//! the newly observed feed. The key names live in `model::keys` (`ix:` families).
//!
//! Every record `(q, v, t)` of a type the COF server serves is a member [`member`] of:
//! - `ix:sub:<d>` for each parent domain `d` of `q` with two labels or more (left-hand
//!   wildcards `*.d`): `a.b.example.com` is in `ix:sub:b.example.com` and `ix:sub:example.com`;
//! - `ix:pre:<bucket>` for each leftmost part `p` of `q` with two labels or more, `q` excluded
//!   (right-hand wildcards `p.*`), in the bucket [`prefix_bucket`] of `p`: `www.example.co.uk`
//!   is in the buckets of `www.example` and `www.example.co` (a bucket mixes parts; the engine
//!   keeps the names that start with the asked part);
//! - `ix:ip4:<a.b.c>` (A records, the /24 of the address) or `ix:ip6:<48 bits>` (AAAA, the
//!   /48), for CIDR prefixes and ranges.
//!
//! The score is the record's last seen, written with `ZADD GT` (a score only grows, so any
//! number of writers, `pdns-reindex` included, converge to the maximum: idempotent). One key
//! per domain, prefix or network bucket: no key that every write hits, and each key lives on
//! its own cluster slot. Index members of records whose upstream keys expired (TXT) stay; the
//! engine skips them (no `s:`/`l:`).
//!
//! - `reindex`: `pdns-reindex`, the indexes of an existing store.

pub mod reindex;

use std::collections::BTreeMap;
use std::net::IpAddr;

use d4_core::store::{self, value, Pipeline, Store, StoreError, Value};

use crate::model::{keys, rrtype};

/// Entries the newly observed feed keeps (approximately: `XADD ... MAXLEN ~`).
pub const FEED_MAX: u64 = 100_000;

/// Buckets of the right-hand wildcard index (about 5 leftmost parts per bucket at 5 million
/// records: small sorted sets in their compact encoding).
pub const PREFIX_BUCKETS: u32 = 1 << 20;

/// Bucket of a leftmost part (`www.example`): FNV-1a (32 bits) of its bytes modulo
/// [`PREFIX_BUCKETS`]; fixed forever, as the buckets in stores depend on it.
pub fn prefix_bucket(labels: &str) -> u32 {
    let h = labels.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h % PREFIX_BUCKETS
}

/// The right-hand wildcard index key of a leftmost part.
pub fn starting_key(labels: &str) -> String {
    keys::index_starting(prefix_bucket(labels))
}

/// Whether records of type `t` are indexed (the types the COF server serves).
pub fn indexed(t: u16) -> bool {
    rrtype::SERVED.contains(&t)
}

/// A record's member in every index key: `<t>:<len(q)>:<q>:<v>` (the length makes names or
/// answers holding `:` unambiguous; members sort by type, then name, then answer).
pub fn member(q: &str, v: &str, t: u16) -> String {
    format!("{t}:{}:{q}:{v}", q.len())
}

/// `(q, v, t)` of a [`member`]; `None` for anything else.
pub fn parse_member(m: &str) -> Option<(&str, &str, u16)> {
    let (t, rest) = m.split_once(':')?;
    let (len, rest) = rest.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let q = rest.get(..len)?;
    let v = rest.get(len..)?.strip_prefix(':')?;
    Some((q, v, t.parse().ok()?))
}

/// The index bucket key of an address: `ix:ip4:` of its /24, `ix:ip6:` of its /48.
pub fn ip_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let [a, b, c, _] = a.octets();
            keys::index_ip4(a, b, c)
        }
        IpAddr::V6(a) => keys::index_ip6((u128::from(a) >> 80) as u64),
    }
}

/// Every index key the record `(q, v, t)` belongs to (none when its type is not indexed).
pub fn record_keys(q: &str, v: &str, t: u16) -> Vec<String> {
    if !indexed(t) {
        return Vec::new();
    }
    let labels: Vec<&str> = q.split('.').collect();
    let n = labels.len();
    let mut out = Vec::new();
    // Parents with two labels or more: labels[i..] for i in 1..=n-2.
    for i in 1..n.saturating_sub(1) {
        out.push(keys::index_below(&labels[i..].join(".")));
    }
    // Leftmost parts with two labels or more, the name excluded: labels[..j] for j in 2..n.
    for j in 2..n {
        let key = starting_key(&labels[..j].join("."));
        if !out.contains(&key) {
            out.push(key);
        }
    }
    let ip = match t {
        1 => v.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        28 => v.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        _ => None,
    };
    out.extend(ip.map(ip_bucket));
    out
}

/// Queues the index writes of one record seen last at `last`: `ZADD <key> GT <last> <member>`
/// for each of its index keys; returns how many (0 when its type is not indexed or its name
/// has no index key).
pub fn queue_record(pipe: &mut Pipeline, q: &str, v: &str, t: u16, last: u64) -> usize {
    let ks = record_keys(q, v, t);
    if ks.is_empty() {
        return 0;
    }
    let m = member(q, v, t);
    for k in &ks {
        pipe.cmd("ZADD").arg(k).arg("GT").arg(last).arg(&m);
    }
    ks.len()
}

/// Writes the index entries and the newly observed feed of a batch. Called before the batch's
/// upstream keys are written: a crash in between leaves index members without `s:`/`l:`,
/// which the engine skips and the retried batch completes.
///
/// A record is new when a `ZADD` added it to one of its index keys (its keys are written
/// together; a store written before the indexes must be reindexed first, or its known records
/// count as new once); a record without index keys (a two-label name other than A/AAAA, e.g.
/// `example.com NS`) is new when `SISMEMBER r:<q>:<t> <v>` says its upstream set lacks it.
/// Round trips: one when every record is known; when some are new, one more for their names
/// (`EXISTS r:<q>:<t>` over the served types: a name is new when it has none) and one for the
/// feed entries.
pub(crate) async fn write(store: &Store, sightings: &[Sighting<'_>]) -> Result<(), StoreError> {
    let tuples: Vec<&Sighting<'_>> = sightings.iter().filter(|tu| indexed(tu.t)).collect();
    if tuples.is_empty() {
        return Ok(());
    }
    let mut pipe = store::tolerant_pipe();
    let mut spans = Vec::with_capacity(tuples.len());
    for tu in &tuples {
        let n = queue_record(&mut pipe, tu.q, tu.v, tu.t, tu.last);
        if n == 0 {
            pipe.cmd("SISMEMBER")
                .arg(keys::forward(tu.q, tu.t))
                .arg(tu.v);
        }
        spans.push(n);
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    let mut fresh: Vec<Fresh<'_>> = Vec::new();
    let mut at = 0;
    for (tu, n) in tuples.iter().zip(spans) {
        let own = replies.get(at..at + n.max(1)).unwrap_or_default();
        at += n.max(1);
        let added = |v: &Value| value::int(v).is_some_and(|x| x > 0);
        let new = if n == 0 {
            own.first()
                .is_some_and(|v| !added(v) && !matches!(v, Value::ServerError(_)))
        } else {
            own.iter().any(added)
        };
        if new {
            fresh.push(Fresh {
                q: tu.q,
                v: tu.v,
                t: tu.t,
                first: tu.first,
            });
        }
    }
    check_replies(replies)?;
    if fresh.is_empty() {
        return Ok(());
    }
    let names = new_names(store, &fresh).await?;
    feed(store, &names, &fresh).await
}

/// One record of a batch as the indexes see it: the write path's aggregate of its lines.
pub(crate) struct Sighting<'a> {
    /// Name.
    pub(crate) q: &'a str,
    /// Answer.
    pub(crate) v: &'a str,
    /// Type.
    pub(crate) t: u16,
    /// Time of its first line in the batch.
    pub(crate) first: u64,
    /// Largest time in the batch.
    pub(crate) last: u64,
}

/// A record seen for the first time, with the time of its first line in the batch.
struct Fresh<'a> {
    q: &'a str,
    v: &'a str,
    t: u16,
    first: u64,
}

/// Appends the feed entries of the new names (with their first time) and records of a batch
/// (one round trip).
async fn feed(store: &Store, names: &[(&str, u64)], fresh: &[Fresh<'_>]) -> Result<(), StoreError> {
    let mut pipe = store::tolerant_pipe();
    for &(name, first) in names {
        feed_entry(&mut pipe, &[("kind", "name"), ("rrname", name)], first);
    }
    for f in fresh {
        let mnemonic = rrtype::mnemonic(f.t);
        let fields = [
            ("kind", "record"),
            ("rrname", f.q),
            ("rrtype", mnemonic.as_str()),
            ("rdata", f.v),
        ];
        feed_entry(&mut pipe, &fields, f.first);
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    check_replies(replies)
}

/// Queues one feed entry: `XADD ix:new MAXLEN ~ <FEED_MAX> * <fields...> time_first <ts>`.
fn feed_entry(pipe: &mut Pipeline, fields: &[(&str, &str)], time_first: u64) {
    let cmd = pipe
        .cmd("XADD")
        .arg(keys::NEW_FEED)
        .arg("MAXLEN")
        .arg("~")
        .arg(FEED_MAX)
        .arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(*v);
    }
    cmd.arg("time_first").arg(time_first);
}

/// Names of the new records that have no `r:<q>:<t>` of a served type in the store yet
/// (read before the batch writes its own), sorted, with the first time of their records.
async fn new_names<'a>(
    store: &Store,
    fresh: &[Fresh<'a>],
) -> Result<Vec<(&'a str, u64)>, StoreError> {
    let mut names: BTreeMap<&str, u64> = BTreeMap::new();
    for f in fresh {
        let e = names.entry(f.q).or_insert(f.first);
        *e = (*e).min(f.first);
    }
    let mut pipe = store::tolerant_pipe();
    for n in names.keys() {
        for &t in rrtype::SERVED.iter() {
            pipe.exists(keys::forward(n, t));
        }
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    Ok(names
        .into_iter()
        .zip(replies.chunks(rrtype::SERVED.len()))
        .filter(|(_, chunk)| !chunk.iter().any(|v| value::int(v).is_some_and(|x| x > 0)))
        .map(|(n, _)| n)
        .collect())
}

/// Fails on a transient error among the replies; logs refused commands (e.g. `WRONGTYPE` on
/// a key an operator reused) once.
fn check_replies(replies: Vec<Value>) -> Result<(), StoreError> {
    let mut refused = 0usize;
    let mut first = None;
    for reply in replies {
        let Value::ServerError(_) = reply else {
            continue;
        };
        let Err(e) = reply.extract_error() else {
            continue;
        };
        let e = StoreError::from(e);
        if e.is_transient() {
            return Err(e);
        }
        refused += 1;
        first.get_or_insert(e);
    }
    if let Some(e) = first {
        tracing::error!(refused, error = %e, "Store refused search index writes.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_buckets_are_fixed() {
        // FNV-1a 32 of "" and "a" (published test vectors), then the modulo.
        assert_eq!(prefix_bucket(""), 0x811c_9dc5 % PREFIX_BUCKETS);
        assert_eq!(prefix_bucket("a"), 0xe40c_292c % PREFIX_BUCKETS);
        assert_eq!(
            starting_key("www.example"),
            keys::index_starting(prefix_bucket("www.example"))
        );
    }

    #[test]
    fn members_round_trip_with_colons() {
        let m = member("a:b.example", "2001:db8::1", 28);
        assert_eq!(m, "28:11:a:b.example:2001:db8::1");
        assert_eq!(parse_member(&m), Some(("a:b.example", "2001:db8::1", 28)));
        assert_eq!(parse_member("1:99:short:x"), None);
        assert_eq!(parse_member("x"), None);
        assert_eq!(parse_member("1:3:abc"), None);
        assert_eq!(parse_member("1:3:abc:"), Some(("abc", "", 1)));
    }

    #[test]
    fn a_record_is_in_its_parent_prefix_and_network_keys() {
        assert_eq!(
            record_keys("a.b.example.com", "192.0.2.7", 1),
            vec![
                "ix:sub:b.example.com".to_string(),
                "ix:sub:example.com".to_string(),
                starting_key("a.b"),
                starting_key("a.b.example"),
                "ix:ip4:192.0.2".to_string(),
            ]
        );
        assert_eq!(
            record_keys("example.com", "2001:db8:1::5", 28),
            vec!["ix:ip6:20010db80001"]
        );
        assert_eq!(
            record_keys("www.example.com", "x", 5),
            vec![
                "ix:sub:example.com".to_string(),
                starting_key("www.example")
            ]
        );
        assert!(
            record_keys("4.3.2.1.in-addr.arpa", "x", 12).is_empty(),
            "PTR is not served"
        );
        assert_eq!(
            record_keys("localhost", "127.0.0.1", 1),
            vec!["ix:ip4:127.0.0"]
        );
    }
}
