//! Request parsing for the COF API: the query text from the raw path, the CIRCL pDNS 2.0
//! `dribble-*` headers, the record format options of the query string, the search a request
//! asks for ([`search_request`]), and authentication.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::record::{CofRecord, Format};
use crate::model::config::Auth;
use crate::model::rrtype;
use crate::search::{Cursor, Params, Query, SearchError, Subject};

use super::error::WebError;

/// Longest accepted query (bytes, after percent-decoding).
pub(crate) const MAX_QUERY: usize = 1024;
/// Largest page size.
pub(crate) const MAX_PAGE: usize = 100_000;

/// The query after the route prefix, percent-decoded like Tornado (`+` stays `+`).
pub(crate) fn query_text(path: &str, prefix: &str) -> Result<String, WebError> {
    let raw = path.strip_prefix(prefix).unwrap_or_default();
    let bytes = percent_decode(raw).ok_or_else(|| bad("malformed percent-encoding in query"))?;
    let q = String::from_utf8(bytes).map_err(|_| bad("query is not valid UTF-8"))?;
    let q = q.trim().to_string();
    if q.is_empty() {
        return Err(bad("empty query: use /query/<name-or-ip>"));
    }
    if q.len() > MAX_QUERY {
        return Err(bad(&format!("query longer than {MAX_QUERY} bytes")));
    }
    if q.chars().any(char::is_control) {
        return Err(bad("query contains control characters"));
    }
    Ok(q)
}

/// Percent-decodes `s`; `None` when a `%` is not followed by two hex digits (Tornado answers
/// 400 there, where the `percent-encoding` crate would keep the `%` as it is).
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let malformed = s.match_indices('%').any(|(i, _)| {
        !s.as_bytes()
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    Some(percent_encoding::percent_decode_str(s).collect())
}

fn bad(msg: &str) -> WebError {
    WebError::BadRequest(msg.to_string())
}

/// The record format a request asks for with `?rdata-list=<bool>` and `?bailiwick=<bool>`
/// (configparser words `1/0`, `yes/no`, `true/false`, `on/off`; a bare `?bailiwick` is yes);
/// what it does not name keeps `default` (`[cof]` of analyzer.conf). Other parameters are
/// ignored, as upstream ignored the whole query string.
pub(crate) fn format(query: &str, default: Format) -> Result<Format, WebError> {
    let mut f = default;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, "1"));
        let slot = match name {
            "rdata-list" => &mut f.rdata_list,
            "bailiwick" => &mut f.bailiwick,
            _ => continue,
        };
        *slot = d4_core::config::parse_bool(value)
            .ok_or_else(|| bad(&format!("{name}: expected 1 or 0, got {value:?}")))?;
    }
    Ok(f)
}

/// Paging and filtering asked by `dribble-*` headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Page {
    /// `dribble-paginate-count`.
    pub(crate) count: Option<usize>,
    /// `dribble-paginate-cursor` (offset into the ordered answer).
    pub(crate) cursor: usize,
    /// `dribble-filter-rrtype`.
    pub(crate) rrtype: Option<u16>,
}

impl Page {
    /// Reads the headers; malformed values are a 400.
    pub(crate) fn from_headers(h: &HeaderMap) -> Result<Page, WebError> {
        let get = |name: &str| header_text(h, name);
        let count = match get("dribble-paginate-count")? {
            None => None,
            Some(v) => Some(
                v.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        bad(&format!(
                            "dribble-paginate-count: expected 1..{MAX_PAGE}, got {v:?}"
                        ))
                    })?,
            ),
        };
        let cursor = match get("dribble-paginate-cursor")? {
            None => 0,
            Some(v) if v.is_empty() => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad(&format!("dribble-paginate-cursor: invalid cursor {v:?}")))?,
        };
        let rrtype = match get("dribble-filter-rrtype")? {
            None => None,
            Some(v) => Some(served_type(&v)?),
        };
        Ok(Page {
            count,
            cursor,
            rrtype,
        })
    }

    /// Types to look up, in output order.
    pub(crate) fn types(&self) -> Vec<u16> {
        match self.rrtype {
            Some(t) => vec![t],
            None => rrtype::SERVED.to_vec(),
        }
    }

    /// The page of `records` and the next cursor, if more remain.
    pub(crate) fn slice<'a>(&self, records: &'a [CofRecord]) -> (&'a [CofRecord], Option<usize>) {
        let start = self.cursor.min(records.len());
        let end = match self.count {
            Some(n) => start.saturating_add(n).min(records.len()),
            None => records.len(),
        };
        let page = records.get(start..end).unwrap_or_default();
        (page, (end < records.len()).then_some(end))
    }
}

fn served_type(v: &str) -> Result<u16, WebError> {
    rrtype::served(v).ok_or_else(|| {
        bad(&format!(
            "dribble-filter-rrtype: unsupported type {v:?}; valid types: {}",
            rrtype::served_names()
        ))
    })
}

/// The search a `/query` or `/fquery` request asks for, or `None` for today's lookup
/// (byte-identical answers). The search engine answers when the request has a search
/// parameter in its query string (`time_first_before`, `time_first_after`, `time_last_before`,
/// `time_last_after`, `rrtype`, `limit`, `cursor`: DNSDB names, see `search::params`), or a
/// search header (`dribble-sort: time_last`, `dribble-time-first-before`, ... the fences
/// spelt as headers, or several types in `dribble-filter-rrtype: A,AAAA`), or when the query
/// text is a wildcard (`*.example.com`, `www.example.*`), a prefix (`192.0.2.0/24`) or a
/// range (`a-b`), which matched nothing before. In a search, `dribble-paginate-count` is the
/// limit and `dribble-paginate-cursor` the cursor of `x-dribble-cursor`.
pub(crate) fn search_request(
    q: &str,
    query_string: &str,
    headers: &HeaderMap,
    fquery: bool,
) -> Result<Option<Query>, WebError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut params = Params::default();
    for pair in query_string.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad(&format!("{name}: malformed percent-encoding")))?;
        params.absorb(name, &value, now).map_err(search_error)?;
    }
    let searched = search_headers(headers, &mut params, now)?;
    let subject = if fquery {
        Subject::rdata(q)
    } else {
        Subject::rrset(q)
    };
    let pattern = matches!(
        subject,
        Ok(Subject::Below(_) | Subject::Starting(_) | Subject::Net(_) | Subject::Range(..))
    );
    if !(params.any || searched || pattern) {
        return Ok(None);
    }
    let mut query = params.query(subject.map_err(search_error)?);
    apply_paging(headers, &params, &mut query)?;
    Ok(Some(query))
}

/// Reads the search headers into `params`; whether there was one.
fn search_headers(h: &HeaderMap, params: &mut Params, now: i64) -> Result<bool, WebError> {
    let mut any = false;
    for (header, name) in [
        ("dribble-time-first-before", "time_first_before"),
        ("dribble-time-first-after", "time_first_after"),
        ("dribble-time-last-before", "time_last_before"),
        ("dribble-time-last-after", "time_last_after"),
    ] {
        if let Some(v) = header_text(h, header)? {
            params.absorb(name, &v, now).map_err(search_error)?;
            any = true;
        }
    }
    if let Some(v) = header_text(h, "dribble-sort")? {
        if v != "time_last" {
            return Err(bad(&format!("dribble-sort: only time_last, got {v:?}")));
        }
        any = true;
    }
    if let Some(v) = header_text(h, "dribble-filter-rrtype")? {
        if v.contains(',') || any || params.any {
            params.absorb("rrtype", &v, now).map_err(search_error)?;
            any = true;
        }
    }
    Ok(any)
}

/// `dribble-paginate-count` as the limit and `dribble-paginate-cursor` as the cursor, unless
/// the query string gave `limit` / `cursor`.
fn apply_paging(h: &HeaderMap, params: &Params, query: &mut Query) -> Result<(), WebError> {
    if let Some(v) = header_text(h, "dribble-paginate-count")?.filter(|_| params.limit.is_none()) {
        query.limit = v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                bad(&format!(
                    "dribble-paginate-count: expected 1..{MAX_PAGE}, got {v:?}"
                ))
            })?;
    }
    let cursor = header_text(h, "dribble-paginate-cursor")?.filter(|_| params.after.is_none());
    if let Some(v) = cursor.filter(|v| !v.is_empty()) {
        query.after = Some(
            Cursor::decode(&v)
                .ok_or_else(|| bad(&format!("dribble-paginate-cursor: invalid cursor {v:?}")))?,
        );
    }
    Ok(())
}

/// A header's value, trimmed; a 400 when it is not ASCII.
fn header_text(h: &HeaderMap, name: &str) -> Result<Option<String>, WebError> {
    h.get(name)
        .map(|v| {
            v.to_str()
                .map(|s| s.trim().to_string())
                .map_err(|_| bad(&format!("{name}: not ASCII")))
        })
        .transpose()
}

/// A search error as the API's error: 400 for a bad request, 503 for the store.
pub(crate) fn search_error(e: SearchError) -> WebError {
    match e {
        SearchError::BadRequest(m) => WebError::BadRequest(m),
        SearchError::Store(e) => WebError::Store(e),
    }
}

/// Checks `Authorization` when credentials are configured: `Basic <user:pass>`, `Bearer <token>`
/// or a bare token.
pub(crate) fn check_auth(req: &HttpRequest, auth: &Auth) -> Result<(), WebError> {
    if !auth.enabled() {
        return Ok(());
    }
    let value = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or(("", value));
    let ok = if scheme.eq_ignore_ascii_case("basic") {
        base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|cred| {
                auth.basic
                    .iter()
                    .any(|c| ct_eq(c.as_bytes(), cred.as_bytes()))
            })
    } else {
        let token = if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        {
            rest.trim()
        } else {
            value
        };
        !token.is_empty()
            && auth
                .tokens
                .iter()
                .any(|t| ct_eq(t.as_bytes(), token.as_bytes()))
    };
    if ok {
        Ok(())
    } else {
        Err(WebError::Unauthorized)
    }
}

/// Constant-time comparison (length leaks, content does not).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn query_text_decodes_like_tornado() {
        assert_eq!(
            query_text("/query/a%2Eb+c", "/query/").ok().as_deref(),
            Some("a.b+c")
        );
        assert!(query_text("/query/", "/query/").is_err());
        assert!(query_text("/query/%zz", "/query/").is_err());
        assert!(query_text("/query/%ff", "/query/").is_err());
        assert!(query_text("/query/a%0Ab", "/query/").is_err());
        assert!(query_text("/query/a%4", "/query/").is_err());
        assert!(query_text("/query/a%", "/query/").is_err());
        assert_eq!(
            query_text("/query/%C3%A9x%2e", "/query/").ok().as_deref(),
            Some("éx.")
        );
    }

    #[test]
    fn format_options_from_the_query_string() {
        let off = Format::default();
        assert_eq!(format("", off).ok(), Some(off));
        let both = Format {
            rdata_list: true,
            bailiwick: true,
        };
        assert_eq!(format("rdata-list=1&bailiwick", off).ok(), Some(both));
        assert_eq!(
            format("x=y&rdata-list=no", both).ok().map(|f| f.rdata_list),
            Some(false)
        );
        assert!(format("bailiwick=maybe", off).is_err());
    }

    #[test]
    fn credentials_compare_by_content_and_length() {
        assert!(ct_eq(b"tok123", b"tok123"));
        assert!(!ct_eq(b"tok123", b"tok124"));
        assert!(!ct_eq(b"tok123", b"tok1234"));
        assert!(!ct_eq(b"", b"x"));
    }

    #[test]
    fn page_slices_and_cursors() {
        let recs: Vec<CofRecord> = (0..5)
            .map(|i| CofRecord {
                time_first: i,
                time_last: i,
                count: 1,
                rrtype: "A".into(),
                rrname: "x".into(),
                rdata: i.to_string(),
                origin: String::new(),
                bailiwick: None,
            })
            .collect();
        let p = Page {
            count: Some(2),
            cursor: 0,
            rrtype: None,
        };
        assert_eq!(p.slice(&recs).1, Some(2));
        let p = Page {
            count: Some(2),
            cursor: 4,
            rrtype: None,
        };
        assert_eq!((p.slice(&recs).0.len(), p.slice(&recs).1), (1, None));
        let p = Page {
            count: None,
            cursor: 9,
            rrtype: None,
        };
        assert_eq!((p.slice(&recs).0.len(), p.slice(&recs).1), (0, None));
    }
}
