//! A store error is never an empty answer (issue 18): `pdns-cof-server` answers 503 when the
//! store refuses a read or is gone, counts it and logs it; `pdns-ingestion` retries transient
//! refusals and stops on permanent ones with the batch kept in its processing list.

use std::process::Command;
use std::time::Duration;

use d4_testkit::{free_port, require, wait_for_port, Proc, Reply, Store, StoreKind};

use crate::common::*;
use crate::ingestion::{GOLDEN_LINES, GOLDEN_STORE};

/// The records of `www.example.com` as written by the golden lines, set by hand.
fn seed(store: &Store) {
    for args in [
        &["SADD", "r:www.example.com:1", "93.184.216.34"][..],
        &["SADD", "v:93.184.216.34:1", "www.example.com"],
        &["SET", "s:www.example.com:93.184.216.34:1", "1548624700"],
        &["SET", "l:www.example.com:93.184.216.34:1", "1548624800"],
        &["SET", "o:www.example.com:93.184.216.34:1", "3"],
        &["SET", "stats:processed", "3"],
    ] {
        assert!(!matches!(store.cmd(args), Reply::Error(_)), "{args:?}");
    }
}

fn metric(addr: &str, name: &str) -> Option<f64> {
    let page = http_get(addr, "/metrics", &[]).body;
    page.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn cof_answers_503_not_an_empty_200_when_the_store_refuses_a_read() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    seed(&store);
    // A key of the pDNS layout holding another type: the store refuses SMEMBERS on it.
    store.cmd(&["SET", "r:broken.example.com:1", "not a set"]);
    store.cmd(&["SET", "v:10.9.9.9:1", "not a set"]);
    store.cmd(&["SET", "stats:sensors", "not a sorted set"]);
    let cof = start_cof(&conf);

    let ok = http_get(&cof.addr, "/query/www.example.com", &[]);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body.lines().count(), 1, "{ok:?}");

    for path in [
        "/query/broken.example.com",
        "/fquery/10.9.9.9",
        "/query/10.9.9.9",
        "/info",
    ] {
        let r = http_get(&cof.addr, path, &[]);
        assert_eq!(r.status, 503, "{path}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
        assert_eq!(
            r.body, r#"{"error":"passive DNS store unavailable"}"#,
            "{r:?}"
        );
        // A refusal is not cured by waiting: no Retry-After.
        assert_eq!(r.header("retry-after"), None, "{r:?}");
    }
    assert_eq!(metric(&cof.addr, "pdns_cof_store_errors_total"), Some(4.0));
    let mut cof = cof;
    assert!(
        cof.proc
            .wait_for_output("Store error while answering", Duration::from_secs(5)),
        "{}",
        cof.proc.output()
    );
    let out = cof.proc.output();
    assert!(out.contains("WRONGTYPE"), "{out}");
    // Four errors within seconds: one log line.
    assert_eq!(occurrences(&out, "Store error while answering"), 1, "{out}");
}

#[test]
fn cof_answers_503_with_retry_after_when_the_store_is_gone() {
    let Some(mut store) = PersistentRedis::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    store.cmd(&["SADD", "r:www.example.com:1", "93.184.216.34"]);
    store.cmd(&["SET", "s:www.example.com:93.184.216.34:1", "1548624700"]);
    let cof = start_cof(&conf);
    assert_eq!(
        http_get(&cof.addr, "/query/www.example.com", &[]).status,
        200
    );
    store.kill();
    for path in ["/query/www.example.com", "/fquery/93.184.216.34", "/info"] {
        let r = http_get(&cof.addr, path, &[]);
        assert_eq!(r.status, 503, "{path}: {r:?}");
        assert_eq!(r.header("retry-after"), Some("1"), "{path}: {r:?}");
        assert!(r.body.contains("store unavailable"), "{r:?}");
    }
    assert_eq!(metric(&cof.addr, "pdns_cof_store_errors_total"), Some(3.0));
    store.restart();
    // The worker's connection is re-opened by the next queries.
    let mut back = http_get(&cof.addr, "/query/www.example.com", &[]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            back = http_get(&cof.addr, "/query/www.example.com", &[]);
            back.status == 200
        }),
        "{back:?}"
    );
    assert_eq!(back.body.lines().count(), 1, "{back:?}");
}

/// `pdns-ingestion -c conf [--drain] --batch n [--id id] [--metrics addr]`.
fn ingestion(conf: &std::path::Path, drain: bool, extra: &[&str]) -> Proc {
    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c").arg(conf).args(extra);
    if drain {
        cmd.arg("--drain");
    }
    Proc::spawn("pdns-ingestion", cmd)
}

/// Waits for a process to exit and returns its status code.
fn exit_code(p: &mut Proc, timeout: Duration) -> Option<i32> {
    assert!(
        wait_until(timeout, || !p.is_running()),
        "still running: {}",
        p.output()
    );
    p.terminate(Duration::from_secs(1))
}

/// Runs `pdns-ingestion --drain` to its end, checks its exit status and returns its output.
fn drained(conf: &std::path::Path, extra: &[&str], want: i32) -> String {
    let mut p = ingestion(conf, true, extra);
    let code = exit_code(&mut p, Duration::from_secs(30));
    let out = p.output();
    assert_eq!(code, Some(want), "{out}");
    out
}

fn processing_key() -> String {
    format!("{}:processing:default", queue_key())
}

#[test]
fn a_refused_batch_stops_the_ingestion_and_is_kept_until_the_store_is_fixed() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    // Another program wrote a key of the layout with another type: SADD is refused.
    store.cmd(&["SET", "r:www.example.com:1", "not a set"]);
    push_lines(&store, GOLDEN_LINES);
    let out = drained(&conf, &["--batch", "1000"], 3);
    for want in [
        "WRONGTYPE",
        "SADD r:www.example.com:1",
        "another type",
        "stays in",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // Nothing dropped: the batch waits in the processing list.
    assert_eq!(store.cmd_db(2, &["LLEN", &queue_key()]), Reply::Int(0));
    assert_eq!(
        store.cmd_db(2, &["LLEN", &processing_key()]),
        Reply::Int(GOLDEN_LINES.len() as i64)
    );
    // Restarted unchanged: refused again, same exit status.
    drained(&conf, &["--batch", "1000"], 3);
    // Fixed: the kept batch is written first and the store is the golden one (the refused
    // attempts ran their other commands, so the counters and `o:` counted more).
    store.cmd(&["DEL", "r:www.example.com:1"]);
    let fixed = drained(&conf, &["--batch", "1000"], 0);
    assert_eq!(
        store.cmd_db(2, &["EXISTS", &processing_key()]),
        Reply::Int(0)
    );
    let counters = ["dist:", "stats:", "o:"];
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .filter(|l| !counters.iter().any(|c| l.starts_with(c)))
            .collect()
    };
    let want: Vec<String> = GOLDEN_STORE.iter().map(|s| s.to_string()).collect();
    let got = dump(store.port, 0);
    assert_eq!(strip(got), strip(want), "{fixed}");
}

#[test]
fn a_first_seen_key_of_another_type_is_named_by_the_script() {
    // The script path: redis-server whatever D4_TEST_STORE says.
    let Some(store) = Store::start_kind(StoreKind::Redis) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    store.cmd(&["LPUSH", "s:www.example.com:93.184.216.34:1", "not a time"]);
    push_lines(&store, GOLDEN_LINES);
    let out = drained(&conf, &["--batch", "1000"], 3);
    assert!(out.contains("WRONGTYPE"), "{out}");
    assert!(
        out.contains("(key s:www.example.com:93.184.216.34:1)"),
        "{out}"
    );
    assert_eq!(
        store.cmd_db(2, &["LLEN", &processing_key()]),
        Reply::Int(GOLDEN_LINES.len() as i64)
    );
}

/// A redis-server on a free port with extra arguments (killed on drop).
fn redis_with(args: &[&str]) -> Option<(u16, Proc, tempfile::TempDir)> {
    if !require("redis-server") {
        return None;
    }
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .arg("--dir")
    .arg(dir.path())
    .args(args);
    let proc = Proc::spawn(&format!("redis-{port}"), cmd);
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "{}",
        proc.output()
    );
    Some((port, proc, dir))
}

#[test]
fn transient_refusals_are_retried_until_the_store_accepts_writes() {
    let Some(queue) = Store::start() else { return };
    let Some(store) = PersistentRedis::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), queue.port, store.port, "");
    // The store refuses every write for want of replicas (NOREPLICAS, "not now").
    store.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
    push_lines(&queue, GOLDEN_LINES);
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut p = ingestion(&conf, true, &["--batch", "1000", "--metrics", &metrics]);
    assert!(
        p.wait_for_output("retrying", Duration::from_secs(20)),
        "{}",
        p.output()
    );
    assert!(p.is_running(), "{}", p.output());
    assert!(p.output().contains("NOREPLICAS"), "{}", p.output());
    let errors = http_get(&metrics, "/metrics", &[]).body;
    assert!(
        errors.contains("pdns_ingestion_store_errors_total{class=\"transient\"}"),
        "{errors}"
    );
    store.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]);
    assert_eq!(
        exit_code(&mut p, Duration::from_secs(30)),
        Some(0),
        "{}",
        p.output()
    );
    let want: Vec<String> = GOLDEN_STORE.iter().map(|s| s.to_string()).collect();
    assert_eq!(dump(store.port, 0), want, "{}", p.output());
}

#[test]
fn a_store_that_forgets_the_script_gets_it_again() {
    // Scripting: redis-server whatever D4_TEST_STORE says.
    let Some(store) = Store::start_kind(StoreKind::Redis) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let mut p = ingestion(&conf, false, &["--batch", "1000"]);
    assert!(
        p.wait_for_output("Starting", Duration::from_secs(20)),
        "{}",
        p.output()
    );
    push_lines(&store, &GOLDEN_LINES[..3]);
    assert!(
        wait_until(Duration::from_secs(20), || store
            .cmd(&["GET", "stats:processed"])
            .as_str()
            .as_deref()
            == Some("3")),
        "{}",
        p.output()
    );
    assert_eq!(store.cmd(&["SCRIPT", "FLUSH"]), Reply::Status("OK".into()));
    push_lines(&store, &GOLDEN_LINES[3..]);
    assert!(
        wait_until(Duration::from_secs(20), || store
            .cmd(&["GET", "stats:processed"])
            .as_str()
            .as_deref()
            == Some("6")),
        "{}",
        p.output()
    );
    assert!(p.output().contains("loading it again"), "{}", p.output());
    let want: Vec<String> = GOLDEN_STORE.iter().map(|s| s.to_string()).collect();
    assert_eq!(dump(store.port, 0), want, "{}", p.output());
}

#[test]
fn a_store_without_scripting_is_written_the_single_writer_way() {
    // `SCRIPT` renamed away: what a store without scripting (d4-kv) answers.
    let Some((port, _redis, _dir)) = redis_with(&["--rename-command", "SCRIPT", ""]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), port, port, "");
    push_lines_port(
        port,
        &GOLDEN_LINES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    );
    let out = drained(&conf, &["--batch", "3"], 0);
    assert_eq!(occurrences(&out, "refuses SCRIPT LOAD"), 1, "{out}");
    assert!(out.contains("single writer"), "{out}");
    let want: Vec<String> = GOLDEN_STORE.iter().map(|s| s.to_string()).collect();
    assert_eq!(dump(port, 0), want, "{out}");
}
