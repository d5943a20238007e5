//! COF records (spec `pdns.md` §2.5, §4) and the `/info` body, in their text form, byte-identical to upstream's
//! Python `json.dumps` defaults: `", "` / `": "` separators, `ensure_ascii`, fixed key order
//! `time_first, time_last, count, rrtype, rrname, rdata, origin`, one object per line.
//!
//! Times and count are always integers (never `null`: see `query` for how partial keys are
//! filled). With [`Format`] options, `rdata` is a one-element array and a `bailiwick` field
//! follows it (COF draft §3.3/§3.4, as MISP's COF import expects); off by default.

use std::fmt::Write as _;

/// One COF record as the D4 server emits it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CofRecord {
    /// First seen (epoch seconds).
    pub(crate) time_first: i64,
    /// Last seen (epoch seconds).
    pub(crate) time_last: i64,
    /// Occurrences.
    pub(crate) count: i64,
    /// Mnemonic (`A`, `NS`, ...).
    pub(crate) rrtype: String,
    /// Owner name.
    pub(crate) rrname: String,
    /// Answer.
    pub(crate) rdata: String,
    /// Origin (upstream constant `origin not configured`).
    pub(crate) origin: String,
    /// Zone apex estimate, written when [`Format::bailiwick`] asks for it.
    pub(crate) bailiwick: Option<String>,
}

/// Optional shapes of a record (COF draft fields upstream never wrote).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Format {
    /// `rdata` as an array of strings (the draft's SHOULD) instead of a string.
    pub(crate) rdata_list: bool,
    /// Add `bailiwick` after `rdata`.
    pub(crate) bailiwick: bool,
}

impl CofRecord {
    /// Appends the record as one NDJSON line (with `\n`).
    pub(crate) fn write_line(&self, out: &mut String, fmt: Format) {
        out.push_str("{\"time_first\": ");
        push_int(out, self.time_first);
        out.push_str(", \"time_last\": ");
        push_int(out, self.time_last);
        out.push_str(", \"count\": ");
        push_int(out, self.count);
        out.push_str(", \"rrtype\": ");
        py_json_str(out, &self.rrtype);
        out.push_str(", \"rrname\": ");
        py_json_str(out, &self.rrname);
        out.push_str(", \"rdata\": ");
        if fmt.rdata_list {
            out.push('[');
            py_json_str(out, &self.rdata);
            out.push(']');
        } else {
            py_json_str(out, &self.rdata);
        }
        if fmt.bailiwick {
            out.push_str(", \"bailiwick\": ");
            py_json_str(out, self.bailiwick.as_deref().unwrap_or(&self.rrname));
        }
        out.push_str(", \"origin\": ");
        py_json_str(out, &self.origin);
        out.push_str("}\n");
    }
}

/// NDJSON body of records.
pub(crate) fn ndjson(records: &[CofRecord], fmt: Format) -> String {
    let mut out = String::with_capacity(records.len() * 160);
    for r in records {
        r.write_line(&mut out, fmt);
    }
    out
}

/// Appends an integer in decimal, without the formatting machinery (a large answer writes
/// three per record).
fn push_int(out: &mut String, n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'0' + (u % 10) as u8;
        }
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for &d in buf.get(at..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

/// A JSON string as Python `json.dumps(ensure_ascii=True)` writes it.
pub(crate) fn py_json_str(out: &mut String, s: &str) {
    out.push('"');
    // Most names and answers need no escape: copied whole.
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `/info` body (spec §2.4): `{"version": "git", "software": "analyzer-d4-passivedns", "stats": N,
/// "sensors": [{"sensor_id": "...", "count": N}, ...]}`, Tornado style (`</` escaped as `<\/`).
pub(crate) fn info_json(stats: i64, sensors: &[(String, i64)]) -> String {
    let mut out = String::from(
        "{\"version\": \"git\", \"software\": \"analyzer-d4-passivedns\", \"stats\": ",
    );
    let _ = write!(out, "{stats}, \"sensors\": [");
    for (i, (id, count)) in sensors.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"sensor_id\": ");
        py_json_str(&mut out, id);
        let _ = write!(out, ", \"count\": {count}}}");
    }
    out.push_str("]}");
    out.replace("</", "<\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> CofRecord {
        CofRecord {
            time_first: 1700000000,
            time_last: 1700000500,
            count: 3,
            rrtype: "A".into(),
            rrname: "www.example.com".into(),
            rdata: "93.184.216.34".into(),
            origin: "origin not configured".into(),
            bailiwick: Some("example.com".into()),
        }
    }

    #[test]
    fn worked_example_of_spec_2_7() {
        assert_eq!(
            ndjson(&[rec()], Format::default()),
            "{\"time_first\": 1700000000, \"time_last\": 1700000500, \"count\": 3, \"rrtype\": \"A\", \"rrname\": \"www.example.com\", \"rdata\": \"93.184.216.34\", \"origin\": \"origin not configured\"}\n"
        );
    }

    #[test]
    fn rdata_list_and_bailiwick_options() {
        let fmt = Format {
            rdata_list: true,
            bailiwick: true,
        };
        assert_eq!(
            ndjson(&[rec()], fmt),
            "{\"time_first\": 1700000000, \"time_last\": 1700000500, \"count\": 3, \"rrtype\": \"A\", \"rrname\": \"www.example.com\", \"rdata\": [\"93.184.216.34\"], \"bailiwick\": \"example.com\", \"origin\": \"origin not configured\"}\n"
        );
        let only_list = Format {
            rdata_list: true,
            bailiwick: false,
        };
        assert!(ndjson(&[rec()], only_list).contains("\"rdata\": [\"93.184.216.34\"], \"origin\""));
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, -7, 10, 1_700_000_000, i64::MAX, i64::MIN] {
            let mut out = String::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn python_escapes() {
        let mut r = rec();
        r.rdata = "v=spf1 \"x\\\" é😀\u{1}\t\u{7f}".into();
        let line = ndjson(&[r], Format::default());
        assert!(!line.contains("null"), "{line}");
        assert!(
            line.contains(r#""rdata": "v=spf1 \"x\\\" \u00e9\ud83d\ude00\u0001\t"#),
            "{line}"
        );
        assert!(
            line.contains("\\u007f\""),
            "DEL is escaped as in Python: {line}"
        );
    }

    #[test]
    fn info_matches_tornado_output() {
        assert_eq!(
            info_json(0, &[]),
            r#"{"version": "git", "software": "analyzer-d4-passivedns", "stats": 0, "sensors": []}"#
        );
        assert_eq!(
            info_json(7, &[("s</1".into(), 5), ("b".into(), 2)]),
            r#"{"version": "git", "software": "analyzer-d4-passivedns", "stats": 7, "sensors": [{"sensor_id": "s<\/1", "count": 5}, {"sensor_id": "b", "count": 2}]}"#
        );
    }
}
