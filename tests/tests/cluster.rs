//! The store facade on a real Redis Cluster (issue 18): 3 masters of `redis-server
//! --cluster-enabled yes` on free loopback ports, created with `redis-cli --cluster
//! create`, resharded live with `redis-cli --cluster reshard`.
//!
//! - the same pipelines give the same replies on the cluster as on one redis-server
//!   (keys of many slots, `MGET`/`MSET`/`DEL`/`EXISTS` across slots, refusals in place);
//! - `CROSSSLOT` is refused (permanent), a db other than 0 is explained at connect;
//! - `scan_match` sees the keys of every primary;
//! - during a live reshard, pipelined counters are counted exactly once and reads never
//!   turn a moving key into "no value";
//! - the pDNS chain on a resharded cluster, and the STREAM role on a cluster, match one
//!   server; `pdns-ingestion` carries on through the failover of a killed master.
//!
//! `D4_CLUSTER_SERVER=<path to valkey-server>` runs the same on a Valkey cluster (see
//! `tests/src/cluster.rs`).

use std::time::Duration;

use d4_core::config::RedisEndpoint;
use d4_core::store::{cmd, pipe, tolerant_pipe, ErrorClass, Pipeline, Policy, Store, Value};
use d4_testkit::cluster::Cluster;

/// The facade endpoint of a cluster's seed nodes, db `db`.
fn cluster_endpoint(c: &Cluster, db: u8) -> RedisEndpoint {
    RedisEndpoint {
        cluster: c
            .ports()
            .into_iter()
            .map(|p| ("127.0.0.1".to_string(), p))
            .collect(),
        ..RedisEndpoint::single("127.0.0.1", 0, db)
    }
}

/// The number of keys on the node at `port`.
fn dbsize(port: u16) -> i64 {
    d4_testkit::send_cmd(port, None, &["DBSIZE"])
        .as_int()
        .unwrap_or_else(|| panic!("DBSIZE on {port}"))
}

/// Connects the facade to a cluster.
async fn connect_cluster(c: &Cluster) -> Store {
    let store = Store::connect(&cluster_endpoint(c, 0), Policy::DAEMON)
        .await
        .unwrap_or_else(|e| panic!("connect to the cluster: {e}"));
    assert!(store.is_cluster());
    store
}

/// Pipelines touching many slots, with multi-key commands across slots and refusals.
fn mixed_pipelines() -> Vec<Pipeline> {
    let keys: Vec<String> = (0..300).map(|i| format!("k:{i}")).collect();
    let mut writes = pipe();
    for (i, k) in keys.iter().enumerate() {
        writes.cmd("SET").arg(k).arg(i);
        writes.cmd("INCR").arg(format!("n:{}", i % 17));
        writes.cmd("SADD").arg(format!("s:{}", i % 13)).arg(k);
    }
    writes
        .cmd("MSET")
        .arg("m:a")
        .arg("1")
        .arg("m:b")
        .arg("2")
        .arg("m:c")
        .arg("3");
    let mut reads = pipe();
    reads.cmd("MGET").arg(&keys[..]);
    reads.cmd("EXISTS").arg(&keys[..50]).arg("missing:1");
    reads
        .cmd("MGET")
        .arg("m:c")
        .arg("m:a")
        .arg("nothing")
        .arg("m:b");
    for i in 0..17 {
        reads.cmd("GET").arg(format!("n:{i}"));
    }
    for i in 0..13 {
        reads.cmd("SCARD").arg(format!("s:{i}"));
    }
    let mut tolerant = tolerant_pipe();
    tolerant.cmd("GET").arg("k:1");
    tolerant.cmd("LPUSH").arg("k:2").arg("x"); // WRONGTYPE, in place
    tolerant.cmd("GET").arg("k:3");
    tolerant.cmd("INCR").arg("k:4");
    let mut deletes = pipe();
    deletes.cmd("DEL").arg(&keys[100..200]).arg("missing:2");
    deletes.cmd("EXISTS").arg(&keys[..]);
    vec![writes, reads, tolerant, deletes]
}

/// The replies as comparable text (server errors by code only).
fn normalize(v: &Value) -> String {
    match v {
        Value::ServerError(e) => format!("error {}", e.code()),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(normalize).collect();
            format!("[{}]", inner.join(","))
        }
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_give_the_same_replies_as_one_server() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let Some(single) = d4_testkit::Store::start_kind(d4_testkit::StoreKind::Redis) else {
        return;
    };
    let on_cluster = connect_cluster(&cluster).await;
    let on_single = Store::connect(
        &RedisEndpoint::single("127.0.0.1", single.port, 0),
        Policy::DAEMON,
    )
    .await
    .unwrap();
    for (i, p) in mixed_pipelines().iter().enumerate() {
        let a: Vec<Value> = on_single.run(p).await.unwrap();
        let b: Vec<Value> = on_cluster.run(p).await.unwrap();
        let (a, b): (Vec<String>, Vec<String>) = (
            a.iter().map(normalize).collect(),
            b.iter().map(normalize).collect(),
        );
        assert_eq!(a, b, "pipeline {i}");
        assert!(!a.is_empty());
    }
    // The keys really are spread over the three masters.
    let per_node: Vec<usize> = cluster
        .ports()
        .iter()
        .map(|p| d4_testkit::cluster::snapshot(*p, 0).len())
        .collect();
    assert!(per_node.iter().all(|n| *n > 20), "{per_node:?}");
    assert_eq!(
        cluster.snapshot(),
        d4_testkit::cluster::snapshot(single.port, 0)
    );
    // SCAN over every primary finds what SCAN on one server finds.
    let (a, b) = (
        on_single.scan_match("k:*").await.unwrap(),
        on_cluster.scan_match("k:*").await.unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 200, "k:0..k:299 minus the 100 deleted");
    // A strict pipeline fails on the refusal, as on one server.
    let mut strict = pipe();
    strict
        .cmd("SET")
        .arg("k:9")
        .arg("v")
        .cmd("LPUSH")
        .arg("k:9")
        .arg("x");
    let e = on_cluster.run::<Vec<Value>>(&strict).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Refused, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossslot_is_refused_and_a_db_other_than_0_is_explained() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let store = connect_cluster(&cluster).await;
    // SUNION cannot be split: keys of two slots are a permanent refusal.
    let e = store
        .query::<Value>(cmd("SUNION").arg("a").arg("b"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert_eq!(e.class(), ErrorClass::Refused);
    // Same slot (hash tag): fine.
    let v: Vec<String> = store
        .query(cmd("SUNION").arg("{t}a").arg("{t}b"))
        .await
        .unwrap();
    assert!(v.is_empty());
    // Redis Cluster has only db 0: the error says so and is not retried.
    let e = Store::connect(&cluster_endpoint(&cluster, 2), Policy::INTERACTIVE)
        .await
        .err()
        .expect("db 2 on a Redis Cluster must be refused");
    assert_eq!(e.class(), ErrorClass::Refused, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("db 2") && text.contains("only db 0") && text.contains("cluster-databases"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_match_sees_the_keys_of_every_primary() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let store = connect_cluster(&cluster).await;
    let mut p = pipe();
    for i in 0..500 {
        p.cmd("SET").arg(format!("live:{i}")).arg(i).ignore();
        p.cmd("SET").arg(format!("other:{i}")).arg(i).ignore();
    }
    let () = store.run(&p).await.unwrap();
    let mut want: Vec<String> = (0..500).map(|i| format!("live:{i}")).collect();
    want.sort();
    assert_eq!(store.scan_match("live:*").await.unwrap(), want);
    for port in cluster.ports() {
        let here = dbsize(port);
        assert!(here > 100, "node {port} holds {here} keys: not spread");
    }
}

/// The traps of issue 18: with whole pipelines re-sent on a redirect, counters were
/// counted twice; with per-key pipelined reads, a moving key read as "no value".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_exact_and_reads_complete_during_a_live_reshard() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let store = connect_cluster(&cluster).await;
    let ports = cluster.ports();
    const KEYS: usize = 400;
    let batch = || {
        let mut p = pipe();
        for i in 0..KEYS {
            p.cmd("INCR").arg(format!("c:{i}"));
            p.cmd("SADD").arg(format!("set:{}", i % 50)).arg(i);
            p.cmd("EXPIRE").arg(format!("c:{i}")).arg(3600).ignore();
        }
        p
    };
    let keys: Vec<String> = (0..KEYS).map(|i| format!("c:{i}")).collect();
    let _: Vec<Value> = store.run(&batch()).await.unwrap();
    let mut rounds = 1i64;
    let before = dbsize(ports[1]);
    let mut reshard = cluster.reshard_in_background(ports[0], ports[1], 3000);
    let started = std::time::Instant::now();
    while reshard.is_running() || rounds < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "reshard too slow"
        );
        let _: Vec<Value> = store.run(&batch()).await.unwrap();
        rounds += 1;
        let mut read = tolerant_pipe();
        read.cmd("MGET").arg(&keys[..]);
        for k in keys.iter().take(100) {
            read.cmd("GET").arg(k);
        }
        let replies: Vec<Value> = store.run(&read).await.unwrap();
        let Value::Array(all) = &replies[0] else {
            panic!("MGET: {:?}", replies[0]);
        };
        for (k, v) in keys.iter().zip(all.iter().chain(&replies[1..])) {
            let n = d4_core::store::value::int(v);
            assert_eq!(n, Some(rounds), "{k} after {rounds} rounds: {v:?}");
        }
    }
    let out = reshard.terminate(Duration::from_secs(1));
    assert!(
        out.is_none() || out == Some(0),
        "reshard failed: {}",
        reshard.output()
    );
    cluster.wait_ok(Duration::from_secs(30));
    let snap = cluster.snapshot();
    for k in &keys {
        assert_eq!(snap[k], format!("string:{rounds} (ttl)"), "{k}");
    }
    for i in 0..50 {
        assert_eq!(snap[&format!("set:{i}")].split('|').count(), KEYS / 50);
    }
    let after = dbsize(ports[1]);
    assert!(
        after > before,
        "no key moved to {}: {before} then {after}",
        ports[1]
    );
}

#[path = "core/common/mod.rs"]
mod common;

/// The two type-8 queues: every line reaches both (one per ingestion).
const QUEUE_CLUSTER: &str = "0d9b7c2e-4f1a-4b3c-8d5e-6f7a8b9c0d1e";
const QUEUE_SINGLE: &str = "1e0c8d3f-5a2b-4c4d-9e6f-7a8b9c0d1e2f";
const SENSOR: &str = "2b7c9d4e5f6a4b1c8d2e3f4a5b6c7d8e";
/// Names seen in the lines (each several times, with several answers and times).
const NAMES: usize = 400;
/// Chunks of 50 lines sent at most per wave while its reshard runs: Valkey 9 moves slots
/// about four times slower than redis-server 7.0 (7.5 ms a slot idle, 50 ms under this
/// load), so its reshard is left to end on the backlog the ingestion still writes.
const MAX_CHUNKS_PER_WAVE: usize = 3000;
/// How long a wave's reshard may take after the wave was sent.
const RESHARD_TIMEOUT: Duration = Duration::from_secs(180);

/// Wave `w` of passivedns lines: repeated names, answers and out-of-order times, so first
/// and last seen and counts are updated many times.
fn wave(w: usize, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let k = (i * 7 + w * 13) % NAMES;
            let t = 1_700_000_000 + ((i * 37 + w * 1000) % 5000);
            let (ty, answer) = match i % 3 {
                0 => ("A", format!("198.51.100.{}", (i + w) % 7)),
                1 => ("AAAA", format!("2001:db8::{}", i % 5)),
                _ => ("CNAME", format!("alias{}.example.net.", k % 11)),
            };
            format!("{t}.{i:06}||10.0.0.{w}||192.0.2.53||IN||host{k}.zone{}.example.||{ty}||{answer}||300||1", k % 5)
        })
        .collect()
}

/// An `analyzer.conf` for queue `queue` on the D4 metadata store and the pDNS store given
/// by `store` (`port = ...` or `cluster = ...`).
fn analyzer_conf(
    dir: &std::path::Path,
    name: &str,
    queue: &str,
    meta: u16,
    store: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.conf"));
    let text = format!(
        "[global]\nmy-uuid = {queue}\nd4-server = 127.0.0.1:{meta}\nlogging-level = INFO\n\n\
         [expiration]\n16 = 24000\n\n[store]\nhost = 127.0.0.1\n{store}\n"
    );
    std::fs::write(&path, text).expect("write analyzer.conf");
    path
}

/// An analyzer binary with its config, the environment overrides removed.
fn analyzer(bin: &str, conf: &std::path::Path, args: &[&str]) -> d4_testkit::Proc {
    let mut cmd = std::process::Command::new(d4_testkit::bin_path(bin));
    for v in [
        "D4_ANALYZER_REDIS_HOST",
        "D4_ANALYZER_REDIS_PORT",
        "D4_REDIS_METADATA_HOST",
        "D4_REDIS_METADATA_PORT",
        "D4_LOG",
        "RUST_LOG",
    ] {
        cmd.env_remove(v);
    }
    cmd.arg("-c").arg(conf).args(args);
    d4_testkit::Proc::spawn(bin, cmd)
}

/// Starts `pdns-cof-server` on a free port and returns it with its `host:port`.
fn cof(conf: &std::path::Path) -> (d4_testkit::Proc, String) {
    let port = d4_testkit::free_port();
    let proc = analyzer(
        "pdns-cof-server",
        conf,
        &["--port", &port.to_string(), "--workers", "2"],
    );
    assert!(
        d4_testkit::wait_for_port(port, Duration::from_secs(20)),
        "pdns-cof-server did not listen: {}",
        proc.output()
    );
    (proc, format!("127.0.0.1:{port}"))
}

/// `GET path` over HTTP/1.1 (connection closed by the server): status and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the COF server");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The body of a chunked transfer encoding.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// COF answers as sorted lines (record order within an answer is not specified).
fn sorted_lines(body: &str) -> Vec<String> {
    let mut v: Vec<String> = body.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Issue 18's CI test: sensor lines through d4-server and d4-workers into two queues; one
/// pdns-ingestion writes a 3-master cluster while its slots are resharded, the other one
/// redis-server. Every pDNS key and value, and the COF answer for every name and every
/// answer, are identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pdns_chain_on_a_resharded_cluster_matches_one_server() {
    for bin in [
        "d4-server",
        "d4-workers",
        "pdns-ingestion",
        "pdns-cof-server",
    ] {
        if !d4_testkit::require_path(bin, &d4_testkit::bin_path(bin)) {
            return;
        }
    }
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let Some(single) = d4_testkit::Store::start_kind(d4_testkit::StoreKind::Redis) else {
        return;
    };
    let Some(stack) = common::Stack::start(common::Mode::SharedSecret, true).await else {
        return;
    };
    for q in [QUEUE_CLUSTER, QUEUE_SINGLE] {
        let queue = d4_core::queues::NewQueue {
            format_type: "8".into(),
            uuid: Some(q.into()),
            ..Default::default()
        };
        stack.queues().create(&queue).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let meta = stack.meta.port;
    let on_cluster = analyzer_conf(
        dir.path(),
        "cluster",
        QUEUE_CLUSTER,
        meta,
        &format!("cluster = {}", cluster.seeds()),
    );
    let on_single = analyzer_conf(
        dir.path(),
        "single",
        QUEUE_SINGLE,
        meta,
        &format!("port = {}", single.port),
    );
    let _ingest_cluster = analyzer("pdns-ingestion", &on_cluster, &[]);
    let _ingest_single = analyzer("pdns-ingestion", &on_single, &[]);

    // Four waves of lines, each sent while a reshard moves 2000 slots to the next node.
    let ports = cluster.ports();
    let sensor = common::Sensor::new(SENSOR);
    let mut all = Vec::new();
    for w in 0..4 {
        let mut reshard = cluster.reshard_in_background(ports[w % 3], ports[(w + 1) % 3], 2000);
        let lines = wave(w, 2500);
        let mut conn = sensor.connect(stack.port).await;
        // The wave at least once, and again as long as slots are moving, up to
        // MAX_CHUNKS_PER_WAVE (a slow reshard, e.g. Valkey's, then ends on the backlog).
        let mut sent_during_reshard = 0;
        for (n, chunk) in lines.chunks(50).cycle().enumerate() {
            let moving = reshard.is_running();
            if n >= 50 && (!moving || n >= MAX_CHUNKS_PER_WAVE) {
                break;
            }
            let payload: Vec<u8> = chunk
                .iter()
                .flat_map(|l| l.bytes().chain([b'\n']))
                .collect();
            common::send(&mut conn, &sensor.packet(&payload)).await;
            all.extend(chunk.iter().cloned());
            sent_during_reshard += usize::from(moving) * chunk.len();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(conn);
        assert!(
            sent_during_reshard > 0,
            "wave {w} ended before the reshard started"
        );
        eprintln!("wave {w}: {sent_during_reshard} lines sent while slots moved");
        let started = std::time::Instant::now();
        while reshard.is_running() {
            assert!(
                started.elapsed() < RESHARD_TIMEOUT,
                "reshard did not end: {}",
                reshard.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            reshard.terminate(Duration::from_secs(1)),
            Some(0),
            "{}",
            reshard.output()
        );
        cluster.wait_ok(Duration::from_secs(30));
    }
    // Both queues drained, then both stores equal.
    stack.wait_until("queues drained", Duration::from_secs(120), || {
        [QUEUE_CLUSTER, QUEUE_SINGLE].iter().all(|q| {
            stack.meta.cmd_db(2, &["LLEN", &format!("analyzer:8:{q}")]) == d4_testkit::Reply::Int(0)
        })
    });
    let reference = || d4_testkit::cluster::snapshot(single.port, 0);
    stack.wait_until("stores equal", Duration::from_secs(60), || {
        cluster.snapshot() == reference()
    });
    let (got, want) = (cluster.snapshot(), reference());
    assert_eq!(got.len(), want.len());
    assert!(want.len() > NAMES * 2, "too few pDNS keys: {}", want.len());
    let counted: i64 = all.len() as i64;
    let total: i64 = want
        .iter()
        .filter(|(k, _)| k.starts_with("o:"))
        .filter_map(|(_, v)| {
            v.strip_prefix("string:")
                .and_then(|v| v.split(' ').next())
                .and_then(|v| v.parse::<i64>().ok())
        })
        .sum();
    assert_eq!(total, counted, "o: counts must add up to the lines sent");

    // Every name and every answer gives the same COF answer from both stores.
    let (_cof_cluster, a) = cof(&on_cluster);
    let (_cof_single, b) = cof(&on_single);
    let mut queries: Vec<String> = all
        .iter()
        .flat_map(|l| {
            let f: Vec<&str> = l.split("||").collect();
            [
                f[4].trim_end_matches('.').to_string(),
                f[6].trim_end_matches('.').to_string(),
            ]
        })
        .collect();
    queries.sort();
    queries.dedup();
    let mut records = 0;
    for q in &queries {
        let path = format!("/query/{q}");
        let (sa, ba) = http_get(&a, &path);
        let (sb, bb) = http_get(&b, &path);
        assert_eq!((sa, sb), (200, 200), "{path}: {ba} / {bb}");
        assert_eq!(sorted_lines(&ba), sorted_lines(&bb), "{path}");
        records += ba.lines().count();
    }
    assert!(
        records > queries.len(),
        "COF answers nearly empty: {records} records for {} queries",
        queries.len()
    );
}

/// `XREAD BLOCK` of streams in several slots on `store`: the entries already there, then
/// nil after the `BLOCK` time, then (with `BLOCK 0`) an entry added 300 ms later, with how
/// long that last read waited. `writer` is another connection to the same store (a
/// blocked connection runs nothing else).
async fn xread_rounds(store: &Store, writer: Store) -> (Value, Value, Value, Duration) {
    let keys = ["xr:a", "xr:b", "xr:c"];
    for (k, id) in [("xr:c", "3-1"), ("xr:a", "1-1")] {
        let _: Value = store
            .query(cmd("XADD").arg(k).arg(id).arg("f").arg(k))
            .await
            .unwrap();
    }
    let read = |block: u64, ids: [&str; 3]| {
        let mut c = cmd("XREAD");
        c.arg("COUNT")
            .arg(10)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&keys)
            .arg(&ids);
        c
    };
    let present: Value = store.query(&read(200, ["0", "0", "0"])).await.unwrap();
    let last = ["1-1", "0", "3-1"];
    let started = std::time::Instant::now();
    let none: Value = store.query(&read(300, last)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "BLOCK 300 with nothing new answered after {waited:?}"
    );
    let add = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _: Value = writer
            .query(cmd("XADD").arg("xr:b").arg("2-1").arg("f").arg("late"))
            .await
            .unwrap();
    });
    let started = std::time::Instant::now();
    let late: Value = store.query(&read(0, last)).await.unwrap();
    let waited = started.elapsed();
    add.await.unwrap();
    (present, none, late, waited)
}

/// Issue 18: `XREAD BLOCK` over streams of several slots answers on a cluster what one
/// redis-server answers (streams with entries, in the command's order; nil when nothing
/// came), and an entry written while it waits arrives at most a poll interval late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xread_of_several_slots_answers_as_one_server() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let Some(single) = d4_testkit::Store::start_kind(d4_testkit::StoreKind::Redis) else {
        return;
    };
    let port = cluster.ports()[0];
    let slots: std::collections::BTreeSet<i64> = ["xr:a", "xr:b", "xr:c"]
        .iter()
        .map(|k| {
            d4_testkit::send_cmd(port, None, &["CLUSTER", "KEYSLOT", k])
                .as_int()
                .unwrap()
        })
        .collect();
    assert_eq!(slots.len(), 3, "the streams must live in three slots");
    let on_cluster = connect_cluster(&cluster).await;
    let single_ep = RedisEndpoint::single("127.0.0.1", single.port, 0);
    let connect_single = || async {
        Store::connect(&single_ep, Policy::DAEMON)
            .await
            .expect("connect to redis-server")
    };
    let (want_present, want_none, want_late, _) =
        xread_rounds(&connect_single().await, connect_single().await).await;
    let (present, none, late, waited) =
        xread_rounds(&on_cluster, connect_cluster(&cluster).await).await;
    assert!(normalize(&want_present).contains("xr:a") && normalize(&want_present).contains("xr:c"));
    assert_eq!(normalize(&present), normalize(&want_present));
    assert_eq!(none, Value::Nil);
    assert_eq!(want_none, Value::Nil);
    assert!(normalize(&want_late).contains("late"));
    assert_eq!(normalize(&late), normalize(&want_late));
    eprintln!("entry written 300 ms into XREAD BLOCK 0 on the cluster, read after {waited:?}");
    // Written 300 ms after the read started: seen within one poll interval (25 ms) plus
    // the round trips of a loaded test machine.
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(800),
        "the entry arrived after {waited:?}"
    );
}

/// Sensors sending at once in the STREAM-on-a-cluster chain test.
const STREAM_SENSORS: [&str; 4] = [
    "3c8d0e5f6a7b4c2d9e3f4a5b6c7d8e9f",
    "4d9e1f6a7b8c4d3e8f4a5b6c7d8e9fa0",
    "5e0f2a7b8c9d4e4f9a5b6c7d8e9fa0b1",
    "6f1a3b8c9d0e4f5a8b6c7d8e9fa0b1c2",
];

/// Issue 18: the STREAM role on a 3-master cluster (the other D4 roles on one
/// redis-server, as `docs/scaling.md` recommends): lines of four sensors sending at once
/// go through d4-server and d4-workers (one `XREAD` over session streams of several
/// slots) into the analyzer queue, every line exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_role_on_a_cluster_delivers_every_line_once() {
    for bin in ["d4-server", "d4-workers"] {
        if !d4_testkit::require_path(bin, &d4_testkit::bin_path(bin)) {
            return;
        }
    }
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let Some(mut stack) = common::Stack::start(common::Mode::SharedSecret, false).await else {
        return;
    };
    // Move the STREAM role to the cluster and restart d4-server on it.
    let conf = std::fs::read_to_string(stack.conf()).unwrap();
    let single_stream = format!(
        "[Redis_STREAM]\nhost = 127.0.0.1\nport = {}\n",
        stack.stream.port
    );
    assert!(conf.contains(&single_stream), "{conf}");
    let on_cluster = conf.replace(
        &single_stream,
        &format!(
            "[Redis_STREAM]\nhost = 127.0.0.1\ncluster = {}\n",
            cluster.seeds()
        ),
    );
    std::fs::write(stack.conf(), on_cluster).unwrap();
    if let Some(mut old) = stack.server.take() {
        old.terminate(Duration::from_secs(5));
    }
    stack.start_server();
    stack.start_workers();
    let queue = d4_core::queues::NewQueue {
        format_type: "8".into(),
        uuid: Some(QUEUE_SINGLE.into()),
        ..Default::default()
    };
    stack.queues().create(&queue).await.unwrap();

    let mut conns = Vec::new();
    let mut waves = Vec::new();
    for (w, uuid) in STREAM_SENSORS.iter().enumerate() {
        let sensor = common::Sensor::new(uuid);
        conns.push((sensor.connect(stack.port).await, sensor));
        waves.push(wave(w, 2000));
    }
    let mut all = Vec::new();
    for c in 0..40 {
        for ((conn, sensor), lines) in conns.iter_mut().zip(&waves) {
            let chunk = &lines[c * 50..(c + 1) * 50];
            let payload: Vec<u8> = chunk
                .iter()
                .flat_map(|l| l.bytes().chain([b'\n']))
                .collect();
            common::send(conn, &sensor.packet(&payload)).await;
            all.extend(chunk.iter().cloned());
        }
        if c == 0 {
            // Every session has a stream by now: they live in several slots.
            stack.wait_until("four session streams", Duration::from_secs(20), || {
                stream_slots(&cluster).len() == STREAM_SENSORS.len()
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let list = format!("analyzer:8:{QUEUE_SINGLE}");
    stack.wait_until("every line queued", Duration::from_secs(60), || {
        stack.meta.cmd_db(2, &["LLEN", &list]).as_int() == Some(all.len() as i64)
    });
    // A little longer: a line delivered twice would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = stack
        .meta
        .cmd_db(2, &["LRANGE", &list, "0", "-1"])
        .as_strings();
    got.sort();
    all.sort();
    assert_eq!(got.len(), all.len(), "items in the queue");
    assert!(got == all, "the queue holds other lines than those sent");
    drop(conns);
}

/// The slots of the session streams (`stream:*`) on every node of `cluster`.
fn stream_slots(cluster: &Cluster) -> std::collections::BTreeSet<i64> {
    let mut slots = std::collections::BTreeSet::new();
    for port in cluster.ports() {
        for key in d4_testkit::send_cmd(port, None, &["KEYS", "stream:*"]).as_strings() {
            if let Some(s) =
                d4_testkit::send_cmd(port, None, &["CLUSTER", "KEYSLOT", &key]).as_int()
            {
                slots.insert(s);
            }
        }
    }
    slots
}

/// Polls `cond` every 100 ms until it holds; panics with `what` and `detail()` after
/// `timeout`.
fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    detail: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            detail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a pDNS key holds a counter: occurrences, distributions and statistics, which a
/// batch retried after a crash mid-write counts again.
fn is_counter(key: &str) -> bool {
    ["o:", "dist:", "stats:"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// How a store written through a failover differs from the reference written by one
/// server: missing or extra keys, any other value than the reference's, and counters
/// below the reference's (a counter above it is a retried batch, listed in the second
/// part). Both empty: the same records, first and last seen and sets.
fn failover_diff(
    got: &std::collections::BTreeMap<String, String>,
    want: &std::collections::BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let count = |v: &str| {
        v.strip_prefix("string:")
            .and_then(|v| v.split(' ').next())
            .and_then(|n| n.parse::<i64>().ok())
    };
    let (mut wrong, mut above) = (Vec::new(), Vec::new());
    for key in got.keys().filter(|k| !want.contains_key(*k)) {
        wrong.push(format!("extra {key}"));
    }
    for (key, w) in want {
        match got.get(key) {
            None => wrong.push(format!("missing {key}")),
            Some(g) if g == w => {}
            Some(g) if is_counter(key) => match (count(g), count(w)) {
                (Some(a), Some(b)) if a > b => above.push(format!("{key}: {a} > {b}")),
                // Distributions are hashes or sorted sets: counted again as a whole.
                (None, None) => above.push(format!("{key}: {g} / {w}")),
                _ => wrong.push(format!("{key}: {g} instead of {w}")),
            },
            Some(g) => wrong.push(format!("{key}: {g} instead of {w}")),
        }
    }
    (wrong, above)
}

/// Issue 18 (failover): 3 masters with one replica each (`cluster-node-timeout` 1 s).
/// `pdns-ingestion` writes the clustered pDNS store while one master is killed with
/// SIGKILL and its replica takes over; lines keep coming before, during and after the
/// failover. The ingestion carries on, and in the end the store holds what one
/// redis-server fed the same lines holds: the same keys, records, sets and first/last
/// seen; counters may be higher (a batch retried after its master died mid-write is
/// counted again), never lower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_carries_on_through_a_master_failover() {
    if !d4_testkit::require_path("pdns-ingestion", &d4_testkit::bin_path("pdns-ingestion")) {
        return;
    }
    let Some(mut cluster) = Cluster::start_with_replicas(3, 1) else {
        return;
    };
    let Some(meta) = d4_testkit::Store::start_kind(d4_testkit::StoreKind::Redis) else {
        return;
    };
    let Some(single) = d4_testkit::Store::start_kind(d4_testkit::StoreKind::Redis) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let on_cluster = analyzer_conf(
        dir.path(),
        "cluster",
        QUEUE_CLUSTER,
        meta.port,
        &format!("cluster = {}", cluster.seeds()),
    );
    let on_single = analyzer_conf(
        dir.path(),
        "single",
        QUEUE_SINGLE,
        meta.port,
        &format!("port = {}", single.port),
    );
    let mut ingest = analyzer("pdns-ingestion", &on_cluster, &[]);
    let _ingest_single = analyzer("pdns-ingestion", &on_single, &[]);
    let queues = [QUEUE_CLUSTER, QUEUE_SINGLE]
        .map(|q| d4_core::keys::analyzer::queue(d4_core::proto::DataType::PASSIVEDNS, q));
    let masters = cluster.master_ports();
    assert_eq!(masters.len(), 3, "masters: {masters:?}");
    let victim = masters[1];
    // Waves 0-2 before the crash, 3-5 while the replica takes over, 6-7 after.
    let mut sent = 0;
    let mut killed_at = None;
    for w in 0..8 {
        if w == 3 {
            cluster.kill_node(victim);
            killed_at = Some(std::time::Instant::now());
        }
        if w == 6 {
            wait_for(
                "a replica to take over",
                Duration::from_secs(30),
                || cluster.master_ports().len() == 3,
                || format!("masters: {:?}", cluster.master_ports()),
            );
            cluster.wait_ok(Duration::from_secs(30));
            let took = killed_at.map(|t| t.elapsed()).unwrap_or_default();
            eprintln!("master {victim} killed; its replica took over within {took:?}");
        }
        for chunk in wave(w, 2000).chunks(100) {
            for q in &queues {
                let mut args = vec!["LPUSH", q.as_str()];
                args.extend(chunk.iter().map(String::as_str));
                let pushed = meta.cmd_db(2, &args);
                assert!(pushed.as_int().is_some(), "LPUSH: {pushed:?}");
            }
            sent += chunk.len();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let masters = cluster.master_ports();
    assert_eq!(masters.len(), 3, "a replica took over: {masters:?}");
    assert!(!masters.contains(&victim));
    let queued = || {
        queues
            .iter()
            .map(|q| meta.cmd_db(2, &["LLEN", q]).as_int().unwrap_or(-1))
            .sum::<i64>()
    };
    wait_for(
        "both queues drained",
        Duration::from_secs(60),
        || queued() == 0,
        || format!("{} lines queued; ingestion: {}", queued(), ingest.output()),
    );
    let reference = || d4_testkit::cluster::snapshot(single.port, 0);
    wait_for(
        "the clustered store to match one server's",
        Duration::from_secs(30),
        || {
            failover_diff(&cluster.snapshot(), &reference())
                .0
                .is_empty()
        },
        || {
            let (wrong, _) = failover_diff(&cluster.snapshot(), &reference());
            format!(
                "{} differences, e.g. {:?}",
                wrong.len(),
                &wrong[..wrong.len().min(10)]
            )
        },
    );
    let want = reference();
    let (_, above) = failover_diff(&cluster.snapshot(), &want);
    eprintln!(
        "{sent} lines, {} pDNS keys identical to one server's; counters above it (retried batches): {}",
        want.len(),
        above.len()
    );
    assert!(want.len() > NAMES * 2, "too few pDNS keys: {}", want.len());
    assert!(
        ingest.is_running(),
        "pdns-ingestion stopped: {}",
        ingest.output()
    );
}
