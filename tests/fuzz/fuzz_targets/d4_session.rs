//! The ingest server's sans-I/O sensor session, driven as `connection.rs` drives it, with
//! the store's answers and the sensor's bytes both taken from the fuzz input.
//!
//! The session is private to d4-server and needs only its rejection reasons, so the
//! files `server/ingest/src/session.rs` and `reject.rs` are compiled into this target
//! as they are.
//!
//! Input layout:
//! - byte 0: what the store answers: bit 0 registration mode, 1 uuid registered,
//!   2 IP blacklisted, 3 uuid blacklisted, 4 uuid temporarily blacklisted, 5 session
//!   flagged `IncorrectType`, 6 the identity claim is lost, 7 type not accepted
//!   (registration mode off means shared-secret mode);
//! - byte 1: bit 7 set: a stream limit of `(byte & 15) + 1` entries; bits 4-6: entries
//!   already waiting in the stream;
//! - then packets, each `ctrl type len payload[len]`, signed with the sensor's key by
//!   this harness (libFuzzer cannot forge HMACs) unless `ctrl` says otherwise: bit 0
//!   breaks the HMAC, bit 1 uses a second uuid, bit 2 an invalid (non-v4) uuid, bit 3
//!   sends only an oversize header, bit 4 sends the bytes raw with no header at all.
//!
//! The stream is cut into reads of 1 to 70 bytes, each no larger than the session's
//! `read_limit`, as a socket read into `read_buffer` is. Beyond "no panic" it checks:
//! - the session ends: every input is read or the session rejects, within a bound of
//!   steps, and it never asks for a read while allowing none (that would hang);
//! - before the first HMAC check passes it asks for at most one packet's bytes;
//! - what it accepts is a prefix of the stream's packets, in order, unaltered, each
//!   under the uuid and type of its batch and each with a valid HMAC;
//! - it never fills the session's stream past its limit (the store counts what was
//!   written; no worker drains it meanwhile);
//! - a rejection is final: polling again gives the same rejection.
#![no_main]

use bytes::BufMut;
use d4_core::config::ServerMode;
use d4_proto::HEADER_SIZE;
use d4_proto::{compute_hmac, decode, encode_packet, DataType, Decoded, Header, Limits};
use libfuzzer_sys::fuzz_target;

#[path = "../../../server/ingest/src/reject.rs"]
#[allow(dead_code)]
#[rustfmt::skip] // formatted with its own crate
mod reject;
#[path = "../../../server/ingest/src/session.rs"]
#[allow(dead_code)]
#[rustfmt::skip] // formatted with its own crate
mod session;

use session::{Action, Checks, Reply, Session};

/// The sensor's HMAC key.
const KEY: &[u8] = b"private key to change";
/// The sensor's uuid, and a second one (both version 4).
const UUIDS: [[u8; 16]; 2] = [
    [
        0xff, 0x7b, 0xa4, 0x00, 0xe7, 0x6c, 0x40, 0x53, 0x98, 0x2d, 0xfe, 0xec, 0x42, 0xbd, 0xef,
        0x38,
    ],
    [
        0x3a, 0x1c, 0x6a, 0xd1, 0x7e, 0x2b, 0x4f, 0x10, 0x8c, 0x55, 0x01, 0x9a, 0x6e, 0x3d, 0x2f,
        0x77,
    ],
];
/// A payload limit the 1-byte lengths of the input can exceed.
const LIMITS: Limits = Limits { max_payload: 200 };
/// More steps than any input of libFuzzer's default size can need.
const MAX_STEPS: usize = 100_000;

/// The store's answers for the whole session.
struct Store {
    mode: ServerMode,
    checks: Checks,
    claim_lost: bool,
}

fuzz_target!(|data: &[u8]| {
    let [flags, limits, rest @ ..] = data else {
        return;
    };
    let store = store(*flags, *limits);
    let stream = build_stream(rest);
    let expected = stream_packets(&stream);
    let accepted = drive(&store, &stream, data);
    assert!(
        accepted.len() <= expected.len(),
        "accepted more packets than were sent"
    );
    for (i, (header, payload)) in accepted.iter().enumerate() {
        assert_eq!(
            Some(&(header.clone(), payload.clone())),
            expected.get(i),
            "accepted packet {i} is not the stream's packet {i}"
        );
        let mut raw = header.to_bytes().to_vec();
        raw.extend_from_slice(payload);
        assert_eq!(
            compute_hmac(KEY, &raw),
            header.hmac,
            "packet {i} accepted with a bad HMAC"
        );
    }
});

/// The store's answers, from the first two input bytes.
fn store(flags: u8, limits: u8) -> Store {
    let bit = |n: u8| flags & (1 << n) != 0;
    let checks = Checks {
        ip_blacklisted: bit(2),
        uuid_blacklisted: bit(3),
        registered: bit(1),
        temp_blacklisted: bit(4),
        incorrect_type: bit(5),
        type_accepted: !bit(7),
        xlen: u64::from((limits >> 4) & 7),
        hmac_key: Some(KEY.to_vec()),
        max_entries: (limits & 0x80 != 0).then_some(u64::from(limits & 15) + 1),
        ..Checks::default()
    };
    Store {
        mode: if bit(0) {
            ServerMode::Registration
        } else {
            ServerMode::SharedSecret
        },
        checks,
        claim_lost: bit(6),
    }
}

/// The sensor's byte stream described by the packet list of the input.
fn build_stream(mut spec: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ts = 1_700_000_000;
    while let [ctrl, ty, len, rest @ ..] = spec {
        let (payload, tail) = rest.split_at(usize::from(*len).min(rest.len()));
        spec = tail;
        ts += 1;
        let uuid = if ctrl & 4 != 0 {
            [0x11; 16]
        } else {
            UUIDS[usize::from(ctrl & 2 != 0)]
        };
        if ctrl & 16 != 0 {
            out.extend_from_slice(payload);
            continue;
        }
        if ctrl & 8 != 0 {
            let header = Header {
                version: 1,
                data_type: DataType(*ty),
                uuid,
                timestamp: ts,
                hmac: [0; 32],
                size: LIMITS.max_payload + 1 + u32::from(*len),
            };
            out.extend_from_slice(&header.to_bytes());
            continue;
        }
        let mut packet = encode_packet(1, DataType(*ty), uuid, ts, KEY, payload);
        if ctrl & 1 != 0 {
            if let Some(b) = packet.get_mut(26) {
                *b ^= 1;
            }
        }
        out.extend_from_slice(&packet);
    }
    out
}

/// The complete packets at the front of the stream, as the D4 decoder frames them.
fn stream_packets(mut stream: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut out = Vec::new();
    while let Ok(Decoded::Packet(p)) = decode(stream, &LIMITS) {
        out.push((p.header.clone(), p.payload().to_vec()));
        stream = stream.get(p.raw.len()..).unwrap_or_default();
    }
    out
}

/// Runs a session over the stream; returns the packets it accepted, in order.
fn drive(store: &Store, stream: &[u8], data: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut s = Session::new("session".into(), "192.0.2.1".into(), store.mode, LIMITS);
    let mut accepted = Vec::new();
    let mut fed = 0;
    // Entries waiting in the session's stream: what the store had, plus what was written.
    let mut xlen = store.checks.xlen;
    for step in 0..MAX_STEPS {
        if !s.is_authenticated() {
            assert!(s.read_limit() <= HEADER_SIZE + LIMITS.max_payload as usize);
            assert!(s.unauthenticated_bytes() <= LIMITS.max_payload as usize);
        }
        let reply = match s.poll() {
            Action::Read if fed == stream.len() => return accepted,
            Action::Read => {
                let want = usize::from(data.get(step % data.len()).copied().unwrap_or(0)) % 70 + 1;
                let n = want.min(s.read_limit()).min(stream.len() - fed);
                assert!(n > 0, "the session asks for a read but allows none");
                s.read_buffer().put_slice(&stream[fed..fed + n]);
                fed += n;
                continue;
            }
            Action::FetchChecks { want_key, .. } => {
                let mut checks = store.checks.clone();
                checks.xlen = xlen;
                if !want_key {
                    checks.hmac_key = None;
                    checks.max_entries = None;
                }
                Reply::Checks(checks)
            }
            Action::Claim { .. } => Reply::Claimed(!store.claim_lost),
            Action::Switch254 { .. } => Reply::Switched,
            Action::Accept(batch) => {
                assert!(!batch.packets.is_empty(), "an empty batch to write");
                for (h, payload) in &batch.packets {
                    assert_eq!((h.uuid_hex(), h.data_type), (batch.uuid.clone(), batch.ty));
                    accepted.push((h.clone(), payload.to_vec()));
                }
                xlen += batch.packets.len() as u64;
                if let Some(max) = store.checks.max_entries {
                    assert!(xlen <= max, "{xlen} entries in a stream limited to {max}");
                }
                Reply::Written
            }
            Action::Reject(r) => {
                let r = r.clone();
                assert!(
                    matches!(s.poll(), Action::Reject(again) if *again == r),
                    "a rejection is not final"
                );
                return accepted;
            }
        };
        s.reply(reply);
    }
    panic!("the session did not end within {MAX_STEPS} steps");
}
