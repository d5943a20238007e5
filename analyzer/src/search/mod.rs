//! The query engine over the d4-rs search indexes (`crate::index`): wildcard names (left-hand
//! `*.example.com`, right-hand `www.example.*`), IP addresses, CIDR prefixes and ranges, exact
//! names and rdata names, with several rrtypes, time fences, a limit, newest-first order
//! (`time_last` descending) with a cursor that stays stable while ingestion writes, and
//! summaries (records, sum of counts, first and last seen) without the records.
//!
//! - `params`: the DNSDB-style request parameters (`time_first_before`, `rrtype`, `limit`,
//!   `cursor`, ...) shared by `/query`, `/fquery` and the DNSDB v2 endpoints.
//! - `subject`: what a query text selects ([`Subject`]): exact name, wildcard, IP, prefix, range.
//! - `fetch`: candidates from the store (index sorted sets, `r:`/`v:` sets) and their
//!   `s:`/`l:`/`o:` values, as COF records.
//!
//! Order and cursor: records come newest first by `time_last`, ties by the record's index
//! member (type, name, rdata) ascending. A [`Cursor`] is the position `(time_last, member)` of
//! the last record of a page; the next page holds only records strictly after it. Records
//! created during a pagination do not shift later pages (no offsets) and a record is never
//! returned twice; a record that ingestion updates during it moves above the cursor, so it is
//! not returned again if it was, and not at all in this pagination if it was not yet (a new
//! search starts with it).
//! Records are COF records as `/query` renders them (`crate::cof::record`).

mod fetch;
pub(crate) mod params;
mod subject;

use base64::Engine as _;
use d4_core::store::StoreError;

use crate::cof::record::CofRecord;

pub(crate) use fetch::Engine;
pub(crate) use params::Params;
pub(crate) use subject::Subject;

/// Largest page the engine returns (`limit` above it is capped; `limit=0` means it).
pub(crate) const MAX_LIMIT: usize = 100_000;
/// Page size when a request gives no `limit`.
pub(crate) const DEFAULT_LIMIT: usize = 10_000;

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SearchError {
    /// The store failed (connection, timeout, ...): the API answers 503.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The request is malformed or too broad (e.g. `*.com`, an IPv4 prefix shorter than /16):
    /// the API answers 400 with this text.
    #[error("{0}")]
    BadRequest(String),
}

/// Time fences (DNSDB semantics), absolute epoch seconds (relative values are resolved by
/// [`Fence::resolve`] when parsing). `before` is strict (`<`), `after` is strict (`>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fence {
    /// Keep records with `time_first < t`.
    pub(crate) first_before: Option<i64>,
    /// Keep records with `time_first > t`.
    pub(crate) first_after: Option<i64>,
    /// Keep records with `time_last < t`.
    pub(crate) last_before: Option<i64>,
    /// Keep records with `time_last > t`.
    pub(crate) last_after: Option<i64>,
}

impl Fence {
    /// DNSDB's reading of a fence value: a negative number is relative to `now` (`-86400` =
    /// one day ago), any other is an absolute epoch second.
    pub(crate) fn resolve(raw: i64, now: i64) -> i64 {
        if raw < 0 {
            now.saturating_add(raw)
        } else {
            raw
        }
    }

    /// Whether a record's times pass every fence.
    pub(crate) fn admits(&self, time_first: i64, time_last: i64) -> bool {
        self.first_before.is_none_or(|t| time_first < t)
            && self.first_after.is_none_or(|t| time_first > t)
            && self.last_before.is_none_or(|t| time_last < t)
            && self.last_after.is_none_or(|t| time_last > t)
    }
}

/// Position after the last record of a page: `(time_last, index member)`. Opaque to clients
/// (see [`Cursor::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Sort score (`time_last`) of the last record returned.
    pub(crate) time_last: i64,
    /// Index member of that record (`crate::index::member`).
    pub(crate) member: String,
}

impl Cursor {
    /// The cursor as a header/URL-safe token: `<time_last>.<base64url(member)>`.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.time_last,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.member)
        )
    }

    /// Parses a token made by [`Cursor::encode`]; `None` when it is not one.
    pub(crate) fn decode(token: &str) -> Option<Cursor> {
        let (score, m) = token.trim().split_once('.')?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(m)
            .ok()?;
        Some(Cursor {
            time_last: score.parse().ok()?,
            member: String::from_utf8(bytes).ok()?,
        })
    }
}

/// One search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// What to look for.
    pub(crate) subject: Subject,
    /// RR types to return (numbers); empty = every type the COF server serves
    /// (`rrtype::SERVED`).
    pub(crate) types: Vec<u16>,
    /// Time fences.
    pub(crate) fence: Fence,
    /// Largest number of records in the page (1..=[`MAX_LIMIT`]).
    pub(crate) limit: usize,
    /// Continue after this position (from the previous page's [`Page::next`]).
    pub(crate) after: Option<Cursor>,
}

impl Query {
    /// A query for `subject` with no filter, the default limit and no cursor.
    pub(crate) fn new(subject: Subject) -> Query {
        Query {
            subject,
            types: Vec::new(),
            fence: Fence::default(),
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// One page of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Page {
    /// Records, newest `time_last` first.
    pub(crate) records: Vec<CofRecord>,
    /// Where the next page starts; `None` when this page holds the last matching record.
    /// `Some` also means "limited" for SAF framing.
    pub(crate) next: Option<Cursor>,
}

/// Aggregate of every record matching a query (the query's limit and cursor are ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Number of records.
    pub(crate) records: u64,
    /// Sum of their `count`s.
    pub(crate) count: i64,
    /// Smallest `time_first` (`None` when no record).
    pub(crate) time_first: Option<i64>,
    /// Largest `time_last` (`None` when no record).
    pub(crate) time_last: Option<i64>,
}

impl Summary {
    /// Adds one record.
    fn add(&mut self, r: &CofRecord) {
        self.records += 1;
        self.count = self.count.saturating_add(r.count);
        self.time_first = Some(
            self.time_first
                .map_or(r.time_first, |t| t.min(r.time_first)),
        );
        self.time_last = Some(self.time_last.map_or(r.time_last, |t| t.max(r.time_last)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_fences_count_back_from_now() {
        assert_eq!(Fence::resolve(-3600, 10_000), 6400);
        assert_eq!(Fence::resolve(5000, 10_000), 5000);
        let f = Fence {
            last_after: Some(100),
            first_before: Some(50),
            ..Fence::default()
        };
        assert!(f.admits(10, 101));
        assert!(!f.admits(10, 100));
        assert!(!f.admits(50, 200));
    }
}
