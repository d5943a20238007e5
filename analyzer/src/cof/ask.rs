//! One question as the DNSDB endpoints, the batch endpoint and the search page ask it: a
//! search of the engine (`crate::search`: names, wildcards, rdata, addresses, prefixes,
//! ranges; types, time fences, limit, cursor; newest first) plus what DNSDB adds on top: a
//! bailiwick filter and an `offset`.

use d4_core::store::Store;

use super::query::Lookup;
use super::quota::Refused;
use super::record::CofRecord;
use super::saf::{End, Summary};
use crate::model::line;
use crate::search::{Cursor, Engine, Query, SearchError, Subject, MAX_LIMIT};

/// Which side of a record the question matches (decides the DNSDB record shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The owner name (`rrname`), or an address for A/AAAA.
    Rrset,
    /// The answer (`rdata`).
    Rdata,
}

/// A question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    /// Which side the value matches.
    pub(crate) side: Side,
    /// The engine's query (subject, types, fences, limit, cursor).
    pub(crate) query: Query,
    /// Keep only records whose bailiwick is this zone.
    pub(crate) bailiwick: Option<String>,
    /// Records to skip first.
    pub(crate) offset: usize,
    /// Estimate each record's bailiwick (DNSDB rrset answers carry one).
    pub(crate) with_bailiwick: bool,
}

impl Ask {
    /// A question about `subject` with the engine's defaults.
    pub(crate) fn new(side: Side, subject: Subject) -> Ask {
        Ask {
            side,
            query: Query::new(subject),
            bailiwick: None,
            offset: 0,
            with_bailiwick: false,
        }
    }

    /// The question a bare value asks (search box, batch line): an address, prefix or range
    /// selects A/AAAA records by address, `*.d`/`p.*` are wildcards, anything else a name.
    pub(crate) fn guess(value: &str) -> Result<Ask, SearchError> {
        let subject = Subject::rrset(value)?;
        let side = match subject {
            Subject::Ip(_) | Subject::Net(_) | Subject::Range(..) | Subject::Rdata(_) => {
                Side::Rdata
            }
            _ => Side::Rrset,
        };
        Ok(Ask::new(side, subject))
    }
}

/// An answer: the records of the page (newest first) and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Records of this page.
    pub(crate) records: Vec<CofRecord>,
    /// Where the next page starts, when the limit left records out.
    pub(crate) next: Option<Cursor>,
    /// `Succeeded`, or `Limited` when records were left out.
    pub(crate) end: End,
}

impl From<SearchError> for Refused {
    fn from(e: SearchError) -> Self {
        Refused::Web(super::request::search_error(e))
    }
}

/// Answers `ask`: one engine page of `offset + limit` records, the offset skipped.
pub(crate) async fn run(store: &Store, origin: &str, ask: &Ask) -> Result<Answer, SearchError> {
    let limit = ask.query.limit;
    let mut q = ask.query.clone();
    q.limit = limit.saturating_add(ask.offset).min(MAX_LIMIT);
    let page = Engine { store, origin }.search(&q).await?;
    let mut records = page.records;
    if ask.with_bailiwick || ask.bailiwick.is_some() {
        let lookup = Lookup {
            store,
            origin,
            types: &[],
        };
        lookup.fill_bailiwicks(&mut records).await?;
    }
    if let Some(zone) = &ask.bailiwick {
        let zone = line::normalise_name(zone);
        records.retain(|r| r.bailiwick.as_deref() == Some(zone.as_str()));
    }
    let records: Vec<CofRecord> = records.into_iter().skip(ask.offset).collect();
    let end = match &page.next {
        Some(_) => End::Limited(format!("result limit reached ({limit} records)")),
        None => End::Succeeded,
    };
    Ok(Answer {
        records,
        next: page.next,
        end,
    })
}

/// Counts over every record matching `ask` (its limit and cursor do not apply).
pub(crate) async fn summarize(
    store: &Store,
    origin: &str,
    ask: &Ask,
) -> Result<Summary, SearchError> {
    let s = Engine { store, origin }.summarize(&ask.query).await?;
    Ok(Summary {
        count: s.count,
        num_results: usize::try_from(s.records).unwrap_or(usize::MAX),
        time_first: s.time_first.unwrap_or(0),
        time_last: s.time_last.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_the_side() {
        let side = |v: &str| Ask::guess(v).map(|a| a.side).ok();
        assert_eq!(side("192.0.2.1"), Some(Side::Rdata));
        assert_eq!(side("192.0.2.0/24"), Some(Side::Rdata));
        assert_eq!(side("192.0.2.0,24"), Some(Side::Rdata));
        assert_eq!(side("192.0.2.1-192.0.2.9"), Some(Side::Rdata));
        assert_eq!(side("*.example.com"), Some(Side::Rrset));
        assert_eq!(side("www.example.*"), Some(Side::Rrset));
        assert_eq!(side("www.example.com"), Some(Side::Rrset));
        assert_eq!(side("*.com"), None, "too broad");
    }
}
