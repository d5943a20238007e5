//! passivedns's de-duplication cache (spec `pdns.md` §5.5): qname → assets keyed by
//! (type, answer string), case-sensitive.
//!
//! - new asset: printed at once with count 1;
//! - seen again: count accumulates, TTL is the maximum seen, client/server follow the
//!   latest packet; printed again once `-P` seconds passed since its last print, with
//!   the count since then;
//! - expiry (every 600 s of packet time): records/assets not seen for `-C` seconds are
//!   dropped, each asset printed first if it was seen since its last print; the same
//!   flush happens for everything at the end of the capture;
//! - error records (NXDOMAIN, ...) are keyed by qname, printed at most once per `-P`
//!   seconds, never at expiry.
//!
//! A soft memory limit (`-S`) forces earlier expiry, oldest records first.
//!
//! Expiry prints in passivedns's order, so that the end-of-file flush gives the same
//! file byte for byte: passivedns keeps its records in a table of [`BUCKETS`] chained
//! buckets indexed by the djb2 hash of the qname, a new record goes to the head of its
//! chain and a new asset to the head of its record's list, and every expiry walks
//! buckets 0.., each chain from its head. [`Cache::walk_order`] sorts by the same keys
//! (bucket, then newest record first; assets newest first).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use super::line::{PdnsLine, Ts};
use super::slice::Proto;

/// Where a sighting came from.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// Packet time.
    pub ts: Ts,
    /// Query sender.
    pub client: IpAddr,
    /// Responder.
    pub server: IpAddr,
    /// Client MAC (response's Ethernet destination).
    pub client_mac: [u8; 6],
    /// Server MAC (response's Ethernet source).
    pub server_mac: [u8; 6],
    /// Transport.
    pub proto: Proto,
}

#[derive(Debug)]
struct Asset {
    rtype: &'static str,
    answer: String,
    class: Cow<'static, str>,
    ttl: u32,
    seen: u64,
    last_seen: Ts,
    last_print: Ts,
    client: IpAddr,
    server: IpAddr,
    client_mac: [u8; 6],
    server_mac: [u8; 6],
}

/// Assets a record holds before it indexes them (most records hold one or two).
const INDEX_FROM: usize = 16;

#[derive(Debug)]
struct Entry {
    /// Oldest first; walked newest first (passivedns prepends new assets).
    assets: Vec<Asset>,
    /// Position in `assets` by [`asset_key`], kept once a record holds [`INDEX_FROM`]
    /// assets: a busy name (a CDN's) collects thousands, and comparing each answer with
    /// all of them was most of the capture's time. Every asset's key is in the index (a
    /// colliding key keeps the first position), so a missing key means a new asset.
    index: HashMap<u64, usize, foldhash::fast::RandomState>,
    /// Creation number: a newer record comes first in its bucket.
    seq: u64,
    last_seen: Ts,
    err_last_print: Option<Ts>,
    proto: Proto,
}

/// The index key of an asset: a hash of its type and answer.
fn asset_key(rtype: &str, answer: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one((rtype, answer))
}

impl Entry {
    /// Position of the asset with this type and answer.
    fn find(&self, rtype: &str, answer: &str) -> Option<usize> {
        let same = |a: &Asset| a.rtype == rtype && a.answer == answer;
        if self.index.is_empty() {
            return self.assets.iter().position(same);
        }
        match self.index.get(&asset_key(rtype, answer)) {
            None => None,
            Some(&i) if self.assets.get(i).is_some_and(same) => Some(i),
            // Another asset has the same key: look the long way.
            Some(_) => self.assets.iter().position(same),
        }
    }

    /// Adds a new asset (newest last), indexing it once the record is large.
    fn push(&mut self, a: Asset) {
        let key = asset_key(a.rtype, &a.answer);
        self.assets.push(a);
        if self.index.is_empty() {
            self.reindex();
        } else {
            self.index.entry(key).or_insert(self.assets.len() - 1);
        }
    }

    /// Rebuilds the index after assets were added or dropped (none below [`INDEX_FROM`]).
    fn reindex(&mut self) {
        self.index.clear();
        if self.assets.len() < INDEX_FROM {
            return;
        }
        for (i, a) in self.assets.iter().enumerate() {
            self.index.entry(asset_key(a.rtype, &a.answer)).or_insert(i);
        }
    }
}

/// Cache timing and size settings (`-P`, `-C`, `-S`).
#[derive(Debug, Clone, Copy)]
pub struct CacheOptions {
    /// Seconds between prints of the same unchanged asset.
    pub print_interval: u64,
    /// Seconds an unseen asset stays cached.
    pub cache_time: u64,
    /// Soft limit of the estimated cache size in bytes.
    pub mem_limit: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            print_interval: 86_400,
            cache_time: 43_200,
            mem_limit: 256 << 20,
        }
    }
}

/// The cache.
#[derive(Debug)]
pub struct Cache {
    opts: CacheOptions,
    /// Seeded per process, like std's hasher, but faster on short names.
    records: HashMap<String, Entry, foldhash::fast::RandomState>,
    last_expiry: Option<u64>,
    est_bytes: usize,
    next_seq: u64,
}

/// Number of buckets of passivedns's record table (`DBUCKET_SIZE`).
pub const BUCKETS: u64 = 3967;

/// passivedns's bucket of a qname: djb2 (`h = h * 33 + byte`, from 5381, wrapping on 64
/// bits) modulo [`BUCKETS`].
pub fn bucket(qname: &str) -> u64 {
    let h = qname.bytes().fold(5381u64, |h, c| {
        h.wrapping_shl(5).wrapping_add(h).wrapping_add(u64::from(c))
    });
    h % BUCKETS
}

const ENTRY_COST: usize = 96;
const ASSET_COST: usize = 128;

fn asset_line(qname: &str, e_proto: Proto, a: &Asset, count: u64, ts: Ts) -> PdnsLine {
    PdnsLine {
        ts,
        client: a.client,
        server: a.server,
        client_mac: a.client_mac,
        server_mac: a.server_mac,
        proto: e_proto,
        class: a.class.clone(),
        query: qname.to_string(),
        rtype: Cow::Borrowed(a.rtype),
        answer: a.answer.clone(),
        ttl: a.ttl,
        count,
    }
}

impl Cache {
    /// An empty cache.
    pub fn new(opts: CacheOptions) -> Cache {
        Cache {
            opts,
            records: HashMap::default(),
            last_expiry: None,
            est_bytes: 0,
            next_seq: 0,
        }
    }

    fn entry(&mut self, qname: &str, s: &Sighting) -> &mut Entry {
        if !self.records.contains_key(qname) {
            self.est_bytes += ENTRY_COST + qname.len();
            self.next_seq += 1;
            self.records.insert(
                qname.to_string(),
                Entry {
                    assets: Vec::new(),
                    index: HashMap::default(),
                    seq: self.next_seq,
                    last_seen: s.ts,
                    err_last_print: None,
                    proto: s.proto,
                },
            );
        }
        let e = self
            .records
            .get_mut(qname)
            .unwrap_or_else(|| unreachable!("inserted above"));
        e.last_seen = s.ts;
        e
    }

    /// Records one answer; returns the line to print now, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        qname: &str,
        rtype: &'static str,
        answer: String,
        class: Cow<'static, str>,
        ttl: u32,
        s: &Sighting,
    ) -> Option<PdnsLine> {
        let interval = self.opts.print_interval;
        let mut added = 0;
        let e = self.entry(qname, s);
        let proto = e.proto;
        let line = match e.find(rtype, &answer).and_then(|i| e.assets.get_mut(i)) {
            Some(a) => {
                a.seen += 1;
                a.last_seen = s.ts;
                a.client = s.client;
                a.server = s.server;
                a.ttl = a.ttl.max(ttl);
                if a.last_seen.sec.saturating_sub(a.last_print.sec) >= interval {
                    let l = asset_line(qname, proto, a, a.seen, a.last_seen);
                    a.last_print = a.last_seen;
                    a.seen = 0;
                    Some(l)
                } else {
                    None
                }
            }
            None => {
                added = ASSET_COST + answer.len();
                let a = Asset {
                    rtype,
                    answer,
                    class,
                    ttl,
                    seen: 0,
                    last_seen: s.ts,
                    last_print: s.ts,
                    client: s.client,
                    server: s.server,
                    client_mac: s.client_mac,
                    server_mac: s.server_mac,
                };
                let l = asset_line(qname, proto, &a, 1, s.ts);
                e.push(a);
                Some(l)
            }
        };
        self.est_bytes += added;
        line
    }

    /// Records an error response (answer section empty, rcode enabled); returns the
    /// line to print, at most once per print interval per qname.
    pub fn error(
        &mut self,
        qname: &str,
        qtype: String,
        class: Cow<'static, str>,
        rcode_name: String,
        s: &Sighting,
    ) -> Option<PdnsLine> {
        let interval = self.opts.print_interval;
        let e = self.entry(qname, s);
        let due = match e.err_last_print {
            None => true,
            Some(p) => e.last_seen.sec.saturating_sub(p.sec) >= interval,
        };
        if !due {
            return None;
        }
        e.err_last_print = Some(e.last_seen);
        Some(PdnsLine {
            ts: e.last_seen,
            client: s.client,
            server: s.server,
            client_mac: s.client_mac,
            server_mac: s.server_mac,
            proto: s.proto,
            class,
            query: qname.to_string(),
            rtype: qtype.into(),
            answer: rcode_name,
            ttl: 0,
            count: 1,
        })
    }

    /// Periodic expiry at packet time `now` (runs once per 600 s); lines of expired
    /// assets seen since their last print go to `out`.
    pub fn tick(&mut self, now: u64, out: &mut Vec<PdnsLine>) {
        let last = *self.last_expiry.get_or_insert(now);
        if now.saturating_sub(last) >= 600 {
            self.last_expiry = Some(now);
            self.expire(now.saturating_sub(self.opts.cache_time), out);
        }
        while self.est_bytes > self.opts.mem_limit && !self.records.is_empty() {
            let oldest = self
                .records
                .values()
                .map(|e| e.last_seen.sec)
                .min()
                .unwrap_or(now);
            self.expire(oldest + 300, out);
        }
    }

    /// The cached qnames in passivedns's walk order: by bucket, newest record first.
    fn walk_order(&self) -> Vec<String> {
        let mut keys: Vec<(u64, std::cmp::Reverse<u64>, &String)> = self
            .records
            .iter()
            .map(|(q, e)| (bucket(q), std::cmp::Reverse(e.seq), q))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, _, q)| q.clone()).collect()
    }

    /// Drops what was last seen at or before `threshold` seconds, printing in
    /// passivedns's walk order.
    fn expire(&mut self, threshold: u64, out: &mut Vec<PdnsLine>) {
        let mut freed = 0;
        for qname in self.walk_order() {
            let Some(e) = self.records.get_mut(&qname) else {
                continue;
            };
            let whole = e.last_seen.sec <= threshold;
            let mut kept = Vec::with_capacity(e.assets.len());
            for a in e.assets.drain(..).rev() {
                if whole || a.last_seen.sec <= threshold {
                    if a.last_seen > a.last_print {
                        out.push(asset_line(&qname, e.proto, &a, a.seen, a.last_seen));
                    }
                    freed += ASSET_COST + a.answer.len();
                } else {
                    kept.push(a);
                }
            }
            kept.reverse();
            e.assets = kept;
            e.reindex();
            if whole {
                freed += ENTRY_COST + qname.len();
                self.records.remove(&qname);
            }
        }
        self.est_bytes = self.est_bytes.saturating_sub(freed);
    }

    /// End of capture: prints every asset seen since its last print and empties the cache.
    pub fn flush_all(&mut self, out: &mut Vec<PdnsLine>) {
        self.expire(u64::MAX, out);
    }

    /// Number of cached qnames.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn at(sec: u64) -> Sighting {
        Sighting {
            ts: Ts { sec, usec: 5 },
            client: [10, 0, 0, 1].into(),
            server: [8, 8, 8, 8].into(),
            client_mac: [0; 6],
            server_mac: [0; 6],
            proto: Proto::Udp,
        }
    }

    fn a(c: &mut Cache, sec: u64, ttl: u32) -> Option<PdnsLine> {
        c.answer(
            "x.example.",
            "A",
            "1.2.3.4".into(),
            "IN".into(),
            ttl,
            &at(sec),
        )
    }

    #[test]
    fn first_sight_printed_then_counted_until_interval() {
        let mut c = Cache::new(CacheOptions::default());
        let l = a(&mut c, 1000, 60).unwrap();
        assert_eq!((l.count, l.ttl, l.ts.sec), (1, 60, 1000));
        assert!(a(&mut c, 1001, 300).is_none());
        assert!(a(&mut c, 1002, 100).is_none());
        let l = a(&mut c, 1000 + 86_400, 10).unwrap();
        assert_eq!(
            (l.count, l.ttl),
            (3, 300),
            "count since last print, max TTL"
        );
        let mut out = Vec::new();
        c.flush_all(&mut out);
        assert!(out.is_empty(), "nothing new since the last print");
    }

    #[test]
    fn flush_prints_unprinted_sightings_with_their_count() {
        let mut c = Cache::new(CacheOptions::default());
        a(&mut c, 1000, 60);
        a(&mut c, 1005, 60);
        a(&mut c, 1009, 60);
        let mut out = Vec::new();
        c.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].count, out[0].ts.sec), (2, 1009));
        assert!(c.is_empty());
    }

    #[test]
    fn expiry_after_cache_time() {
        let mut c = Cache::new(CacheOptions {
            cache_time: 100,
            ..CacheOptions::default()
        });
        let mut out = Vec::new();
        a(&mut c, 1000, 60);
        a(&mut c, 1001, 60);
        c.tick(1000, &mut out);
        c.tick(1700, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].count, 1);
        assert!(c.is_empty());
        assert_eq!(
            a(&mut c, 1701, 60).unwrap().count,
            1,
            "re-sighting after expiry is new"
        );
    }

    /// Over the `-S` limit, the oldest records are expired (and printed if unprinted
    /// sightings remain) until the estimate is below the limit.
    #[test]
    fn memory_limit_expires_oldest_first() {
        let mut c = Cache::new(CacheOptions {
            mem_limit: 2_000,
            ..CacheOptions::default()
        });
        let mut out = Vec::new();
        for i in 0..40u64 {
            c.answer(
                &format!("n{i}.example."),
                "A",
                format!("10.0.0.{i}"),
                "IN".into(),
                60,
                &at(1000 + i * 1000),
            );
            c.answer(
                &format!("n{i}.example."),
                "A",
                format!("10.0.0.{i}"),
                "IN".into(),
                60,
                &at(1001 + i * 1000),
            );
            c.tick(1000 + i * 1000, &mut out);
        }
        assert!(c.len() < 40, "some records expired");
        assert!(c.est_bytes <= 2_000);
        assert!(!out.is_empty() && out.iter().all(|l| l.count == 1));
        assert!(out.first().unwrap().query == "n0.example.", "oldest first");
    }

    #[test]
    fn djb2_buckets_like_passivedns() {
        // h = 5381 * 33 + 'a' = 177670; 177670 % 3967 = 3122.
        assert_eq!(bucket("a"), 177_670 % 3967);
        assert_eq!(bucket(""), 5381 % 3967);
        // Long names wrap on 64 bits instead of overflowing.
        let long = "x".repeat(300);
        assert!(bucket(&long) < BUCKETS);
    }

    /// The flush walks buckets in order, newest record first within a bucket, and
    /// each record's assets newest first.
    #[test]
    fn flush_in_passivedns_walk_order() {
        let mut c = Cache::new(CacheOptions::default());
        let mut names: Vec<String> = (0..200).map(|i| format!("n{i}.example.")).collect();
        // Two names in one bucket, seen in this order.
        let (first, second) = {
            let mut by_bucket = std::collections::HashMap::new();
            let mut pair = None;
            for n in &names {
                if let Some(prev) = by_bucket.insert(bucket(n), n.clone()) {
                    pair = Some((prev, n.clone()));
                    break;
                }
            }
            pair.unwrap()
        };
        assert_eq!(bucket(&first), bucket(&second));
        names.retain(|n| *n != first && *n != second);
        names.truncate(20);
        names.insert(0, first.clone());
        names.push(second.clone());
        for (i, n) in names.iter().enumerate() {
            for answer in ["10.0.0.1", "10.0.0.2"] {
                c.answer(n, "A", answer.into(), "IN".into(), 60, &at(1000 + i as u64));
                c.answer(n, "A", answer.into(), "IN".into(), 60, &at(2000 + i as u64));
            }
        }
        let mut out = Vec::new();
        c.flush_all(&mut out);
        let got: Vec<(String, String)> = out
            .iter()
            .map(|l| (l.query.clone(), l.answer.clone()))
            .collect();
        let mut want: Vec<(u64, usize, &String)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (bucket(n), usize::MAX - i, n))
            .collect();
        want.sort();
        let want: Vec<(String, String)> = want
            .into_iter()
            .flat_map(|(_, _, n)| {
                [
                    (n.clone(), "10.0.0.2".to_string()),
                    (n.clone(), "10.0.0.1".to_string()),
                ]
            })
            .collect();
        assert_eq!(got, want);
        let pos = |q: &str| got.iter().position(|(n, _)| n == q).unwrap();
        assert!(
            pos(&second) < pos(&first),
            "the newer record of a bucket comes first"
        );
    }

    #[test]
    fn errors_once_per_interval() {
        let mut c = Cache::new(CacheOptions::default());
        let e = |c: &mut Cache, s| {
            c.error(
                "nx.example.",
                "A".into(),
                "IN".into(),
                "NXDOMAIN".into(),
                &at(s),
            )
        };
        let l = e(&mut c, 10).unwrap();
        assert_eq!((l.answer.as_str(), l.ttl, l.count), ("NXDOMAIN", 0, 1));
        assert!(e(&mut c, 20).is_none());
        assert!(e(&mut c, 10 + 86_400).is_some());
        let mut out = Vec::new();
        c.flush_all(&mut out);
        assert!(out.is_empty(), "error records are never printed at expiry");
    }
}
