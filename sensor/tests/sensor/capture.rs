//! `d4-passivedns -r` on pcaps built here. Every expected line is written from the
//! passivedns format of spec `pdns.md` §5.2 (field order, ldns presentation, which
//! field each type prints, CNAME attribution, NXDOMAIN record, flush at exit).

use std::net::IpAddr;
use std::process::Command;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{RData, RecordType};

use crate::pcapgen::{self, name, query, response, rr, tcp, udp, Link, Pcap};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_d4-passivedns");
pub(crate) const T0: u32 = 1_700_000_000;

pub(crate) fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) struct Capture {
    pub(crate) pcap: Pcap,
    t: u32,
}

impl Capture {
    pub(crate) fn new() -> Capture {
        Capture {
            pcap: Pcap::new(1),
            t: 0,
        }
    }

    /// Next timestamp: second T0+n, usec n*10.
    pub(crate) fn tick(&mut self) -> (u32, u32) {
        self.t += 1;
        (T0 + self.t, self.t * 10)
    }

    pub(crate) fn ts_str(&self) -> String {
        format!("{}.{:06}", T0 + self.t, self.t * 10)
    }

    /// Query then response on UDP; returns the response's timestamp string.
    pub(crate) fn exchange(
        &mut self,
        link: Link,
        client: (IpAddr, u16),
        server: IpAddr,
        q: &[u8],
        r: &[u8],
    ) -> String {
        let (s, u) = self.tick();
        self.pcap.frame(s, u, &udp(link, client, (server, 53), q));
        let (s, u) = self.tick();
        self.pcap.frame(s, u, &udp(link, (server, 53), client, r));
        self.ts_str()
    }
}

pub(crate) fn run(pcap: &Pcap, args: &[&str]) -> (Vec<String>, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.pcap");
    pcap.write(&file);
    let (log, nxd) = (dir.path().join("answers.log"), dir.path().join("nxd.log"));
    let out = Command::new(BIN)
        .args([
            "-r",
            file.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-L",
            nxd.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let read = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    (read(&log), read(&nxd), stderr)
}

/// Every record type of the brief, IPv4/IPv6, EDNS, VLAN, CNAME chain, NXDOMAIN.
#[test]
fn record_types_and_encapsulations() {
    let mut c = Capture::new();
    let cl = v4("10.0.0.1");
    let sv = v4("192.0.2.53");
    let mut want = Vec::new();
    let line = |ts: &str, client: &str, server: &str, q: &str, t: &str, a: &str, ttl: u32| {
        format!("{ts}||{client}||{server}||IN||{q}||{t}||{a}||{ttl}||1")
    };

    // A behind a CNAME: the A record is logged under the CNAME target; case preserved.
    let r = response(
        1,
        "www.Example.com.",
        RecordType::A,
        ResponseCode::NoError,
        vec![
            rr(
                "www.Example.com.",
                3600,
                RData::CNAME(CNAME(name("web.example.net."))),
            ),
            rr("web.example.net.", 300, RData::A(A::new(93, 184, 216, 34))),
        ],
        false,
    );
    let ts = c.exchange(
        Link::Ether,
        (cl, 40001),
        sv,
        &query(1, "www.Example.com.", RecordType::A),
        &r,
    );
    want.push(line(
        &ts,
        "10.0.0.1",
        "192.0.2.53",
        "www.Example.com.",
        "CNAME",
        "web.example.net.",
        3600,
    ));
    want.push(line(
        &ts,
        "10.0.0.1",
        "192.0.2.53",
        "web.example.net.",
        "A",
        "93.184.216.34",
        300,
    ));

    // AAAA over IPv6.
    let (c6, s6) = (v4("2001:db8::1"), v4("2001:db8::53"));
    let r = response(
        2,
        "v6.example.",
        RecordType::AAAA,
        ResponseCode::NoError,
        vec![rr(
            "v6.example.",
            60,
            RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)),
        )],
        false,
    );
    let ts = c.exchange(
        Link::Ether,
        (c6, 40002),
        s6,
        &query(2, "v6.example.", RecordType::AAAA),
        &r,
    );
    want.push(line(
        &ts,
        "2001:db8::1",
        "2001:db8::53",
        "v6.example.",
        "AAAA",
        "2001:db8::1:0:0:1",
        60,
    ));

    // MX → exchange only; NS; PTR; SOA → MNAME only; SRV → target only; TXT → first string.
    let cases: Vec<(&str, RecordType, RData, &str, &str)> = vec![
        (
            "example.org.",
            RecordType::MX,
            RData::MX(MX::new(10, name("mail.example.org."))),
            "MX",
            "mail.example.org.",
        ),
        (
            "example.org.",
            RecordType::NS,
            RData::NS(NS(name("ns1.example.org."))),
            "NS",
            "ns1.example.org.",
        ),
        (
            "34.216.184.93.in-addr.arpa.",
            RecordType::PTR,
            RData::PTR(PTR(name("web.example.net."))),
            "PTR",
            "web.example.net.",
        ),
        (
            "example.org.",
            RecordType::SOA,
            RData::SOA(SOA::new(
                name("ns1.example.org."),
                name("hostmaster.example.org."),
                2024010101,
                7200,
                3600,
                1209600,
                300,
            )),
            "SOA",
            "ns1.example.org.",
        ),
        (
            "_sip._udp.example.org.",
            RecordType::SRV,
            RData::SRV(SRV::new(10, 20, 5060, name("sip.example.org."))),
            "SRV",
            "sip.example.org.",
        ),
        (
            "txt.example.org.",
            RecordType::TXT,
            RData::TXT(TXT::new(vec![
                "v=spf1 \"x\" \\ -all".into(),
                "second".into(),
            ])),
            "TXT",
            "\"v=spf1 \\\"x\\\" \\\\ -all\"",
        ),
    ];
    for (i, (owner, qt, data, tname, answer)) in cases.into_iter().enumerate() {
        let id = 10 + i as u16;
        let r = response(
            id,
            owner,
            qt,
            ResponseCode::NoError,
            vec![rr(owner, 120, data)],
            false,
        );
        let ts = c.exchange(Link::Ether, (cl, 41000 + id), sv, &query(id, owner, qt), &r);
        want.push(line(
            &ts,
            "10.0.0.1",
            "192.0.2.53",
            owner,
            tname,
            answer,
            120,
        ));
    }

    // EDNS (OPT in the additional section) is parsed and ignored.
    let r = response(
        30,
        "edns.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("edns.example.", 30, RData::A(A::new(192, 0, 2, 1)))],
        true,
    );
    let ts = c.exchange(
        Link::Ether,
        (cl, 40030),
        sv,
        &query(30, "edns.example.", RecordType::A),
        &r,
    );
    want.push(line(
        &ts,
        "10.0.0.1",
        "192.0.2.53",
        "edns.example.",
        "A",
        "192.0.2.1",
        30,
    ));

    // 802.1Q and QinQ.
    let r = response(
        31,
        "vlan.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("vlan.example.", 30, RData::A(A::new(192, 0, 2, 21)))],
        false,
    );
    let ts = c.exchange(
        Link::Vlan(100),
        (cl, 40031),
        sv,
        &query(31, "vlan.example.", RecordType::A),
        &r,
    );
    want.push(line(
        &ts,
        "10.0.0.1",
        "192.0.2.53",
        "vlan.example.",
        "A",
        "192.0.2.21",
        30,
    ));
    let r = response(
        32,
        "qinq.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("qinq.example.", 30, RData::A(A::new(192, 0, 2, 22)))],
        false,
    );
    let ts = c.exchange(
        Link::QinQ(200, 100),
        (cl, 40032),
        sv,
        &query(32, "qinq.example.", RecordType::A),
        &r,
    );
    want.push(line(
        &ts,
        "10.0.0.1",
        "192.0.2.53",
        "qinq.example.",
        "A",
        "192.0.2.22",
        30,
    ));

    // NXDOMAIN: empty answer section, rcode 3 → error record in the -L file.
    let r = response(
        33,
        "nx.example.",
        RecordType::A,
        ResponseCode::NXDomain,
        vec![],
        false,
    );
    let ts = c.exchange(
        Link::Ether,
        (cl, 40033),
        sv,
        &query(33, "nx.example.", RecordType::A),
        &r,
    );
    let want_nxd = vec![format!(
        "{ts}||10.0.0.1||192.0.2.53||IN||nx.example.||A||NXDOMAIN||0||1"
    )];

    let (got, nxd, log) = run(&c.pcap, &["-X", "46CDNPRSTOMnx"]);
    assert_eq!(got, want, "answers (stderr: {log})");
    assert_eq!(nxd, want_nxd);
}

/// Default `-X` logs neither MX nor NXDOMAIN; -d changes the delimiter.
#[test]
fn default_type_set_and_delimiter() {
    let mut c = Capture::new();
    let (cl, sv) = (v4("10.0.0.1"), v4("192.0.2.53"));
    let r = response(
        1,
        "example.org.",
        RecordType::MX,
        ResponseCode::NoError,
        vec![rr(
            "example.org.",
            5,
            RData::MX(MX::new(10, name("mx.example.org."))),
        )],
        false,
    );
    c.exchange(
        Link::Ether,
        (cl, 40001),
        sv,
        &query(1, "example.org.", RecordType::MX),
        &r,
    );
    let r = response(
        2,
        "nx.example.",
        RecordType::A,
        ResponseCode::NXDomain,
        vec![],
        false,
    );
    c.exchange(
        Link::Ether,
        (cl, 40002),
        sv,
        &query(2, "nx.example.", RecordType::A),
        &r,
    );
    let r = response(
        3,
        "a.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("a.example.", 5, RData::A(A::new(1, 2, 3, 4)))],
        false,
    );
    let ts = c.exchange(
        Link::Ether,
        (cl, 40003),
        sv,
        &query(3, "a.example.", RecordType::A),
        &r,
    );
    let (got, nxd, _) = run(&c.pcap, &["-d", ","]);
    assert_eq!(
        got,
        [format!(
            "{ts},10.0.0.1,192.0.2.53,IN,a.example.,A,1.2.3.4,5,1"
        )]
    );
    assert!(nxd.is_empty());
}

/// DNS over TCP: a response split over three segments, then a second exchange.
#[test]
fn tcp_split_across_segments() {
    let mut c = Capture::new();
    let (cl, sv) = ((v4("10.0.0.1"), 45000), (v4("192.0.2.53"), 53));
    let framed = |m: Vec<u8>| {
        let mut v = (m.len() as u16).to_be_bytes().to_vec();
        v.extend(m);
        v
    };
    let q1 = framed(query(7, "tcp1.example.", RecordType::A));
    let r1 = framed(response(
        7,
        "tcp1.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("tcp1.example.", 77, RData::A(A::new(192, 0, 2, 11)))],
        false,
    ));
    let q2 = framed(query(8, "tcp2.example.", RecordType::A));
    let r2 = framed(response(
        8,
        "tcp2.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("tcp2.example.", 78, RData::A(A::new(192, 0, 2, 12)))],
        false,
    ));
    let push = |c: &mut Capture, f: Vec<u8>| {
        let (s, u) = c.tick();
        c.pcap.frame(s, u, &f);
    };
    push(&mut c, tcp(cl, sv, 999, true, &[]));
    push(&mut c, tcp(sv, cl, 4999, true, &[]));
    push(&mut c, tcp(cl, sv, 1000, false, &q1));
    let (a, b) = r1.split_at(1);
    let (b, d) = b.split_at(20);
    push(&mut c, tcp(sv, cl, 5000, false, a));
    push(&mut c, tcp(sv, cl, 5001, false, b));
    push(&mut c, tcp(sv, cl, 5021, false, d));
    let ts1 = c.ts_str();
    push(&mut c, tcp(cl, sv, 1000 + q1.len() as u32, false, &q2));
    push(&mut c, tcp(sv, cl, 5000 + r1.len() as u32, false, &r2));
    let ts2 = c.ts_str();
    let (got, _, log) = run(&c.pcap, &[]);
    assert_eq!(
        got,
        [
            format!("{ts1}||10.0.0.1||192.0.2.53||IN||tcp1.example.||A||192.0.2.11||77||1"),
            format!("{ts2}||10.0.0.1||192.0.2.53||IN||tcp2.example.||A||192.0.2.12||78||1"),
        ],
        "{log}"
    );
}

/// Repeated sightings are counted and printed once more at the end with their count;
/// answers without a captured query and TC answers are never logged.
#[test]
fn dedup_counts_and_dropped_responses() {
    let mut c = Capture::new();
    let (cl, sv) = (v4("10.0.0.1"), v4("192.0.2.53"));
    let r = response(
        5,
        "dup.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("dup.example.", 60, RData::A(A::new(10, 9, 8, 7)))],
        false,
    );
    let first = c.exchange(
        Link::Ether,
        (cl, 40005),
        sv,
        &query(5, "dup.example.", RecordType::A),
        &r,
    );
    let r_ttl = response(
        5,
        "dup.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("dup.example.", 90, RData::A(A::new(10, 9, 8, 7)))],
        false,
    );
    c.exchange(
        Link::Ether,
        (cl, 40005),
        sv,
        &query(5, "dup.example.", RecordType::A),
        &r,
    );
    let last = c.exchange(
        Link::Ether,
        (cl, 40005),
        sv,
        &query(5, "dup.example.", RecordType::A),
        &r_ttl,
    );
    // Unsolicited response (no query on that 5-tuple).
    let (s, u) = c.tick();
    let r = response(
        6,
        "unsolicited.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("unsolicited.example.", 60, RData::A(A::new(6, 6, 6, 6)))],
        false,
    );
    c.pcap
        .frame(s, u, &udp(Link::Ether, (sv, 53), (cl, 40006), &r));
    // TC bit set.
    let mut r = response(
        7,
        "tc.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("tc.example.", 60, RData::A(A::new(7, 7, 7, 7)))],
        false,
    );
    r[2] |= 0x02;
    c.exchange(
        Link::Ether,
        (cl, 40007),
        sv,
        &query(7, "tc.example.", RecordType::A),
        &r,
    );
    let (got, _, log) = run(&c.pcap, &[]);
    assert_eq!(
        got,
        [
            format!("{first}||10.0.0.1||192.0.2.53||IN||dup.example.||A||10.9.8.7||60||1"),
            format!("{last}||10.0.0.1||192.0.2.53||IN||dup.example.||A||10.9.8.7||90||2"),
        ],
        "{log}"
    );
    assert!(
        log.contains("unmatched: 1") && log.contains("truncated: 1"),
        "{log}"
    );
}

/// Truncated and malformed frames are counted, never crash, and don't stop the capture.
#[test]
fn truncated_and_malformed_packets_are_counted() {
    let mut c = Capture::new();
    let (cl, sv) = (v4("10.0.0.1"), v4("192.0.2.53"));
    let q = query(9, "ok.example.", RecordType::A);
    let r = response(
        9,
        "ok.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("ok.example.", 60, RData::A(A::new(9, 9, 9, 9)))],
        false,
    );
    // Response cut by a short caplen (DNS message incomplete).
    let (s, u) = c.tick();
    c.pcap
        .frame(s, u, &udp(Link::Ether, (cl, 40009), (sv, 53), &q));
    let (s, u) = c.tick();
    let frame = udp(Link::Ether, (sv, 53), (cl, 40009), &r);
    c.pcap.frame_cut(s, u, &frame, frame.len() - 10);
    // Frame cut inside the IP header; garbage "DNS"; a bogus label length.
    let (s, u) = c.tick();
    c.pcap.frame_cut(s, u, &frame, 20);
    let (s, u) = c.tick();
    c.pcap.frame(
        s,
        u,
        &udp(
            Link::Ether,
            (cl, 40010),
            (sv, 53),
            b"\xff\xff\xff\xff garbage",
        ),
    );
    let mut bad = r.clone();
    bad[12] = 0x3f;
    let (s, u) = c.tick();
    c.pcap
        .frame(s, u, &udp(Link::Ether, (sv, 53), (cl, 40009), &bad));
    // A good exchange afterwards is still logged.
    let ts = c.exchange(Link::Ether, (cl, 40009), sv, &q, &r);
    let (got, _, log) = run(&c.pcap, &[]);
    assert_eq!(
        got,
        [format!(
            "{ts}||10.0.0.1||192.0.2.53||IN||ok.example.||A||9.9.9.9||60||1"
        )],
        "{log}"
    );
    assert!(
        log.contains("malformed: 2") || log.contains("malformed: 1"),
        "{log}"
    );
    assert!(!log.contains("dns_parse: 0"), "{log}");
}

/// Privacy: the client column can be dropped.
#[test]
fn client_ip_can_be_dropped() {
    let mut c = Capture::new();
    let (cl, sv) = (v4("10.0.0.1"), v4("192.0.2.53"));
    let r = response(
        1,
        "p.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("p.example.", 5, RData::A(A::new(1, 1, 1, 1)))],
        false,
    );
    let ts = c.exchange(
        Link::Ether,
        (cl, 40001),
        sv,
        &query(1, "p.example.", RecordType::A),
        &r,
    );
    let (got, _, _) = run(&c.pcap, &["--client-ip", "drop"]);
    assert_eq!(
        got,
        [format!(
            "{ts}||0.0.0.0||192.0.2.53||IN||p.example.||A||1.1.1.1||5||1"
        )]
    );
    let _ = pcapgen::CLIENT_MAC;
}

/// 802.1ad outer tags (0x88a8, missed by passivedns), DNAME (raw rdata) and DNS over
/// TCP on IPv6.
#[test]
fn qinq_8021ad_dname_and_ipv6_tcp() {
    use hickory_proto::rr::rdata::NULL;
    let mut c = Capture::new();
    let (cl, sv) = (v4("10.0.0.1"), v4("192.0.2.53"));
    // DNAME target as uncompressed wire bytes (RFC 6672).
    let dname = RData::Unknown {
        code: RecordType::Unknown(39),
        rdata: NULL::with(b"\x03new\x07example\x00".to_vec()),
    };
    let r = response(
        40,
        "old.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("old.example.", 90, dname)],
        false,
    );
    let q = query(40, "old.example.", RecordType::A);
    let patch = |mut f: Vec<u8>| {
        f[12] = 0x88;
        f[13] = 0xa8;
        f
    };
    let (s, u) = c.tick();
    c.pcap.frame(
        s,
        u,
        &patch(udp(Link::QinQ(300, 7), (cl, 40040), (sv, 53), &q)),
    );
    let (s, u) = c.tick();
    c.pcap.frame(
        s,
        u,
        &patch(udp(Link::QinQ(300, 7), (sv, 53), (cl, 40040), &r)),
    );
    let ts1 = c.ts_str();
    // IPv6 TCP, response in two segments.
    let (c6, s6) = ((v4("2001:db8::1"), 45001), (v4("2001:db8::53"), 53));
    let framed = |m: Vec<u8>| {
        let mut v = (m.len() as u16).to_be_bytes().to_vec();
        v.extend(m);
        v
    };
    let q = framed(query(41, "t6.example.", RecordType::AAAA));
    let r = framed(response(
        41,
        "t6.example.",
        RecordType::AAAA,
        ResponseCode::NoError,
        vec![rr(
            "t6.example.",
            15,
            RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53)),
        )],
        false,
    ));
    let (s, u) = c.tick();
    c.pcap.frame(s, u, &tcp(c6, s6, 1, false, &q));
    let (a, b) = r.split_at(30);
    let (s, u) = c.tick();
    c.pcap.frame(s, u, &tcp(s6, c6, 100, false, a));
    let (s, u) = c.tick();
    c.pcap.frame(s, u, &tcp(s6, c6, 130, false, b));
    let ts2 = c.ts_str();
    let (got, _, log) = run(&c.pcap, &[]);
    assert_eq!(
        got,
        [
            format!("{ts1}||10.0.0.1||192.0.2.53||IN||old.example.||DNAME||new.example.||90||1"),
            format!("{ts2}||2001:db8::1||2001:db8::53||IN||t6.example.||AAAA||2001:db8::53||15||1"),
        ],
        "{log}"
    );
}

/// `-j`/`-J`: passivedns's compact JSON objects for answers and error records.
#[test]
fn json_output_for_answers_and_errors() {
    let mut c = Capture::new();
    let (cl, sv) = (v4("10.0.0.1"), v4("192.0.2.53"));
    let r = response(
        1,
        "j.example.",
        RecordType::A,
        ResponseCode::NoError,
        vec![rr("j.example.", 5, RData::A(A::new(1, 2, 3, 4)))],
        false,
    );
    c.exchange(
        Link::Ether,
        (cl, 40001),
        sv,
        &query(1, "j.example.", RecordType::A),
        &r,
    );
    let (s1, u1) = (T0 + c.t, c.t * 10);
    let r = response(
        2,
        "nx.example.",
        RecordType::AAAA,
        ResponseCode::NXDomain,
        vec![],
        false,
    );
    c.exchange(
        Link::Ether,
        (cl, 40002),
        sv,
        &query(2, "nx.example.", RecordType::AAAA),
        &r,
    );
    let (s2, u2) = (T0 + c.t, c.t * 10);
    let (got, nxd, log) = run(&c.pcap, &["-j", "-J", "-X", "46x"]);
    assert_eq!(
        got,
        [format!(
            "{{\"timestamp_s\":{s1},\"timestamp_ms\":{u1},\"client\":\"10.0.0.1\",\"server\":\"192.0.2.53\",\"class\":\"IN\",\
             \"query\":\"j.example.\",\"type\":\"A\",\"answer\":\"1.2.3.4\",\"ttl\":5,\"count\":1}}"
        )],
        "{log}"
    );
    assert_eq!(
        nxd,
        [format!(
            "{{\"timestamp_s\":{s2},\"timestamp_ms\":{u2},\"client\":\"10.0.0.1\",\"server\":\"192.0.2.53\",\"class\":\"IN\",\
             \"query\":\"nx.example.\",\"type\":\"AAAA\",\"answer\":\"NXDOMAIN\",\"ttl\":0,\"count\":1}}"
        )]
    );
}
