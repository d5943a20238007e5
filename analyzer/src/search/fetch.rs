//! Candidates of a search read from the store, and the page built from them.
//!
//! Exact names, rdata names and single addresses read the upstream sets (`r:<q>:<t>`,
//! `v:<v>:<t>`), small by nature, and sort in memory. Wildcards, prefixes and ranges read the
//! index sorted sets newest first (`ZREVRANGEBYSCORE` with the time fence on `time_last` as
//! score bounds), merging several keys (network buckets) by position, round after round, until
//! the page is full: one pipeline per round for the index, one for the record values.
//!
//! Values: candidates from the upstream sets read `s:`/`l:`/`o:`. Candidates from an index
//! read only `s:` and `o:`: their index score is their last seen (the writers keep it equal
//! to `l:`: `ZADD GT` of the same time the `l:` script keeps the latest of, `pdns-reindex`
//! copies `l:`), which saves a third of the store's key lookups, its main cost. A candidate
//! without `s:` (expired, or partial keys) reads its `l:` in one more round trip, so that it is
//! completed or skipped exactly as `/query` does.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::net::IpAddr;

use d4_core::store::{tolerant_pipe, value, Store, Value};

use super::subject::{self, Subject};
use super::{Cursor, Page, Query, SearchError, Summary, MAX_LIMIT};
use crate::cof::query::{complete, Found};
use crate::cof::record::CofRecord;
use crate::index;
use crate::model::{keys, rrtype};

/// Keys per `MGET`, keeping single commands of a large answer small.
const MGET_KEYS: usize = 3000;
/// Largest number of members one index key gives per round.
const MAX_CHUNK: usize = 10_000;

/// A record to read: its sort score (index score, or `time_last`) and its index member, which
/// holds its name and answer (read through [`Cand::q`] and [`Cand::v`], not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cand {
    score: i64,
    member: String,
    /// Byte offset of the name in `member`.
    q_at: usize,
    /// Byte offset of the answer in `member` (after the name and its `:`).
    v_at: usize,
    t: u16,
}

impl Cand {
    /// The candidate of an index member (`None` when it is not one).
    fn parse(member: String, score: i64) -> Option<Cand> {
        let (q, v, t) = index::parse_member(&member)?;
        let v_at = member.len() - v.len();
        let q_at = v_at - 1 - q.len();
        Some(Cand {
            score,
            q_at,
            v_at,
            t,
            member,
        })
    }

    /// Name.
    fn q(&self) -> &str {
        self.member
            .get(self.q_at..self.v_at.saturating_sub(1))
            .unwrap_or_default()
    }

    /// Answer.
    fn v(&self) -> &str {
        self.member.get(self.v_at..).unwrap_or_default()
    }

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
            let m = m.trim();
            let member = if forward {
                index::member(x, m, t)
            } else {
                index::member(m, x, t)
            };
            out.extend(Cand::parse(member, 0));
        }
    }
    out.sort_by(|a, b| a.member.cmp(&b.member));
    out.dedup_by(|a, b| a.member == b.member);
    Ok(out)
}

/// A page from candidates read whole: records sorted by `time_last`, fenced, after the cursor.
async fn in_memory(e: &Engine<'_>, q: &Query, cands: Vec<Cand>) -> Result<Page, SearchError> {
    let mut recs = fill(e, cands, Last::Read).await?;
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
        for (c, r) in fill(e, batch, Last::Score).await? {
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
        Subject::Starting(p) => c
            .q()
            .strip_prefix(p.as_str())
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.')),
        Subject::Net(_) | Subject::Range(..) | Subject::Ip(_) => c
            .v()
            .parse::<IpAddr>()
            .is_ok_and(|ip| q.subject.admits_address(ip)),
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
            if let Some(c) = Cand::parse(m, score) {
                take(c);
            }
        }
    }
    Ok(())
}

/// Where a candidate's last seen comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Its `l:` key (candidates from the upstream sets, which have no score).
    Read,
    /// Its index score (see the module doc); `l:` is read only when `s:` is missing.
    Score,
}

/// Reads the values of each candidate (`s:`, `l:` as `last` says, `o:`: one pipeline of
/// `MGET`s) and keeps those with a time, as COF records (partial keys completed as `/query`
/// does).
async fn fill(
    e: &Engine<'_>,
    cands: Vec<Cand>,
    last: Last,
) -> Result<Vec<(Cand, CofRecord)>, SearchError> {
    if cands.is_empty() {
        return Ok(Vec::new());
    }
    let fields: &[fn(&str, &str, u16) -> String] = match last {
        Last::Read => &[keys::first_seen, keys::last_seen, keys::occurrences],
        Last::Score => &[keys::first_seen, keys::occurrences],
    };
    let vals = mget(e, &cands, fields).await?;
    let mut found: Vec<Found> = cands
        .iter()
        .zip(vals.chunks(fields.len()))
        .map(|(c, v)| {
            let int = |i: usize| v.get(i).and_then(value::int);
            match last {
                Last::Read => Found {
                    first: int(0),
                    last: int(1),
                    count: int(2),
                },
                Last::Score => Found {
                    first: int(0),
                    last: Some(c.score),
                    count: int(1),
                },
            }
        })
        .collect();
    if last == Last::Score {
        read_missing_last(e, &cands, &mut found).await?;
    }
    let mut out = Vec::with_capacity(cands.len());
    for (c, f) in cands.into_iter().zip(found) {
        let Some((time_first, time_last, count)) = complete(f) else {
            continue;
        };
        let rec = CofRecord {
            time_first,
            time_last,
            count,
            rrtype: rrtype::mnemonic(c.t),
            rrname: c.q().to_string(),
            rdata: c.v().to_string(),
            origin: e.origin.to_string(),
            bailiwick: None,
        };
        out.push((c, rec));
    }
    Ok(out)
}

/// For the candidates without `s:`, reads `l:` in place of the index score (one more round
/// trip, none when every candidate has `s:`): such a record is completed from `l:` or, with
/// neither time (its keys expired), skipped, as `/query` does.
async fn read_missing_last(
    e: &Engine<'_>,
    cands: &[Cand],
    found: &mut [Found],
) -> Result<(), SearchError> {
    let missing: Vec<usize> = (0..found.len())
        .filter(|&i| found.get(i).is_some_and(|f| f.first.is_none()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let some: Vec<Cand> = missing
        .iter()
        .filter_map(|&i| cands.get(i).cloned())
        .collect();
    let vals = mget(e, &some, &[keys::last_seen]).await?;
    for (&i, v) in missing.iter().zip(vals.iter()) {
        if let Some(f) = found.get_mut(i) {
            f.last = value::int(v);
        }
    }
    Ok(())
}

/// The values of the keys `field(q, v, t)` of each candidate, for each field in turn (one
/// pipeline of `MGET`s; names and answers lower-cased as the writers wrote them).
async fn mget(
    e: &Engine<'_>,
    cands: &[Cand],
    fields: &[fn(&str, &str, u16) -> String],
) -> Result<Vec<Value>, SearchError> {
    let per = fields.len().max(1);
    let mut pipe = tolerant_pipe();
    for chunk in cands.chunks((MGET_KEYS / per).max(1)) {
        let mut ks = Vec::with_capacity(chunk.len() * per);
        for c in chunk {
            let (lq, lv) = (lower(c.q()), lower(c.v()));
            ks.extend(fields.iter().map(|f| f(&lq, &lv, c.t)));
        }
        pipe.mget(ks);
    }
    let replies = e.store.run::<Vec<Value>>(&pipe).await?;
    let mut vals: Vec<Value> = Vec::with_capacity(cands.len() * per);
    for r in replies {
        if let Value::Array(v) = r {
            vals.extend(v);
        }
    }
    Ok(vals)
}

/// `s` lower-cased, borrowed when it is ASCII without capitals (names in the store usually
/// are).
fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
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
            q_at: 0,
            v_at: 0,
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

    #[test]
    fn candidates_read_name_and_answer_from_their_member() {
        let c = Cand::parse(index::member("a:b.example", "2001:db8::1", 28), 7).unwrap();
        assert_eq!(
            (c.q(), c.v(), c.t, c.score),
            ("a:b.example", "2001:db8::1", 28, 7)
        );
        let c = Cand::parse(index::member("x.org", "", 16), 0).unwrap();
        assert_eq!((c.q(), c.v()), ("x.org", ""));
        assert_eq!(Cand::parse("1:99:short:x".into(), 0), None);
    }

    #[test]
    fn keys_are_read_lower_cased() {
        assert!(matches!(lower("www.example.com"), Cow::Borrowed(_)));
        assert_eq!(lower("WWW.Example.com"), "www.example.com");
        assert_eq!(lower("ÉTÉ.fr"), "été.fr");
    }
}
