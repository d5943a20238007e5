//! Golden tests of `d4-passivedns -r` against what gamelinux passivedns 1.2.1 (with ldns)
//! writes for the same capture. The pcaps are built here; every expected line is written
//! from passivedns's and ldns's source (`src/dns.c`, ldns `host2str.c`), not from our code:
//! NSEC's trailing space, LOC's `%02u` degrees and whole-metre altitude, NSEC3PARAM
//! never logged, the `-L` file always created, the end-of-file flush order of its record
//! table, and UDP behind IPv6 extension headers.

use std::net::IpAddr;
use std::process::Command;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, NULL};
use hickory_proto::rr::{RData, RecordType};

use crate::capture::{run, v4, Capture, BIN};
use crate::pcapgen::{query, response, rr, udp, Link, Pcap};

const CLIENT: &str = "10.0.0.1";
const SERVER: &str = "192.0.2.53";

/// Raw rdata of type `code` (hickory leaves these types unparsed).
fn raw(code: u16, rdata: Vec<u8>) -> RData {
    RData::Unknown {
        code: RecordType::Unknown(code),
        rdata: NULL::with(rdata),
    }
}

/// One UDP exchange answering `qname`/`qtype` with `answers`; returns the response's
/// timestamp string.
fn exchange(
    c: &mut Capture,
    id: u16,
    qname: &str,
    qtype: RecordType,
    answers: Vec<RData>,
) -> String {
    let records = answers.into_iter().map(|d| rr(qname, 300, d)).collect();
    let r = response(id, qname, qtype, ResponseCode::NoError, records, false);
    c.exchange(
        Link::Ether,
        (v4(CLIENT), 40000 + id),
        v4(SERVER),
        &query(id, qname, qtype),
        &r,
    )
}

/// A passivedns line with the default fields and delimiter.
fn line(ts: &str, q: &str, t: &str, answer: &str, count: u32) -> String {
    format!("{ts}||{CLIENT}||{SERVER}||IN||{q}||{t}||{answer}||300||{count}")
}

/// NSEC: ldns prints every bitmap type followed by a space, and passivedns joins the
/// next-name and bitmap fields with one, so the answer ends in a space.
#[test]
fn nsec_answer_keeps_ldns_trailing_space() {
    let mut c = Capture::new();
    // Next name z.example.com., types A MX RRSIG NSEC (window 0, 6 bytes).
    let mut rdata = b"\x01z\x07example\x03com\x00".to_vec();
    rdata.extend_from_slice(&[0, 6, 0x40, 0x01, 0, 0, 0, 0x03]);
    let ts = exchange(
        &mut c,
        1,
        "y.example.com.",
        RecordType::NSEC,
        vec![raw(47, rdata)],
    );
    let (got, _, log) = run(&c.pcap, &["-X", "d"]);
    assert_eq!(
        got,
        [line(
            &ts,
            "y.example.com.",
            "NSEC",
            "z.example.com. A MX RRSIG NSEC ",
            1
        )],
        "{log}"
    );
}

/// LOC rdata of version 0 from its fields.
fn loc(size: u8, hp: u8, vp: u8, lat: u32, lon: u32, alt: u32) -> RData {
    let mut b = vec![0, size, hp, vp];
    for v in [lat, lon, alt] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    raw(29, b)
}

/// LOC as ldns prints it: degrees and minutes `%02u`, seconds `%0.3f`, the altitude
/// `%.0f` when it has no centimetres (else `%.2f`), size/precision `0.MM` or the
/// mantissa followed by zeros.
#[test]
fn loc_answer_like_ldns() {
    const EQ: u32 = 1 << 31;
    let arc = |d: u32, m: u32, ms: u32| d * 3_600_000 + m * 60_000 + ms;
    let mut c = Capture::new();
    let ts1 = exchange(
        &mut c,
        1,
        "loc.example.",
        RecordType::Unknown(29),
        vec![loc(
            0x12,
            0x16,
            0x13,
            EQ + arc(52, 11, 17_000),
            EQ + arc(4, 43, 10_000),
            10_000_000 - 200,
        )],
    );
    let ts2 = exchange(
        &mut c,
        2,
        "south.example.",
        RecordType::Unknown(29),
        vec![loc(
            0x00,
            0x11,
            0x95,
            EQ - arc(33, 5, 500),
            EQ - arc(151, 0, 1),
            10_012_345,
        )],
    );
    let (got, _, log) = run(&c.pcap, &["-X", "L"]);
    assert_eq!(
        got,
        [
            line(
                &ts1,
                "loc.example.",
                "LOC",
                "52 11 17.000 N 04 43 10.000 E -2m 1m 10000m 10m",
                1
            ),
            line(
                &ts2,
                "south.example.",
                "LOC",
                "33 05 0.500 S 151 00 0.001 W 123.45m 0.00m 0.10m 9000m",
                1
            ),
        ],
        "{log}"
    );
}

/// passivedns 1.2.1 tests `#ifdef LDNS_RR_TYPE_NSEC3PARAM`, an ldns enum constant and
/// not a macro, so NSEC3PARAM is never logged, even with `-X d`; the DS in the same
/// response is. `--nsec3param` is our opt-in to log it.
#[test]
fn nsec3param_is_not_logged_like_passivedns() {
    let mut c = Capture::new();
    let ds = raw(43, vec![0x30, 0x39, 8, 2, 0xab, 0xcd]);
    let n3p = raw(51, vec![1, 0, 0, 10, 0]);
    let ts = exchange(&mut c, 1, "example.", RecordType::DS, vec![ds, n3p]);
    let ds_line = line(&ts, "example.", "DS", "12345 8 2 abcd", 1);
    let (got, _, log) = run(&c.pcap, &["-X", "d"]);
    assert_eq!(got, std::slice::from_ref(&ds_line), "{log}");
    let (got, _, log) = run(&c.pcap, &["-X", "d", "--nsec3param"]);
    assert_eq!(
        got,
        [ds_line, line(&ts, "example.", "NSEC3PARAM", "1 0 10 - ", 1)],
        "{log}"
    );
}

/// `-L FILE` is created at start even when no error rcode is enabled (passivedns opens
/// it whatever `-X` says); `-q` leaves no INFO line on stderr.
#[test]
fn error_log_is_always_created_and_q_is_quiet() {
    let mut c = Capture::new();
    let ts = exchange(
        &mut c,
        1,
        "a.example.",
        RecordType::A,
        vec![RData::A(A::new(192, 0, 2, 1))],
    );
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("in.pcap");
    c.pcap.write(&pcap);
    let (log, nxd) = (dir.path().join("a.log"), dir.path().join("nxd.log"));
    let run_it = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["-r", pcap.to_str().unwrap(), "-l", log.to_str().unwrap()])
            .args(["-L", nxd.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let loud = run_it(&[]);
    assert!(nxd.is_file(), "-L file not created (stderr: {loud})");
    assert_eq!(std::fs::read(&nxd).unwrap(), b"");
    assert!(loud.contains("INFO"), "{loud}");
    std::fs::remove_file(&nxd).unwrap();
    let quiet = run_it(&["-q"]);
    assert!(nxd.is_file());
    assert!(!quiet.contains("INFO"), "-q printed: {quiet}");
    let want = line(&ts, "a.example.", "A", "192.0.2.1", 1);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{want}\n{want}\n")
    );
}

/// passivedns's record-table bucket of a qname: djb2 on 64 bits modulo 3967
/// (`hash()` and `DBUCKET_SIZE` in `src/dns.c`).
fn passivedns_bucket(q: &str) -> u64 {
    let mut h: u64 = 5381;
    for c in q.bytes() {
        h = (h << 5).wrapping_add(h).wrapping_add(u64::from(c));
    }
    h % 3967
}

/// At the end of the file `expire_all_dns_records` walks buckets 0..3967, each chain
/// from its head (new records are pushed at the head) and each record's assets from
/// the head (new assets too), printing every asset seen since its last print. The
/// file is therefore byte-for-byte the same only in that order.
#[test]
fn end_of_file_flush_in_passivedns_order() {
    // Names in creation order, with two of them sharing a bucket.
    let mut names: Vec<String> = (0..40).map(|i| format!("host{i}.example.")).collect();
    let pair = (40..100_000)
        .map(|i| format!("host{i}.example."))
        .find(|n| passivedns_bucket(n) == passivedns_bucket(&names[3]))
        .unwrap();
    names.push(pair.clone());
    let mut c = Capture::new();
    let mut want = Vec::new();
    let answers = |i: usize| {
        let i = i as u8;
        vec![RData::A(A::new(10, 0, i, 1)), RData::A(A::new(10, 0, i, 2))]
    };
    // First sighting: both assets printed at once, in packet order.
    for (i, n) in names.iter().enumerate() {
        let ts = exchange(&mut c, i as u16, n, RecordType::A, answers(i));
        want.push(line(&ts, n, "A", &format!("10.0.{i}.1"), 1));
        want.push(line(&ts, n, "A", &format!("10.0.{i}.2"), 1));
    }
    // Second sighting: counted, printed by the flush at the end of the file.
    let mut last = Vec::new();
    for (i, n) in names.iter().enumerate() {
        last.push(exchange(
            &mut c,
            1000 + i as u16,
            n,
            RecordType::A,
            answers(i),
        ));
    }
    let mut walk: Vec<(u64, usize)> = (0..names.len())
        .map(|i| (passivedns_bucket(&names[i]), usize::MAX - i))
        .collect();
    walk.sort();
    for (_, rev) in walk {
        let i = usize::MAX - rev;
        want.push(line(&last[i], &names[i], "A", &format!("10.0.{i}.2"), 1));
        want.push(line(&last[i], &names[i], "A", &format!("10.0.{i}.1"), 1));
    }
    let (got, _, log) = run(&c.pcap, &[]);
    assert_eq!(got, want, "{log}");
    let flushed: Vec<&String> = got.iter().skip(2 * names.len()).collect();
    let pos = |q: &str| {
        flushed
            .iter()
            .position(|l| l.contains(&format!("||{q}||")))
            .unwrap()
    };
    assert!(
        pos(&pair) < pos(&names[3]),
        "newest record of a bucket first"
    );
}

/// IPv6 UDP with a hop-by-hop options header before UDP: libpcap's `port 53` looks at
/// the first next-header only and drops it (passivedns loses these); the default
/// filter lets it through and the decoder walks the extension header.
#[test]
fn udp_behind_ipv6_extension_headers() {
    let (cl, sv): (IpAddr, IpAddr) = (v4("2001:db8::1"), v4("2001:db8::53"));
    let q = query(7, "ext.example.", RecordType::AAAA);
    let r = response(
        7,
        "ext.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("ext.example.", 300, RData::A(A::new(192, 0, 2, 7)))],
        false,
    );
    let t = crate::capture::T0;
    // Untagged, then behind a VLAN tag (the IPv6 header 4 bytes further).
    for (link, ip6) in [(Link::Ether, 14), (Link::Vlan(10), 18)] {
        let mut pcap = Pcap::new(1);
        pcap.frame(
            t,
            1,
            &with_hop_by_hop(udp(link, (cl, 40007), (sv, 53), &q), ip6),
        );
        pcap.frame(
            t,
            2,
            &with_hop_by_hop(udp(link, (sv, 53), (cl, 40007), &r), ip6),
        );
        let (got, _, log) = run(&pcap, &[]);
        assert_eq!(
            got,
            [format!(
                "{t}.000002||2001:db8::1||2001:db8::53||IN||ext.example.||A||192.0.2.7||300||1"
            )],
            "{log}"
        );
    }
}

/// Inserts an 8-byte hop-by-hop options header (PadN) between the IPv6 header and UDP
/// of a frame whose IPv6 header starts at `ip6`; the UDP checksum does not cover
/// extension headers.
fn with_hop_by_hop(mut frame: Vec<u8>, ip6: usize) -> Vec<u8> {
    let next = frame[ip6 + 6];
    frame[ip6 + 6] = 0;
    let plen = u16::from_be_bytes([frame[ip6 + 4], frame[ip6 + 5]]) + 8;
    frame[ip6 + 4..ip6 + 6].copy_from_slice(&plen.to_be_bytes());
    let hbh = [next, 0, 1, 4, 0, 0, 0, 0];
    frame.splice(ip6 + 40..ip6 + 40, hbh);
    frame
}
