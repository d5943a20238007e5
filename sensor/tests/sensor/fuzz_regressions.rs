//! Inputs that the fuzz targets of `tests/fuzz/` (issue 12) found crashing the capture
//! engine, each replayed through the library in process, where a debug build checks
//! integer overflow.

use std::sync::Arc;

use d4_sensor::capture::dns::TypeFilter;
use d4_sensor::capture::line::{PdnsLine, Ts};
use d4_sensor::capture::{Engine, EngineOptions, LineSink};
use d4_sensor::stats::Stats;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{RData, RecordType};

use crate::capture::v4;
use crate::pcapgen::{query, response, rr, udp, Link};

/// Collects the answers of the emitted lines.
struct Answers(Vec<String>);

impl LineSink for Answers {
    fn line(&mut self, line: &PdnsLine, _error: bool) -> std::io::Result<()> {
        self.0.push(line.answer.clone());
        Ok(())
    }
}

/// Issue 12, target `capture`: an NSEC type bitmap whose window 255 is longer than the
/// 32 bytes RFC 4034 allows overflowed the 16-bit type number (a panic where overflow
/// is checked). ldns keeps the number in a `uint16_t`, so bit 1 of byte 32 of window
/// 255 (65280 + 257) wraps around to type 1, and passivedns prints `A`.
#[test]
fn nsec_bitmap_past_type_65535_wraps_like_ldns() {
    let mut rdata = b"\x00\xff\x21".to_vec(); // next name ".", window 255, 33 bytes
    rdata.extend_from_slice(&[0; 32]);
    rdata.push(0x40); // byte 32, bit 1
    let nsec = RData::Unknown {
        code: RecordType::Unknown(47),
        rdata: NULL::with(rdata),
    };
    let answers = capture_exchange(
        &query(7, "example.com.", RecordType::NSEC),
        &response(
            7,
            "example.com.",
            RecordType::NSEC,
            ResponseCode::NoError,
            vec![rr("example.com.", 300, nsec)],
            false,
        ),
    );
    assert_eq!(answers, [". A "]);
}

/// Runs a query and its response through a capture engine that logs the DNSSEC types
/// (`-X d`); returns the answers of the lines it printed.
fn capture_exchange(q: &[u8], r: &[u8]) -> Vec<String> {
    let opts = EngineOptions {
        filter: TypeFilter::parse("d").0,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&opts, Arc::new(Stats::default()));
    let mut sink = Answers(Vec::new());
    let (client, server) = ((v4("10.0.0.1"), 40000), (v4("192.0.2.53"), 53));
    let frames = [
        udp(Link::Ether, client, server, q),
        udp(Link::Ether, server, client, r),
    ];
    for (usec, frame) in frames.iter().enumerate() {
        let ts = Ts {
            sec: 1_700_000_000,
            usec: usec as u32,
        };
        engine.frame(1, ts, frame, &mut sink).unwrap();
    }
    engine.finish(&mut sink).unwrap();
    sink.0
}
