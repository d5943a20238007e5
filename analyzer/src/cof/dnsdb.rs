//! The DNSDB v2-shaped endpoints (`spec/anchors.md` §1.3), so that DNSDB clients (`dnsdbq -u
//! dnsdb2` with `DNSDB_SERVER` pointing here) query our store:
//!
//! - `/dnsdb/v2/lookup/rrset/name/<name>[/<rrtype>[/<bailiwick>]]`
//! - `/dnsdb/v2/lookup/rdata/name/<name>[/<rrtype>]`
//! - `/dnsdb/v2/lookup/rdata/ip/<addr | addr,len | addr/len | first-last>`
//! - `/dnsdb/v2/summarize/...` for the same paths: one object of counts instead of records
//! - `/dnsdb/v2/rate_limit`: the caller's quota (see `quota`)
//!
//! Parameters: `limit` (0 = the server maximum), `offset`, `time_first_before/after`,
//! `time_last_before/after` (epoch seconds, or negative = seconds before now); `aggr`,
//! `humantime`, `max_count`, `swclient`, `version` and `id` are accepted and ignored. Answers
//! are SAF-framed NDJSON (`saf`). Names may be left-hand (`*.example.com`, `.example.com`) or
//! right-hand (`www.example.*`) wildcards.

use super::ask::{Answer, Ask, Side};
use super::saf::{self, Shape, Summary};
use crate::search::{params, Params, Subject};

/// Route prefix of the family.
pub(crate) const PREFIX: &str = "/dnsdb/v2/";

/// What a DNSDB path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A lookup or a summary of one.
    Lookup {
        /// The question.
        ask: Box<Ask>,
        /// `summarize` instead of `lookup`.
        summarize: bool,
    },
    /// `rate_limit`.
    RateLimit,
}

/// Parses the path after [`PREFIX`] and the query string; `now` resolves relative fences.
pub(crate) fn parse(path: &str, query: &str, now: i64) -> Result<Request, String> {
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    if rest == "rate_limit" {
        return Ok(Request::RateLimit);
    }
    let (verb, rest) = rest.split_once('/').ok_or("unknown DNSDB path")?;
    let summarize = match verb {
        "lookup" => false,
        "summarize" => true,
        _ => return Err(format!("unknown verb {verb:?}: use lookup or summarize")),
    };
    let mut parts = rest.splitn(3, '/');
    let (kind, by) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut segs = parts.next().unwrap_or_default().splitn(3, '/');
    let value = decode(segs.next().unwrap_or_default())?;
    if value.is_empty() {
        return Err("empty lookup value".into());
    }
    let err = |e: crate::search::SearchError| e.to_string();
    let (side, subject, more) = match (kind, by) {
        ("rrset", "name") => (Side::Rrset, Subject::rrset(&value).map_err(err)?, true),
        ("rdata", "name") => (Side::Rdata, Subject::rdata(&value).map_err(err)?, true),
        ("rdata", "ip") => (Side::Rdata, Subject::ip(&value).map_err(err)?, false),
        ("rdata" | "rrset", "raw") => return Err("raw (hex) lookups are not supported".into()),
        _ => return Err(format!("unknown lookup {kind}/{by}")),
    };
    let mut ask = Ask::new(side, subject);
    ask.with_bailiwick = side == Side::Rrset;
    if more {
        if let Some(t) = segs.next() {
            ask.query.types = types(&decode(t)?)?;
        }
        if let Some(b) = segs.next().filter(|_| side == Side::Rrset) {
            let b = decode(b)?;
            ask.bailiwick = (!b.is_empty()).then_some(b);
        }
    }
    apply_params(&mut ask, query, now)?;
    Ok(Request::Lookup {
        ask: Box::new(ask),
        summarize,
    })
}

/// An rrtype segment: `ANY` (every served type), a mnemonic, `TYPE<n>` or a number.
pub(crate) fn types(t: &str) -> Result<Vec<u16>, String> {
    let t = t.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("ANY") {
        return Ok(Vec::new());
    }
    let upper = t.to_ascii_uppercase();
    let t = upper
        .strip_prefix("TYPE")
        .filter(|n| n.parse::<u16>().is_ok())
        .unwrap_or(&upper);
    params::parse_type(t)
        .map(|n| vec![n])
        .map_err(|e| e.to_string())
}

/// Applies the query string: the engine's parameters (`limit`, the time fences, ...) and
/// `offset`; others are ignored.
pub(crate) fn apply_params(ask: &mut Ask, query: &str, now: i64) -> Result<(), String> {
    let mut p = Params {
        types: ask.query.types.clone(),
        ..Params::default()
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v)?;
        if k == "offset" {
            ask.offset = v
                .parse()
                .map_err(|_| format!("offset: expected a number, got {v:?}"))?;
        } else {
            p.absorb(k, &v, now).map_err(|e| e.to_string())?;
        }
    }
    ask.query = p.query(ask.query.subject.clone());
    Ok(())
}

/// Percent-decodes one path segment or parameter value (UTF-8).
pub(crate) fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.trim().to_string())
        .map_err(|_| "not valid UTF-8 after percent-decoding".to_string())
}

/// The SAF body of a lookup answer.
pub(crate) fn lookup_body(ask: &Ask, answer: &Answer) -> String {
    let shape = match ask.side {
        Side::Rrset => Shape::Rrset,
        Side::Rdata => Shape::Rdata,
    };
    saf::body(
        answer.records.iter().map(|r| saf::dnsdb_json(r, shape)),
        &answer.end,
    )
}

/// The SAF body of a summarize answer.
pub(crate) fn summary_body(summary: &Summary) -> String {
    saf::body(std::iter::once(summary.json()), &saf::End::Succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(path: &str, query: &str) -> (Ask, bool) {
        match parse(path, query, 1_000_000).expect(path) {
            Request::Lookup { ask, summarize } => (*ask, summarize),
            Request::RateLimit => panic!("not a lookup"),
        }
    }

    #[test]
    fn paths_of_dnsdbq() {
        let (a, s) = lookup(
            "/dnsdb/v2/lookup/rrset/name/%2A.example.com",
            "swclient=dnsdbq&version=2.6.4",
        );
        assert!(!s);
        assert_eq!(
            (a.side, &a.query.subject),
            (Side::Rrset, &Subject::Below("example.com".into()))
        );
        assert_eq!(a.query.limit, crate::search::DEFAULT_LIMIT);
        let (a, _) = lookup(
            "/dnsdb/v2/lookup/rrset/name/www.example.com/A/example.com",
            "limit=5&time_first_before=1800000000&time_last_after=-3600&offset=2",
        );
        assert_eq!(a.query.types, vec![1]);
        assert_eq!(a.bailiwick.as_deref(), Some("example.com"));
        assert_eq!((a.query.limit, a.offset), (5, 2));
        assert_eq!(a.query.fence.first_before, Some(1_800_000_000));
        assert_eq!(a.query.fence.last_after, Some(1_000_000 - 3600));
        let (a, _) = lookup("/dnsdb/v2/lookup/rdata/ip/10.0.0.0,24", "");
        assert_eq!(a.side, Side::Rdata);
        assert!(matches!(a.query.subject, Subject::Net(_)), "{a:?}");
        let (a, s) = lookup(
            "/dnsdb/v2/summarize/rdata/name/ns1.example.net/NS",
            "limit=0",
        );
        assert!(s);
        assert_eq!(
            (a.query.types.clone(), a.query.limit),
            (vec![2], crate::search::MAX_LIMIT)
        );
        assert_eq!(a.query.subject, Subject::Rdata("ns1.example.net".into()));
        assert_eq!(parse("/dnsdb/v2/rate_limit", "", 0), Ok(Request::RateLimit));
    }

    #[test]
    fn bad_paths_and_parameters() {
        for (p, q) in [
            ("/dnsdb/v2/lookup/rrset/name/", ""),
            ("/dnsdb/v2/lookup/rrset/name/x/BOGUS", ""),
            ("/dnsdb/v2/frobnicate/rrset/name/x", ""),
            ("/dnsdb/v2/lookup/rdata/raw/00ff", ""),
            ("/dnsdb/v2/lookup/rrset/name/x", "limit=-1"),
            ("/dnsdb/v2/lookup/rrset/name/*.com", ""),
            ("/dnsdb/v2/lookup/rdata/ip/example.com", ""),
            ("/dnsdb/v2/lookup/rrset/name/x", "time_last_after=yesterday"),
            ("/dnsdb/v2/lookup/rrset/name/%ff", ""),
        ] {
            assert!(parse(p, q, 0).is_err(), "{p}?{q}");
        }
        assert_eq!(types("any"), Ok(vec![]));
        assert_eq!(types("TYPE28"), Ok(vec![28]));
    }
}
