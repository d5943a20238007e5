//! The sensor's capture engine (`d4_sensor::capture::Engine::frame`): captured frames
//! in, passivedns lines out, on arbitrary bytes.
//!
//! Input layout (so that seeds are plain packets):
//! - byte 0 with bit 0x80 clear: raw frames. The low bits choose the pcap link type,
//!   the rest is a list of frames, each a 2-byte big-endian length and its bytes.
//! - byte 0 with bit 0x80 set: the rest is one DNS message, sent inside valid Ethernet
//!   frames first as a query (QR bit cleared) from the client, then as a response (QR
//!   set) from the server, so that fuzzed messages get past the query/response match.
//!   Bit 0x40 selects IPv6, bit 0x20 TCP (with its 2-byte length prefix).
//!
//! Beyond "no panic" it checks every line the engine emits: written in passivedns's
//! default format it is one line (no CR, LF or NUL inside) of at least the 9 default
//! fields, its query name is not empty, and its JSON form (`-j`) is a JSON object.
#![no_main]

use std::sync::Arc;

use d4_sensor::capture::dns::TypeFilter;
use d4_sensor::capture::line::{LineFormat, PdnsLine, Ts};
use d4_sensor::capture::slice::linktype;
use d4_sensor::capture::{Engine, EngineOptions, LineSink};
use d4_sensor::stats::Stats;
use etherparse::PacketBuilder;
use libfuzzer_sys::fuzz_target;

/// Link types the raw mode chooses from (every special case of `slice_frame`, and one
/// unknown value, parsed as Ethernet).
const LINK_TYPES: [i32; 11] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_OLD,
    linktype::RAW_BSD,
    linktype::RAW,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::IPV4,
    linktype::IPV6,
    147,
];

/// Every answer type and rcode passivedns can log (`-X` with all its letters).
const ALL_TYPES: &str = "46CDNPRSTFOMnLdHIfsxoryetaz";

/// Addresses of the DNS mode's client and server (documentation ranges).
const V4_CLIENT: [u8; 4] = [192, 0, 2, 1];
const V4_SERVER: [u8; 4] = [192, 0, 2, 53];
const V6_CLIENT: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_SERVER: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x35,
];

/// Checks each line as it is emitted.
struct CheckingSink {
    format: LineFormat,
}

impl LineSink for CheckingSink {
    fn line(&mut self, line: &PdnsLine, _error: bool) -> std::io::Result<()> {
        check_line(&self.format, line);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let opts = EngineOptions {
        filter: TypeFilter::parse(ALL_TYPES).0,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&opts, Arc::new(Stats::default()));
    let mut sink = CheckingSink {
        format: LineFormat::default(),
    };
    if mode & 0x80 == 0 {
        let lt = LINK_TYPES[usize::from(mode) % LINK_TYPES.len()];
        for (i, frame) in frames(rest).into_iter().enumerate() {
            let ts = Ts {
                sec: 1_700_000_000 + i as u64,
                usec: 0,
            };
            let _ = engine.frame(lt, ts, frame, &mut sink);
        }
    } else {
        let (query, response) = query_and_response(rest);
        for (usec, (frame, from_server)) in [(query, false), (response, true)].iter().enumerate() {
            let frame = dns_frame(mode, frame, *from_server);
            let ts = Ts {
                sec: 1_700_000_000,
                usec: usec as u32,
            };
            let _ = engine.frame(linktype::ETHERNET, ts, &frame, &mut sink);
        }
    }
    let _ = engine.finish(&mut sink);
});

/// Splits `data` into frames, each announced by a 2-byte big-endian length (the last
/// one may be short).
fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (frame, tail) = rest.split_at(len);
        out.push(frame);
        data = tail;
    }
    out
}

/// The message with its QR bit cleared (a query) and set (its response, same id).
fn query_and_response(msg: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut query = msg.to_vec();
    let mut response = msg.to_vec();
    if let Some(b) = query.get_mut(2) {
        *b &= 0x7f;
    }
    if let Some(b) = response.get_mut(2) {
        *b |= 0x80;
    }
    (query, response)
}

/// One Ethernet frame carrying `msg` between a client and a server on port 53.
fn dns_frame(mode: u8, msg: &[u8], from_server: bool) -> Vec<u8> {
    let (client, server) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (smac, dmac, sport, dport) = if from_server {
        (server, client, 53, 40000)
    } else {
        (client, server, 40000, 53)
    };
    let builder = PacketBuilder::ethernet2(smac, dmac);
    let builder = match (mode & 0x40 != 0, from_server) {
        (false, false) => builder.ipv4(V4_CLIENT, V4_SERVER, 64),
        (false, true) => builder.ipv4(V4_SERVER, V4_CLIENT, 64),
        (true, false) => builder.ipv6(V6_CLIENT, V6_SERVER, 64),
        (true, true) => builder.ipv6(V6_SERVER, V6_CLIENT, 64),
    };
    let mut out = Vec::new();
    let written = if mode & 0x20 != 0 {
        let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
        let mut payload = len.to_be_bytes().to_vec();
        payload.extend_from_slice(msg);
        builder
            .tcp(sport, dport, 1000, 65535)
            .psh()
            .ack(1)
            .write(&mut out, &payload)
    } else {
        builder.udp(sport, dport).write(&mut out, msg)
    };
    // A message too large for one IP packet stays unsent: an empty frame.
    if written.is_err() {
        out.clear();
    }
    out
}

/// One emitted line, checked in its text and JSON forms.
fn check_line(format: &LineFormat, line: &PdnsLine) {
    assert!(!line.query.is_empty(), "empty query name in {line:?}");
    let mut text = String::new();
    format.write(line, &mut text);
    let body = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no newline: {text:?}"));
    assert!(
        !body.contains(['\n', '\r', '\0']),
        "control character inside the line {text:?}"
    );
    assert!(body.split("||").count() >= 9, "fields missing in {text:?}");
    let mut json = String::new();
    format.write_json(line, &mut json);
    let value: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("line JSON {json:?} does not parse: {e}"));
    assert!(value.is_object(), "line JSON is not an object: {json:?}");
}
