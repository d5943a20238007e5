//! Delivery to a TLS D4 sink: accept-any by default (goclient), `-cc` verification
//! against CONFDIR/rootCA.crt, plain TCP with `-ce=false`, and a clean exit after a
//! graceful close at the end of stdin.

use std::io::Write;
use std::time::Duration;

use crate::common::{Client, ConfDir, Sink};

const BIN: &str = env!("CARGO_BIN_EXE_d4-client");

fn send(conf: &ConfDir, extra: &[&str], input: &str) -> (i32, Client) {
    let mut args = vec!["-c", conf.path().to_str().unwrap(), "-rt", "1s"];
    args.extend_from_slice(extra);
    let mut c = Client::spawn(BIN, &args);
    c.stdin
        .as_mut()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let rc = c.finish(Duration::from_secs(30));
    (rc, c)
}

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "1700000000.{i:06}||10.0.0.1||8.8.8.8||IN||n{i}.example.||A||10.0.{}.{}||60||1\n",
                i / 256,
                i % 256
            )
        })
        .collect()
}

#[test]
fn tls_without_cc_accepts_any_certificate_and_delivers_everything() {
    if !d4_testkit::require("openssl") {
        return;
    }
    let certs = d4_testkit::Certs::generate();
    let mut sink = Sink::tls(&certs);
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    let input = lines(5000);
    let (rc, c) = send(&conf, &[], &input);
    assert_eq!(rc, 0, "{}", c.log());
    assert_eq!(sink.bad_hmac(), 0);
    assert_eq!(
        sink.lines().join("\n") + "\n",
        input,
        "every line, in order, once"
    );
}

#[test]
fn cc_verifies_against_root_ca_in_conf_dir() {
    if !d4_testkit::require("openssl") {
        return;
    }
    let certs = d4_testkit::Certs::generate();
    let mut sink = Sink::tls(&certs);
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    conf.write("rootCA.crt", &std::fs::read(certs.root_ca()).unwrap());
    let (rc, c) = send(&conf, &["-cc"], "one\ntwo\n");
    assert_eq!(rc, 0, "{}", c.log());
    assert_eq!(sink.lines(), ["one", "two"]);

    // A different CA: the handshake must fail and nothing is delivered.
    let other = d4_testkit::Certs::generate();
    conf.write("rootCA.crt", &std::fs::read(other.root_ca()).unwrap());
    let before = sink.packets().len();
    let mut c = Client::spawn(
        BIN,
        &["-c", conf.path().to_str().unwrap(), "-cc", "-rt", "200ms"],
    );
    c.stdin.as_mut().unwrap().write_all(b"three\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c.log().contains("Cannot connect") {
        assert!(std::time::Instant::now() < deadline, "{}", c.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.packets().len(), before);
}

#[test]
fn plain_tcp_with_ce_false() {
    let mut sink = Sink::plain();
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 3, 4096);
    let (rc, c) = send(&conf, &["-ce=false"], "plain\n");
    assert_eq!(rc, 0, "{}", c.log());
    assert_eq!(sink.lines(), ["plain"]);
}

/// The server is down when the client starts: it retries and delivers once it is up.
#[test]
fn server_down_at_start_is_retried() {
    let mut sink = Sink::plain();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    let mut c = Client::spawn(
        BIN,
        &[
            "-c",
            conf.path().to_str().unwrap(),
            "-ce=false",
            "-rt",
            "200ms",
        ],
    );
    c.stdin.as_mut().unwrap().write_all(b"early\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    sink.start();
    assert_eq!(c.finish(Duration::from_secs(20)), 0, "{}", c.log());
    assert_eq!(sink.lines(), ["early"]);
}

/// A server that accepts and drops every connection at once (rejected sensor) is not
/// hammered: the backoff keeps growing up to `-rt`.
#[test]
fn rejecting_server_is_retried_with_backoff() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let conf = ConfDir::new(&format!("127.0.0.1:{port}"), 8, 4096);
    let mut c = Client::spawn(
        BIN,
        &[
            "-c",
            conf.path().to_str().unwrap(),
            "-ce=false",
            "-rt",
            "1s",
        ],
    );
    c.stdin.as_mut().unwrap().write_all(b"x\n").unwrap();
    // Count from the first attempt on (the client may start slowly on a busy machine).
    let first = std::time::Instant::now() + Duration::from_secs(15);
    let mut accepted = 0;
    while accepted == 0 {
        assert!(
            std::time::Instant::now() < first,
            "no connection attempt\n{}",
            c.log()
        );
        if let Ok((s, _)) = listener.accept() {
            accepted = 1;
            drop(s);
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        match listener.accept() {
            Ok((s, _)) => {
                accepted += 1;
                drop(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // 0, 0.1, 0.3, 0.7, 1.5, 2.5 s: about six attempts, never dozens.
    assert!(
        (2..=10).contains(&accepted),
        "{accepted} connections in 2.5 s\n{}",
        c.log()
    );
}

/// `destination` as `[::1]:port` (goclient's bracketed IPv6 form).
#[test]
fn ipv6_bracketed_destination() {
    use std::io::Read;
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let conf = ConfDir::new(&format!("[::1]:{port}"), 8, 4096);
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut data = Vec::new();
        s.read_to_end(&mut data).unwrap();
        (peer, data)
    });
    let (rc, c) = send(&conf, &["-ce=false"], "over v6\n");
    assert_eq!(rc, 0, "{}", c.log());
    let (peer, data) = server.join().unwrap();
    assert!(peer.is_ipv6());
    let d4_proto::Decoded::Packet(p) = d4_proto::decode(&data, &Default::default()).unwrap() else {
        panic!("no packet")
    };
    assert_eq!(p.payload(), b"over v6\n");
}
