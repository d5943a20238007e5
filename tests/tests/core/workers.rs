//! d4-workers beyond type 8's happy path: a restart in the middle of a session loses
//! and duplicates nothing; type 1 (pcap) capture files are saved, gzipped and queued;
//! a non-pcap type-1 stream is rejected as upstream.

use std::io::Read;
use std::time::Duration;

use d4_core::queues::NewQueue;
use d4_testkit::Reply;

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
            .all(|k| k == "ended_session")
            && stack.stream.cmd(&["SCARD", "ended_session"]) == Reply::Int(0)
    });
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
