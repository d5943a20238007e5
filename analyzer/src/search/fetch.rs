//! Candidates of a search read from the store, and the page built from them.
//!
//! Exact names, rdata names and single addresses read the upstream sets (`r:<q>:<t>`,
//! `v:<v>:<t>`), small by nature, and sort in memory. Wildcards, prefixes and ranges read the
//! index sorted sets newest first (`ZREVRANGEBYSCORE` with the time fence on `time_last` as
//! score bounds), merging several keys (network buckets) by position, round after round, until
//! the page is full: one pipeline per round for the index, one for the `s:`/`l:`/`o:` values.

use std::cmp::Reverse;
use std::net::IpAddr;

use d4_core::store::{tolerant_pipe, value, Store, Value};

use super::subject::{self, Subject};
use super::{Cursor, Page, Query, SearchError, Summary, MAX_LIMIT};
use crate::cof::query::{complete, Found};
use crate::cof::record::CofRecord;
use crate::index;
use crate::model::{keys, rrtype};

/// Candidates per `MGET` (three keys each).
const MGET_CANDIDATES: usize = 1000;
/// Largest number of members one index key gives per round.
const MAX_CHUNK: usize = 10_000;

/// A record to read: its sort score (index score, or `time_last`) and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cand {
    score: i64,
    member: String,
    q: String,
    v: String,
    t: u16,
}

impl Cand {
    /// Sort key: newest score first, then member ascending.
    fn pos(&self) -> (Reverse<i64>, &str) {
        (Reverse(self.score), self.member.as_str())
    }

    /// Whether the candidate comes strictly after the cursor.
    fn after(&self, c: &Option<Cursor>) -> bool {
        c.as_ref().is_none_or(|c| {
            self.score < c.time_last || (self.score == c.time_last && self.member > c.member)
        })
    }
}

/// The engine: one store connection and the `origin` written in records.
pub(crate) struct Engine<'a> {
    /// Store connection (the HTTP worker's).
    pub(crate) store: &'a Store,
    /// Value of the records' `origin` field.
    pub(crate) origin: &'a str,
}

impl Engine<'_> {
    /// One page of records matching `q`, newest first, and the cursor of the next page.
    pub(crate) async fn search(&self, q: &Query) -> Result<Page, SearchError> {
        page(self, q).await
    }

    /// Counts, sum of counts and time bounds of every record matching `q` (its types and
    /// fences apply; its limit and cursor do not). Reads the records page by page.
    pub(crate) async fn summarize(&self, q: &Query) -> Result<Summary, SearchError> {
        let mut sum = Summary::default();
        let mut q = q.clone();
        q.limit = MAX_LIMIT;
        q.after = None;
        loop {
            let page = self.search(&q).await?;
            page.records.iter().for_each(|r| sum.add(r));
            match page.next {
                Some(next) => q.after = Some(next),
                None => return Ok(sum),
            }
        }
    }
}

/// One page of `q`.
pub(super) async fn page(e: &Engine<'_>, q: &Query) -> Result<Page, SearchError> {
    let types: Vec<u16> = if q.types.is_empty() {
        rrtype::SERVED.to_vec()
    } else {
        q.types.clone()
    };
    match &q.subject {
        Subject::Name(n) => {
            let c = set_candidates(e, n, &types, true).await?;
            in_memory(e, q, c).await
        }
        Subject::Rdata(v) => {
            let c = set_candidates(e, v, &types, false).await?;
            in_memory(e, q, c).await
        }
        Subject::Ip(ip) => {
            let t = if ip.is_ipv4() { 1 } else { 28 };
            let types: Vec<u16> = types.into_iter().filter(|&x| x == t).collect();
            let c = set_candidates(e, &ip.to_string(), &types, false).await?;
            in_memory(e, q, c).await
        }
        Subject::Below(d) => indexed(e, q, &types, vec![keys::index_below(d)]).await,
        Subject::Starting(p) => indexed(e, q, &types, vec![index::starting_key(p)]).await,
        Subject::Net(n) => indexed(e, q, &types, subject::buckets(n.bounds())?).await,
        Subject::Range(a, b) => indexed(e, q, &types, subject::buckets((*a, *b))?).await,
    }
}

/// Candidates from the upstream sets: `r:<x>:<t>` (forward: `x` is the name) or `v:<x>:<t>`
/// (reverse: `x` is the rdata) for each type.
async fn set_candidates(
    e: &Engine<'_>,
    x: &str,
    types: &[u16],
    forward: bool,
) -> Result<Vec<Cand>, SearchError> {
    let mut pipe = tolerant_pipe();
    for &t in types {
        pipe.smembers(if forward {
            keys::forward(x, t)
        } else {
            keys::reverse(x, t)
        });
    }
    let sets = e.store.run::<Vec<Value>>(&pipe).await?;
    let mut out = Vec::new();
    for (&t, set) in types.iter().zip(sets) {
        for m in value::members(set) {
            let m = m.trim().to_string();
            let (q, v) = if forward {
                (x.to_string(), m)
            } else {
                (m, x.to_string())
            };
            out.push(Cand {
                score: 0,
                member: index::member(&q, &v, t),
                q,
                v,
                t,
            });
        }
    }
    out.sort_by(|a, b| a.member.cmp(&b.member));
    out.dedup_by(|a, b| a.member == b.member);
    Ok(out)
}

/// A page from candidates read whole: records sorted by `time_last`, fenced, after the cursor.
async fn in_memory(e: &Engine<'_>, q: &Query, cands: Vec<Cand>) -> Result<Page, SearchError> {
    let mut recs = fill(e, cands).await?;
    for (c, r) in recs.iter_mut() {
        c.score = r.time_last;
    }
    recs.retain(|(c, r)| c.after(&q.after) && q.fence.admits(r.time_first, r.time_last));
    recs.sort_by(|(a, _), (b, _)| a.pos().cmp(&b.pos()));
    Ok(cut(recs, q.limit))
}

/// The first `limit` records and, if more follow, the cursor after the last one.
fn cut(mut recs: Vec<(Cand, CofRecord)>, limit: usize) -> Page {
    let next = (recs.len() > limit)
        .then(|| recs.get(limit.saturating_sub(1)))
        .flatten()
        .map(|(c, _)| Cursor {
            time_last: c.score,
            member: c.member.clone(),
        });
    recs.truncate(limit);
    Page {
        records: recs.into_iter().map(|(_, r)| r).collect(),
        next,
    }
}

/// One index key being read newest first.
struct Source {
    key: String,
    offset: usize,
    done: bool,
    /// Position of the last member read.
    last: Option<(i64, String)>,
}

/// A page from index sorted sets, merged by position.
async fn indexed(
    e: &Engine<'_>,
    q: &Query,
    types: &[u16],
    ks: Vec<String>,
) -> Result<Page, SearchError> {
    let (max, min) = score_bounds(q);
    if max.is_some_and(|max| min.is_some_and(|min| max < min)) {
        return Ok(Page::default());
    }
    let max = max.map_or("+inf".to_string(), |s| s.to_string());
    let min = min.map_or("-inf".to_string(), |s| s.to_string());
    let mut sources: Vec<Source> = ks
        .into_iter()
        .map(|key| Source {
            key,
            offset: 0,
            done: false,
            last: None,
        })
        .collect();
    let mut chunk = q.limit.saturating_add(1).clamp(64, MAX_CHUNK);
    let mut pool: Vec<Cand> = Vec::new();
    let mut out: Vec<(Cand, CofRecord)> = Vec::new();
    loop {
        read_round(e, &mut sources, &max, &min, chunk, |c| {
            if c.after(&q.after) && admits(q, types, &c) {
                pool.push(c);
            }
        })
        .await?;
        // Members up to the earliest "last read" of a source with more to read are final.
        let frontier = sources
            .iter()
            .filter(|s| !s.done)
            .filter_map(|s| s.last.as_ref())
            .map(|(score, m)| (Reverse(*score), m.clone()))
            .min();
        pool.sort_by(|a, b| a.pos().cmp(&b.pos()));
        let ready = match &frontier {
            None => pool.len(),
            Some((s, m)) => pool.partition_point(|c| c.pos() <= (*s, m.as_str())),
        };
        let rest = pool.split_off(ready);
        let batch = std::mem::replace(&mut pool, rest);
        for (c, r) in fill(e, batch).await? {
            if q.fence.admits(r.time_first, r.time_last) {
                out.push((c, r));
            }
        }
        let exhausted = sources.iter().all(|s| s.done);
        if out.len() > q.limit || (exhausted && pool.is_empty()) {
            return Ok(cut(out, q.limit));
        }
        chunk = chunk.saturating_mul(2).min(MAX_CHUNK);
    }
}

/// Score range `(max, min)` of a query: the cursor and `time_last` fences (strict).
fn score_bounds(q: &Query) -> (Option<i64>, Option<i64>) {
    let mut max = q.after.as_ref().map(|c| c.time_last);
    if let Some(b) = q.fence.last_before {
        let b = b.saturating_sub(1);
        max = Some(max.map_or(b, |m| m.min(b)));
    }
    let min = q.fence.last_after.map(|a| a.saturating_add(1));
    (max, min)
}

/// Whether an index member is of an asked type and matches the subject: for a right-hand
/// wildcard a name starting with its labels (a bucket mixes several), for address subjects
/// an address in the range.
fn admits(q: &Query, types: &[u16], c: &Cand) -> bool {
    if !types.contains(&c.t) {
        return false;
    }
    match &q.subject {
        Subject::Starting(p) => {
            c.q.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.'))
        }
        Subject::Net(_) | Subject::Range(..) | Subject::Ip(_) => {
            c.v.parse::<IpAddr>()
                .is_ok_and(|ip| q.subject.admits_address(ip))
        }
        _ => true,
    }
}

/// Reads the next `chunk` members of every source with more to read (one pipeline).
async fn read_round(
    e: &Engine<'_>,
    sources: &mut [Source],
    max: &str,
    min: &str,
    chunk: usize,
    mut take: impl FnMut(Cand),
) -> Result<(), SearchError> {
    let mut pipe = tolerant_pipe();
    let active: Vec<usize> = (0..sources.len())
        .filter(|&i| sources.get(i).is_some_and(|s| !s.done))
        .collect();
    if active.is_empty() {
        return Ok(());
    }
    for &i in &active {
        if let Some(s) = sources.get(i) {
            pipe.cmd("ZREVRANGEBYSCORE")
                .arg(&s.key)
                .arg(max)
                .arg(min)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(s.offset)
                .arg(chunk);
        }
    }
    let replies = e.store.run::<Vec<Value>>(&pipe).await?;
    for (&i, reply) in active.iter().zip(replies) {
        let Some(s) = sources.get_mut(i) else {
            continue;
        };
        let pairs = value::scored_pairs(reply);
        s.offset += pairs.len();
        s.done = pairs.len() < chunk;
        if let Some((m, score)) = pairs.last() {
            s.last = Some((*score, m.clone()));
        }
        for (m, score) in pairs {
            let Some((q, v, t)) =
                index::parse_member(&m).map(|(q, v, t)| (q.to_string(), v.to_string(), t))
            else {
                continue;
            };
            take(Cand {
                score,
                member: m,
                q,
                v,
                t,
            });
        }
    }
    Ok(())
}

/// Reads `s:`/`l:`/`o:` of each candidate (one pipeline of `MGET`s) and keeps those with a
/// time, as COF records (partial keys completed as `/query` does).
async fn fill(e: &Engine<'_>, cands: Vec<Cand>) -> Result<Vec<(Cand, CofRecord)>, SearchError> {
    if cands.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = tolerant_pipe();
    for chunk in cands.chunks(MGET_CANDIDATES) {
        let mut ks = Vec::with_capacity(chunk.len() * 3);
        for c in chunk {
            let (lq, lv) = (c.q.to_lowercase(), c.v.to_lowercase());
            ks.push(keys::first_seen(&lq, &lv, c.t));
            ks.push(keys::last_seen(&lq, &lv, c.t));
            ks.push(keys::occurrences(&lq, &lv, c.t));
        }
        pipe.mget(ks);
    }
    let replies = e.store.run::<Vec<Value>>(&pipe).await?;
    let mut vals: Vec<Value> = Vec::with_capacity(cands.len() * 3);
    for r in replies {
        if let Value::Array(v) = r {
            vals.extend(v);
        }
    }
    let mut out = Vec::with_capacity(cands.len());
    for (c, v) in cands.into_iter().zip(vals.chunks(3)) {
        let found = Found {
            first: v.first().and_then(value::int),
            last: v.get(1).and_then(value::int),
            count: v.get(2).and_then(value::int),
        };
        let Some((time_first, time_last, count)) = complete(found) else {
            continue;
        };
        let rec = CofRecord {
            time_first,
            time_last,
            count,
            rrtype: rrtype::mnemonic(c.t),
            rrname: c.q.clone(),
            rdata: c.v.clone(),
            origin: e.origin.to_string(),
            bailiwick: None,
        };
        out.push((c, rec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_candidates() {
        let c = Cursor {
            time_last: 1_700_000_000,
            member: "1:7:a.b.org:192.0.2.1".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c.clone()));
        assert_eq!(Cursor::decode("x"), None);
        assert_eq!(Cursor::decode("12.%%%"), None);
        let cand = |score, m: &str| Cand {
            score,
            member: m.into(),
            q: String::new(),
            v: String::new(),
            t: 1,
        };
        let cur = Some(Cursor {
            time_last: 100,
            member: "m".into(),
        });
        assert!(cand(99, "a").after(&cur));
        assert!(cand(100, "n").after(&cur));
        assert!(!cand(100, "m").after(&cur));
        assert!(!cand(101, "z").after(&cur));
        assert!(cand(5, "a").pos() > cand(6, "z").pos());
    }
}
