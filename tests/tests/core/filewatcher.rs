//! Extended types whose upstream modules are not the default handler, end to end through
//! the real d4-server and d4-workers (spec §4.3): `filewatcher` and `filewatcherjson`
//! save each element as a file and queue its path (d4-pretensor pops such a queue and
//! reads the files), `maltrail` queues its lines and saves no raw data. Items are popped
//! both ways: `RPOP` (Python analyzers) gives the oldest first, `LPOP` (the Go
//! analyzers) the newest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use d4_core::keys::{analyzer, meta};
use d4_core::queues::NewQueue;
use d4_testkit::Reply;

use crate::common::{send, Mode, Sensor, Stack};

const Q: &str = "0b7c6d5e-4f3a-4b2c-9d1e-0f9a8b7c6d5e";

/// Starts a stack that accepts extended type `ext` and has queue [`Q`] for it.
async fn stack_for(ext: &str) -> Option<Stack> {
    let stack = Stack::start(Mode::SharedSecret, true).await?;
    stack.meta.cmd(&["SADD", meta::ACCEPTED_EXTENDED_TYPE, ext]);
    stack
        .queues()
        .create(&NewQueue {
            format_type: "254".into(),
            metatype: Some(ext.into()),
            uuid: Some(Q.into()),
            ..Default::default()
        })
        .await
        .expect("create queue");
    Some(stack)
}

/// Sends the meta `header` as type 2, then `chunks` as type-254 packets, then closes;
/// waits until `n` items are queued for `ext`.
async fn run_session(
    stack: &Stack,
    sensor: &str,
    header: &str,
    chunks: &[Vec<u8>],
    ext: &str,
    n: i64,
) {
    let mut s = Sensor::new(sensor);
    s.ty = 2;
    let mut c = s.connect(stack.port).await;
    let mut wire = s.packet(header.as_bytes());
    s.ty = 254;
    for chunk in chunks {
        wire.extend(s.packet(chunk));
    }
    send(&mut c, &wire).await;
    drop(c);
    let list = analyzer::queue(ext, Q);
    stack.wait_until(
        &format!("{n} items queued"),
        Duration::from_secs(20),
        || stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(n),
    );
}

/// Pops the queue of `ext` as both kinds of analyzers do: two `RPOP`s (the two oldest
/// items, oldest first), then `LPOP`s until it is empty (the rest, newest first).
fn pop_both_ways(stack: &Stack, ext: &str) -> (Vec<String>, Vec<String>) {
    let list = analyzer::queue(ext, Q);
    let rpop: Vec<String> = (0..2)
        .filter_map(|_| stack.meta.cmd_db(2, &["RPOP", &list]).as_str())
        .collect();
    let lpop: Vec<String> =
        std::iter::from_fn(|| stack.meta.cmd_db(2, &["LPOP", &list]).as_str()).collect();
    (rpop, lpop)
}

/// Base64 as the Go file watcher sends a file: each `piece`-byte read encoded on its own
/// (padding inside the element when a read is not a multiple of 3 bytes).
fn go_base64(file: &[u8], piece: usize) -> Vec<u8> {
    file.chunks(piece).flat_map(base64).collect()
}

/// Standard padded base64.
fn base64(data: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// Asserts `path` is an existing file under `dir`, named `<sha256 hex><suffix>`,
/// holding `content`.
fn assert_saved(path: &str, dir: &Path, suffix: &str, content: &[u8]) {
    let p = PathBuf::from(path);
    assert!(p.is_absolute(), "queued path {path} is not absolute");
    assert_eq!(p.parent(), Some(dir), "{path}");
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    let hash = name
        .strip_suffix(suffix)
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), content, "content of {path}");
}

/// `<data>/<sensor>/254/YYYY/MM/DD/<ext>/files` for today.
fn files_dir(stack: &Stack, sensor: &str, ext: &str) -> PathBuf {
    let today = chrono::Local::now().format("%Y/%m/%d").to_string();
    stack
        .data()
        .join(sensor)
        .join("254")
        .join(today)
        .join(ext)
        .join("files")
}

/// Splits `stream` into packets of `size` bytes, as a sensor's reads do.
fn packets(stream: &[u8], size: usize) -> Vec<Vec<u8>> {
    stream.chunks(size).map(<[u8]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filewatcher_files_are_saved_and_their_paths_queued() {
    let Some(stack) = stack_for("filewatcher").await else {
        return;
    };
    let sensor = "5a1e0c4b3d2f4e6a8b9c0d1e2f3a4b5c";
    // Four files; the second spans several 3072-byte reads, the third has a short read
    // in the middle (padding inside its element), the last is binary.
    let files: Vec<Vec<u8>> = vec![
        br#"{"request": {"request_line": "GET /a"}}"#.to_vec(),
        (0..7000u32)
            .map(|i| b"0123456789abcdef"[i as usize % 16])
            .collect(),
        b"short read then the rest".to_vec(),
        (0..=255u8).collect(),
    ];
    let mut stream = Vec::new();
    for (i, f) in files.iter().enumerate() {
        stream.extend(if i == 2 {
            go_base64(f, 10)
        } else {
            go_base64(f, 3072)
        });
        stream.push(b'\n');
    }
    let header = r#"{"type": "filewatcher", "extension": "json"}"#;
    run_session(
        &stack,
        sensor,
        header,
        &packets(&stream, 1000),
        "filewatcher",
        4,
    )
    .await;
    let dir = files_dir(&stack, sensor, "filewatcher");
    let (rpop, lpop) = pop_both_ways(&stack, "filewatcher");
    assert_eq!((rpop.len(), lpop.len()), (2, 2), "{rpop:?} {lpop:?}");
    // RPOP: oldest first; LPOP: newest first.
    for (path, file) in rpop.iter().zip([&files[0], &files[1]]) {
        assert_saved(path, &dir, ".json", file);
    }
    for (path, file) in lpop.iter().zip([&files[3], &files[2]]) {
        assert_saved(path, &dir, ".json", file);
    }
    // No raw `.txt` of the default handler, only the meta header's JSON beside `files/`.
    let day = dir.parent().unwrap();
    let others: Vec<String> = std::fs::read_dir(day)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "files")
        .collect();
    assert!(
        others.len() == 1 && others[0].ends_with(".json"),
        "{others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filewatcherjson_elements_are_saved_and_their_paths_queued() {
    let Some(stack) = stack_for("filewatcherjson").await else {
        return;
    };
    let sensor = "6b2f1d5c4e3a4f7b9cad1e2f3a4b5c6d";
    let docs: Vec<String> = (0..4)
        .map(|i| format!(r#"{{"n": {i}, "request": {{"request_line": "GET /{i}"}}}}"#))
        .collect();
    let stream: Vec<u8> = docs
        .iter()
        .flat_map(|d| format!("{d}\n").into_bytes())
        .collect();
    let header = r#"{"type": "filewatcherjson"}"#;
    run_session(
        &stack,
        sensor,
        header,
        &packets(&stream, 50),
        "filewatcherjson",
        4,
    )
    .await;
    let dir = files_dir(&stack, sensor, "filewatcherjson");
    let (rpop, lpop) = pop_both_ways(&stack, "filewatcherjson");
    assert_eq!((rpop.len(), lpop.len()), (2, 2), "{rpop:?} {lpop:?}");
    for (path, doc) in rpop
        .iter()
        .chain(&lpop)
        .zip([&docs[0], &docs[1], &docs[3], &docs[2]])
    {
        assert_saved(path, &dir, ".json", doc.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maltrail_lines_are_queued_and_no_raw_file_is_kept() {
    let Some(stack) = stack_for("maltrail").await else {
        return;
    };
    let sensor = "7c3a2e6d5f4b4a8c8dbe2f3a4b5c6d7e";
    let lines: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "\"2024-03-09 10:00:0{i}\" sensor 10.0.0.{i} 53 1.1.1.1 53 UDP DNS evil{i}.example"
            )
        })
        .collect();
    let stream: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let header = r#"{"type": "maltrail"}"#;
    run_session(&stack, sensor, header, &packets(&stream, 70), "maltrail", 4).await;
    let (rpop, lpop) = pop_both_ways(&stack, "maltrail");
    assert_eq!(rpop, [lines[0].clone(), lines[1].clone()]);
    assert_eq!(lpop, [lines[3].clone(), lines[2].clone()]);
    // Upstream's module saves nothing but the meta header's JSON.
    let today = chrono::Local::now().format("%Y/%m/%d").to_string();
    let day = stack
        .data()
        .join(sensor)
        .join("254")
        .join(today)
        .join("maltrail");
    stack.wait_until(
        "only the meta header saved",
        Duration::from_secs(10),
        || {
            let names: Vec<String> = std::fs::read_dir(&day)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.len() == 1 && names[0].ends_with(".json")
        },
    );
}
