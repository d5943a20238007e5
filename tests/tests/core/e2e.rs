//! End to end: two sensors stream passivedns lines over TLS to the real d4-server, the
//! real d4-workers queue them, and a legacy Python analyzer (redis-py) pops every line,
//! byte-identical and in order, from `analyzer:8:<queue>` on db 2. Stats, metadata,
//! session cleanup and the saved files are checked against the spec.

use std::io::Read;
use std::time::Duration;

use d4_core::queues::NewQueue;
use d4_testkit::Reply;

use crate::common::{send, today, Mode, Sensor, Stack};

const QUEUE: &str = "5e3c7a1b-2d4f-4a6b-8c9d-0e1f2a3b4c5d";
const S1: &str = "ff7ba400e76c4053982dfeec42bdef38";
const S2: &str = "0b4c1f2e3d4a4b5c9d6e7f8091a2b3c4";

/// The legacy analyzer: pops everything and prints each item hex-encoded, one per line.
const PY_ANALYZER: &str = r#"
import sys, redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]), db=2)
key = 'analyzer:8:' + sys.argv[2]
while True:
    d = r.rpop(key)
    if d is None:
        break
    print(d.hex())
"#;

fn pdns_lines(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "1700000{i:03}.123456||10.0.{tag}.1||192.0.2.53||IN||host{i}.{tag}.example.||A||198.51.100.{}||300||1",
                i % 250
            )
            .into_bytes()
        })
        .collect()
}

/// The sensor's byte stream cut at odd places into packets of `sizes` (cycled).
fn packetize(stream: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < stream.len() {
        let n = sizes[k % sizes.len()].min(stream.len() - i);
        out.push(stream[i..i + n].to_vec());
        i += n;
        k += 1;
    }
    out
}

fn gunzip_all(dir: &std::path::Path) -> Vec<u8> {
    let mut files: Vec<_> = walk(dir);
    files.sort();
    let mut all = Vec::new();
    for f in files {
        assert!(
            f.to_string_lossy().ends_with(".passivedns.txt.gz"),
            "{}",
            f.display()
        );
        flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_end(&mut all)
            .unwrap();
    }
    all
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sensors_lines_reach_the_legacy_analyzer_in_order() {
    if !d4_testkit::require("python3") {
        return;
    }
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    stack
        .queues()
        .create(&NewQueue {
            format_type: "8".into(),
            uuid: Some(QUEUE.into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let lines1 = pdns_lines("1", 300);
    let lines2 = pdns_lines("2", 200);
    let stream1: Vec<u8> = lines1
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    let mut stream2: Vec<u8> = lines2
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    // Sensor 2 ends without a final newline: its last line is flushed at session end.
    stream2.pop();

    let s1 = Sensor::new(S1);
    let s2 = Sensor::new(S2);
    let p1 = packetize(&stream1, &[1000, 37, 1, 4096, 250]);
    let p2 = packetize(&stream2, &[513, 2000, 7]);
    let port = stack.port;
    let (n1, n2) = (p1.len() as i64, p2.len() as i64);

    let t1 = {
        let s1 = s1.clone();
        tokio::spawn(async move {
            let mut c = s1.connect(port).await;
            // Several packets per write, and packets split across writes (incl. <62 bytes).
            let wire: Vec<u8> = p1.iter().flat_map(|p| s1.packet(p)).collect();
            for chunk in wire.chunks(777) {
                send(&mut c, chunk).await;
            }
            drop(c);
        })
    };
    let t2 = {
        let s2 = s2.clone();
        tokio::spawn(async move {
            let mut c = s2.connect(port).await;
            for p in &p2 {
                let pkt = s2.packet(p);
                let (a, b) = pkt.split_at(pkt.len().min(30));
                send(&mut c, a).await;
                send(&mut c, b).await;
            }
            drop(c);
        })
    };
    t1.await.unwrap();
    t2.await.unwrap();

    let total = (lines1.len() + lines2.len()) as i64;
    let list = format!("analyzer:8:{QUEUE}");
    stack.wait_until("every line queued", Duration::from_secs(30), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(total)
    });
    // Session end: the workers clean the session keys and gzip the files.
    stack.wait_until("sessions finished", Duration::from_secs(30), || {
        stack.stream.cmd(&["SCARD", "session_uuid:8"]) == Reply::Int(0)
            && stack.stream.cmd(&["SCARD", "ended_session"]) == Reply::Int(0)
    });

    let out = d4_testkit::python(PY_ANALYZER, &[&stack.meta.port.to_string(), QUEUE]);
    let popped: Vec<Vec<u8>> = out.lines().map(|l| hex::decode(l).unwrap()).collect();
    assert_eq!(popped.len() as i64, total);
    let got1: Vec<Vec<u8>> = popped
        .iter()
        .filter(|l| l.windows(6).any(|w| w == b"10.0.1"))
        .cloned()
        .collect();
    let got2: Vec<Vec<u8>> = popped
        .iter()
        .filter(|l| l.windows(6).any(|w| w == b"10.0.2"))
        .cloned()
        .collect();
    assert!(got1 == lines1, "sensor 1 lines differ or are out of order");
    assert!(got2 == lines2, "sensor 2 lines differ or are out of order");

    // Stats and metadata (spec §2.6), one increment per accepted packet.
    let date = today();
    let score = |key: &str, member: &str| -> i64 {
        stack
            .meta
            .cmd(&["ZSCORE", key, member])
            .as_str()
            .unwrap_or_default()
            .parse()
            .unwrap_or(-1)
    };
    assert_eq!(score(&format!("daily_uuid:{date}"), S1), n1);
    assert_eq!(score(&format!("daily_uuid:{date}"), S2), n2);
    assert_eq!(score(&format!("daily_type:{date}"), "8"), n1 + n2);
    assert_eq!(score(&format!("daily_ip:{date}"), "127.0.0.1"), n1 + n2);
    assert_eq!(score(&format!("stat_uuid_ip:{date}:{S1}"), "127.0.0.1"), n1);
    assert_eq!(score(&format!("stat_ip_uuid:{date}:127.0.0.1"), S2), n2);
    assert_eq!(score(&format!("stat_type_uuid:{date}:8"), S1), n1);
    assert_eq!(score(&format!("stat_uuid_type:{date}:{S2}"), "8"), n2);
    let now = chrono::Local::now().timestamp();
    for s in [S1, S2] {
        for key in [
            format!("metadata_uuid:{s}"),
            format!("metadata_type_by_uuid:{s}:8"),
        ] {
            for f in ["first_seen", "last_seen"] {
                let v: i64 = stack
                    .meta
                    .cmd(&["HGET", &key, f])
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((now - v).abs() < 120, "{key} {f} = {v}");
            }
        }
        assert_eq!(
            stack
                .meta
                .cmd(&["HEXISTS", &format!("metadata_uuid:{s}"), "Error"]),
            Reply::Int(0)
        );
        assert_eq!(
            stack
                .meta
                .cmd(&["SMEMBERS", &format!("all_types_by_uuid:{s}")])
                .as_strings(),
            vec!["8"]
        );
        let ips = stack
            .meta
            .cmd(&["LRANGE", &format!("list_uuid_ip:{s}"), "0", "-1"])
            .as_strings();
        assert_eq!(ips.len(), 1);
        assert!(
            ips[0].starts_with("127.0.0.1-") && ips[0].len() == "127.0.0.1-".len() + 14,
            "{ips:?}"
        );
    }
    let lu: f64 = stack
        .meta
        .cmd(&["HGET", &format!("analyzer:{QUEUE}"), "last_updated"])
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((now as f64 - lu).abs() < 120.0);

    // Live-connection state is gone, and so are the streams.
    for key in [
        "active_connection",
        "active_connection:8",
        "working_session_uuid:8",
    ] {
        assert_eq!(stack.stream.cmd(&["EXISTS", key]), Reply::Int(0), "{key}");
    }
    assert!(stack
        .stream
        .cmd(&["KEYS", "stream:*"])
        .as_strings()
        .is_empty());

    // Files: every byte each sensor sent, once, in order, gzipped.
    assert_eq!(gunzip_all(&stack.data().join(S1).join("8")), stream1);
    assert_eq!(gunzip_all(&stack.data().join(S2).join("8")), stream2);
}

/// Hundreds of sensors at once: every line of every sensor arrives, in each sensor's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sensors() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    stack
        .queues()
        .create(&NewQueue {
            format_type: "8".into(),
            uuid: Some(QUEUE.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    const N: usize = 200;
    const LINES: usize = 20;
    let port = stack.port;
    let mut tasks = Vec::new();
    let mut conns = Vec::new();
    for i in 0..N {
        let s = Sensor::new(&format!("{i:08x}0000400080000000{i:08x}"));
        conns.push(tokio::spawn(async move {
            let c = s.connect(port).await;
            (s, c)
        }));
    }
    // All connected at the same time before anyone sends.
    let mut open = Vec::new();
    for c in conns {
        open.push(c.await.unwrap());
    }
    for (i, (s, mut c)) in open.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let text: String = (0..LINES)
                .map(|l| format!("sensor{i:03}-line{l:02}\n"))
                .collect();
            for chunk in text.as_bytes().chunks(50) {
                send(&mut c, &s.packet(chunk)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let list = format!("analyzer:8:{QUEUE}");
    let total = (N * LINES) as i64;
    stack.wait_until(
        "every line of every sensor",
        Duration::from_secs(60),
        || stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(total),
    );
    let mut per_sensor: Vec<Vec<String>> = vec![Vec::new(); N];
    while let Some(l) = stack.meta.cmd_db(2, &["RPOP", &list]).as_str() {
        let i: usize = l[6..9].parse().unwrap();
        per_sensor[i].push(l);
    }
    for (i, got) in per_sensor.iter().enumerate() {
        let want: Vec<String> = (0..LINES)
            .map(|l| format!("sensor{i:03}-line{l:02}"))
            .collect();
        assert_eq!(got, &want, "sensor {i}");
    }
}
