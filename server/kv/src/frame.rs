//! Request framing: RESP multibulk requests (`*N\r\n$len\r\narg\r\n...`) and inline
//! commands (`SET a b\r\n`, what `telnet` and old `redis-cli` send), with Redis's limits.
//!
//! [`parse_request`] looks at the read buffer and returns `Ok(None)` while a request is
//! incomplete ("read more" is not an error). A complete request is split off the buffer
//! and its arguments are zero-copy slices of it. Protocol errors carry Redis's own text;
//! the connection replies with it and closes, as Redis does.

use bytes::{Bytes, BytesMut};

/// Largest accepted number of arguments in one multibulk request (Redis: 1024*1024).
pub const MAX_MULTIBULK: i64 = 1024 * 1024;
/// Largest accepted bulk argument (Redis `proto-max-bulk-len`: 512 MB).
pub const MAX_BULK: i64 = 512 * 1024 * 1024;
/// Largest inline request line (Redis `PROTO_INLINE_MAX_SIZE`: 64 KB).
pub const MAX_INLINE: usize = 64 * 1024;

/// A protocol violation; the connection answers with the text and closes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
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
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf)
    } else {
        parse_inline(buf)
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        let p = memchr_nl(&buf[i..])? + i;
        if p > 0 && buf[p - 1] == b'\r' {
            return Some(p - 1);
        }
        i = p + 1;
    }
    None
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn parse_int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn parse_multibulk(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    let Some(end) = find_crlf(buf, 0) else {
        return if buf.len() > MAX_INLINE {
            Err(FrameError::MbulkTooBig)
        } else {
            Ok(None)
        };
    };
    let n = parse_int(&buf[1..end]).ok_or(FrameError::MultibulkLength)?;
    if n > MAX_MULTIBULK {
        return Err(FrameError::MultibulkLength);
    }
    let mut pos = end + 2;
    if n <= 0 {
        let _ = buf.split_to(pos);
        return Ok(Some(Vec::new()));
    }
    let mut spans = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(FrameError::ExpectedDollar(buf[pos] as char));
        }
        let Some(hend) = find_crlf(buf, pos) else {
            return if buf.len() - pos > MAX_INLINE {
                Err(FrameError::BulkTooBig)
            } else {
                Ok(None)
            };
        };
        let len = parse_int(&buf[pos + 1..hend]).ok_or(FrameError::BulkLength)?;
        if !(0..=MAX_BULK).contains(&len) {
            return Err(FrameError::BulkLength);
        }
        let start = hend + 2;
        let stop = start + len as usize;
        if buf.len() < stop + 2 {
            // Make room for the whole argument at once instead of growing in small steps.
            buf.reserve(stop + 2 - buf.len());
            return Ok(None);
        }
        spans.push((start, stop));
        pos = stop + 2;
    }
    let frame = buf.split_to(pos).freeze();
    Ok(Some(
        spans.into_iter().map(|(a, b)| frame.slice(a..b)).collect(),
    ))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    let Some(nl) = memchr_nl(buf) else {
        return if buf.len() > MAX_INLINE {
            Err(FrameError::InlineTooBig)
        } else {
            Ok(None)
        };
    };
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    split_args(text).map(Some)
}

/// Splits an inline command line into arguments, honouring `"..."` (with `\n`, `\xHH`
/// escapes) and `'...'` quoting like Redis's `sdssplitargs`.
pub fn split_args(line: &[u8]) -> Result<Vec<Bytes>, FrameError> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Ok(args);
        }
        let mut cur = Vec::new();
        match line[i] {
            b'"' => i = double_quoted(line, i + 1, &mut cur)?,
            b'\'' => i = single_quoted(line, i + 1, &mut cur)?,
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    cur.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(Bytes::from(cur));
    }
}

fn closing_ok(line: &[u8], i: usize) -> Result<usize, FrameError> {
    // The closing quote must be followed by a space or the end of the line.
    if i < line.len() && !line[i].is_ascii_whitespace() {
        return Err(FrameError::Quotes);
    }
    Ok(i)
}

fn double_quoted(line: &[u8], mut i: usize, cur: &mut Vec<u8>) -> Result<usize, FrameError> {
    while i < line.len() {
        match line[i] {
            b'\\' if i + 3 < line.len() && line[i + 1] == b'x' => {
                let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        cur.push(b);
                        i += 4;
                    }
                    None => {
                        cur.push(b'x');
                        i += 2;
                    }
                }
            }
            b'\\' if i + 1 < line.len() => {
                cur.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    c => c,
                });
                i += 2;
            }
            b'"' => return closing_ok(line, i + 1),
            c => {
                cur.push(c);
                i += 1;
            }
        }
    }
    Err(FrameError::Quotes)
}

fn single_quoted(line: &[u8], mut i: usize, cur: &mut Vec<u8>) -> Result<usize, FrameError> {
    while i < line.len() {
        match line[i] {
            b'\\' if i + 1 < line.len() && line[i + 1] == b'\'' => {
                cur.push(b'\'');
                i += 2;
            }
            b'\'' => return closing_ok(line, i + 1),
            c => {
                cur.push(c);
                i += 1;
            }
        }
    }
    Err(FrameError::Quotes)
}

#[cfg(test)]
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
}
