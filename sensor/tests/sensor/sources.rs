//! The other sources of `d4-client`: an analyzer queue of another D4 server's Redis
//! (real redis-server), a watched folder; and the counters on SIGUSR1 / SIGTERM.

use std::time::Duration;

use crate::common::{Client, ConfDir, Sink};

const BIN: &str = env!("CARGO_BIN_EXE_d4-client");

fn wait_log(c: &Client, needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c.log().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(c: &Client, sig: &str) {
    let pid = c.child.as_ref().unwrap().id().to_string();
    std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
}

/// d4server: LPOP of the queue, each element + `\n`; SIGTERM delivers and exits 0.
#[test]
fn d4server_queue_is_forwarded() {
    let Some(store) = d4_testkit::Store::start() else {
        return;
    };
    let queue = "analyzer:8:3f5a0bc1-8d37-4cd7-9ef5-3b8f1f4c4a11";
    for i in 0..50 {
        store.cmd_db(2, &["LPUSH", queue, &format!("line {i}")]);
    }
    let mut sink = Sink::plain();
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    conf.write("source", b"d4server\n");
    conf.write(
        "redis_d4",
        format!("127.0.0.1:{}/2\n", store.port).as_bytes(),
    );
    conf.write("redis_queue", format!("{queue}\n").as_bytes());
    let mut c = Client::spawn(
        BIN,
        &[
            "-c",
            conf.path().to_str().unwrap(),
            "-ce=false",
            "-rl",
            "50ms",
        ],
    );
    assert!(
        sink.wait_until(Duration::from_secs(15), |p| p.len() >= 50),
        "{}",
        c.log()
    );
    store.cmd_db(2, &["LPUSH", queue, "late"]);
    assert!(
        sink.wait_until(Duration::from_secs(10), |p| p.len() >= 51),
        "{}",
        c.log()
    );
    signal(&c, "-TERM");
    assert_eq!(c.finish(Duration::from_secs(15)), 0, "{}", c.log());
    let mut got = sink.lines();
    got.sort();
    let mut want: Vec<String> = (0..50)
        .map(|i| format!("line {i}"))
        .chain(["late".to_string()])
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(store.cmd_db(2, &["LLEN", queue]).as_int(), Some(0));
}

/// folder: each new file is sent base64-encoded in 3072-byte pieces, then a `\n` packet.
#[test]
fn folder_files_are_sent_base64() {
    use base64::Engine as _;
    let mut sink = Sink::plain();
    sink.start();
    let watched = tempfile::tempdir().unwrap();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 8192);
    conf.write("source", b"folder\n");
    conf.write("folder", watched.path().to_str().unwrap().as_bytes());
    let mut c = Client::spawn(
        BIN,
        &[
            "-c",
            conf.path().to_str().unwrap(),
            "-ce=false",
            "-rl",
            "50ms",
        ],
    );
    wait_log(&c, "Watching folder");
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(watched.path().join("f1.bin"), &content).unwrap();
    assert!(
        sink.wait_until(Duration::from_secs(10), |p| p.len() >= 3),
        "{}",
        c.log()
    );
    let p = sink.packets();
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(p[0].payload, b64.encode(&content[..3072]).into_bytes());
    assert_eq!(p[1].payload, b64.encode(&content[3072..]).into_bytes());
    assert_eq!(p[2].payload, b"\n");
    signal(&c, "-TERM");
    assert_eq!(c.finish(Duration::from_secs(15)), 0, "{}", c.log());
}

/// SIGUSR1 logs the counters; the final summary is logged at exit.
#[test]
fn counters_on_sigusr1_and_at_exit() {
    let mut sink = Sink::plain();
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 4096);
    let mut c = Client::spawn(BIN, &["-c", conf.path().to_str().unwrap(), "-ce=false"]);
    use std::io::Write;
    c.stdin.as_mut().unwrap().write_all(b"a\nb\n").unwrap();
    c.stdin.as_mut().unwrap().flush().unwrap();
    assert!(sink.wait_until(Duration::from_secs(10), |p| !p.is_empty()));
    signal(&c, "-USR1");
    wait_log(&c, "Counters.");
    assert!(c.log().contains("d4_packets=1"), "{}", c.log());
    assert_eq!(c.finish(Duration::from_secs(15)), 0);
    assert!(
        c.log().contains("Done.") && c.log().contains("source_bytes=4"),
        "{}",
        c.log()
    );
}
