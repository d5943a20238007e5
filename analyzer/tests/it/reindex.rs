//! `pdns-reindex` on stores written through redis-py in the upstream layout: afterwards every
//! search answers as if our ingestion had written the store, and a stopped walk resumes from
//! the cursor it saved.

use std::process::Command;

use d4_testkit::{python, workspace_root, Reply, Store};

use crate::common::*;
use crate::index::index_dump;
use crate::search::{drain, golden, now, LINES};

/// Runs `pdns-reindex -c conf --quiet [extra]`; returns its exit code and output.
fn reindex(conf: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = analyzer_cmd("pdns-reindex")
        .arg("-c")
        .arg(conf)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("pdns-reindex");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn reindexed_upstream_store_answers_like_our_ingestion() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // The upstream ingestion (redis-py, its command sequence) into db 1; it knows no PTR.
    let lines: Vec<&str> = LINES
        .iter()
        .copied()
        .filter(|l| !l.contains("||PTR||"))
        .collect();
    push_lines(&store, &lines);
    let script = workspace_root().join("tests/bench/analyzer/upstream_ingest.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([&store.port.to_string(), queue_key().as_str(), "100000"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(raw_cmd(store.port, 1, &["KEYS", "ix:*"])
        .as_strings()
        .is_empty());
    // Our ingestion of the same lines into db 0.
    let ours = write_conf(dir.path(), store.port, store.port, "");
    push_lines(&store, &lines);
    drain(&ours);
    let sub = tempfile::tempdir().expect("tempdir");
    let theirs = write_conf(sub.path(), store.port, store.port, "db = 1\n");
    let (code, text) = reindex(&theirs, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("indexed 12 records"), "{text}");
    assert_eq!(index_dump(store.port, 1), index_dump(store.port, 0));
    // Run again (idempotent) and serve the reindexed store: every golden search answers.
    assert_eq!(reindex(&theirs, &[]).0, Some(0));
    assert_eq!(index_dump(store.port, 1), index_dump(store.port, 0));
    let cof = start_cof(&theirs);
    for (path, want) in golden(now()) {
        let r = http_get(&cof.addr, &path, &[]);
        assert_eq!((r.status, r.body), (200, want), "{path}");
    }
}

const MANY: &str = r#"
import sys, redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]), db=0)
p = r.pipeline(transaction=False)
for i in range(3000):
    q, v = 'h%d.resume.example' % i, '192.0.%d.%d' % (i // 250, i % 250)
    p.sadd('r:%s:1' % q, v); p.sadd('v:%s:1' % v, q)
    p.set('s:%s:%s:1' % (q, v), 1700000000 + i); p.set('l:%s:%s:1' % (q, v), 1700000000 + i)
    p.incr('o:%s:%s:1' % (q, v))
p.execute()
"#;

#[test]
fn a_stopped_walk_resumes_from_its_saved_cursor() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    python(MANY, &[&store.port.to_string()]);
    // What the first SCAN step of a walk returns, and the cursor after it, saved as a
    // stopped run would have saved it.
    let Reply::Array(Some(step)) = store.cmd(&["SCAN", "0", "MATCH", "r:*", "COUNT", "100"]) else {
        panic!("SCAN");
    };
    let cursor = step[0].as_str().expect("cursor");
    let first: Vec<String> = step[1].as_strings();
    assert!(cursor != "0" && !first.is_empty());
    store.cmd(&[
        "HSET",
        "ix:reindex",
        "cursor",
        &cursor,
        "sets",
        "0",
        "records",
        "0",
        "finished",
        "0",
    ]);
    let (code, text) = reindex(&conf, &["--count", "100"]);
    assert_eq!(code, Some(0), "{text}");
    // Whether the record of forward set `r:h<i>.resume.example:1` is in the wildcard index.
    let indexed = |key: &str| {
        let q = key.trim_start_matches("r:").trim_end_matches(":1");
        let i: u32 = q
            .trim_start_matches('h')
            .split('.')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("h<i>");
        let m = d4_analyzer::index::member(q, &format!("192.0.{}.{}", i / 250, i % 250), 1);
        let score = store.cmd(&["ZSCORE", "ix:sub:resume.example", &m]).as_str();
        score == Some((1_700_000_000 + i).to_string())
    };
    assert!(
        first.iter().all(|k| !indexed(k)),
        "resumed after the saved cursor"
    );
    let n = 3000 - first.len();
    assert!(text.contains(&format!("indexed {n} records")), "{text}");
    assert_eq!(
        store
            .cmd(&["HGET", "ix:reindex", "cursor"])
            .as_str()
            .as_deref(),
        Some("0")
    );
    // A new run starts over (the last one finished) and indexes everything.
    let (code, text) = reindex(&conf, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("indexed 3000 records"), "{text}");
    assert!(first.iter().all(|k| indexed(k)));
    assert_eq!(
        store.cmd(&["ZCARD", "ix:sub:resume.example"]).as_int(),
        Some(3000)
    );
}
