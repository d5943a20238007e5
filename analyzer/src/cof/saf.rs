//! SAF, the "streaming API framing" of DNSDB v2 (`spec/anchors.md` §1.3): NDJSON lines
//! `{"cond":"begin"}`, then one `{"obj":{...}}` per record, then exactly one terminator,
//! `{"cond":"succeeded"}`, `{"cond":"limited","msg":"..."}` or `{"cond":"failed","msg":"..."}`.
//! A client that reads no terminator knows the answer was cut. Records are written in DNSDB's
//! field names (`count, time_first, time_last, rrname, rrtype, bailiwick, rdata`), names with
//! the trailing dot DNSDB clients expect.

use std::fmt::Write as _;

use super::record::{py_json_str, CofRecord};

/// The first line of every SAF answer.
pub(crate) const BEGIN: &str = "{\"cond\":\"begin\"}\n";

/// How a SAF answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Every record was sent.
    Succeeded,
    /// A limit cut the answer (the message says which).
    Limited(String),
    /// The server failed part way (the message says why).
    Failed(String),
}

impl End {
    /// The terminating line.
    pub(crate) fn line(&self) -> String {
        let (cond, msg) = match self {
            End::Succeeded => return "{\"cond\":\"succeeded\"}\n".to_string(),
            End::Limited(m) => ("limited", m),
            End::Failed(m) => ("failed", m),
        };
        let mut out = format!("{{\"cond\":\"{cond}\",\"msg\":");
        py_json_str(&mut out, msg);
        out.push_str("}\n");
        out
    }

    /// `succeeded`, `limited` or `failed`.
    pub(crate) fn cond(&self) -> &'static str {
        match self {
            End::Succeeded => "succeeded",
            End::Limited(_) => "limited",
            End::Failed(_) => "failed",
        }
    }
}

/// Wraps one JSON object as a SAF record line (`{"obj":<json>}\n`).
pub(crate) fn obj_line(out: &mut String, json: &str) {
    out.push_str("{\"obj\":");
    out.push_str(json);
    out.push_str("}\n");
}

/// Which DNSDB lookup a record answers: rrset lookups carry `rdata` as a list and a
/// `bailiwick`, rdata lookups a single `rdata` string (as DNSDB v2 answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `lookup/rrset/...`.
    Rrset,
    /// `lookup/rdata/...`.
    Rdata,
}

/// One record as a DNSDB JSON object (no newline).
pub(crate) fn dnsdb_json(r: &CofRecord, shape: Shape) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(
        out,
        "{{\"count\":{},\"time_first\":{},\"time_last\":{},\"rrname\":",
        r.count, r.time_first, r.time_last
    );
    py_json_str(&mut out, &fqdn(&r.rrname));
    out.push_str(",\"rrtype\":");
    py_json_str(&mut out, &r.rrtype);
    let rdata = if names_in_rdata(&r.rrtype) {
        fqdn(&r.rdata)
    } else {
        r.rdata.clone()
    };
    match shape {
        Shape::Rrset => {
            out.push_str(",\"bailiwick\":");
            py_json_str(&mut out, &fqdn(r.bailiwick.as_deref().unwrap_or(&r.rrname)));
            out.push_str(",\"rdata\":[");
            py_json_str(&mut out, &rdata);
            out.push(']');
        }
        Shape::Rdata => {
            out.push_str(",\"rdata\":");
            py_json_str(&mut out, &rdata);
        }
    }
    out.push('}');
    out
}

/// Counts of a query without its records (DNSDB `summarize`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Sum of the records' counts.
    pub(crate) count: i64,
    /// Number of records.
    pub(crate) num_results: usize,
    /// Earliest first seen (0 when there is no record).
    pub(crate) time_first: i64,
    /// Latest last seen (0 when there is no record).
    pub(crate) time_last: i64,
}

impl Summary {
    /// Summarises `records`.
    pub(crate) fn of(records: &[CofRecord]) -> Summary {
        Summary {
            count: records.iter().map(|r| r.count).sum(),
            num_results: records.len(),
            time_first: records.iter().map(|r| r.time_first).min().unwrap_or(0),
            time_last: records.iter().map(|r| r.time_last).max().unwrap_or(0),
        }
    }

    /// The DNSDB summarize object (no newline).
    pub(crate) fn json(&self) -> String {
        format!(
            "{{\"count\":{},\"num_results\":{},\"time_first\":{},\"time_last\":{}}}",
            self.count, self.num_results, self.time_first, self.time_last
        )
    }
}

/// A whole SAF body: begin, one line per object, the terminator.
pub(crate) fn body<'a>(objects: impl Iterator<Item = String> + 'a, end: &End) -> String {
    let mut out = String::from(BEGIN);
    for o in objects {
        obj_line(&mut out, &o);
    }
    out.push_str(&end.line());
    out
}

/// `name.` (DNSDB writes absolute names); the root stays `.`.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Types whose stored rdata is a domain name.
fn names_in_rdata(rrtype: &str) -> bool {
    matches!(rrtype, "NS" | "CNAME" | "PTR" | "DNAME" | "MX" | "SRV")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rrtype: &str, rdata: &str) -> CofRecord {
        CofRecord {
            time_first: 10,
            time_last: 20,
            count: 3,
            rrtype: rrtype.into(),
            rrname: "www.example.com".into(),
            rdata: rdata.into(),
            origin: String::new(),
            bailiwick: Some("example.com".into()),
        }
    }

    #[test]
    fn records_in_dnsdb_shapes() {
        assert_eq!(
            dnsdb_json(&rec("A", "192.0.2.1"), Shape::Rrset),
            r#"{"count":3,"time_first":10,"time_last":20,"rrname":"www.example.com.","rrtype":"A","bailiwick":"example.com.","rdata":["192.0.2.1"]}"#
        );
        assert_eq!(
            dnsdb_json(&rec("CNAME", "web.example.net"), Shape::Rdata),
            r#"{"count":3,"time_first":10,"time_last":20,"rrname":"www.example.com.","rrtype":"CNAME","rdata":"web.example.net."}"#
        );
    }

    #[test]
    fn framing_and_terminators() {
        let b = body(
            [dnsdb_json(&rec("A", "192.0.2.1"), Shape::Rdata)].into_iter(),
            &End::Limited("result limit \"1\" reached".into()),
        );
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], r#"{"cond":"begin"}"#);
        assert!(lines[1].starts_with(r#"{"obj":{"count":3,"#), "{b}");
        assert_eq!(
            lines[2],
            r#"{"cond":"limited","msg":"result limit \"1\" reached"}"#
        );
        for l in &lines {
            serde_json::from_str::<serde_json::Value>(l).expect("each line is JSON");
        }
        assert_eq!(End::Succeeded.line(), "{\"cond\":\"succeeded\"}\n");
        assert_eq!(End::Failed("x".into()).cond(), "failed");
    }

    #[test]
    fn summary_of_records() {
        let mut a = rec("A", "192.0.2.1");
        a.time_first = 5;
        let s = Summary::of(&[a, rec("A", "192.0.2.2")]);
        assert_eq!(
            s.json(),
            r#"{"count":6,"num_results":2,"time_first":5,"time_last":20}"#
        );
        assert_eq!(Summary::of(&[]).num_results, 0);
    }
}
