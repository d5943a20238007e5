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

use std::collections::{BTreeMap, HashMap};
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
    let mut out = name_keys(q);
    out.extend(address_key(v, t));
    out
}

/// The index keys of every record of the name `q`: its parents, then its leftmost parts.
fn name_keys(q: &str) -> Vec<String> {
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
    out
}

/// The network bucket key of an A or AAAA record's address.
fn address_key(v: &str, t: u16) -> Option<String> {
    let ip = match t {
        1 => v.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        28 => v.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        _ => None,
    };
    ip.map(ip_bucket)
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

/// The index writes of a batch, queued at the start of the batch's one pipeline (before its
/// upstream keys), and where to read which records they added.
///
/// Per index key, one `ZADD <key> GT <last> <member> ...` for every record of the batch in it
/// except the record's *witness* key (the last of [`record_keys`]), then one `ZADD` per record
/// to its witness key: a record is new when that `ZADD` added it. A store runs a pipeline in
/// order, so a record in its witness key is in all its keys; a crash in the middle leaves index
/// members without `s:`/`l:` (which the engine skips) and the retried batch, still in the
/// processing list, completes them. On a cluster each node runs its part on its own: after a
/// crash either side may be partial until the retry. A record without index keys (a two-label
/// name other than A/AAAA, e.g. `example.com NS`) is new when `SISMEMBER r:<q>:<t> <v>`, queued
/// before the batch's `SADD`s, says its upstream set lacks it. A store written before the
/// indexes must be reindexed first, or its known records count as new once.
pub(crate) struct Queued {
    /// The witness command of each indexed sighting.
    witnesses: Vec<Witness>,
    /// Positions of the index commands in the pipeline.
    range: std::ops::Range<usize>,
}

/// Where to read whether one sighting is new.
struct Witness {
    /// Its position in the batch.
    sighting: usize,
    /// Position of its `ZADD` (or `SISMEMBER`) in the pipeline.
    command: usize,
    /// `ZADD` (new when it added 1), else `SISMEMBER` (new when it answered 0).
    zadd: bool,
}

/// Queues the index writes of a batch's `sightings` (see [`Queued`]).
pub(crate) fn queue(pipe: &mut Pipeline, sightings: &[Sighting<'_>]) -> Queued {
    let start = pipe.len();
    // Per indexed sighting: its position, and its witness key and member (none: no index key).
    let mut records: Vec<(usize, Option<(String, String)>)> = Vec::new();
    // Index key -> the records (positions in `records`) it gets besides witnesses.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    // The name keys of each name of the batch, computed once per name.
    let mut names: HashMap<&str, Vec<String>> = HashMap::new();
    for (i, s) in sightings.iter().enumerate() {
        if !indexed(s.t) {
            continue;
        }
        let name_keys = names.entry(s.q).or_insert_with(|| name_keys(s.q));
        let address = address_key(s.v, s.t);
        let (grouped, witness) = match &address {
            Some(_) => (&name_keys[..], address),
            None => match name_keys.split_last() {
                Some((last, rest)) => (rest, Some(last.clone())),
                None => (&name_keys[..], None),
            },
        };
        let Some(witness) = witness else {
            records.push((i, None));
            continue;
        };
        for k in grouped {
            match group_of.get(k) {
                Some(&g) => groups[g].1.push(records.len()),
                None => {
                    group_of.insert(k.clone(), groups.len());
                    groups.push((k.clone(), vec![records.len()]));
                }
            }
        }
        records.push((i, Some((witness, member(s.q, s.v, s.t)))));
    }
    for (k, rs) in &groups {
        let c = pipe.cmd("ZADD").arg(k).arg("GT");
        for &r in rs {
            if let (i, Some((_, m))) = &records[r] {
                c.arg(sightings[*i].last).arg(m);
            }
        }
    }
    let mut witnesses = Vec::with_capacity(records.len());
    for (i, w) in &records {
        let s = &sightings[*i];
        match w {
            Some((k, m)) => pipe.cmd("ZADD").arg(k).arg("GT").arg(s.last).arg(m),
            None => pipe.cmd("SISMEMBER").arg(keys::forward(s.q, s.t)).arg(s.v),
        };
        witnesses.push(Witness {
            sighting: *i,
            command: pipe.len() - 1,
            zadd: w.is_some(),
        });
    }
    Queued {
        witnesses,
        range: start..pipe.len(),
    }
}

impl Queued {
    /// The records the index writes found new, given the pipeline's `replies`; logs the
    /// index writes the store refused and fails on a transient error among them.
    pub(crate) fn fresh<'a>(
        &self,
        sightings: &[Sighting<'a>],
        replies: &[Value],
    ) -> Result<Vec<Fresh<'a>>, StoreError> {
        check_replies(replies.get(self.range.clone()).unwrap_or_default())?;
        let mut fresh = Vec::new();
        for w in &self.witnesses {
            let s = &sightings[w.sighting];
            let reply = replies.get(w.command).and_then(value::int);
            let new = if w.zadd {
                reply.is_some_and(|x| x > 0)
            } else {
                reply == Some(0)
            };
            if new {
                fresh.push(Fresh {
                    q: s.q,
                    v: s.v,
                    t: s.t,
                    first: s.first,
                });
            }
        }
        Ok(fresh)
    }
}

/// Appends the newly observed feed entries of a batch whose index writes found `fresh`
/// records, after the batch was written: one entry per new name (with the first time of its
/// records), then one per new record. A name is new when none of its forward sets `r:<q>:<t>`
/// of a served type held anything before the batch: each holds exactly what the batch added
/// to it, `added(q, t)` (the `SADD` replies). Round trips: one for the names (`SCARD`), one
/// for the entries.
pub(crate) async fn feed(
    store: &Store,
    fresh: &[Fresh<'_>],
    added: impl Fn(&str, u16) -> i64,
) -> Result<(), StoreError> {
    if fresh.is_empty() {
        return Ok(());
    }
    let names = new_names(store, fresh, added).await?;
    let mut pipe = store::tolerant_pipe();
    for &(name, first) in &names {
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
    check_replies(&replies)
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
pub(crate) struct Fresh<'a> {
    q: &'a str,
    v: &'a str,
    t: u16,
    first: u64,
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

/// Names of the new records whose forward sets of the served types hold only what the batch
/// added (`SCARD r:<q>:<t>` equal to `added(q, t)`, zero for a type the batch did not
/// write), sorted, with the first time of their records.
async fn new_names<'a>(
    store: &Store,
    fresh: &[Fresh<'a>],
    added: impl Fn(&str, u16) -> i64,
) -> Result<Vec<(&'a str, u64)>, StoreError> {
    let mut names: BTreeMap<&str, u64> = BTreeMap::new();
    for f in fresh {
        let e = names.entry(f.q).or_insert(f.first);
        *e = (*e).min(f.first);
    }
    let mut pipe = store::tolerant_pipe();
    for n in names.keys() {
        for &t in rrtype::SERVED.iter() {
            pipe.cmd("SCARD").arg(keys::forward(n, t));
        }
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    Ok(names
        .into_iter()
        .zip(replies.chunks(rrtype::SERVED.len()))
        .filter(|((n, _), chunk)| {
            rrtype::SERVED
                .iter()
                .zip(chunk.iter())
                .all(|(&t, v)| value::int(v) == Some(added(n, t)))
        })
        .map(|(n, _)| n)
        .collect())
}

/// Fails on a transient error among the replies; logs refused commands (e.g. `WRONGTYPE` on
/// a key an operator reused) once.
fn check_replies(replies: &[Value]) -> Result<(), StoreError> {
    let mut refused = 0usize;
    let mut first = None;
    for reply in replies {
        let Value::ServerError(_) = reply else {
            continue;
        };
        let Err(e) = reply.clone().extract_error() else {
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

    fn sighting<'a>(q: &'a str, v: &'a str, t: u16) -> Sighting<'a> {
        Sighting {
            q,
            v,
            t,
            first: 10,
            last: 20,
        }
    }

    #[test]
    fn a_batch_shares_its_index_keys_and_each_record_has_one_witness() {
        let batch = [
            sighting("a.b.example.com", "192.0.2.7", 1),
            sighting("a.b.example.com", "x.example.net", 5),
            sighting("example.com", "ns.example.net", 2),
            sighting("4.3.2.1.in-addr.arpa", "x", 12),
        ];
        let mut pipe = store::pipe();
        let q = queue(&mut pipe, &batch);
        let cmds: Vec<String> = pipe
            .cmd_iter()
            .map(|c| String::from_utf8_lossy(&c.get_packed_command()).into_owned())
            .collect();
        let a = member("a.b.example.com", "192.0.2.7", 1);
        let cname = member("a.b.example.com", "x.example.net", 5);
        // The name's keys once each, with both records except where a key is a witness.
        let sub = cmds
            .iter()
            .find(|c| c.contains("ix:sub:example.com\r\n"))
            .expect("ix:sub:example.com");
        assert!(sub.contains(&a) && sub.contains(&cname), "{sub}");
        assert_eq!(
            cmds.iter()
                .filter(|c| c.contains("ix:sub:example.com\r\n"))
                .count(),
            1
        );
        // Witnesses last, one per indexed record: the /24 of the A record, the last name key
        // of the CNAME, SISMEMBER for the two-label NS; PTR is not indexed.
        assert_eq!(q.witnesses.len(), 3);
        let w: Vec<&String> = q.witnesses.iter().map(|w| &cmds[w.command]).collect();
        assert!(
            w[0].contains("ix:ip4:192.0.2\r\n") && w[0].contains(&a),
            "{}",
            w[0]
        );
        assert!(
            w[1].contains(&starting_key("a.b.example")) && w[1].contains(&cname),
            "{}",
            w[1]
        );
        assert!(
            w[2].contains("SISMEMBER") && w[2].contains("r:example.com:2"),
            "{}",
            w[2]
        );
        assert!(q.witnesses.iter().all(|w| w.command >= cmds.len() - 3));
        // New: the A record's ZADD added it, the NS record's set lacked it.
        let mut replies = vec![Value::Int(1); cmds.len()];
        replies[q.witnesses[1].command] = Value::Int(0);
        replies[q.witnesses[2].command] = Value::Int(0);
        let fresh = q.fresh(&batch, &replies).expect("fresh");
        let got: Vec<(&str, u16)> = fresh.iter().map(|f| (f.v, f.t)).collect();
        assert_eq!(got, vec![("192.0.2.7", 1), ("ns.example.net", 2)]);
    }
}
