//! The sources `pdns-import` reads (spec `pdns.md` §3): COF objects and passivedns log lines
//! into a [`Batch`], and the gzip detection of input files. Pure: no store access.
//!
//! Passivedns lines go through the same parser and batch as the ingestion. COF records follow
//! `pdns-import-cof.py` (§3.2) with its bugs fixed: names and rdata are normalised like
//! ingested ones (so the COF server finds them), `rrtype` may be a mnemonic or a number, `rdata`
//! a string or an array, times numbers or numeric strings, `sensor_id` optional; first seen is
//! the minimum and last seen the maximum of store and input; a given `count` overwrites `o:`
//! (as upstream), otherwise every record adds one.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read};

use serde_json::Value as Json;

use d4_core::store::value;

use crate::model::config::AnalyzerConfig;
use crate::model::line::{self, normalise_name, LineError};
use crate::model::rrtype;
use crate::write::{Batch, Observation};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// COF objects, one per line (or one JSON array).
    Cof,
    /// passivedns log lines.
    Passivedns,
}

/// Why a COF record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CofError {
    /// Not JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Not an object or a required field missing / of the wrong type.
    #[error("missing or invalid field {0}")]
    Field(&'static str),
    /// The rrtype is unknown.
    #[error("unknown rrtype {0}")]
    RrType(String),
}

impl CofError {
    /// Reason label for `stats:rejected`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            CofError::Json(_) => "cof-json",
            CofError::Field(_) => "cof-field",
            CofError::RrType(_) => "unknown-type",
        }
    }
}

/// Opens a file, transparently gunzipping it (gzip magic `1f 8b`).
pub(crate) fn open_reader<R: Read + 'static>(inner: R) -> std::io::Result<Box<dyn BufRead>> {
    let mut buf = BufReader::with_capacity(1 << 16, inner);
    let magic = buf.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(buf),
        )))
    } else {
        Ok(Box::new(buf))
    }
}

/// Adds one COF JSON object to the batch.
pub(crate) fn add_cof(b: &mut Batch, obj: &Json, cfg: &AnalyzerConfig) -> Result<(), CofError> {
    let o = obj.as_object().ok_or(CofError::Field("(object)"))?;
    let rrname = o
        .get("rrname")
        .and_then(Json::as_str)
        .ok_or(CofError::Field("rrname"))?;
    let t = rr_type(o.get("rrtype").ok_or(CofError::Field("rrtype"))?)?;
    let rdata: Vec<&str> = match o.get("rdata") {
        Some(Json::String(s)) => vec![s.as_str()],
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| x.as_str().ok_or(CofError::Field("rdata")))
            .collect::<Result<_, _>>()?,
        _ => return Err(CofError::Field("rdata")),
    };
    let first = time(o, "time_first", "zone_time_first").ok_or(CofError::Field("time_first"))?;
    let last = time(o, "time_last", "zone_time_last").unwrap_or(first);
    let count = o.get("count").and_then(number);
    let sensor = o.get("sensor_id").and_then(Json::as_str);
    let q = normalise_name(rrname);
    if q.is_empty() {
        return Err(CofError::Field("rrname"));
    }
    if cfg.excluded(&q) {
        b.excluded += 1;
        return Ok(());
    }
    for v in rdata {
        let mut v = normalise_name(v);
        if t == rrtype::TXT {
            v = v.replacen('"', "", 1);
        }
        b.add_observation(Observation {
            q: q.clone(),
            v,
            t,
            first: first.min(last),
            last: last.max(first),
            set_count: count,
            sensor,
        });
    }
    Ok(())
}

fn rr_type(v: &Json) -> Result<u16, CofError> {
    match v {
        Json::String(s) => rrtype::number(s)
            .or_else(|| s.parse().ok())
            .ok_or_else(|| CofError::RrType(s.clone())),
        Json::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| CofError::RrType(n.to_string())),
        other => Err(CofError::RrType(other.to_string())),
    }
}

/// A non-negative integer from a JSON number or numeric string (`int(float(x))`).
fn number(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Json::String(s) => int_text(s),
        _ => None,
    }
    .filter(|n| *n >= 0)
}

/// A numeric string as Python's `int(float(x))`: `"17"`, `"17.0"`, and `"17.5"` as 17.
fn int_text(s: &str) -> Option<i64> {
    value::parse_int(s).or_else(|| {
        let f = s.trim().parse::<f64>().ok()?;
        f.is_finite().then_some(f as i64)
    })
}

fn time(o: &serde_json::Map<String, Json>, key: &str, fallback: &str) -> Option<u64> {
    o.get(key)
        .or_else(|| o.get(fallback))
        .and_then(number)
        .map(|n| n as u64)
}

/// Parses a COF line into the batch; blank lines are ignored.
pub(crate) fn add_cof_line(
    b: &mut Batch,
    line: &str,
    cfg: &AnalyzerConfig,
) -> Result<(), CofError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(());
    }
    let v: Json = serde_json::from_str(line).map_err(|e| CofError::Json(e.to_string()))?;
    add_cof(b, &v, cfg)
}

/// Parses one passivedns log line into the batch (excluded names are counted, not errors).
pub(crate) fn add_passivedns_line(
    b: &mut Batch,
    raw: &[u8],
    cfg: &AnalyzerConfig,
) -> Result<(), LineError> {
    let r = line::parse(raw)?;
    if cfg.excluded(&r.q) {
        b.excluded += 1;
    } else {
        b.add(r);
    }
    Ok(())
}

/// Guesses the format from the first non-blank byte: `{` or `[` → COF, else passivedns.
pub(crate) fn sniff(head: &[u8]) -> Format {
    match head.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Format::Cof,
        _ => Format::Passivedns,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use d4_core::config::Ini;

    fn cfg() -> AnalyzerConfig {
        AnalyzerConfig::from_ini(
            &Ini::parse("[exclude]\nsubstring = spamhaus.org\n").expect("ini"),
            &|_| None,
        )
        .expect("cfg")
    }

    #[test]
    fn cof_variants_are_accepted_and_normalised() {
        let mut b = Batch::default();
        let c = cfg();
        add_cof_line(&mut b, r#"{"rrname":"WWW.Example.com.","rrtype":"A","rdata":["1.2.3.4","5.6.7.8"],"time_first":1500,"time_last":"1600.5","count":7,"sensor_id":"s1"}"#, &c).expect("ok");
        add_cof_line(&mut b, r#"{"rrname":"example.com.","rrtype":16,"rdata":"\"v=spf1 -all\"","time_first":10,"time_last":20}"#, &c).expect("ok");
        add_cof_line(&mut b, r#"{"rrname":"x.spamhaus.org","rrtype":"A","rdata":"1.1.1.1","time_first":1,"time_last":2}"#, &c).expect("ok");
        assert_eq!(b.tuples.len(), 3);
        assert_eq!(
            (
                b.tuples[0].q.as_str(),
                b.tuples[0].v.as_str(),
                b.tuples[0].first,
                b.tuples[0].last,
                b.tuples[0].set_count
            ),
            ("www.example.com", "1.2.3.4", 1500, 1600, Some(7))
        );
        assert_eq!(
            (b.tuples[2].t, b.tuples[2].v.as_str(), b.tuples[2].set_count),
            (16, "v=spf1 -all\"", None)
        );
        assert_eq!(b.sensors.get("s1"), Some(&2));
        assert_eq!((b.processed, b.excluded), (3, 1));
    }

    #[test]
    fn bad_cof_records_name_their_problem() {
        let c = cfg();
        let mut b = Batch::default();
        for (line, reason) in [
            ("{nope", "cof-json"),
            ("[1]", "cof-field"),
            (
                r#"{"rrtype":"A","rdata":"1.2.3.4","time_first":1,"time_last":1}"#,
                "cof-field",
            ),
            (
                r#"{"rrname":"a.b","rrtype":"XX","rdata":"1.2.3.4","time_first":1,"time_last":1}"#,
                "unknown-type",
            ),
            (
                r#"{"rrname":"a.b","rrtype":"A","rdata":[1],"time_first":1,"time_last":1}"#,
                "cof-field",
            ),
            (
                r#"{"rrname":"a.b","rrtype":"A","rdata":"1.2.3.4"}"#,
                "cof-field",
            ),
        ] {
            assert_eq!(
                add_cof_line(&mut b, line, &c).map_err(|e| e.reason()),
                Err(reason),
                "{line}"
            );
        }
        assert_eq!(b.processed, 0);
    }
}
