//! `POST /batch`: many queries in one request, NDJSON in and out.
//!
//! Each input line is one query: a bare value (`example.com`, `192.0.2.1`, `192.0.2.0/24`,
//! `*.example.com`, `www.example.*`), a JSON string, or a JSON object
//! `{"query": "...", "id": <any>, "rrtype": "A,AAAA" | ["A", "AAAA"], "limit": n,
//! "time_first_before": t, "time_first_after": t, "time_last_before": t, "time_last_after": t}`
//! (DNSDB parameter names; negative times are relative to now). Each answer is one line,
//! tagged with its query (and `id` when given), in input order:
//! `{"query": "...", "id": ..., "cond": "succeeded" | "limited" | "failed", "msg": "...",
//! "records": [<COF records, newest first>]}`. A failed line (bad query, quota, store error)
//! does not stop the others. Answers stream out as they complete; up to [`IN_FLIGHT`]
//! queries run at once on the worker's multiplexed store connection, so their commands share
//! round trips instead of waiting for each other.

use serde_json::Value as Json;

use super::ask::{self, Ask};
use super::record::{CofRecord, Format};
use super::saf::End;
use crate::search::{Params, SearchError};

/// Largest request body (bytes).
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;
/// Most queries in one request.
pub(crate) const MAX_LINES: usize = 100_000;
/// Queries answered at once.
pub(crate) const IN_FLIGHT: usize = 256;

/// One parsed input line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    /// The query text, as the client wrote it.
    pub(crate) query: String,
    /// The client's tag, echoed.
    pub(crate) id: Option<Json>,
    /// The question, or why the line is not one.
    pub(crate) ask: Result<Ask, String>,
}

/// Splits a request body into lines (empty lines skipped); `now` resolves relative fences.
pub(crate) fn parse(body: &str, now: i64) -> Result<Vec<Line>, String> {
    let lines: Vec<Line> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l, now))
        .collect();
    if lines.len() > MAX_LINES {
        return Err(format!(
            "{} queries; at most {MAX_LINES} per request",
            lines.len()
        ));
    }
    Ok(lines)
}

/// One input line.
fn parse_line(text: &str, now: i64) -> Line {
    let json = if text.starts_with('{') || text.starts_with('"') {
        match serde_json::from_str::<Json>(text) {
            Ok(j) => Some(j),
            Err(e) => {
                return Line {
                    query: text.to_string(),
                    id: None,
                    ask: Err(format!("not JSON: {e}")),
                }
            }
        }
    } else {
        None
    };
    let obj = match &json {
        Some(Json::Object(o)) => Some(o),
        _ => None,
    };
    let query = match (&json, obj) {
        (Some(Json::String(s)), _) => s.clone(),
        (_, Some(o)) => o
            .get("query")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => text.to_string(),
    };
    let id = obj.and_then(|o| o.get("id")).cloned();
    let ask = ask_of(&query, obj, now);
    Line { query, id, ask }
}

/// The question of a line: its value and its per-line parameters.
fn ask_of(
    query: &str,
    obj: Option<&serde_json::Map<String, Json>>,
    now: i64,
) -> Result<Ask, String> {
    if query.trim().is_empty() {
        return Err("empty query".into());
    }
    let mut ask = Ask::guess(query).map_err(|e| e.to_string())?;
    let Some(obj) = obj else {
        return Ok(ask);
    };
    let mut p = Params::default();
    for (k, v) in obj {
        let text = match v {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        if k != "query" && k != "id" {
            p.absorb(k, &text, now)
                .map_err(|e: SearchError| e.to_string())?;
        }
    }
    if p.any {
        ask.query = p.query(ask.query.subject.clone());
    }
    Ok(ask)
}

/// The answer line of one query (with `\n`): records, or the failure.
pub(crate) fn answer_line(line: &Line, answer: Result<ask::Answer, String>) -> String {
    let (end, records): (End, Vec<CofRecord>) = match answer {
        Ok(a) => (a.end, a.records),
        Err(msg) => (End::Failed(msg), Vec::new()),
    };
    let mut out = String::with_capacity(64 + records.len() * 160);
    out.push_str("{\"query\": ");
    super::record::py_json_str(&mut out, &line.query);
    if let Some(id) = &line.id {
        out.push_str(", \"id\": ");
        out.push_str(&id.to_string());
    }
    out.push_str(", \"cond\": \"");
    out.push_str(end.cond());
    out.push('"');
    if let End::Limited(msg) | End::Failed(msg) = &end {
        out.push_str(", \"msg\": ");
        super::record::py_json_str(&mut out, msg);
    }
    out.push_str(", \"records\": [");
    let lines = super::record::ndjson(&records, Format::default());
    for (i, r) in lines.lines().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(r);
    }
    out.push_str("]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Subject;

    #[test]
    fn lines_of_every_form() {
        let body = "example.com\n\n\"192.0.2.1\"\n{\"query\": \"*.example.com\", \"id\": 7, \"rrtype\": [\"A\", \"AAAA\"], \"time_last_after\": -60, \"limit\": 5}\n{bad\n*.com\n";
        let lines = parse(body, 1000).expect("parse");
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0].ask.as_ref().map(|a| a.query.subject.clone()),
            Ok(Subject::Name("example.com".into()))
        );
        assert!(matches!(
            lines[1].ask.as_ref().map(|a| &a.query.subject),
            Ok(Subject::Ip(_))
        ));
        let a = lines[2].ask.as_ref().expect("object line");
        assert_eq!(lines[2].id, Some(serde_json::json!(7)));
        assert_eq!(a.query.types, vec![1, 28]);
        assert_eq!(a.query.fence.last_after, Some(940));
        assert_eq!(a.query.limit, 5);
        assert!(lines[3].ask.is_err());
        assert!(lines[4].ask.is_err(), "too broad");
    }

    #[test]
    fn answers_are_tagged() {
        let line = parse_line("{\"query\": \"x.example\", \"id\": \"a\"}", 0);
        let out = answer_line(&line, Err("quota exceeded".into()));
        let v: Json = serde_json::from_str(&out).expect("JSON line");
        assert_eq!(v["query"], "x.example");
        assert_eq!(v["id"], "a");
        assert_eq!(v["cond"], "failed");
        assert_eq!(v["msg"], "quota exceeded");
        assert_eq!(v["records"], serde_json::json!([]));
        assert!(out.ends_with("]}\n"));
    }
}
