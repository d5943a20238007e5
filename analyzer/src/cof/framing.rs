//! Opt-in shapes of `/query` and `/fquery` answers (without them the bytes are upstream's):
//!
//! - SAF framing (`?saf=1`, or `saf` in `Accept`, e.g. `application/x-ndjson;saf`): each COF
//!   line wrapped as `{"obj": ...}` between `{"cond":"begin"}` and a terminator, `limited`
//!   when a page or quota left records out, so a client tells a complete answer from a cut
//!   one;
//! - `?summarize=1`: one object of counts (`count`, `num_results`, `time_first`,
//!   `time_last`) instead of the records;
//! - `x-dribble-errors` (CIRCL pDNS 2.0): a JSON object saying what was left out, sent when
//!   a quota cut the answer.
//!
//! `dribble-disable-active-query` needs nothing: the server never resolves actively.

use actix_web::HttpRequest;

use super::error::WebError;
use super::saf::{self, End, Summary};

/// Response header of partial failures (CIRCL pDNS 2.0).
pub(crate) const ERRORS_HEADER: &str = "x-dribble-errors";

/// The opt-in shapes a request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// SAF framing.
    pub(crate) saf: bool,
    /// Counts instead of records.
    pub(crate) summarize: bool,
}

impl Options {
    /// Reads `saf` and `summarize` from the query string (a bare name means yes) and `saf`
    /// from `Accept`.
    pub(crate) fn of(req: &HttpRequest) -> Result<Options, WebError> {
        let mut o = Options {
            saf: req
                .headers()
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("saf")),
            summarize: false,
        };
        for pair in req.query_string().split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, "1"));
            let slot = match name {
                "saf" => &mut o.saf,
                "summarize" => &mut o.summarize,
                _ => continue,
            };
            *slot = d4_core::config::parse_bool(value).ok_or_else(|| {
                WebError::BadRequest(format!("{name}: expected 1 or 0, got {value:?}"))
            })?;
        }
        Ok(o)
    }
}

/// The body of a page of COF records in the asked shape: `ndjson` holds the page's COF
/// lines, `end` how the page ended.
pub(crate) fn records_body(opts: Options, ndjson: String, end: &End) -> String {
    if !opts.saf {
        return ndjson;
    }
    saf::body(ndjson.lines().map(str::to_string), end)
}

/// The body of a summary: one JSON line, SAF-framed on request.
pub(crate) fn summary_body(opts: Options, summary: Summary) -> String {
    let json = summary.json();
    if opts.saf {
        saf::body(std::iter::once(json), &End::Succeeded)
    } else {
        json + "\n"
    }
}

/// The `x-dribble-errors` value for an answer cut to `max` records by a quota.
pub(crate) fn quota_error(max: usize) -> String {
    serde_json::json!({
        "limited": format!("result quota of {max} records per query reached; continue with x-dribble-cursor")
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let line = "{\"time_first\": 1, \"time_last\": 2, \"count\": 3, \"rrtype\": \"A\", \"rrname\": \"a\", \"rdata\": \"1.2.3.4\", \"origin\": \"o\"}\n";
        let plain = Options::default();
        assert_eq!(records_body(plain, line.to_string(), &End::Succeeded), line);
        let saf = Options {
            saf: true,
            summarize: false,
        };
        let b = records_body(saf, line.to_string(), &End::Limited("page".into()));
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], "{\"cond\":\"begin\"}");
        assert_eq!(lines[1], format!("{{\"obj\":{}}}", line.trim_end()));
        assert_eq!(lines[2], "{\"cond\":\"limited\",\"msg\":\"page\"}");
        assert_eq!(
            summary_body(plain, Summary::default()),
            "{\"count\":0,\"num_results\":0,\"time_first\":0,\"time_last\":0}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&quota_error(5)).unwrap();
        assert!(v["limited"].as_str().unwrap().contains("5 records"));
    }
}
