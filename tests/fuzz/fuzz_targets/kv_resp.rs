//! d4-kv's request parser (RESP multibulk and inline commands), on arbitrary bytes taken
//! as what a client sends.
//!
//! The framing module is private to d4-kv, and depends on nothing else of it, so the
//! file `server/kv/src/protocol/frame.rs` is compiled into this target as it is rather
//! than made public for the fuzzer.
//!
//! Beyond "no panic" it checks:
//! - every parsed request, encoded again as a RESP multibulk (`encode_request`, the
//!   append-only file's record format), parses back to the same arguments and uses up
//!   exactly the encoded bytes;
//! - splitting the input into chunks, as TCP does, changes nothing: the same requests,
//!   then the same protocol error;
//! - a valid multibulk built from arbitrary arguments cut out of the input parses to
//!   those arguments.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

#[path = "../../../server/kv/src/protocol/frame.rs"]
#[rustfmt::skip] // formatted with its own crate
mod frame;

use frame::{encode_request, parse_request, FrameError, MAX_INLINE};

/// The requests parsed from a stream, and the error that closed it, if any.
type Parsed = (Vec<Vec<Bytes>>, Option<FrameError>);

fuzz_target!(|data: &[u8]| {
    let whole = parse_stream(&[data]);
    for args in &whole.0 {
        check_reencode(args);
    }
    // Past MAX_INLINE bytes without a line end, Redis (and d4-kv) refuse what a whole
    // buffer would still accept, so chunking matters only above that size.
    if data.len() <= MAX_INLINE {
        assert_eq!(
            whole,
            parse_stream(&split(data)),
            "chunking changed the parse"
        );
    }
    let args: Vec<Bytes> = data
        .split(|&b| b == 0xff)
        .map(Bytes::copy_from_slice)
        .collect();
    check_reencode(&args);
});

/// Feeds the chunks into a read buffer the way a connection does: after each chunk,
/// parse requests until one is incomplete; a protocol error ends the stream.
fn parse_stream(chunks: &[&[u8]]) -> Parsed {
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parse_request(&mut buf) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

/// Cuts `data` into chunks whose lengths (1 to 40 bytes) come from the data itself.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let len = usize::from(data.get(i % data.len()).copied().unwrap_or(0)) % 40 + 1;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
        i += 1;
    }
    chunks
}

/// `args` encoded as a multibulk parse back to `args`, consuming the whole encoding.
fn check_reencode(args: &[Bytes]) {
    let mut out = Vec::new();
    encode_request(&mut out, args);
    let mut buf = BytesMut::from(out.as_slice());
    let parsed = parse_request(&mut buf);
    assert_eq!(parsed, Ok(Some(args.to_vec())), "encoding {out:?}");
    assert!(
        buf.is_empty(),
        "{} bytes left after a whole request",
        buf.len()
    );
}
