//! The sink is stopped (gracefully, and abruptly like kill -9) and restarted while the
//! client streams: no line may be lost; duplicates (the replay window) are counted.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use crate::common::{Client, ConfDir, Sink, Stop};

const BIN: &str = env!("CARGO_BIN_EXE_d4-client");

fn run(how: Stop) {
    if !d4_testkit::require("openssl") {
        return;
    }
    let certs = d4_testkit::Certs::generate();
    let mut sink = Sink::tls(&certs);
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    let mut c = Client::spawn(BIN, &["-c", conf.path().to_str().unwrap(), "-rt", "200ms"]);
    let total = 30_000;
    let mut sent = Vec::with_capacity(total);
    let stdin = c.stdin.as_mut().unwrap();
    for i in 0..total {
        let line = format!(
            "1700000000.{i:06}||10.0.0.1||8.8.8.8||IN||n{i}.example.||A||10.1.{}.{}||60||1",
            i / 256,
            i % 256
        );
        writeln!(stdin, "{line}").unwrap();
        sent.push(line);
        if i % 1000 == 999 {
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        if i == 10_000 || i == 20_000 {
            sink.stop(how);
            std::thread::sleep(Duration::from_millis(300));
            sink.start();
        }
    }
    assert_eq!(c.finish(Duration::from_secs(60)), 0, "{}", c.log());
    let got = sink.lines();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for l in &got {
        *counts.entry(l.as_str()).or_default() += 1;
    }
    let missing: Vec<&String> = sent
        .iter()
        .filter(|l| !counts.contains_key(l.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lines lost, first {:?}",
        missing.len(),
        missing.first()
    );
    assert!(
        got.iter().all(|l| l.ends_with("||60||1")),
        "a record was cut"
    );
    let dups = got.len() - sent.len();
    eprintln!(
        "{how:?}: sent {} lines, received {}, duplicates {dups}, connections {}",
        sent.len(),
        got.len(),
        sink.connections()
    );
    assert!(sink.connections() >= 3, "the client reconnected twice");
    // Bounded by the replay window (default 8 MiB / 5 s) per reconnect: in this short
    // test every reconnect may replay everything sent so far, never more.
    let reconnects = sink.connections() - 1;
    let line_len = sent[0].len() + 1;
    assert!(
        dups * line_len <= reconnects * (8 << 20),
        "too many duplicates: {dups}"
    );
    assert!(
        dups <= 10_000 + 20_000 + 1000,
        "more duplicates than lines sent before the stops: {dups}"
    );
    assert_eq!(sink.bad_hmac(), 0);
}

#[test]
fn graceful_server_restart_loses_no_line() {
    run(Stop::Graceful);
}

#[test]
fn abrupt_server_stop_loses_no_line() {
    run(Stop::Abrupt);
}

/// With `--spool`, input keeps being read while the server is down even when the
/// memory buffer is full; everything is delivered, in order, once it is up.
#[test]
fn spool_absorbs_an_outage_larger_than_memory() {
    let mut sink = Sink::plain();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    let spool = tempfile::tempdir().unwrap();
    let mut c = Client::spawn(
        BIN,
        &[
            "-c",
            conf.path().to_str().unwrap(),
            "-ce=false",
            "-rt",
            "200ms",
            "--buffer-mb",
            "1",
            "--spool",
            spool.path().to_str().unwrap(),
        ],
    );
    let lines: Vec<String> = (0..60_000)
        .map(|i| {
            format!(
                "1700000000.000000||10.0.0.1||8.8.8.8||IN||s{i:06}.example.||A||10.0.0.1||60||1"
            )
        })
        .collect();
    let mut stdin = c.stdin.take().unwrap();
    let data = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || {
        stdin.write_all(data.as_bytes()).unwrap();
        stdin
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !writer.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "input blocked although a spool is configured"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let spooled = std::fs::metadata(spool.path().join("d4-client.spool"))
        .unwrap()
        .len();
    assert!(
        spooled > 2 << 20,
        "about 4 MB beyond the 1 MiB memory buffer went to disk: {spooled}"
    );
    c.stdin = Some(writer.join().unwrap());
    sink.start();
    assert_eq!(c.finish(Duration::from_secs(60)), 0, "{}", c.log());
    assert_eq!(sink.lines(), lines, "all lines, in order, exactly once");
}
