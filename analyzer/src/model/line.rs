//! The passivedns line (spec `pdns.md` §1.2–§1.3): bytes from the queue → a normalised [`Record`]
//! or a [`LineError`] naming why it was rejected. Pure: no I/O.
//!
//! Line: `<ts>||<client>||<server>||<class>||<qname>||<type>||<answer>[||<ttl>[||<count>]]`.
//! Differences from upstream (which exits on most of these): every malformed line is rejected
//! with a reason instead of killing the process.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::rrtype;

/// One accepted passivedns line, normalised as upstream stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Epoch seconds (text before the first `.`).
    pub(crate) ts: u64,
    /// Class text, verbatim (`IN`).
    pub(crate) class: String,
    /// Query name: lower-cased, leading/trailing dots removed.
    pub(crate) q: String,
    /// Decimal RR type.
    pub(crate) t: u16,
    /// Answer: lower-cased, dots stripped, TXT opening quote removed.
    pub(crate) v: String,
    /// TTL text, verbatim, when the line has 8 or more fields.
    pub(crate) ttl: Option<String>,
}

/// Why a line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LineError {
    /// Empty after trimming whitespace.
    #[error("empty line")]
    Empty,
    /// Not valid UTF-8.
    #[error("invalid UTF-8")]
    Utf8,
    /// Fewer than 7 `||`-separated fields (banner or stats lines, JSON, other delimiters).
    #[error("too few fields: {got} (need 7 to 9)")]
    TooFewFields {
        /// Fields found.
        got: usize,
    },
    /// More than 9 fields (extra `-f` fields, `||` inside a TXT answer).
    #[error("too many fields: {got} (need 7 to 9)")]
    TooManyFields {
        /// Fields found.
        got: usize,
    },
    /// The type is no known mnemonic.
    #[error("unknown RR type {0:?}")]
    UnknownType(String),
    /// The timestamp is not `<digits>[.<anything>]`.
    #[error("bad timestamp {0:?}")]
    Timestamp(String),
    /// The query name is empty after normalisation (the root name).
    #[error("empty query name")]
    EmptyName,
}

impl LineError {
    /// Short reason used as field of the `stats:rejected` hash and as metrics label.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            LineError::Empty => "empty",
            LineError::Utf8 => "utf8",
            LineError::TooFewFields { .. } => "too-few-fields",
            LineError::TooManyFields { .. } => "too-many-fields",
            LineError::UnknownType(_) => "unknown-type",
            LineError::Timestamp(_) => "timestamp",
            LineError::EmptyName => "empty-name",
        }
    }
}

/// Parses one queue item (one line without its `\n`).
pub(crate) fn parse(raw: &[u8]) -> Result<Record, LineError> {
    let text = std::str::from_utf8(raw).map_err(|_| LineError::Utf8)?;
    parse_str(text)
}

/// Parses one line of text.
pub(crate) fn parse_str(text: &str) -> Result<Record, LineError> {
    let line = text.trim();
    if line.is_empty() {
        return Err(LineError::Empty);
    }
    let f: Vec<&str> = line.split("||").collect();
    match f.len() {
        0..=6 => return Err(LineError::TooFewFields { got: f.len() }),
        7..=9 => {}
        n => return Err(LineError::TooManyFields { got: n }),
    }
    let [ts, _src, _dst, class, q, ty, v, rest @ ..] = f.as_slice() else {
        return Err(LineError::TooFewFields { got: f.len() });
    };
    let ts = timestamp(ts)?;
    let t = rrtype::number(ty).ok_or_else(|| LineError::UnknownType(ty.to_string()))?;
    let q = normalise_name(q);
    if q.is_empty() {
        return Err(LineError::EmptyName);
    }
    let mut v = normalise_name(v);
    if t == rrtype::TXT {
        v = v.replacen('"', "", 1);
    }
    Ok(Record {
        ts,
        class: class.to_string(),
        q,
        t,
        v,
        ttl: rest.first().map(|s| (*s).to_string()),
    })
}

/// Lower-case (Unicode, as Python `str.lower`) and strip every leading/trailing `.`.
pub(crate) fn normalise_name(s: &str) -> String {
    s.to_lowercase().trim_matches('.').to_string()
}

fn timestamp(field: &str) -> Result<u64, LineError> {
    let secs = field.split('.').next().unwrap_or_default();
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::Timestamp(field.to_string()));
    }
    secs.parse()
        .map_err(|_| LineError::Timestamp(field.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn rec(ts: u64, class: &str, q: &str, t: u16, v: &str, ttl: Option<&str>) -> Record {
        Record {
            ts,
            class: class.into(),
            q: q.into(),
            t,
            v: v.into(),
            ttl: ttl.map(Into::into),
        }
    }

    #[test]
    fn default_passivedns_line() {
        // spec §5.2.1 default line.
        let r = parse(b"1322849924.408856||10.1.1.1||8.8.8.8||IN||upload.youtube.com.||A||74.125.43.117||46587||5");
        assert_eq!(
            r,
            Ok(rec(
                1322849924,
                "IN",
                "upload.youtube.com",
                1,
                "74.125.43.117",
                Some("46587")
            ))
        );
    }

    #[test]
    fn names_are_lowercased_and_all_dots_stripped() {
        let r = parse_str("1548624738.280922||a||b||IN||..WWW.Example.COM..||CNAME||Target.Example.NET.||300||1\r\n");
        assert_eq!(
            r,
            Ok(rec(
                1548624738,
                "IN",
                "www.example.com",
                5,
                "target.example.net",
                Some("300")
            ))
        );
    }

    #[test]
    fn txt_loses_only_its_opening_quote_and_is_lowercased() {
        let r = parse_str(r#"1||a||b||IN||example.com.||TXT||"v=spf1 -ALL"||60||1"#).unwrap();
        assert_eq!((r.t, r.v.as_str()), (16, r#"v=spf1 -all""#));
        let r = parse_str(r#"1||a||b||IN||example.com.||SPF||"v=spf1 -all"||60||1"#).unwrap();
        assert_eq!((r.t, r.v.as_str()), (99, r#""v=spf1 -all""#));
    }

    #[test]
    fn seven_and_eight_field_lines_are_accepted() {
        assert_eq!(
            parse_str("5||a||b||IN||x.org||NS||ns.x.org").map(|r| r.ttl),
            Ok(None)
        );
        assert_eq!(
            parse_str("5||a||b||IN||x.org||NS||ns.x.org||0").map(|r| r.ttl),
            Ok(Some("0".into()))
        );
    }

    #[test]
    fn nxdomain_lines_store_nxdomain_answer() {
        let r = parse_str(
            "1558960214.117262||10.0.2.15||10.0.2.3||IN||nonexistent.example.||A||NXDOMAIN||0||1",
        );
        assert_eq!(
            r,
            Ok(rec(
                1558960214,
                "IN",
                "nonexistent.example",
                1,
                "nxdomain",
                Some("0")
            ))
        );
    }

    #[test]
    fn malformed_lines_name_their_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"  \r", "empty"),
            (b"\xff\xfe||a||b||IN||x||A||1.2.3.4||1||1", "utf8"),
            (b"[*] PassiveDNS 1.2.1", "too-few-fields"),
            (b"1||a||b||IN||x.org", "too-few-fields"),
            (b"1||a||b||IN||x.org||A", "too-few-fields"),
            (
                b"1||a||b||IN||x.org||TXT||\"a||b\"||1||1",
                "too-many-fields",
            ),
            (b"1||a||b||IN||x.org||1||NXDOMAIN||0||1", "unknown-type"),
            (b"1||a||b||IN||x.org||BOGUS||v||0||1", "unknown-type"),
            (
                b"2019-05-27 14:30:14.1||a||b||IN||x.org||A||1.2.3.4||0||1",
                "timestamp",
            ),
            (b".||a||b||IN||x.org||A||1.2.3.4||0||1", "timestamp"),
            (b"1||a||b||IN||.||A||1.2.3.4||0||1", "empty-name"),
        ];
        for (line, reason) in cases {
            let got = parse(line).map_err(|e| e.reason());
            assert_eq!(got, Err(*reason), "{:?}", String::from_utf8_lossy(line));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn accepted_names_are_normalised(q in "[A-Za-z0-9.]{1,30}", v in "[A-Za-z0-9.]{0,30}") {
            if let Ok(r) = parse_str(&format!("1||a||b||IN||{q}||CNAME||{v}||1||1")) {
                proptest::prop_assert_eq!(r.q.to_lowercase(), r.q.clone());
                proptest::prop_assert!(!r.q.starts_with('.') && !r.q.ends_with('.'));
                proptest::prop_assert!(!r.v.starts_with('.') && !r.v.ends_with('.'));
            }
        }
    }
}
