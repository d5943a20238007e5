//! Live capture on the loopback interface (needs CAP_NET_RAW, as root in CI): a test
//! resolver on a custom port answers a query; `d4-passivedns -i lo` logs the answer and
//! flushes on SIGTERM; `d4-sensor -i lo` streams it to a TLS sink and reports counters
//! on SIGUSR1.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};

use crate::common::{Client, ConfDir, Sink};
use crate::pcapgen::{query, response, rr};

/// One query/answer exchange over loopback UDP to `port`; returns the client port.
fn exchange(port: u16, id: u16, qname: &str) -> u16 {
    let server = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(&query(id, qname, RecordType::A), ("127.0.0.1", port))
        .unwrap();
    let mut buf = [0u8; 512];
    let (_, from) = server.recv_from(&mut buf).unwrap();
    let r = response(
        id,
        qname,
        RecordType::A,
        ResponseCode::NoError,
        vec![rr(qname, 42, RData::A(A::new(192, 0, 2, 99)))],
        false,
    );
    server.send_to(&r, from).unwrap();
    client.local_addr().unwrap().port()
}

fn signal(c: &Client, sig: &str) {
    let pid = c.child.as_ref().unwrap().id().to_string();
    std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
}

/// Waits for the "Sniffing." line; false (skip) if capturing is not permitted here.
fn wait_sniffing(c: &mut Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let log = c.log();
        if log.contains("Sniffing.") {
            std::thread::sleep(Duration::from_millis(300));
            return true;
        }
        if log.contains("ermission") || log.contains("not permitted") {
            assert!(
                !d4_testkit::in_ci(),
                "live capture not permitted under CI: {log}"
            );
            eprintln!("SKIP: live capture not permitted");
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("capture did not start: {}", c.log());
}

#[test]
fn passivedns_live_on_loopback() {
    let port = d4_testkit::free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pdns.log");
    let bpf = format!("udp port {port}");
    let mut c = Client::spawn(
        env!("CARGO_BIN_EXE_d4-passivedns"),
        &["-i", "lo", "-b", &bpf, "-l", log.to_str().unwrap()],
    );
    if !wait_sniffing(&mut c) {
        return;
    }
    let cport = exchange(port, 4242, "live.example.");
    std::thread::sleep(Duration::from_millis(700));
    signal(&c, "-TERM");
    assert_eq!(c.finish(Duration::from_secs(10)), 0, "{}", c.log());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}\n{}", c.log());
    let fields: Vec<&str> = lines[0].split("||").collect();
    assert_eq!(
        &fields[1..],
        [
            "127.0.0.1",
            "127.0.0.1",
            "IN",
            "live.example.",
            "A",
            "192.0.2.99",
            "42",
            "1"
        ]
    );
    let _ = cport;
}

#[test]
fn sensor_live_to_tls_sink_with_counters() {
    if !d4_testkit::require("openssl") {
        return;
    }
    let certs = d4_testkit::Certs::generate();
    let mut sink = Sink::tls(&certs);
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    let port = d4_testkit::free_port();
    let bpf = format!("udp port {port}");
    let mut c = Client::spawn(
        env!("CARGO_BIN_EXE_d4-sensor"),
        &["-c", conf.path().to_str().unwrap(), "-i", "lo", "-b", &bpf],
    );
    if !wait_sniffing(&mut c) {
        return;
    }
    exchange(port, 7, "sensor.example.");
    // Lines are pushed within about a second even when the link is quiet.
    assert!(
        sink.wait_until(Duration::from_secs(10), |p| !p.is_empty()),
        "{}",
        c.log()
    );
    signal(&c, "-USR1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.log().contains("Counters.") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        c.log().contains("dns_answers=1") && c.log().contains("lines=1"),
        "{}",
        c.log()
    );
    signal(&c, "-TERM");
    assert_eq!(c.finish(Duration::from_secs(15)), 0, "{}", c.log());
    let lines = sink.lines();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("||127.0.0.1||127.0.0.1||IN||sensor.example.||A||192.0.2.99||42||1"),
        "{lines:?}"
    );
}
