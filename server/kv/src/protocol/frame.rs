//! Request framing: RESP multibulk requests (`*N\r\n$len\r\narg\r\n...`) and inline
//! commands (`SET a b\r\n`, what `telnet` and old `redis-cli` send), with Redis's limits.
//!
//! [`parse_request`] looks at the read buffer and returns `Ok(None)` while a request is
//! incomplete ("read more" is not an error). A complete request is split off the buffer
//! and its arguments are zero-copy slices of it. Protocol errors carry Redis's own text;
//! the connection replies with it and closes, as Redis does.
//!
//! Every length and offset comes from the network, so this module denies indexing,
//! `unwrap` and `expect`: a malformed request can only produce a [`FrameError`].

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};

/// Largest accepted number of arguments in one multibulk request (Redis: 1024*1024).
pub(crate) const MAX_MULTIBULK: i64 = 1024 * 1024;
/// Largest accepted bulk argument (Redis `proto-max-bulk-len`: 512 MB).
pub(crate) const MAX_BULK: i64 = 512 * 1024 * 1024;
/// Most bytes reserved ahead of what a client has sent for an incomplete argument.
const RESERVE_STEP: usize = 1024 * 1024;
/// Largest inline request line (Redis `PROTO_INLINE_MAX_SIZE`: 64 KB).
pub(crate) const MAX_INLINE: usize = 64 * 1024;

/// A protocol violation; the connection answers with the text and closes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Bad `*N` header.
    #[error("ERR Protocol error: invalid multibulk length")]
    MultibulkLength,
    /// Bad `$len` header.
    #[error("ERR Protocol error: invalid bulk length")]
    BulkLength,
    /// Something other than `$` where a bulk string header was expected.
    #[error("ERR Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    /// Inline line longer than [`MAX_INLINE`].
    #[error("ERR Protocol error: too big inline request")]
    InlineTooBig,
    /// Multibulk header line longer than allowed.
    #[error("ERR Protocol error: too big mbulk count string")]
    MbulkTooBig,
    /// Bulk header line longer than allowed.
    #[error("ERR Protocol error: too big bulk count string")]
    BulkTooBig,
    /// Unbalanced quotes in an inline request.
    #[error("ERR Protocol error: unbalanced quotes in request")]
    Quotes,
}

/// Parses one request from the front of `buf`. `Ok(Some(args))` consumes it (args may be
/// empty for blank lines and `*0`, which callers skip); `Ok(None)` means "need more bytes".
pub(crate) fn parse_request(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf),
        Some(_) => parse_inline(buf),
    }
}

/// Index of the `\r` of the first CRLF at or after `from` (a lone `\n` is skipped).
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let p = i + memchr::memchr(b'\n', buf.get(i..)?)?;
        if p > 0 && buf.get(p - 1) == Some(&b'\r') {
            return Some(p - 1);
        }
        i = p + 1;
    }
}

/// The signed decimal of a `*N` / `$N` header (what `strtoll` accepts there).
fn parse_int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Argument slots reserved up front: a header may announce up to [`MAX_MULTIBULK`]
/// arguments before any of them arrived, so larger requests grow as they come.
const PREALLOC_ARGS: usize = 1024;

/// Arguments whose positions are kept on the stack while a request is checked for
/// completeness; only longer requests allocate a list of positions.
const INLINE_SPANS: usize = 8;

/// Positions `(start, end)` of a request's arguments in the read buffer, found while
/// checking that the whole request has arrived: the common short request needs no
/// allocation besides its argument list.
struct Spans {
    inline: [(usize, usize); INLINE_SPANS],
    len: usize,
    more: Vec<(usize, usize)>,
}

impl Spans {
    /// No positions yet.
    fn new() -> Spans {
        Spans {
            inline: [(0, 0); INLINE_SPANS],
            len: 0,
            more: Vec::new(),
        }
    }
    /// Adds the next argument's position; `announced` (the header's count, already bounded
    /// by [`MAX_MULTIBULK`]) sizes the list of a long request once, up to [`PREALLOC_ARGS`].
    fn push(&mut self, span: (usize, usize), announced: usize) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = span,
            None => {
                if self.more.is_empty() {
                    self.more.reserve(announced.min(PREALLOC_ARGS));
                }
                self.more.push(span);
            }
        }
        self.len += 1;
    }
    /// The positions in request order.
    fn iter(&self) -> impl Iterator<Item = &(usize, usize)> {
        self.inline.iter().take(self.len).chain(self.more.iter())
    }
}

fn parse_multibulk(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    let Some(end) = find_crlf(buf, 0) else {
        return if buf.len() > MAX_INLINE {
            Err(FrameError::MbulkTooBig)
        } else {
            Ok(None)
        };
    };
    let n = buf
        .get(1..end)
        .and_then(parse_int)
        .ok_or(FrameError::MultibulkLength)?;
    if n > MAX_MULTIBULK {
        return Err(FrameError::MultibulkLength);
    }
    let mut pos = end + 2;
    if n <= 0 {
        let _ = buf.split_to(pos);
        return Ok(Some(Vec::new()));
    }
    let n = n as usize;
    let mut spans = Spans::new();
    for _ in 0..n {
        let Some(&tag) = buf.get(pos) else {
            return Ok(None);
        };
        if tag != b'$' {
            return Err(FrameError::ExpectedDollar(tag as char));
        }
        let Some(hend) = find_crlf(buf, pos) else {
            return if buf.len() - pos > MAX_INLINE {
                Err(FrameError::BulkTooBig)
            } else {
                Ok(None)
            };
        };
        let len = buf
            .get(pos + 1..hend)
            .and_then(parse_int)
            .ok_or(FrameError::BulkLength)?;
        if !(0..=MAX_BULK).contains(&len) {
            return Err(FrameError::BulkLength);
        }
        let start = hend + 2;
        let stop = start + len as usize;
        if buf.len() < stop + 2 {
            // Make room for the argument in large steps instead of small ones, but never
            // more than [`RESERVE_STEP`] ahead of the bytes received: a header alone
            // announcing 512 MB must not make an unauthenticated client cost 512 MB.
            buf.reserve((stop + 2 - buf.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        spans.push((start, stop), n);
        pos = stop + 2;
    }
    let frame = buf.split_to(pos).freeze();
    let mut args = Vec::with_capacity(n);
    args.extend(spans.iter().map(|&(a, b)| frame.slice(a..b)));
    Ok(Some(args))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > MAX_INLINE {
            Err(FrameError::InlineTooBig)
        } else {
            Ok(None)
        };
    };
    let line = buf.split_to(nl + 1);
    let text = line.strip_suffix(b"\n").unwrap_or(&line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    split_args(text).map(Some)
}

/// Splits an inline command line into arguments, honouring `"..."` (with `\n`, `\xHH`
/// escapes) and `'...'` quoting like Redis's `sdssplitargs`.
pub(crate) fn split_args(line: &[u8]) -> Result<Vec<Bytes>, FrameError> {
    let mut args = Vec::new();
    let mut rest = line;
    loop {
        rest = trim_start(rest);
        let mut cur = Vec::new();
        rest = match rest {
            [] => return Ok(args),
            [b'"', tail @ ..] => double_quoted(tail, &mut cur)?,
            [b'\'', tail @ ..] => single_quoted(tail, &mut cur)?,
            _ => {
                let end = rest
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .unwrap_or(rest.len());
                let (word, tail) = rest.split_at(end);
                cur.extend_from_slice(word);
                tail
            }
        };
        args.push(Bytes::from(cur));
    }
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [c, tail @ ..] = s {
        if !c.is_ascii_whitespace() {
            break;
        }
        s = tail;
    }
    s
}

/// What follows a closing quote: it must be a space or the end of the line.
fn closing_ok(tail: &[u8]) -> Result<&[u8], FrameError> {
    match tail.first() {
        Some(c) if !c.is_ascii_whitespace() => Err(FrameError::Quotes),
        _ => Ok(tail),
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Reads a `"..."` argument (opening quote already consumed) into `cur`; returns the rest.
fn double_quoted<'a>(mut s: &'a [u8], cur: &mut Vec<u8>) -> Result<&'a [u8], FrameError> {
    loop {
        s = match s {
            [b'\\', b'x', h, l, tail @ ..] => match (hex_digit(*h), hex_digit(*l)) {
                (Some(h), Some(l)) => {
                    cur.push(h * 16 + l);
                    tail
                }
                _ => {
                    cur.push(b'x');
                    s.get(2..).unwrap_or_default()
                }
            },
            [b'\\', c, tail @ ..] => {
                cur.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    c => *c,
                });
                tail
            }
            [b'"', tail @ ..] => return closing_ok(tail),
            [c, tail @ ..] => {
                cur.push(*c);
                tail
            }
            [] => return Err(FrameError::Quotes),
        };
    }
}

/// Reads a `'...'` argument (opening quote already consumed) into `cur`; returns the rest.
fn single_quoted<'a>(mut s: &'a [u8], cur: &mut Vec<u8>) -> Result<&'a [u8], FrameError> {
    loop {
        s = match s {
            [b'\\', b'\'', tail @ ..] => {
                cur.push(b'\'');
                tail
            }
            [b'\'', tail @ ..] => return closing_ok(tail),
            [c, tail @ ..] => {
                cur.push(*c);
                tail
            }
            [] => return Err(FrameError::Quotes),
        };
    }
}

/// Appends a request as a RESP multibulk (what a client sends; the append-only file's
/// record format).
pub(crate) fn encode_request(out: &mut Vec<u8>, args: &[Bytes]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Option<Vec<Bytes>>, FrameError> {
        parse_request(&mut BytesMut::from(s))
    }

    #[test]
    fn multibulk_complete_and_partial() {
        let r = parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap().unwrap();
        assert_eq!(r, vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(parse(b"*2\r\n$3\r\nGET\r\n$1\r\n").unwrap(), None);
        assert_eq!(parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r").unwrap(), None);
        assert_eq!(parse(b"*2\r\n$3").unwrap(), None);
    }

    #[test]
    fn multibulk_errors() {
        assert_eq!(parse(b"*x\r\n"), Err(FrameError::MultibulkLength));
        assert_eq!(parse(b"*1\r\n+a\r\n"), Err(FrameError::ExpectedDollar('+')));
        assert_eq!(parse(b"*1\r\n$-5\r\n"), Err(FrameError::BulkLength));
        assert_eq!(parse(b"*99999999\r\n"), Err(FrameError::MultibulkLength));
    }

    #[test]
    fn inline_quotes() {
        let r = parse(b"SET \"a b\" 'c d' \"\\x41\\n\"\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            vec![
                Bytes::from("SET"),
                Bytes::from("a b"),
                Bytes::from("c d"),
                Bytes::from("A\n")
            ]
        );
        assert_eq!(parse(b"SET \"a\r\n"), Err(FrameError::Quotes));
        assert_eq!(parse(b"\r\n").unwrap().unwrap(), Vec::<Bytes>::new());
        assert_eq!(parse(b"PING").unwrap(), None);
    }

    #[test]
    fn two_requests_in_one_buffer() {
        let mut b = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPING\r\n"[..]);
        assert_eq!(parse_request(&mut b).unwrap().unwrap().len(), 1);
        assert_eq!(parse_request(&mut b).unwrap().unwrap().len(), 1);
        assert!(b.is_empty());
    }

    #[test]
    fn a_huge_announced_bulk_reserves_only_a_step_ahead() {
        let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\nabc"[..]);
        assert_eq!(parse_request(&mut buf), Ok(None));
        assert!(buf.capacity() <= 2 * RESERVE_STEP, "{}", buf.capacity());
    }
}
