//! The D4 header codec and stream decoder of `d4-proto`, on arbitrary bytes taken as a
//! sensor's byte stream.
//!
//! Beyond "no panic" it checks:
//! - the 62-byte header round trip: `Header::parse(b).to_bytes() == b`;
//! - what `decode` says agrees with the bytes (a packet is exactly header + `size`
//!   bytes, "need payload" only below that, "oversize" only above the limit);
//! - splitting the stream into chunks, as TCP and TLS records do, changes nothing: the
//!   packets, the error and the bytes used are those of decoding it whole;
//! - every decoded packet re-encoded with `encode_packet` decodes to the same header
//!   and payload, its HMAC verifies under its key and not under another, and the HMAC
//!   ignores the received hmac field (it is computed over zeros there).
#![no_main]

use d4_proto::{
    compute_hmac, decode, encode_packet, Decoded, Header, Limits, ProtoError, HEADER_SIZE,
};
use libfuzzer_sys::fuzz_target;

/// A payload limit small enough for the fuzzer to reach both sides of the size check.
const LIMITS: Limits = Limits { max_payload: 600 };

/// What decoding a whole stream produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Each complete packet: header and payload.
    packets: Vec<(Header, Vec<u8>)>,
    /// The error that ended the stream, if any.
    error: Option<ProtoError>,
    /// Bytes taken off the stream as complete packets.
    consumed: usize,
}

fuzz_target!(|data: &[u8]| {
    check_header_round_trip(data);
    let whole = decode_stream(&[data]);
    let chunks = split(data);
    assert_eq!(
        whole,
        decode_stream(&chunks),
        "chunking changed the decoding"
    );
    for (header, payload) in &whole.packets {
        check_encode_round_trip(header, payload);
    }
});

/// The first 62 bytes parse to a header that encodes back to the same bytes.
fn check_header_round_trip(data: &[u8]) {
    match (Header::parse(data), data.get(..HEADER_SIZE)) {
        (Some(h), Some(raw)) => assert_eq!(h.to_bytes().as_slice(), raw),
        (None, None) => {}
        (h, _) => panic!("Header::parse gave {h:?} for {} bytes", data.len()),
    }
}

/// Cuts `data` into chunks whose lengths (1 to 70 bytes) come from the data itself, so
/// that cuts fall inside headers as well as between packets.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let len = usize::from(data.get(i % data.len()).copied().unwrap_or(0)) % 70 + 1;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
        i += 1;
    }
    chunks
}

/// Feeds the chunks into a receive buffer the way the ingest session does: after each
/// chunk, take every complete packet off the front; stop for good on an error.
fn decode_stream(chunks: &[&[u8]]) -> Outcome {
    let mut buf = Vec::new();
    let mut packets = Vec::new();
    let mut consumed = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decode(&buf, &LIMITS) {
                Ok(Decoded::Packet(p)) => {
                    check_packet(&p.header, p.raw);
                    packets.push((p.header.clone(), p.payload().to_vec()));
                    let used = p.raw.len();
                    buf.drain(..used);
                    consumed += used;
                }
                Ok(Decoded::NeedPayload(h)) => {
                    assert!(buf.len() < h.packet_len() && h.size <= LIMITS.max_payload);
                    break;
                }
                Ok(Decoded::NeedHeader) => {
                    assert!(buf.len() < HEADER_SIZE);
                    break;
                }
                Err(e) => {
                    assert!(
                        matches!(e, ProtoError::Oversize { size, max } if size > max),
                        "unexpected error {e:?}"
                    );
                    return Outcome {
                        packets,
                        error: Some(e),
                        consumed,
                    };
                }
            }
        }
    }
    Outcome {
        packets,
        error: None,
        consumed,
    }
}

/// A complete packet is its header's bytes followed by exactly `size` payload bytes.
fn check_packet(header: &Header, raw: &[u8]) {
    assert_eq!(raw.len(), header.packet_len());
    assert!(header.size <= LIMITS.max_payload);
    assert_eq!(Header::parse(raw).as_ref(), Some(header));
}

/// Re-encodes a received packet, signed with a key derived from it, and decodes it again.
fn check_encode_round_trip(header: &Header, payload: &[u8]) {
    let key = header.uuid;
    let encoded = encode_packet(
        header.version,
        header.data_type,
        header.uuid,
        header.timestamp,
        &key,
        payload,
    );
    let Ok(Decoded::Packet(p)) = decode(&encoded, &Limits::default()) else {
        panic!("an encoded packet does not decode");
    };
    assert_eq!(p.raw, encoded.as_slice());
    assert_eq!(p.payload(), payload);
    let expected = Header {
        hmac: p.header.hmac,
        ..header.clone()
    };
    assert_eq!(p.header, expected);
    assert!(p.verify_hmac(&key).is_ok(), "own HMAC does not verify");
    // A longer key differs even after HMAC's zero padding of short keys.
    let mut other = key.to_vec();
    other.push(1);
    assert!(
        p.verify_hmac(&other).is_err(),
        "HMAC verifies under another key"
    );
    // The received packet has the same bytes but for the hmac field: the HMAC over it
    // (hmac field taken as zeros) must be the one `encode_packet` wrote.
    let mut received = header.to_bytes().to_vec();
    received.extend_from_slice(payload);
    assert_eq!(compute_hmac(&key, &received), p.header.hmac);
}
