//! The pure session driven without any store: scripted check results, chunked input.

use super::*;
use d4_proto::encode_packet;
use proptest::prelude::*;

const KEY: &[u8] = b"private key to change";
/// A valid v4 uuid.
const U1: [u8; 16] = [
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x41, 0x11, 0x81, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
];
const U2: [u8; 16] = [
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x42, 0x22, 0x82, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
];

fn pass() -> Checks {
    Checks {
        registered: true,
        type_accepted: true,
        hmac_key: Some(KEY.to_vec()),
        max_entries: Some(DEFAULT_STREAM_MAX_SIZE),
        ..Checks::default()
    }
}

fn session(mode: ServerMode, limits: Limits) -> Session {
    Session::new("sess".into(), "192.0.2.1".into(), mode, limits)
}

fn packet(ty: u8, uuid: [u8; 16], key: &[u8], payload: &[u8]) -> Vec<u8> {
    encode_packet(1, DataType(ty), uuid, 7, key, payload)
}

/// What a scripted run saw.
#[derive(Debug, Default)]
struct Run {
    accepted: Vec<(Header, Bytes)>,
    /// The HMAC key in force when each accepted packet was accepted.
    keys: Vec<Vec<u8>>,
    rejected: Option<Rejection>,
    claims: Vec<(String, DataType)>,
    switches: usize,
    steps: usize,
}

/// Store answers of a scripted run, used in turn (cycled).
struct Script {
    checks: Vec<Checks>,
    claims: Vec<bool>,
    next_check: usize,
    next_claim: usize,
}

impl Script {
    fn passing() -> Script {
        Script {
            checks: vec![pass()],
            claims: vec![true],
            next_check: 0,
            next_claim: 0,
        }
    }

    fn checks(&mut self) -> Checks {
        let c = self.checks.get(self.next_check % self.checks.len().max(1));
        self.next_check += 1;
        c.cloned().unwrap_or_default()
    }

    fn claim(&mut self) -> bool {
        let c = self.claims.get(self.next_claim % self.claims.len().max(1));
        self.next_claim += 1;
        c.copied().unwrap_or(true)
    }
}

/// Feeds `data` in chunks of `sizes` (cycled) and answers every action from `script`.
/// Stops at the first rejection, after checking that the session stays rejected.
fn drive(s: &mut Session, data: &[u8], sizes: &[usize], script: &mut Script) -> Run {
    let mut run = Run::default();
    let mut key: Option<Vec<u8>> = None;
    let mut pos = 0;
    let mut k = 0;
    let bound = 8 * (data.len() + 8);
    while pos < data.len() {
        let n = sizes
            .get(k % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (pos + n).min(data.len());
        s.feed(&data[pos..end]);
        pos = end;
        k += 1;
        loop {
            run.steps += 1;
            assert!(run.steps < bound, "the session does not settle");
            match s.poll() {
                Action::Read => break,
                Action::FetchChecks { want_key, .. } => {
                    let c = script.checks();
                    if want_key {
                        key = c.hmac_key.clone();
                    }
                    s.reply(Reply::Checks(c));
                }
                Action::Claim { uuid, ty } => {
                    assert_ne!(ty, DataType::EXTENDED, "a session cannot start with 254");
                    run.claims.push((uuid.to_string(), ty));
                    let won = script.claim();
                    s.reply(Reply::Claimed(won));
                }
                Action::Switch254 { .. } => {
                    run.switches += 1;
                    s.reply(Reply::Switched);
                }
                Action::Accept(a) => {
                    for p in &a.packets {
                        run.accepted.push(p.clone());
                        run.keys.push(key.clone().unwrap_or_default());
                    }
                    s.reply(Reply::Written);
                }
                Action::Reject(r) => {
                    let r = r.clone();
                    run.rejected = Some(r.clone());
                    assert_stays_rejected(s, &data[pos..], r);
                    return run;
                }
            }
        }
    }
    run
}

/// After a rejection, more bytes and stray replies change nothing.
fn assert_stays_rejected(s: &mut Session, rest: &[u8], r: Rejection) {
    s.feed(rest);
    s.feed(&packet(8, U1, KEY, b"more"));
    for reply in [
        Reply::Written,
        Reply::Checks(pass()),
        Reply::Claimed(true),
        Reply::Switched,
    ] {
        s.reply(reply);
        match s.poll() {
            Action::Reject(again) => assert_eq!(again, &r),
            other => panic!("rejected session asked for {other:?}"),
        }
    }
}

/// The packets a byte stream holds, in order, as whole-stream decoding finds them.
fn packets_in(data: &[u8], limits: &Limits) -> Vec<(Header, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Ok(Decoded::Packet(p)) = decode(&data[off..], limits) {
        off += p.raw.len();
        out.push((p.header.clone(), p.raw.to_vec()));
    }
    out
}

#[test]
fn batches_stop_at_uuid_or_type_change_and_partial_packets() {
    let u1 = [0x11; 16];
    let u2 = [0x22; 16];
    let mut b = Vec::new();
    b.extend(encode_packet(1, DataType(8), u1, 0, b"k", b"a"));
    b.extend(encode_packet(1, DataType(8), u1, 0, b"k", b"bb"));
    let first_two = b.len();
    b.extend(encode_packet(1, DataType(8), u2, 0, b"k", b"c"));
    let (h, n) = collect_batch(&b, &Limits::default()).unwrap();
    assert_eq!((h.len(), n), (2, first_two));
    let (h, n) = collect_batch(&b[first_two..b.len() - 1], &Limits::default()).unwrap();
    assert_eq!((h.len(), n), (0, 0));
    let mut big = encode_packet(1, DataType(8), u1, 0, b"k", b"");
    big[58..62].copy_from_slice(&2_000_000u32.to_le_bytes());
    assert!(collect_batch(&big, &Limits::default()).is_err());
}

#[test]
fn a_valid_session_claims_once_and_accepts_everything_in_order() {
    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let mut data = packet(8, U1, KEY, b"a\n");
    data.extend(packet(8, U1, KEY, b"bc\n"));
    let run = drive(&mut s, &data, &[5, 70], &mut Script::passing());
    assert_eq!(run.rejected, None);
    assert_eq!(run.claims, [(hex(U1), DataType::PASSIVEDNS)]);
    let payloads: Vec<&[u8]> = run.accepted.iter().map(|(_, p)| p.as_ref()).collect();
    assert_eq!(payloads, [b"a\n".as_ref(), b"bc\n"]);
    let e = s.ending();
    assert_eq!((e.uuid, e.ty), (Some(hex(U1).as_str()), Some(DataType(8))));
    assert!(e.data_saved && !e.duplicate);
}

fn hex(u: [u8; 16]) -> String {
    Header {
        uuid: u,
        ..EMPTY_HEADER
    }
    .uuid_hex()
}

#[test]
fn a_bad_first_hmac_is_refused_before_any_claim() {
    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let run = drive(
        &mut s,
        &packet(8, U1, b"nope", b"x"),
        &[100],
        &mut Script::passing(),
    );
    assert_eq!(run.rejected.map(|r| r.reject), Some(Reject::BadHmac));
    assert!(run.claims.is_empty() && run.accepted.is_empty());
}

#[test]
fn identity_rules_254_first_duplicate_type_and_uuid_change() {
    let limits = Limits::default();
    let reject_of = |data: Vec<u8>, claims: Vec<bool>| {
        let mut s = session(ServerMode::SharedSecret, limits);
        let mut script = Script {
            claims,
            ..Script::passing()
        };
        drive(&mut s, &data, &[1000], &mut script)
            .rejected
            .map(|r| r.reject)
    };
    assert_eq!(
        reject_of(packet(254, U1, KEY, b"x"), vec![true]),
        Some(Reject::Type254First)
    );
    assert_eq!(
        reject_of(packet(8, U1, KEY, b"x"), vec![false]),
        Some(Reject::Duplicate { ty: 8 })
    );
    let mut change = packet(8, U1, KEY, b"x");
    change.extend(packet(3, U1, KEY, b"y"));
    assert_eq!(
        reject_of(change, vec![true]),
        Some(Reject::TypeChange { old: 8, new: 3 })
    );
    let mut change = packet(8, U1, KEY, b"x");
    change.extend(packet(8, U2, KEY, b"y"));
    assert_eq!(
        reject_of(change, vec![true]),
        Some(Reject::UuidChange { new: hex(U2) })
    );
}

#[test]
fn meta_header_then_254_switches_once_data_was_saved() {
    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let mut data = packet(2, U1, KEY, b"{}");
    data.extend(packet(254, U1, KEY, b"line\n"));
    let run = drive(&mut s, &data, &[1000], &mut Script::passing());
    assert_eq!(run.rejected, None);
    assert_eq!(run.switches, 1);
    assert_eq!(run.accepted.len(), 2);
    assert_eq!(s.ending().ty, Some(DataType::EXTENDED));
}

#[test]
fn the_accepted_prefix_is_written_before_the_rejection() {
    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let mut data = packet(8, U1, KEY, b"ok\n");
    data.extend(packet(8, U1, b"nope", b"bad\n"));
    data.extend(packet(8, U1, KEY, b"never\n"));
    let run = drive(&mut s, &data, &[1000], &mut Script::passing());
    assert_eq!(run.accepted.len(), 1);
    assert_eq!(run.rejected.map(|r| r.reject), Some(Reject::BadHmac));

    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let full = Checks {
        xlen: 1,
        max_entries: Some(2),
        ..pass()
    };
    let mut script = Script {
        checks: vec![full],
        ..Script::passing()
    };
    let mut data = packet(8, U1, KEY, b"1");
    data.extend(packet(8, U1, KEY, b"2"));
    let run = drive(&mut s, &data, &[1000], &mut script);
    assert_eq!(run.accepted.len(), 1);
    assert_eq!(run.rejected.map(|r| r.reject), Some(Reject::StreamFull));
}

#[test]
fn an_oversize_header_is_refused_after_the_blacklists() {
    let limits = Limits { max_payload: 4 };
    let data = packet(8, U1, KEY, b"too long");
    let mut s = session(ServerMode::SharedSecret, limits);
    let run = drive(
        &mut s,
        &data[..HEADER_SIZE],
        &[1000],
        &mut Script::passing(),
    );
    assert_eq!(
        run.rejected.map(|r| r.reject),
        Some(Reject::Oversize { size: 8 })
    );

    let mut s = session(ServerMode::Registration, limits);
    let mut script = Script {
        checks: vec![Checks {
            registered: false,
            ..pass()
        }],
        ..Script::passing()
    };
    let run = drive(&mut s, &data, &[1000], &mut script);
    assert_eq!(
        run.rejected.map(|r| r.reject),
        Some(Reject::NotRegistered { uuid: hex(U1) })
    );
}

#[test]
fn a_type_change_is_recorded_on_the_sessions_uuid() {
    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let mut data = packet(8, U1, KEY, b"x");
    data.extend(packet(4, U2, KEY, b"y"));
    let run = drive(&mut s, &data, &[1000], &mut Script::passing());
    let r = run.rejected.unwrap();
    assert_eq!(r.reject, Reject::TypeChange { old: 8, new: 4 });
    assert_eq!((r.uuid, r.ty), (hex(U1), DataType(4)));
}

fn arb_packets() -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop_oneof![4 => Just(8u8), 2 => Just(2), 2 => Just(254), 1 => Just(3), 1 => any::<u8>()],
        prop_oneof![4 => Just(U1), 1 => Just(U2), 1 => any::<[u8; 16]>()],
        proptest::collection::vec(any::<u8>(), 0..300),
        prop_oneof![4 => Just(KEY.to_vec()), 1 => Just(b"nope".to_vec())],
    )
        .prop_map(|(ty, uuid, payload, key)| packet(ty, uuid, &key, &payload));
    proptest::collection::vec(one, 0..8).prop_map(|v| v.concat())
}

/// Random bytes, packets corrupted and truncated, or well-formed packets.
fn arb_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..2000),
        1 => (
            arb_packets(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            any::<u8>()
        )
            .prop_map(|(mut p, cut, flip, x)| {
                if !p.is_empty() {
                    let i = flip.index(p.len());
                    p[i] ^= x;
                    p.truncate(cut.index(p.len() + 1));
                }
                p
            }),
        3 => arb_packets(),
    ]
}

/// Check results, mostly passing so sessions get far.
fn arb_checks() -> impl Strategy<Value = Checks> {
    let fails = proptest::bool::weighted(0.08);
    (
        [fails, fails, fails, fails],
        [fails, fails],
        proptest::bool::weighted(0.9),
        prop_oneof![4 => 0u64..20, 1 => Just(u64::MAX)],
        prop_oneof![
            4 => Just(Some(KEY.to_vec())),
            1 => Just(Some(b"nope".to_vec())),
            1 => Just(None)
        ],
        prop_oneof![Just(None), (0u64..30).prop_map(Some)],
    )
        .prop_map(
            |([a, b, c, d], [e, f], registered, xlen, hmac_key, max)| Checks {
                ip_blacklisted: a,
                ip_by_uuid: b,
                uuid_blacklisted: c,
                registered: registered && !d,
                temp_blacklisted: e,
                incorrect_type: f,
                type_accepted: true,
                xlen,
                hmac_key,
                max_entries: max,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any bytes, any chunking, any store answers: the session settles after each read
    /// without panicking, accepts only packets of the input in their order, each under
    /// the key in force, and nothing after a rejection.
    #[test]
    fn any_input_and_any_store_answers(
        data in arb_input(),
        sizes in proptest::collection::vec(1usize..200, 1..8),
        checks in proptest::collection::vec(arb_checks(), 1..6),
        claims in proptest::collection::vec(proptest::bool::weighted(0.8), 1..4),
        registration in any::<bool>(),
        small_limit in any::<bool>(),
    ) {
        let mode = if registration { ServerMode::Registration } else { ServerMode::SharedSecret };
        let limits = if small_limit { Limits { max_payload: 200 } } else { Limits::default() };
        let mut s = session(mode, limits);
        let mut script = Script { checks, claims, next_check: 0, next_claim: 0 };
        let run = drive(&mut s, &data, &sizes, &mut script);

        let input = packets_in(&data, &limits);
        prop_assert!(run.accepted.len() <= input.len());
        for (((h, payload), key), (want_h, raw)) in
            run.accepted.iter().zip(&run.keys).zip(&input)
        {
            prop_assert_eq!(h, want_h);
            prop_assert_eq!(payload.as_ref(), &raw[HEADER_SIZE..]);
            let p = Packet { header: h.clone(), raw };
            prop_assert!(p.verify_hmac(key).is_ok(), "accepted a packet with a wrong HMAC");
        }
        if let Some((first, _)) = run.accepted.first() {
            prop_assert!(run.accepted.iter().all(|(h, _)| h.uuid == first.uuid));
            prop_assert_eq!(run.claims.len(), 1);
        }
        prop_assert!(run.claims.len() <= 1);
    }

    /// Signed packets of one valid sensor and type, with every check passing, are all
    /// accepted in order, however the bytes are split.
    #[test]
    fn valid_packets_are_all_accepted_however_chunked(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..12),
        sizes in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let data: Vec<u8> = payloads.iter().flat_map(|p| packet(8, U1, KEY, p)).collect();
        let mut s = session(ServerMode::SharedSecret, Limits::default());
        let run = drive(&mut s, &data, &sizes, &mut Script::passing());
        prop_assert_eq!(run.rejected, None);
        let got: Vec<&[u8]> = run.accepted.iter().map(|(_, p)| p.as_ref()).collect();
        let want: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(got, want);
    }
}

/// Before authentication the session reads the first header only, runs the checks a-h
/// on it, and only then lets the rest of that one packet in.
#[test]
fn unauthenticated_reads_stop_at_the_first_header_until_it_passed_its_checks() {
    let data = packet(8, U1, KEY, b"payload\n");
    let mut s = session(ServerMode::Registration, Limits::default());
    assert_eq!(s.read_limit(), HEADER_SIZE);
    s.feed(&data[..20]);
    assert!(matches!(s.poll(), Action::Read));
    assert_eq!(s.read_limit(), HEADER_SIZE - 20);
    assert_eq!(s.unauthenticated_bytes(), 0);
    s.feed(&data[20..HEADER_SIZE]);
    assert!(matches!(
        s.poll(),
        Action::FetchChecks { want_key: true, .. }
    ));
    assert_eq!(s.read_limit(), 0, "no payload before the checks");
    s.reply(Reply::Checks(pass()));
    assert!(matches!(s.poll(), Action::Read));
    assert_eq!(s.read_limit(), data.len() - HEADER_SIZE);
    assert_eq!(s.unauthenticated_bytes(), 8);
    s.feed(&data[HEADER_SIZE..]);
    assert!(matches!(
        s.poll(),
        Action::FetchChecks {
            want_key: false,
            ..
        }
    ));
    s.reply(Reply::Checks(pass()));
    assert!(s.is_authenticated());
    assert!(matches!(s.poll(), Action::Claim { .. }));
    s.reply(Reply::Claimed(true));
    assert!(matches!(s.poll(), Action::Accept(_)));
    s.reply(Reply::Written);
    assert_eq!(s.read_limit(), usize::MAX);
    assert_eq!(s.unauthenticated_bytes(), 0);
}

/// An unregistered uuid is refused at its 62 header bytes, whatever size it announces.
#[test]
fn an_unregistered_header_is_refused_before_its_payload() {
    let data = packet(8, U1, b"wrong key", &vec![b'x'; 1_000_000]);
    let mut s = session(ServerMode::Registration, Limits::default());
    let mut script = Script {
        checks: vec![Checks {
            registered: false,
            ..pass()
        }],
        ..Script::passing()
    };
    let run = drive(&mut s, &data[..HEADER_SIZE], &[HEADER_SIZE], &mut script);
    let r = run.rejected.expect("rejected at the header");
    assert_eq!(r.reject, Reject::NotRegistered { uuid: hex(U1) });
    assert!(!r.authenticated);
}

/// Only a peer whose packet passed the HMAC check counts as authenticated in its
/// rejection (it may then create a sensor's `Error` field).
#[test]
fn rejections_say_whether_the_peer_authenticated() {
    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let run = drive(
        &mut s,
        &packet(8, U1, b"nope", b"x"),
        &[100],
        &mut Script::passing(),
    );
    let r = run.rejected.unwrap();
    assert_eq!((r.reject, r.authenticated), (Reject::BadHmac, false));

    let mut s = session(ServerMode::SharedSecret, Limits::default());
    let run = drive(
        &mut s,
        &packet(254, U1, KEY, b"x"),
        &[100],
        &mut Script::passing(),
    );
    let r = run.rejected.unwrap();
    assert_eq!((r.reject, r.authenticated), (Reject::Type254First, true));
}
