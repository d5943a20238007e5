//! The folder source: `-daily` follows the day without a restart (its clock injected,
//! real files and polling), and `--send-existing` (d4-goclient#17) through the real
//! `d4-client` binary.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use d4_proto::{decode, Decoded, Limits};
use d4_sensor::folder::{watch_folder, FolderOptions};
use d4_sensor::packetizer::Signer;
use d4_sensor::queue::QueueReceiver;
use d4_sensor::source::Emitter;
use d4_sensor::stats::Stats;

use crate::common::{Client, ConfDir, Sink};

/// 2023-12-23 12:00 UTC and the next days at noon.
const DAY1: u64 = 1_703_332_800;
const DAY: u64 = 86_400;

/// The payload of one queued D4 packet.
fn payload(pkt: &[u8]) -> Vec<u8> {
    match decode(pkt, &Limits::default()).unwrap() {
        Decoded::Packet(p) => p.payload().to_vec(),
        other => panic!("not a whole packet: {other:?}"),
    }
}

/// Receives the packets of one file (base64 pieces up to the `\n` packet) and returns
/// the decoded content, or `None` if nothing came within `wait`.
async fn next_file(rx: &mut QueueReceiver, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut content = Vec::new();
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let pkt = tokio::time::timeout(left, rx.recv()).await.ok()??;
        let p = payload(&pkt);
        if p == b"\n" {
            return Some(content);
        }
        content.extend(base64::engine::general_purpose::STANDARD.decode(p).unwrap());
    }
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
}

/// `-daily`: files of the start day's folder are sent; when the day changes and the
/// next folder does not exist yet the client keeps sending from the current one (no
/// wait like d4-goclient#18); once the next day's folder exists it moves there and
/// sends what is in it, while files finished late in the previous day's folder still
/// go out; later days follow the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_folder_follows_the_day_without_restart() {
    let base = tempfile::tempdir().unwrap();
    let day = |n: u64| base.path().join(d4_sensor::folder::utc_day(DAY1 + n * DAY));
    assert!(day(0).ends_with("20231223"));
    std::fs::create_dir(day(0)).unwrap();
    write(&day(0), "old", "present at start");
    let now = Arc::new(AtomicU64::new(DAY1));
    let clock_now = now.clone();
    let clock = move || clock_now.load(Ordering::SeqCst);
    let (tx, mut rx) = d4_sensor::queue::queue(1 << 20, None).unwrap();
    let em = Emitter {
        signer: Signer {
            version: 1,
            uuid: [7; 16],
            key: b"k".to_vec(),
        },
        data_type: d4_proto::DataType::LOG_LINE,
        tx,
        stats: Arc::new(Stats::default()),
    };
    let opts = FolderOptions {
        base: base.path().to_path_buf(),
        daily: true,
        send_existing: false,
        json: false,
        poll: Duration::from_millis(50),
        snaplen: 4096,
    };
    let watcher = tokio::spawn(async move { watch_folder(opts, &clock, em).await });
    let wait = Duration::from_secs(10);
    tokio::time::sleep(Duration::from_millis(200)).await;

    write(&day(0), "a", "day 1 file");
    assert_eq!(next_file(&mut rx, wait).await.unwrap(), b"day 1 file");

    // Midnight passed, the new folder is not there yet: the current one is still served.
    now.store(DAY1 + DAY, Ordering::SeqCst);
    write(&day(0), "b", "after midnight, old folder");
    assert_eq!(
        next_file(&mut rx, wait).await.unwrap(),
        b"after midnight, old folder"
    );

    // The new day's folder appears with a file in it: taken without a restart.
    std::fs::create_dir(day(1)).unwrap();
    write(&day(1), "c", "day 2 file");
    assert_eq!(next_file(&mut rx, wait).await.unwrap(), b"day 2 file");
    // A late file in the previous day's folder still goes out.
    write(&day(0), "d", "late in day 1");
    assert_eq!(next_file(&mut rx, wait).await.unwrap(), b"late in day 1");

    // A third day: the clock moves first, the folder comes later.
    now.store(DAY1 + 2 * DAY, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::create_dir(day(2)).unwrap();
    write(&day(2), "e", "day 3 file");
    assert_eq!(next_file(&mut rx, wait).await.unwrap(), b"day 3 file");

    // Nothing else was sent (the file present at start was skipped).
    assert_eq!(next_file(&mut rx, Duration::from_millis(500)).await, None);
    assert!(
        !watcher.is_finished(),
        "the watcher stopped: {:?}",
        watcher.await
    );
    watcher.abort();
}

fn spawn_folder_client(conf: &ConfDir, extra: &[&str]) -> Client {
    let mut args = vec![
        "-c",
        conf.path().to_str().unwrap(),
        "-ce=false",
        "-rl",
        "50ms",
    ];
    args.extend_from_slice(extra);
    Client::spawn(env!("CARGO_BIN_EXE_d4-client"), &args)
}

/// Waits until the client logs that it watches the folder.
fn wait_watching(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !c.log().contains("Watching folder") {
        assert!(Instant::now() < deadline, "{}", c.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The files the sink received, decoded (base64 pieces joined up to each `\n` packet).
fn received_files(sink: &Sink) -> Vec<Vec<u8>> {
    let mut files = vec![Vec::new()];
    for p in sink.packets() {
        if p.payload == b"\n" {
            files.push(Vec::new());
        } else if let Some(f) = files.last_mut() {
            f.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(&p.payload)
                    .unwrap(),
            );
        }
    }
    files.pop();
    files
}

/// d4-goclient#17: files already in the folder at start are skipped by default and
/// sent with `-send-existing` (Go-style spelling accepted).
#[test]
fn existing_files_are_sent_only_with_send_existing() {
    let watched = tempfile::tempdir().unwrap();
    write(watched.path(), "before", "was there first");
    for (extra, want_existing) in [(&[][..], false), (&["-send-existing"][..], true)] {
        let mut sink = Sink::plain();
        sink.start();
        let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 3, 4096);
        conf.write("source", b"folder\n");
        conf.write("folder", watched.path().to_str().unwrap().as_bytes());
        let mut c = spawn_folder_client(&conf, extra);
        wait_watching(&c);
        let new_name = format!("new-{want_existing}");
        write(watched.path(), &new_name, "arrived later");
        let n = if want_existing { 2 } else { 1 };
        let newlines = |p: &[crate::common::Got]| p.iter().filter(|g| g.payload == b"\n").count();
        assert!(
            sink.wait_until(Duration::from_secs(10), |p| newlines(p) >= n),
            "{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(300));
        let mut got = received_files(&sink);
        got.sort();
        let mut want = vec![b"arrived later".to_vec()];
        if want_existing {
            want.push(b"was there first".to_vec());
        }
        assert_eq!(got, want, "{extra:?}: {}", c.log());
        std::process::Command::new("kill")
            .args(["-TERM", &c.child.as_ref().unwrap().id().to_string()])
            .status()
            .unwrap();
        assert_eq!(c.finish(Duration::from_secs(15)), 0, "{}", c.log());
        std::fs::remove_file(watched.path().join(new_name)).unwrap();
    }
}
