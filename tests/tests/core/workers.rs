//! d4-workers beyond type 8's happy path: a restart in the middle of a session loses
//! and duplicates nothing; SIGTERM while the analyzer store is down stops the workers at
//! once and a later run queues every line once; type 1 (pcap) capture files are saved,
//! gzipped and queued; a non-pcap type-1 stream is rejected as upstream; a type without
//! a worker in the type registry is refused at start.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use d4_core::queues::NewQueue;
use d4_testkit::{Proc, Reply, StoreKind};

use crate::common::{closed_by_server, send, Mode, Sensor, Stack};

const S: &str = "ff7ba400e76c4053982dfeec42bdef38";
const Q: &str = "7e3c7a1b-2d4f-4a6b-8c9d-0e1f2a3b4c5d";

async fn queue(stack: &Stack, ty: &str) {
    stack
        .queues()
        .create(&NewQueue {
            format_type: ty.into(),
            uuid: Some(Q.into()),
            ..Default::default()
        })
        .await
        .unwrap();
}

fn pop_all(stack: &Stack, key: &str) -> Vec<String> {
    let mut v = Vec::new();
    while let Some(s) = stack.meta.cmd_db(2, &["RPOP", key]).as_str() {
        v.push(s);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_restart_mid_line_loses_and_duplicates_nothing() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    queue(&stack, "8").await;
    let s = Sensor::new(S);
    let mut c = s.connect(stack.port).await;
    send(&mut c, &s.packet(b"line-1\nline-2\nli")).await;
    let list = format!("analyzer:8:{Q}");
    stack.wait_until("first lines", Duration::from_secs(10), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(2)
    });
    let mut w = stack.workers.take().unwrap();
    assert_eq!(
        w.terminate(Duration::from_secs(10)),
        Some(0),
        "{}",
        w.output()
    );
    let tails = stack.stream.cmd(&["KEYS", "worker_tail:8:*"]).as_strings();
    assert_eq!(tails.len(), 1);
    assert_eq!(
        stack.stream.cmd(&["GET", &tails[0]]).as_str().as_deref(),
        Some("li")
    );

    send(&mut c, &s.packet(b"ne-3\nline-4\nlast")).await;
    stack.start_workers();
    drop(c);
    stack.wait_until("all lines", Duration::from_secs(15), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(5)
    });
    assert_eq!(
        pop_all(&stack, &list),
        vec!["line-1", "line-2", "line-3", "line-4", "last"]
    );
    stack.wait_until("session finished", Duration::from_secs(10), || {
        stack
            .stream
            .cmd(&["KEYS", "*"])
            .as_strings()
            .iter()
            .all(|k| k == "ended_session" || k == "server_ids" || k.starts_with("server_lease:"))
            && stack.stream.cmd(&["SCARD", "ended_session"]) == Reply::Int(0)
    });
}

/// Makes `store` persist every write (append-only file), so that a SIGKILL loses nothing
/// and [`restart_store`] brings the data back.
fn persist_writes(store: &d4_testkit::Store) {
    assert_eq!(
        store.cmd(&["CONFIG", "SET", "appendonly", "yes"]),
        Reply::Status("OK".into())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = store
            .cmd(&["INFO", "persistence"])
            .as_str()
            .unwrap_or_default();
        if info.contains("aof_enabled:1")
            && info.contains("aof_rewrite_in_progress:0")
            && info.contains("aof_rewrite_scheduled:0")
        {
            return;
        }
        assert!(Instant::now() < deadline, "AOF not enabled:\n{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `store` again (same kind, port and directory) from its append-only file.
fn restart_store(store: &mut d4_testkit::Store) {
    let mut cmd = match store.kind {
        StoreKind::Redis => Command::new("redis-server"),
        StoreKind::D4Kv => Command::new(d4_testkit::bin_path("d4-kv")),
    };
    cmd.args([
        "--port",
        &store.port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
    ])
    .arg(store.dir())
    .args(["--save", "", "--appendonly", "yes"]);
    store.proc = Proc::spawn(&format!("store-{}", store.port), cmd);
    assert!(
        d4_testkit::wait_for_port(store.port, Duration::from_secs(10)),
        "store did not restart: {}",
        store.proc.output()
    );
}

/// Adds one entry to a session stream as d4-server does.
fn xadd(stack: &Stack, session: &str, payload: &str) {
    let key = format!("stream:8:{session}");
    let r = stack.stream.cmd(&[
        "XADD",
        &key,
        "*",
        "message",
        payload,
        "uuid",
        S,
        "timestamp",
        "1700000000",
        "version",
        "1",
    ]);
    assert!(r.as_str().is_some(), "XADD: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_analyzer_store_down_stops_at_once_and_loses_nothing() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    queue(&stack, "8").await;
    persist_writes(&stack.meta);
    let s = Sensor::new(S);
    let mut c = s.connect(stack.port).await;
    send(&mut c, &s.packet(b"line-1\nline-2\nli")).await;
    let list = format!("analyzer:8:{Q}");
    stack.wait_until("first lines", Duration::from_secs(10), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(2)
    });
    let sessions = stack
        .stream
        .cmd(&["SMEMBERS", "session_uuid:8"])
        .as_strings();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];

    // The analyzer (and metadata) store dies; more data reaches the session stream.
    stack.meta.proc.kill();
    xadd(&stack, session, "ne-3\nline-4\npa");
    let w = stack.workers.as_mut().unwrap();
    assert!(
        w.wait_for_output("Queue delivery failed", Duration::from_secs(10)),
        "{}",
        w.output()
    );
    let t0 = Instant::now();
    let mut w = stack.workers.take().unwrap();
    assert_eq!(
        w.terminate(Duration::from_secs(10)),
        Some(0),
        "{}",
        w.output()
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    // The batch that was not queued stays, with the tail from before it.
    let stream_key = format!("stream:8:{session}");
    assert_eq!(stack.stream.cmd(&["XLEN", &stream_key]), Reply::Int(1));
    assert_eq!(
        stack
            .stream
            .cmd(&["GET", &format!("worker_tail:8:{session}")])
            .as_str()
            .as_deref(),
        Some("li")
    );

    restart_store(&mut stack.meta);
    stack.start_workers();
    xadd(&stack, session, "rt-5\n");
    stack.wait_until("every line", Duration::from_secs(15), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(5)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        pop_all(&stack, &list),
        vec!["line-1", "line-2", "line-3", "line-4", "part-5"]
    );
    drop(c);
}

#[test]
fn a_type_without_a_worker_is_refused_at_start() {
    for (types, says) in [
        ("8,6", "no worker for type 6 (ndjson)"),
        ("99", "no worker for type 99: not a registered D4 type"),
        ("254", "type 254 (extended) is read by the worker of type 2"),
    ] {
        let out = Command::new(d4_testkit::bin_path("d4-workers"))
            .args(["--types", types, "-c", "/nonexistent/server.conf"])
            .output()
            .expect("run d4-workers");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(
            err.contains("available types: 1 (pcap), 2 (meta-header), 3 (log-line), 4 (dnscap), 8 (passivedns)"),
            "{err}"
        );
    }
}

fn pcap_stream() -> Vec<u8> {
    let mut s = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    s.extend_from_slice(&[0u8; 8]);
    s.extend_from_slice(&65535u32.to_le_bytes());
    s.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..50u32 {
        let payload = vec![i as u8; 60 + i as usize];
        s.extend_from_slice(&(1_700_000_000 + i).to_le_bytes());
        s.extend_from_slice(&0u32.to_le_bytes());
        s.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        s.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        s.extend_from_slice(&payload);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcap_stream_is_saved_gzipped_and_its_path_queued() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    queue(&stack, "1").await;
    let mut s = Sensor::new(S);
    s.ty = 1;
    let stream = pcap_stream();
    let mut c = s.connect(stack.port).await;
    for chunk in stream.chunks(333) {
        send(&mut c, &s.packet(chunk)).await;
    }
    drop(c);
    let list = format!("analyzer:1:{Q}");
    stack.wait_until("capture queued", Duration::from_secs(15), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(1)
    });
    let path = pop_all(&stack, &list).remove(0);
    assert!(
        path.starts_with(
            &stack
                .data()
                .join(S)
                .join("1")
                .to_string_lossy()
                .into_owned()
        ),
        "{path}"
    );
    assert!(path.ends_with(".cap.gz"), "{path}");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_pcap_type_1_stream_is_rejected() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    let mut s = Sensor::new(S);
    s.ty = 1;
    let mut c = s.connect(stack.port).await;
    send(&mut c, &s.packet(&[b'x'; 100])).await;
    stack.wait_until("worker error", Duration::from_secs(10), || {
        stack
            .meta
            .cmd(&["HGET", &format!("metadata_uuid:{S}"), "Error"])
            .as_str()
            .as_deref()
            == Some("Error: Type=1, Incorrect file format")
    });
    send(&mut c, &s.packet(b"more")).await;
    assert!(closed_by_server(&mut c, Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_type_3_are_queued_and_dnscap_type_4_is_saved() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    stack.meta.cmd(&["SADD", "server:accepted_type", "3"]);
    queue(&stack, "3").await;
    let mut s3 = Sensor::new(S);
    s3.ty = 3;
    let mut c = s3.connect(stack.port).await;
    send(
        &mut c,
        &s3.packet(b"<13>Nov 25 host app: one\n<13>Nov 25 host app: t"),
    )
    .await;
    send(&mut c, &s3.packet(b"wo\n")).await;
    drop(c);
    let list = format!("analyzer:3:{Q}");
    stack.wait_until("log lines", Duration::from_secs(10), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(2)
    });
    assert_eq!(
        pop_all(&stack, &list),
        vec!["<13>Nov 25 host app: one", "<13>Nov 25 host app: two"]
    );

    let other = "0b4c1f2e3d4a4b5c9d6e7f8091a2b3c4";
    let mut s4 = Sensor::new(other);
    s4.ty = 4;
    let dump = b"[1] 2023-12-23 10:00:00 query\n[2] 2023-12-23 10:00:01 answer\n";
    let mut c = s4.connect(stack.port).await;
    send(&mut c, &s4.packet(&dump[..17])).await;
    send(&mut c, &s4.packet(&dump[17..])).await;
    drop(c);
    let dir = stack.data().join(other).join("4");
    stack.wait_until("dnscap file", Duration::from_secs(10), || {
        stack.stream.cmd(&["SCARD", "session_uuid:4"]) == Reply::Int(0)
            && find(&dir, ".dnscap.txt").is_some()
    });
    let f = find(&dir, ".dnscap.txt").unwrap();
    assert_eq!(std::fs::read(f).unwrap(), dump);
}

fn find(dir: &std::path::Path, suffix: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, suffix) {
                return Some(f);
            }
        } else if p.to_string_lossy().ends_with(suffix) {
            return Some(p);
        }
    }
    None
}

/// Sessions whose streams take several `XREAD`s to read (more entries than one read
/// returns per stream), from three sensors at once: every line reaches the queue exactly
/// once and each sensor's lines keep their order, while the workers read the next entries
/// during each delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_sessions_of_several_sensors_are_queued_once_each_in_order() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    queue(&stack, "8").await;
    const SENSORS: [&str; 3] = [
        "ff7ba400e76c4053982dfeec42bdef01",
        "ff7ba400e76c4053982dfeec42bdef02",
        "ff7ba400e76c4053982dfeec42bdef03",
    ];
    const PACKETS: usize = 1500;
    const LINES_PER_PACKET: usize = 4;
    let mut conns = Vec::new();
    for (k, uuid) in SENSORS.iter().enumerate() {
        let s = Sensor::new(uuid);
        let wire: Vec<u8> = (0..PACKETS)
            .flat_map(|p| {
                let payload: String = (0..LINES_PER_PACKET)
                    .map(|l| format!("s{k}-{}\n", p * LINES_PER_PACKET + l))
                    .collect();
                s.packet(payload.as_bytes())
            })
            .collect();
        let mut c = s.connect(stack.port).await;
        send(&mut c, &wire).await;
        conns.push(c);
    }
    let list = format!("analyzer:8:{Q}");
    let total = (SENSORS.len() * PACKETS * LINES_PER_PACKET) as i64;
    stack.wait_until("all lines queued", Duration::from_secs(60), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(total)
    });
    drop(conns);
    let lines = pop_all(&stack, &list);
    for k in 0..SENSORS.len() {
        let prefix = format!("s{k}-");
        let got: Vec<usize> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix)?.parse().ok())
            .collect();
        let want: Vec<usize> = (0..PACKETS * LINES_PER_PACKET).collect();
        assert!(
            got == want,
            "sensor {k}: {} lines, not each once in order",
            got.len()
        );
    }
    // Nothing more arrives later (no batch delivered twice).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(stack.meta.cmd_db(2, &["LLEN", &list]), Reply::Int(0));
}
