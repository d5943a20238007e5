//! Argument parsing with Redis's exact error texts: integers, floats, score and lex
//! range bounds, and case-insensitive option names.
//!
//! Arguments come from the network, so this module denies indexing, `unwrap` and
//! `expect`: a bad argument can only produce an error reply.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Bytes;

use super::reply::Reply;

/// `ERR value is not an integer or out of range`
pub(crate) fn not_int() -> Reply {
    Reply::err("value is not an integer or out of range")
}
/// `ERR value is not a valid float`
pub(crate) fn not_float() -> Reply {
    Reply::err("value is not a valid float")
}
/// `ERR syntax error`
pub(crate) fn syntax() -> Reply {
    Reply::err("syntax error")
}
/// `WRONGTYPE ...`
pub(crate) fn wrongtype() -> Reply {
    Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
}
/// `ERR wrong number of arguments for '<cmd>' command`
pub(crate) fn arity(cmd: &str) -> Reply {
    Reply::err(format!(
        "wrong number of arguments for '{}' command",
        cmd.to_ascii_lowercase()
    ))
}

/// `ERR unknown subcommand 'x'. Try FOO HELP.`
pub(crate) fn unknown_subcommand(cmd: &str, sub: &[u8]) -> Reply {
    let sub = String::from_utf8_lossy(sub);
    let sub: String = sub.chars().take(128).collect();
    Reply::err(format!(
        "unknown subcommand '{sub}'. Try {} HELP.",
        cmd.to_ascii_uppercase()
    ))
}

/// Parses a strict decimal i64 like Redis's `string2ll` (no sign `+`, no spaces, no
/// leading zeros).
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, b),
    };
    if matches!(digits.first(), None | Some(b'0')) {
        return None;
    }
    // Accumulate towards the sign so that i64::MIN parses without overflow.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// [`parse_i64`] or the "not an integer" error.
pub(crate) fn int(b: &[u8]) -> Result<i64, Reply> {
    parse_i64(b).ok_or_else(not_int)
}

/// Parses a float like `strtold` as Redis uses it: no surrounding spaces, no NaN.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty()
        || s.starts_with(|c: char| c.is_ascii_whitespace())
        || s.ends_with(|c: char| c.is_ascii_whitespace())
    {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v: f64 = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ if lower.contains("inf") || lower.contains("nan") => return None,
        _ if lower.starts_with("0x") || lower.starts_with("-0x") || lower.starts_with("+0x") => {
            return parse_hex_float(&lower)
        }
        _ => s.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.trim_start_matches('+')),
    };
    let v = i64::from_str_radix(digits.trim_start_matches("0x"), 16).ok()? as f64;
    Some(if neg { -v } else { v })
}

/// [`parse_f64`] or the "not a valid float" error.
pub(crate) fn float(b: &[u8]) -> Result<f64, Reply> {
    parse_f64(b).ok_or_else(not_float)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub(crate) fn is(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// A score bound of `ZRANGEBYSCORE` and friends: `1.5`, `(1.5`, `-inf`, `+inf`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScoreBound {
    /// The value.
    pub v: f64,
    /// True for `(`.
    pub excl: bool,
}

impl ScoreBound {
    /// Parses a bound; `None` → caller replies "min or max is not a float".
    pub(crate) fn parse(b: &[u8]) -> Option<ScoreBound> {
        match b.strip_prefix(b"(") {
            Some(rest) => Some(ScoreBound {
                v: parse_f64(rest)?,
                excl: true,
            }),
            None => Some(ScoreBound {
                v: parse_f64(b)?,
                excl: false,
            }),
        }
    }
    /// True if `s` is above this lower bound.
    pub(crate) fn above_min(&self, s: f64) -> bool {
        if self.excl {
            s > self.v
        } else {
            s >= self.v
        }
    }
    /// True if `s` is below this upper bound.
    pub(crate) fn below_max(&self, s: f64) -> bool {
        if self.excl {
            s < self.v
        } else {
            s <= self.v
        }
    }
}

/// A lex bound of `ZRANGEBYLEX`: `[a`, `(a`, `-`, `+`.
#[derive(Debug, Clone)]
pub(crate) enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[x` (true) or `(x` (false).
    Val(Bytes, bool),
}

impl LexBound {
    /// Parses a bound; `None` → "min or max not valid string range item".
    pub(crate) fn parse(b: &Bytes) -> Option<LexBound> {
        match b.first()? {
            b'-' if b.len() == 1 => Some(LexBound::Min),
            b'+' if b.len() == 1 => Some(LexBound::Max),
            b'[' => Some(LexBound::Val(b.slice(1..), true)),
            b'(' => Some(LexBound::Val(b.slice(1..), false)),
            _ => None,
        }
    }
    /// True if `m` satisfies this bound used as a minimum.
    pub(crate) fn above_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Val(v, incl) => m > v.as_ref() || (*incl && m == v.as_ref()),
        }
    }
    /// True if `m` satisfies this bound used as a maximum.
    pub(crate) fn below_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Val(v, incl) => m < v.as_ref() || (*incl && m == v.as_ref()),
        }
    }
}

/// Resolves Redis-style (possibly negative) start/stop indexes over `len` items into a
/// half-open range, or `None` when empty.
pub(crate) fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if stop < 0 { len + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize + 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"12"), Some(12));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"0"), Some(0));
        for bad in [
            &b"012"[..],
            b"+1",
            b" 1",
            b"-0",
            b"",
            b"1.0",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
    }

    #[test]
    fn ranges() {
        assert_eq!(index_range(0, -1, 3), Some((0, 3)));
        assert_eq!(index_range(-100, 100, 3), Some((0, 3)));
        assert_eq!(index_range(2, 1, 3), None);
        assert_eq!(index_range(5, 10, 3), None);
        assert_eq!(index_range(0, -1, 0), None);
    }
}
