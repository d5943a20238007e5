//! `pdns-import`: COF NDJSON / JSON array and passivedns logs (plain and gzip) into the store.

use std::io::Write;

use d4_testkit::Store;

use crate::common::*;
use crate::ingestion::{GOLDEN_LINES, GOLDEN_STORE};

fn import(conf: &std::path::Path, files: &[&std::path::Path]) -> (Option<i32>, String) {
    let mut cmd = analyzer_cmd("pdns-import");
    cmd.arg("-c").arg(conf).arg("--quiet").args(files);
    let out = cmd.output().expect("run pdns-import");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn passivedns_gzip_log_gives_the_same_store_as_ingestion() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let path = dir.path().join("passivedns.log.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create"),
        flate2::Compression::default(),
    );
    for l in GOLDEN_LINES {
        writeln!(gz, "{l}").expect("write");
    }
    gz.finish().expect("gzip");
    let (code, out) = import(&conf, &[&path]);
    // The banner line is rejected: exit status 1, everything else imported.
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("imported 6 records, 1 rejected, 1 excluded"),
        "{out}"
    );
    assert_eq!(
        dump(store.port, 0),
        GOLDEN_STORE
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn cof_ndjson_and_legacy_array_are_served() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let nd = dir.path().join("feed.ndjson");
    std::fs::write(
        &nd,
        concat!(
            r#"{"rrname": "WWW.Example.org.", "rrtype": "A", "rdata": ["192.0.2.1"], "time_first": 1600000000, "time_last": 1600000100, "count": 12, "sensor_id": "circl"}"#, "\n",
            "\n",
            r#"{"rrname": "www.example.org.", "rrtype": "A", "rdata": "192.0.2.1", "time_first": "1500000000", "time_last": 1550000000, "sensor_id": "circl"}"#, "\n",
            r#"{"rrname": "broken"#, "\n",
        ),
    )
    .expect("write");
    let arr = dir.path().join("legacy.json");
    std::fs::write(&arr, r#"[{"rrname": "mail.example.org", "rrtype": "MX", "rdata": "mx.example.org", "time_first": 1, "time_last": 2, "count": 3}]"#).expect("write");
    let (code, out) = import(&conf, &[&nd, &arr]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("imported 3 records, 1 rejected"), "{out}");
    assert!(
        out.contains("line=4"),
        "line number of the bad record: {out}"
    );
    let cof = start_cof(&conf);
    // time_first is the minimum, time_last the maximum, count the source's count.
    assert_eq!(
        http_get(&cof.addr, "/query/www.example.org", &[]).body,
        "{\"time_first\": 1500000000, \"time_last\": 1600000100, \"count\": 12, \"rrtype\": \"A\", \"rrname\": \"www.example.org\", \"rdata\": \"192.0.2.1\", \"origin\": \"origin not configured\"}\n"
    );
    assert!(http_get(&cof.addr, "/query/mail.example.org", &[])
        .body
        .contains("\"count\": 3, \"rrtype\": \"MX\""));
    assert!(http_get(&cof.addr, "/info", &[])
        .body
        .ends_with(r#""stats": 3, "sensors": [{"sensor_id": "circl", "count": 2}]}"#));
}

/// `Sec-WebSocket-Accept` of a request head: base64(SHA-1(key + RFC 6455 GUID)).
fn accept_key(head: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let head = String::from_utf8_lossy(head);
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    let digest = sha1::Sha1::digest(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// A one-shot websocket server: answers the upgrade, sends `frames` (raw, unmasked), then waits
/// for the client's close frame.
fn ws_server(frames: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .ok();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n", accept_key(&head));
        s.write_all(resp.as_bytes()).expect("write");
        for f in frames {
            s.write_all(&f).expect("frame");
        }
        let mut back = Vec::new();
        let _ = s.read_to_end(&mut back);
        back
    });
    (port, h)
}

fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    if payload.len() < 126 {
        f.push(payload.len() as u8);
    } else {
        f.push(126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

#[test]
fn cof_websocket_stream_is_imported() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let long = format!(
        r#"{{"rrname": "long.example.org.", "rrtype": "TXT", "rdata": "\"{}\"", "time_first": 5, "time_last": 6, "sensor_id": "ws"}}"#,
        "x".repeat(200)
    );
    let frames = vec![
        frame(true, 1, br#"{"rrname": "ws.example.org.", "rrtype": "A", "rdata": "192.0.2.7", "time_first": 10, "time_last": 20, "sensor_id": "ws"}"#),
        frame(false, 1, br#"{"rrname": "frag.example.org", "rrtype": "AAAA", "#),
        frame(true, 9, b"ping"),
        frame(true, 0, br#""rdata": "2001:db8::7", "time_first": 1, "time_last": 2}"#),
        frame(true, 1, long.as_bytes()),
        frame(true, 1, b"not json"),
        frame(true, 8, &[0x03, 0xe8]),
    ];
    let (port, server) = ws_server(frames);
    let mut cmd = analyzer_cmd("pdns-import");
    cmd.arg("-c")
        .arg(&conf)
        .args(["--websocket", &format!("ws://127.0.0.1:{port}/feed")]);
    let out = cmd.output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("imported 3 records, 1 rejected"), "{text}");
    let back = server.join().expect("server");
    // Client frames are masked: a pong (0x8A) and a close (0x88).
    assert!(
        back.windows(2).any(|w| w == [0x8a, 0x84]),
        "no masked pong: {back:?}"
    );
    assert!(back.windows(1).any(|w| w == [0x88]), "no close: {back:?}");
    assert_eq!(
        store
            .cmd(&["GET", "s:ws.example.org:192.0.2.7:1"])
            .as_str()
            .as_deref(),
        Some("10")
    );
    assert_eq!(
        store
            .cmd(&["SMEMBERS", "r:frag.example.org:28"])
            .as_strings(),
        vec!["2001:db8::7"]
    );
    assert_eq!(
        store
            .cmd(&["ZSCORE", "stats:sensors", "ws"])
            .as_str()
            .as_deref(),
        Some("2")
    );
}
