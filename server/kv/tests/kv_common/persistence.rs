//! Persistence: append-only restart with every type and deadlines, truncated-tail
//! recovery, rewrite, snapshots, and the kill -9 crash test with `appendfsync always`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common::{Server, R};

const AOF: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

fn fill(s: &Server) {
    let mut c = s.conn();
    c.cmd(&["SET", "str", "v", "EX", "1000"]);
    c.cmd(&["RPUSH", "list", "a", "b", "c"]);
    c.cmd(&["LPOP", "list"]);
    c.cmd(&["SADD", "set", "x", "y"]);
    c.cmd(&["HSET", "hash", "f", "1"]);
    c.cmd(&["HINCRBYFLOAT", "hash", "f", "0.5"]);
    c.cmd(&["ZADD", "zset", "1.1", "m", "2", "n"]);
    c.cmd(&["XADD", "stream", "MAXLEN", "2", "1-1", "a", "1"]);
    c.cmd(&["XADD", "stream", "MAXLEN", "2", "2-1", "a", "2"]);
    c.cmd(&["XADD", "stream", "MAXLEN", "2", "3-1", "a", "3"]);
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["LPUSH", "analyzer:8:q", "line"]);
    c.cmd(&["SET", "gone", "x", "PX", "1"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "ctr"]);
    c.cmd(&["INCR", "ctr"]);
    c.cmd(&["EXEC"]);
}

fn check(s: &Server) {
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "str"]), R::bulk("v"));
    let R::Int(ttl) = c.cmd(&["TTL", "str"]) else {
        panic!()
    };
    assert!((990..=1000).contains(&ttl), "deadline kept: {ttl}");
    assert_eq!(c.cmd(&["LRANGE", "list", "0", "-1"]), R::bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["SCARD", "set"]), R::Int(2));
    assert_eq!(c.cmd(&["HGET", "hash", "f"]), R::bulk("1.5"));
    assert_eq!(
        c.cmd(&["ZSCORE", "zset", "m"]),
        R::bulk("1.1000000000000001")
    );
    assert_eq!(c.cmd(&["XLEN", "stream"]), R::Int(2));
    assert_eq!(
        c.cmd(&["XADD", "stream", "2-5", "a", "x"]),
        R::Err(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                .into()
        )
    );
    c.cmd(&["SELECT", "2"]);
    assert_eq!(c.cmd(&["RPOP", "analyzer:8:q"]), R::bulk("line"));
    assert_eq!(c.cmd(&["EXISTS", "gone"]), R::Int(0));
    assert_eq!(c.cmd(&["GET", "ctr"]), R::bulk("2"));
}

#[test]
fn append_only_file_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), AOF);
    fill(&s);
    s.proc.kill();
    let s = Server::start_in(dir.path(), AOF);
    check(&s);
}

/// `appendfsync always` on both runtimes: one io-thread runs everything on one thread
/// (the fsync waits in place there), more run a multi-thread runtime (the fsync moves the
/// other connections away). Each must acknowledge, persist and restore every write.
#[test]
fn appendfsync_always_works_on_one_and_on_two_io_threads() {
    for threads in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let opts = [AOF, &["--io-threads", threads]].concat();
        let mut s = Server::start_in(dir.path(), &opts);
        fill(&s);
        s.proc.kill();
        let s = Server::start_in(dir.path(), &opts);
        check(&s);
    }
}

#[test]
fn truncated_tail_is_dropped_and_logging_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), AOF);
    s.cmd(&["SET", "a", "1"]);
    s.proc.kill();
    let path = dir.path().join("appendonly.aof");
    let good = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nhal")
        .unwrap();
    let mut s = Server::start_in(dir.path(), AOF);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        good,
        "file cut back to the last whole command"
    );
    assert_eq!(s.cmd(&["GET", "a"]), R::bulk("1"));
    assert_eq!(s.cmd(&["EXISTS", "b"]), R::Int(0));
    s.cmd(&["SET", "c", "3"]);
    s.proc.kill();
    let s = Server::start_in(dir.path(), AOF);
    assert_eq!(s.cmd(&["GET", "c"]), R::bulk("3"));
}

#[test]
fn bgrewriteaof_compacts_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), AOF);
    let mut c = s.conn();
    for _ in 0..300 {
        c.send_cmd(&["INCR", "n"]);
    }
    for _ in 0..300 {
        c.read();
    }
    fill(&s);
    let path = dir.path().join("appendonly.aof");
    let before = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        R::Simple("Background append only file rewriting started".into())
    );
    let t = Instant::now();
    while std::fs::metadata(&path).unwrap().len() >= before && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::metadata(&path).unwrap().len() < before,
        "rewrite made the file smaller"
    );
    c.cmd(&["SELECT", "0"]);
    c.cmd(&["SET", "after", "rewrite"]);
    s.proc.kill();
    let s = Server::start_in(dir.path(), AOF);
    check(&s);
    assert_eq!(s.cmd(&["GET", "n"]), R::bulk("300"));
    assert_eq!(s.cmd(&["GET", "after"]), R::bulk("rewrite"));
}

#[test]
fn save_snapshot_survives_restart_without_aof() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]);
    fill(&s);
    assert_eq!(s.cmd(&["SAVE"]), R::ok());
    s.proc.kill();
    let s = Server::start_in(dir.path(), &[]);
    check(&s);
}

#[test]
fn kill_9_under_write_load_loses_no_acknowledged_write() {
    crash_under_load(AOF);
}

/// With the default `everysec` a process crash must not lose acknowledged writes either:
/// they reach the kernel (`write(2)`) before the reply is sent.
#[test]
fn kill_9_with_everysec_loses_no_acknowledged_write() {
    crash_under_load(&["--appendonly", "yes", "--appendfsync", "everysec"]);
}

#[test]
fn automatic_rewrite_when_the_file_grows() {
    let dir = tempfile::tempdir().unwrap();
    let opts = [
        "--appendonly",
        "yes",
        "--auto-aof-rewrite-min-size",
        "20kb",
        "--auto-aof-rewrite-percentage",
        "100",
    ];
    let mut s = Server::start_in(dir.path(), &opts);
    let mut c = s.conn();
    let path = dir.path().join("appendonly.aof");
    let mut peak = 0;
    for i in 0..2000 {
        c.send_cmd(&["SET", "same-key", &format!("value-{i}")]);
    }
    for _ in 0..2000 {
        c.read();
        peak = peak.max(std::fs::metadata(&path).unwrap().len());
    }
    let t = Instant::now();
    while std::fs::metadata(&path).unwrap().len() > 10_000 && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = std::fs::metadata(&path).unwrap().len();
    assert!(
        now < 10_000,
        "file rewritten automatically (peak {peak}, now {now})"
    );
    s.proc.kill();
    let s = Server::start_in(dir.path(), &opts);
    assert_eq!(s.cmd(&["GET", "same-key"]), R::bulk("value-1999"));
}

fn crash_under_load(opts: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), opts);
    let acked = Arc::new(Mutex::new(Vec::<Vec<u64>>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..4u64 {
        let (acked, stop, port) = (acked.clone(), stop.clone(), s.port);
        threads.push(std::thread::spawn(move || {
            let mut c = super::common::Conn::connect(port);
            let mut mine = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v = (t << 32 | i).to_string();
                c.send_cmd(&["RPUSH", "log", &v]);
                match c.try_read() {
                    Some(R::Int(_)) => mine.push(t << 32 | i),
                    _ => break,
                }
                i += 1;
            }
            acked.lock().unwrap().push(mine);
        }));
    }
    std::thread::sleep(Duration::from_millis(400));
    s.proc.kill();
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    let s = Server::start_in(dir.path(), opts);
    let R::Array(Some(items)) = s.cmd(&["LRANGE", "log", "0", "-1"]) else {
        panic!()
    };
    let stored: std::collections::HashSet<u64> =
        items.iter().map(|r| r.s().parse().unwrap()).collect();
    let acked = acked.lock().unwrap();
    let total: usize = acked.iter().map(Vec::len).sum();
    assert!(total > 50, "load ran ({total} acknowledged writes)");
    for v in acked.iter().flatten() {
        assert!(stored.contains(v), "acknowledged write {v:#x} lost");
    }
}
