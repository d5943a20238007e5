//! `pdns-ingestion` against real redis-server: golden keys (spec pdns.md §1.5), FIFO batches,
//! malformed lines, and the store restarted mid-ingestion.

use std::time::Duration;

use d4_testkit::{Proc, Reply, Store};

use crate::common::*;

/// Lines in queue order (oldest first) and the exact store they must produce (spec §1.5/§1.6;
/// `l:` of an expiring type gets the TTL too: the upstream bug §1.5 #10 is fixed).
pub(crate) const GOLDEN_LINES: &[&str] = &[
    "1548624738.280922||10.0.0.1||8.8.8.8||IN||WWW.Example.COM.||A||93.184.216.34||299||1",
    "1548624800.100000||10.0.0.1||8.8.8.8||IN||www.example.com.||A||93.184.216.34||300||2",
    "1548624700.500000||10.0.0.1||8.8.8.8||IN||www.example.com.||A||93.184.216.34||299||1",
    "1548624738.000000||10.0.0.1||8.8.8.8||IN||example.com.||TXT||\"v=spf1 -ALL\"||3600||1",
    "1548624738.000000||10.0.0.1||8.8.8.8||IN||example.com.||AAAA||2606:2800:220:1:248:1893:25c8:1946||60||1",
    "1548624738.000000||10.0.0.1||8.8.8.8||IN||2.0.0.127.zen.spamhaus.org.||A||127.0.0.2||60||1",
    "[*] PassiveDNS 1.2.1",
    "1548624738.000000||10.0.0.1||8.8.8.8||IN||alias.example.com.||CNAME||www.example.com.||60",
];

pub(crate) const GOLDEN_STORE: &[&str] = &[
    "dist:class = {IN=6}",
    "dist:ttl = {299=2, 300=1, 3600=1, 60=2}",
    "dist:type = {16=1, 1=3, 28=1, 5=1}",
    "l:alias.example.com:www.example.com:5 = 1548624738",
    "l:example.com:2606:2800:220:1:248:1893:25c8:1946:28 = 1548624738",
    "l:example.com:v=spf1 -all\":16 = 1548624738 ttl",
    "l:www.example.com:93.184.216.34:1 = 1548624800",
    "o:alias.example.com:www.example.com:5 = 1",
    "o:example.com:2606:2800:220:1:248:1893:25c8:1946:28 = 1",
    "o:example.com:v=spf1 -all\":16 = 1 ttl",
    "o:www.example.com:93.184.216.34:1 = 3",
    "r:alias.example.com:5 = {www.example.com}",
    "r:example.com:16 = {v=spf1 -all\"} ttl",
    "r:example.com:28 = {2606:2800:220:1:248:1893:25c8:1946}",
    "r:www.example.com:1 = {93.184.216.34}",
    "s:alias.example.com:www.example.com:5 = 1548624738",
    "s:example.com:2606:2800:220:1:248:1893:25c8:1946:28 = 1548624738",
    "s:example.com:v=spf1 -all\":16 = 1548624738 ttl",
    "s:www.example.com:93.184.216.34:1 = 1548624700",
    "stats:processed = 6",
    "stats:rejected = {too-few-fields=1}",
    "v:2606:2800:220:1:248:1893:25c8:1946:28 = {example.com}",
    "v:93.184.216.34:1 = {www.example.com}",
    "v:v=spf1 -all\":16 = {example.com} ttl",
    "v:www.example.com:5 = {alias.example.com}",
];

fn run_drain(conf: &std::path::Path, batch: usize) -> Proc {
    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c")
        .arg(conf)
        .args(["--drain", "--batch", &batch.to_string()]);
    let mut p = Proc::spawn("pdns-ingestion", cmd);
    assert!(
        p.terminate_wait(Duration::from_secs(30)),
        "ingestion did not finish: {}",
        p.output()
    );
    p
}

trait WaitExit {
    fn terminate_wait(&mut self, t: Duration) -> bool;
}

impl WaitExit for Proc {
    fn terminate_wait(&mut self, t: Duration) -> bool {
        wait_until(t, || !self.is_running())
    }
}

#[test]
fn golden_lines_give_exact_keys_whatever_the_batch_size() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    for batch in [1, 3, 1000] {
        store.cmd(&["FLUSHALL"]);
        push_lines(&store, GOLDEN_LINES);
        let p = run_drain(&conf, batch);
        assert_eq!(store.cmd_db(2, &["LLEN", &queue_key()]), Reply::Int(0));
        let got = dump(store.port, 0);
        let want: Vec<String> = GOLDEN_STORE.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "batch {batch}\n{}", p.output());
    }
    let ttl = store
        .cmd(&["TTL", "r:example.com:16"])
        .as_int()
        .unwrap_or(0);
    assert!((23990..=24000).contains(&ttl), "TXT expiry {ttl}");
}

#[test]
fn static_sensor_id_feeds_sensor_stats() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let text = std::fs::read_to_string(&conf).expect("conf").replace(
        "logging-level = INFO",
        "logging-level = INFO\nsensor-id = sensor-a",
    );
    std::fs::write(&conf, text).expect("conf");
    push_lines(&store, &GOLDEN_LINES[..3]);
    run_drain(&conf, 1000);
    assert_eq!(
        store
            .cmd(&["ZSCORE", "stats:sensors", "sensor-a"])
            .as_str()
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        store.cmd(&["SMEMBERS", "sensors:seen"]).as_strings(),
        vec!["sensor-a"]
    );
}

/// Every malformed kind of line, with its `stats:rejected` reason.
fn malformed() -> Vec<(String, &'static str)> {
    vec![
        ("[*] PassiveDNS 1.2.1".into(), "too-few-fields"),
        (
            "-- Total DNS records allocated            :          12".into(),
            "too-few-fields",
        ),
        (
            r#"{"timestamp_s":1,"query":"a.b."}"#.into(),
            "too-few-fields",
        ),
        ("1||a||b||IN||five.fields.org".into(), "too-few-fields"),
        ("1||a||b||IN||six.fields.org||A".into(), "too-few-fields"),
        (
            "1||a||b||IN||ten.org||TXT||\"x||y\"||60||1".into(),
            "too-many-fields",
        ),
        (
            "1||a||b||IN||nx.org||1||NXDOMAIN||0||1".into(),
            "unknown-type",
        ),
        (
            "1||a||b||IN||weird.org||BOGUS||x||0||1".into(),
            "unknown-type",
        ),
        (
            "2019-05-27 14:30:14.1||a||b||IN||date.org||A||1.2.3.4||0||1".into(),
            "timestamp",
        ),
        (
            "1||a||b||IN||.||NS||a.root-servers.net.||0||1".into(),
            "empty-name",
        ),
        ("   ".into(), "empty"),
    ]
}

#[test]
fn malformed_lines_are_counted_and_store_restart_loses_nothing() {
    let Some(mut queue) = PersistentRedis::start() else {
        return;
    };
    let Some(mut store) = PersistentRedis::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), queue.port, store.port, "");
    let valid = 20_000usize;
    let bad = malformed();
    let mut lines = Vec::new();
    for i in 0..valid {
        lines.push(format!(
            "{}.5||10.0.0.1||8.8.8.8||IN||host{i}.example.org.||A||10.0.{}.{}||60||1",
            1_700_000_000 + i,
            i / 256 % 256,
            i % 256
        ));
        if i % 1000 == 0 {
            lines.extend(bad.iter().map(|(l, _)| l.clone()));
        }
    }
    // Invalid UTF-8 cannot go through &str: push it raw.
    push_lines_port(queue.port, &lines);
    push_raw(queue.port, b"1||a||b||IN||\xff\xfe.org||A||1.2.3.4||0||1");

    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c").arg(&conf).args(["--batch", "100"]);
    let mut ing = Proc::spawn("pdns-ingestion", cmd);
    assert!(
        wait_until(Duration::from_secs(20), || int(
            store.cmd(&["GET", "stats:processed"])
        ) > 0),
        "{}",
        ing.output()
    );
    store.kill();
    let left = raw_cmd(queue.port, 2, &["LLEN", &queue_key()])
        .as_int()
        .unwrap_or(0);
    assert!(
        left > 0,
        "the store must die mid-ingestion; queue already empty"
    );
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        ing.is_running(),
        "ingestion exited when the store died: {}",
        ing.output()
    );
    store.restart();
    let qk = queue_key();
    assert!(
        wait_until(Duration::from_secs(60), || raw_cmd(
            queue.port,
            2,
            &["LLEN", &qk]
        ) == Reply::Int(0)
            && store.cmd(&[
                "EXISTS",
                &format!("r:host{}.example.org:1", valid - 1)
            ]) == Reply::Int(1)),
        "queue not drained: {}",
        ing.output()
    );
    let names = store.cmd(&["KEYS", "r:host*"]).as_strings().len();
    if names != valid {
        let missing: Vec<usize> = (0..valid)
            .filter(|i| {
                store.cmd(&["EXISTS", &format!("r:host{i}.example.org:1")]) != Reply::Int(1)
            })
            .collect();
        eprintln!(
            "missing {} from {:?} to {:?}; processed {:?}",
            missing.len(),
            missing.first(),
            missing.last(),
            store.cmd(&["GET", "stats:processed"])
        );
    }
    assert_eq!(names, valid, "valid lines lost\n{}", ing.output());
    assert!(ing.is_running(), "{}", ing.output());
    let rejected = store.cmd(&["HGETALL", "stats:rejected"]).as_strings();
    for (_, reason) in &bad {
        assert!(
            rejected.iter().any(|r| r == reason),
            "{reason} not counted: {rejected:?}"
        );
    }
    assert!(rejected.iter().any(|r| r == "utf8"), "{rejected:?}");
    assert!(
        ing.output().contains("Rejected malformed passivedns lines"),
        "{}",
        ing.output()
    );

    // The queue server dies and comes back: the ingestion keeps polling and takes new lines.
    queue.kill();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        ing.is_running(),
        "ingestion exited when the queue server died: {}",
        ing.output()
    );
    queue.restart();
    push_lines_port(
        queue.port,
        &["1800000000||a||b||IN||after.restart.org||A||10.9.9.9||60||1".to_string()],
    );
    assert!(
        wait_until(Duration::from_secs(20), || store
            .cmd(&["EXISTS", "r:after.restart.org:1"])
            == Reply::Int(1)),
        "line after queue restart not ingested: {}",
        ing.output()
    );
    assert_eq!(
        ing.terminate(Duration::from_secs(10)),
        Some(0),
        "{}",
        ing.output()
    );
}

fn int(r: Reply) -> i64 {
    r.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn push_raw(port: u16, line: &[u8]) {
    use std::io::{Read, Write};
    let key = queue_key();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req = b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n".to_vec();
    req.extend_from_slice(
        format!(
            "*3\r\n$5\r\nLPUSH\r\n${}\r\n{key}\r\n${}\r\n",
            key.len(),
            line.len()
        )
        .as_bytes(),
    );
    req.extend_from_slice(line);
    req.extend_from_slice(b"\r\n");
    s.write_all(&req).expect("write");
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf);
}
