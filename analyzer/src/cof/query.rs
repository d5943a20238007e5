//! COF lookups in the pDNS store (spec `pdns.md` §2.4), with the upstream bugs fixed: first/last
//! seen and count are read for the record's own type, a record without first-seen is skipped
//! (not the rest of its type), sets of any size are returned, and the order is deterministic
//! (name, then type in upstream order, then rdata). Each lookup is at most three round trips
//! (two for a name: its type sets, then the first/last/count values), each one pipeline on
//! the worker's own multiplexed connection. A store error is never an empty answer: a lost
//! connection fails the lookup, and so does any command the store refuses (`WRONGTYPE`,
//! `MOVED`, `CROSSSLOT`, `LOADING`...; the pipelines are tolerant so that every reply is
//! seen, then [`refusals`] turns the first refused one into the error): the API says 503.
//!
//! Records never carry a `null` or non-integer time or count (PyPDNS, MISP, Cortex and
//! IntelOwl fail on them). Partial keys (expiry, a writer killed between its commands, other
//! writers) are completed by [`complete`]: a missing or non-integer `l:` is taken from `s:`
//! and the reverse, `time_last` is at least `time_first`, a missing `o:` counts 1 (the
//! record was seen at least once); a record with neither time is skipped. Each lookup that
//! completed or skipped records logs one WARN.
//!
//! On request, [`Lookup::fill_bailiwicks`] estimates each record's zone apex (COF draft
//! `bailiwick`): the longest suffix of the name, the name included, that has NS records in
//! the store (`r:<suffix>:2`), else the name's last two labels.

use std::collections::BTreeSet;
use std::net::IpAddr;

use d4_core::store::{tolerant_pipe, value, Store, StoreError, Value};

use super::record::CofRecord;
use crate::model::{keys, line, rrtype};

/// Candidates per `MGET` (three keys each), keeping single commands of a large answer small.
const MGET_CANDIDATES: usize = 1000;

/// What a query string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A name: its own records.
    Name(String),
    /// An IP address: records of every name that had it as answer. Holds the store forms.
    Ip(Vec<String>),
}

/// Classifies a decoded query: an IPv4/IPv6 literal, or a name (lower-cased, dots stripped).
pub(crate) fn classify(q: &str) -> Target {
    let q = q.trim();
    match q.parse::<IpAddr>() {
        Ok(ip) => {
            let mut forms = vec![ip.to_string()];
            let lower = q.to_lowercase();
            if lower != forms[0] {
                forms.push(lower);
            }
            Target::Ip(forms)
        }
        Err(_) => Target::Name(line::normalise_name(q)),
    }
}

/// Reads records for COF queries.
pub(crate) struct Lookup<'a> {
    /// The store connection of this worker.
    pub(crate) store: &'a Store,
    /// Value of the `origin` field.
    pub(crate) origin: &'a str,
    /// Types to return, in output order.
    pub(crate) types: &'a [u16],
}

impl Lookup<'_> {
    /// `/query/<q>`: the name's records, or for an IP the records of its associated names.
    pub(crate) async fn query(&self, q: &str) -> Result<Vec<CofRecord>, StoreError> {
        match classify(q) {
            Target::Name(name) => self.records(&[name]).await,
            Target::Ip(forms) => self.associated_records(&forms).await,
        }
    }

    /// `/fquery/<q>`: records of every name having `q` as answer (rdata) of a served type.
    pub(crate) async fn fquery(&self, q: &str) -> Result<Vec<CofRecord>, StoreError> {
        match classify(q) {
            Target::Name(name) => self.associated_records(&[name]).await,
            Target::Ip(forms) => self.associated_records(&forms).await,
        }
    }

    async fn associated_records(
        &self,
        rdata_forms: &[String],
    ) -> Result<Vec<CofRecord>, StoreError> {
        let names = self.associated_names(rdata_forms).await?;
        let names: Vec<String> = names.into_iter().collect();
        self.records(&names).await
    }

    /// Names in `v:<rdata>:<T>` over the served types (sorted, without duplicates).
    pub(crate) async fn associated_names(
        &self,
        rdata_forms: &[String],
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut pipe = tolerant_pipe();
        for r in rdata_forms {
            for &t in rrtype::SERVED.iter() {
                pipe.smembers(keys::reverse(r, t));
            }
        }
        let mut names = BTreeSet::new();
        for v in refusals(self.store.run::<Vec<Value>>(&pipe).await?)? {
            names.extend(value::members(v).into_iter().map(|n| n.trim().to_string()));
        }
        Ok(names)
    }

    /// Records of each name, in the given name order.
    pub(crate) async fn records(&self, names: &[String]) -> Result<Vec<CofRecord>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = tolerant_pipe();
        for n in names {
            for &t in self.types {
                pipe.smembers(keys::forward(n, t));
            }
        }
        let sets = refusals(self.store.run::<Vec<Value>>(&pipe).await?)?;
        let mut candidates = Vec::new();
        let mut it = sets.into_iter();
        for n in names {
            for &t in self.types {
                let mut members: Vec<String> = it
                    .next()
                    .map(value::members)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m.trim().to_string())
                    .collect();
                members.sort();
                members.dedup();
                candidates.extend(members.into_iter().map(|m| (n.clone(), t, m)));
            }
        }
        self.fill(candidates).await
    }

    /// Reads `s:`/`l:`/`o:` of each candidate and keeps those with a first-seen.
    async fn fill(
        &self,
        candidates: Vec<(String, u16, String)>,
    ) -> Result<Vec<CofRecord>, StoreError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // One MGET per chunk of candidates, all in one round trip.
        let mut pipe = tolerant_pipe();
        for chunk in candidates.chunks(MGET_CANDIDATES) {
            let mut ks = Vec::with_capacity(chunk.len() * 3);
            for (n, t, m) in chunk {
                let (ln, lm) = (n.to_lowercase(), m.to_lowercase());
                ks.push(keys::first_seen(&ln, &lm, *t));
                ks.push(keys::last_seen(&ln, &lm, *t));
                ks.push(keys::occurrences(&ln, &lm, *t));
            }
            pipe.mget(ks);
        }
        let replies = refusals(self.store.run::<Vec<Value>>(&pipe).await?)?;
        let mut out = Vec::with_capacity(candidates.len());
        let mut partial = Partial::default();
        for (chunk, reply) in candidates.chunks(MGET_CANDIDATES).zip(replies) {
            let vals = match reply {
                Value::Array(vals) => vals,
                _ => Vec::new(),
            };
            for ((n, t, m), v) in chunk.iter().zip(vals.chunks(3)) {
                let found = Found {
                    first: v.first().and_then(value::int),
                    last: v.get(1).and_then(value::int),
                    count: v.get(2).and_then(value::int),
                };
                let Some((time_first, time_last, count)) = complete(found) else {
                    partial.skipped += 1;
                    partial
                        .example
                        .get_or_insert_with(|| (n.clone(), m.clone(), *t));
                    continue;
                };
                if found.first != Some(time_first)
                    || found.last != Some(time_last)
                    || found.count.is_none()
                {
                    partial.completed += 1;
                    partial
                        .example
                        .get_or_insert_with(|| (n.clone(), m.clone(), *t));
                }
                out.push(CofRecord {
                    time_first,
                    time_last,
                    count,
                    rrtype: rrtype::mnemonic(*t),
                    rrname: n.clone(),
                    rdata: m.clone(),
                    origin: self.origin.to_string(),
                    bailiwick: None,
                });
            }
        }
        partial.log();
        Ok(out)
    }

    /// Sets `bailiwick` of each record (one round trip: an `EXISTS` per distinct suffix).
    pub(crate) async fn fill_bailiwicks(
        &self,
        records: &mut [CofRecord],
    ) -> Result<(), StoreError> {
        let names: BTreeSet<String> = records
            .iter()
            .flat_map(|r| suffixes(&r.rrname).map(str::to_string))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let mut pipe = tolerant_pipe();
        for n in &names {
            pipe.exists(keys::forward(n, rrtype::NS));
        }
        let replies = refusals(self.store.run::<Vec<Value>>(&pipe).await?)?;
        let zones: BTreeSet<&str> = names
            .iter()
            .zip(replies.iter())
            .filter(|(_, v)| value::int(v).is_some_and(|n| n > 0))
            .map(|(n, _)| n.as_str())
            .collect();
        for r in records.iter_mut() {
            let apex = suffixes(&r.rrname)
                .find(|s| zones.contains(s))
                .unwrap_or_else(|| last_two_labels(&r.rrname))
                .to_string();
            r.bailiwick = Some(apex);
        }
        Ok(())
    }
}

/// The replies of a tolerant pipeline, or the first refusal among them as an error: a
/// refused read (a key of another type, a slot served elsewhere, a store still loading) must
/// fail the answer, never read as "no record".
pub(crate) fn refusals(replies: Vec<Value>) -> Result<Vec<Value>, StoreError> {
    replies
        .into_iter()
        .map(|v| v.extract_error().map_err(StoreError::from))
        .collect()
}

/// The `s:`, `l:` and `o:` values of a record (`None` when absent or not an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// `s:`.
    pub(crate) first: Option<i64>,
    /// `l:`.
    pub(crate) last: Option<i64>,
    /// `o:`.
    pub(crate) count: Option<i64>,
}

/// `(time_first, time_last, count)` of a record from possibly partial keys; `None` (skip the
/// record) when neither time is known. See the module doc for the rules.
pub(crate) fn complete(f: Found) -> Option<(i64, i64, i64)> {
    let first = f.first.or(f.last)?;
    let last = f.last.unwrap_or(first).max(first);
    Some((first, last, f.count.unwrap_or(1)))
}

/// Records of one lookup that had partial keys, for its one WARN.
#[derive(Debug, Default)]
struct Partial {
    completed: usize,
    skipped: usize,
    example: Option<(String, String, u16)>,
}

impl Partial {
    fn log(&self) {
        if let Some((q, v, t)) = &self.example {
            tracing::warn!(
                completed = self.completed,
                skipped = self.skipped,
                first = %keys::first_seen(q, v, *t),
                "Records with partial s:/l:/o: keys: missing times filled from each other, missing counts as 1, records without any time skipped."
            );
        }
    }
}

/// The name and each of its parent domains, longest first (`a.b.c`, `b.c`, `c`).
fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name)
        .chain(
            name.match_indices('.')
                .map(|(i, _)| name.get(i + 1..).unwrap_or_default()),
        )
        .filter(|s| !s.is_empty())
}

/// The last two labels of a name (the whole name when it has fewer): the apex guess when
/// the store knows no NS records above the name.
fn last_two_labels(name: &str) -> &str {
    match name.rmatch_indices('.').nth(1) {
        Some((i, _)) => name.get(i + 1..).unwrap_or(name),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_keys_are_completed_or_skipped() {
        let f = |first, last, count| Found { first, last, count };
        assert_eq!(complete(f(Some(5), Some(9), Some(3))), Some((5, 9, 3)));
        // l: missing or not an integer (read as None): last = first.
        assert_eq!(complete(f(Some(5), None, Some(3))), Some((5, 5, 3)));
        // s: missing: first = last.
        assert_eq!(complete(f(None, Some(9), Some(3))), Some((9, 9, 3)));
        // o: missing: seen once.
        assert_eq!(complete(f(Some(5), Some(9), None)), Some((5, 9, 1)));
        // l: older than s: (stale l:): last = first.
        assert_eq!(complete(f(Some(9), Some(5), Some(1))), Some((9, 9, 1)));
        assert_eq!(complete(f(None, None, Some(3))), None);
    }

    #[test]
    fn bailiwick_candidates() {
        assert_eq!(
            suffixes("www.example.co.uk").collect::<Vec<_>>(),
            vec!["www.example.co.uk", "example.co.uk", "co.uk", "uk"]
        );
        assert_eq!(suffixes("localhost").collect::<Vec<_>>(), vec!["localhost"]);
        assert_eq!(last_two_labels("a.b.example.com"), "example.com");
        assert_eq!(last_two_labels("example.com"), "example.com");
        assert_eq!(last_two_labels("com"), "com");
    }

    #[test]
    fn classify_ips_and_names() {
        assert_eq!(
            classify("93.184.216.34"),
            Target::Ip(vec!["93.184.216.34".into()])
        );
        assert_eq!(
            classify("2A00:1450:0:0::1"),
            Target::Ip(vec!["2a00:1450::1".into(), "2a00:1450:0:0::1".into()])
        );
        assert_eq!(classify("Example.COM."), Target::Name("example.com".into()));
        // Upstream treated "10" as an IPv4 address; it is a name here.
        assert_eq!(classify("10"), Target::Name("10".into()));
    }
}
