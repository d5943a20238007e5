//! Replies: the values a command returns, and their RESP2 / RESP3 encodings.
//!
//! Commands build a [`Reply`]; the connection encodes all replies of one read into one
//! buffer and writes it once. RESP3-only types (maps, sets, doubles, null) degrade to
//! their RESP2 shapes (flat arrays, bulk strings, `$-1` / `*-1`) exactly as Redis does.

use bytes::Bytes;

/// One reply value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// `+text` (static).
    Status(&'static str),
    /// `+text` (owned).
    StatusOwned(String),
    /// `-text`: the full error line, including its prefix (`ERR`, `WRONGTYPE` ...).
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` bulk string.
    Bulk(Bytes),
    /// Null bulk string (`$-1`, RESP3 `_`).
    Nil,
    /// Null array (`*-1`, RESP3 `_`).
    NilArray,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 map (`%n`), a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set (`~n`), an array in RESP2.
    Set(Vec<Reply>),
    /// RESP3 double (`,x`), a bulk string in RESP2.
    Double(f64),
}

/// `+OK`
pub(crate) const OK: Reply = Reply::Status("OK");

impl Reply {
    /// An `ERR ...` error.
    pub(crate) fn err(msg: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("ERR {msg}"))
    }
    /// A bulk string from anything byte-like.
    pub(crate) fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }
    /// A bulk string holding a decimal integer or float text.
    pub(crate) fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }
    /// An array of bulk strings.
    pub(crate) fn bulks<I: IntoIterator<Item = Bytes>>(items: I) -> Reply {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }
    /// True for error replies.
    pub(crate) fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    /// True for the null replies.
    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Reply::Nil | Reply::NilArray)
    }

    /// Appends the encoding of this reply to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, resp3: bool) {
        match self {
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::StatusOwned(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Int(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                int_line(out, b'*', items.len() as i64);
                items.iter().for_each(|i| i.encode(out, resp3));
            }
            Reply::Set(items) => {
                int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|i| i.encode(out, resp3));
            }
            Reply::Map(pairs) => {
                if resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Double(d) => {
                let s = fmt_double(*d);
                if resp3 {
                    line(out, b',', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
        }
    }
}

fn line(out: &mut Vec<u8>, tag: u8, text: &[u8]) {
    out.push(tag);
    // A status or error line must not contain CR/LF; replace them like Redis does.
    out.extend(
        text.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
}

fn int_line(out: &mut Vec<u8>, tag: u8, n: i64) {
    out.push(tag);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    int_line(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Formats a double the way Redis 7.0 replies with scores: C's `%.17g`
/// (`inf` / `-inf` for infinities).
pub(crate) fn fmt_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // %.17g: 17 significant digits, exponent form when exp < -4 or exp >= 17.
    let sci = format!("{:.16e}", d);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    strip_zeros(&format!("{:.*}", decimals, d)).to_string()
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, resp3: bool) -> String {
        let mut v = Vec::new();
        r.encode(&mut v, resp3);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn doubles_match_redis_printf() {
        assert_eq!(fmt_double(1.1), "1.1000000000000001");
        assert_eq!(fmt_double(1.0), "1");
        assert_eq!(fmt_double(-2.5), "-2.5");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(0.0001), "0.0001");
        assert_eq!(fmt_double(0.00001), "1.0000000000000001e-05");
        assert_eq!(fmt_double(f64::INFINITY), "inf");
        assert_eq!(fmt_double(123456789.0), "123456789");
    }

    #[test]
    fn resp2_and_resp3_shapes() {
        let m = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, true), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, true), "_\r\n");
        assert_eq!(enc(&Reply::Double(2.0), false), "$1\r\n2\r\n");
        assert_eq!(enc(&Reply::Double(2.0), true), ",2\r\n");
    }
}
