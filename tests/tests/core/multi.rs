//! Several d4-servers, d4-workers, pdns-ingestions and d4-webs side by side on one set of
//! stores (issue 18): every line delivered once, per-sensor counters exact, two ingestions
//! give the pDNS store of one, a `kill -9` of a server lets its sensors reconnect to the
//! other and lose nothing (kicks and start-up clean-up leave live servers alone), and a web
//! login on one instance works on the other.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use d4_core::queues::{NewQueue, Queues};
use d4_testkit::{send_cmd, Proc, Reply, Store, StoreKind};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::common::{certs, closed_by_server, connect, send, today, Sensor};

/// Queue whose content is checked (nobody consumes it).
const Q_CHECK: &str = "0b6f4a1e-5d2c-4e3b-8a9f-1c2d3e4f5a6b";
/// Queue consumed by two pdns-ingestions.
const Q_PAIR: &str = "1c7a5b2f-6e3d-4f4c-9b0a-2d3e4f5a6b7c";
/// Queue consumed by one pdns-ingestion.
const Q_SINGLE: &str = "2d8b6c3a-7f4e-4a5d-8c1b-3e4f5a6b7c8d";
/// Long enough for a lease to expire and be noticed (10 s + 2 s) with margin.
const WAIT: Duration = Duration::from_secs(40);

/// A valid v4 sensor uuid numbered `i`.
fn sensor_uuid(i: u32) -> String {
    format!("{i:08x}0000400080000000{i:08x}")
}

/// The shared stores and the processes running on them.
struct Site {
    stream: Store,
    meta: Store,
    dir: tempfile::TempDir,
    queues: Queues,
    procs: Vec<Proc>,
}

impl Site {
    /// Starts the STREAM and METADATA stores; `None` when redis-server is missing outside CI.
    async fn start() -> Option<Site> {
        let stream = Store::start()?;
        let meta = Store::start()?;
        let queues = Queues::new(
            connect(&meta, 0).await,
            connect(&meta, 2).await,
            100_000_000,
        );
        Some(Site {
            stream,
            meta,
            dir: tempfile::tempdir().expect("tempdir"),
            queues,
            procs: Vec::new(),
        })
    }

    /// A `server.conf` for one process: D4 port `port`, web port `web`.
    fn conf(&self, port: u16, web: u16) -> PathBuf {
        let certs = certs();
        let text = format!(
            "[Save_Directories]\nuse_default_save_directory = no\nsave_directory = {data}\n\n\
             [D4_Server]\nserver_port = {port}\nserver_host = 127.0.0.1\nserver_mode = shared-secret\n\
             default_hmac_key = private key to change\nanalyzer_queues_max_size = 100000000\n\
             tls_cert_file = {cert}\ntls_key_file = {key}\n\n\
             [Flask_Server]\nhost = 127.0.0.1\nport = {web}\n\n\
             [Redis_STREAM]\nhost = 127.0.0.1\nport = {sp}\ndb = 0\n\n\
             [Redis_METADATA]\nhost = 127.0.0.1\nport = {mp}\ndb = 0\n\n\
             [Redis_SERV]\nhost = 127.0.0.1\nport = {mp}\ndb = 1\n\n\
             [Redis_ANALYZER]\nhost = 127.0.0.1\nport = {mp}\ndb = 2\n\n\
             [Redis_CACHE]\nhost = 127.0.0.1\nport = {mp}\ndb = 3\n",
            data = self.dir.path().join("data").display(),
            cert = certs.cert().display(),
            key = certs.key().display(),
            sp = self.stream.port,
            mp = self.meta.port,
        );
        let path = self.dir.path().join(format!("server-{port}-{web}.conf"));
        std::fs::write(&path, text).expect("write conf");
        path
    }

    /// Starts a binary with `args` in the site directory and waits for `ready` in its log.
    fn spawn(&mut self, bin: &str, args: &[&str], ready: &str) -> usize {
        let mut cmd = Command::new(d4_testkit::bin_path(bin));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("D4_LOG");
        let mut p = Proc::spawn(bin, cmd);
        assert!(
            p.wait_for_output(ready, Duration::from_secs(30)),
            "{bin} did not start:\n{}",
            p.output()
        );
        self.procs.push(p);
        self.procs.len() - 1
    }

    /// Starts a d4-server on a free port, with id `id` (default: `<hostname>:<port>`);
    /// returns (process index, port).
    fn server(&mut self, id: Option<&str>) -> (usize, u16) {
        let port = d4_testkit::free_port();
        let conf = self.conf(port, 0);
        let mut args = vec!["-c", conf.to_str().expect("utf-8 path")];
        if let Some(id) = id {
            args.extend(["--server-id", id]);
        }
        let i = self.spawn("d4-server", &args, "listening on");
        (i, port)
    }

    /// Starts a d4-workers (type 8, no monitor).
    fn workers(&mut self) -> usize {
        let conf = self.conf(0, 0);
        let conf = conf.to_str().expect("utf-8 path");
        self.spawn(
            "d4-workers",
            &["-c", conf, "--types", "8", "--no-monitor"],
            "Worker family started",
        )
    }

    /// Creates a type-8 queue `uuid`.
    async fn queue(&self, uuid: &str) {
        self.queues
            .create(&NewQueue {
                format_type: "8".into(),
                uuid: Some(uuid.into()),
                ..Default::default()
            })
            .await
            .expect("create queue");
    }

    /// Items of analyzer queue `uuid`, oldest first (the queue keeps them).
    fn queue_items(&self, uuid: &str) -> Vec<String> {
        let mut v = self
            .meta
            .cmd_db(2, &["LRANGE", &format!("analyzer:8:{uuid}"), "0", "-1"])
            .as_strings();
        v.reverse();
        v
    }

    fn queue_len(&self, uuid: &str) -> i64 {
        self.meta
            .cmd_db(2, &["LLEN", &format!("analyzer:8:{uuid}")])
            .as_int()
            .unwrap_or(-1)
    }

    /// Waits until `cond` holds, panicking with `what` and every process's log after `timeout`.
    fn wait_until(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let logs: Vec<String> = self
            .procs
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, p.output()))
            .collect();
        panic!("timed out waiting for {what}\n{}", logs.join("\n"));
    }

    /// Session streams still in the STREAM store.
    fn streams_left(&self) -> usize {
        self.stream.cmd(&["KEYS", "stream:8:*"]).as_strings().len()
    }
}

/// A passivedns line; rrnames and values repeat across sensors so that first/last seen
/// of one record come from several sessions.
fn pdns_line(sensor: u32, i: u32) -> String {
    format!(
        "{}.{:06}||10.0.0.{sensor}||8.8.8.8||IN||host{}.multi.example||A||10.0.{}.{}||60||1",
        1_700_000_000 + (i * 7 + sensor * 13) % 5000,
        i,
        i % 97,
        i % 13,
        i % 211
    )
}

/// Sends `lines` as packets of about `size` bytes cut anywhere (lines span packets),
/// pausing now and then so that the session stays open while workers read it.
async fn send_lines(
    c: &mut TlsStream<TcpStream>,
    s: &Sensor,
    lines: &[String],
    size: usize,
) -> u64 {
    let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let mut packets = 0;
    for chunk in text.as_bytes().chunks(size) {
        send(c, &s.packet(chunk)).await;
        packets += 1;
        if packets % 3 == 0 {
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    packets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_two_workers_two_ingestions_deliver_every_line_once() {
    let Some(mut site) = Site::start().await else {
        return;
    };
    let (_, port_a) = site.server(None);
    let (_, port_b) = site.server(None);
    for q in [Q_CHECK, Q_PAIR, Q_SINGLE] {
        site.queue(q).await;
    }
    site.workers();
    site.workers();

    const SENSORS: u32 = 6;
    const LINES: u32 = 4000;
    let mut expected: Vec<String> = Vec::new();
    let mut tasks = Vec::new();
    for n in 1..=SENSORS {
        let lines: Vec<String> = (0..LINES).map(|i| pdns_line(n, i)).collect();
        expected.extend(lines.iter().cloned());
        let port = if n % 2 == 0 { port_a } else { port_b };
        tasks.push(tokio::spawn(async move {
            let s = Sensor::new(&sensor_uuid(n));
            // Several sessions per sensor, one after the other, each ending on a whole line.
            let mut packets = 0;
            for (k, part) in lines.chunks(500).enumerate() {
                let mut c = s.connect(port).await;
                packets += send_lines(&mut c, &s, part, 1500 + 97 * n as usize).await;
                drop(c);
                tokio::time::sleep(Duration::from_millis(40 + 30 * ((k as u64 + n as u64) % 5)))
                    .await;
            }
            (s.hex(), packets)
        }));
    }
    let mut sent = BTreeMap::new();
    for t in tasks {
        let (uuid, packets) = t.await.expect("sensor task");
        sent.insert(uuid, packets);
    }
    let total = expected.len() as i64;
    site.wait_until("every line in the checked queue", WAIT, || {
        site.queue_len(Q_CHECK) >= total && site.streams_left() == 0
    });
    // Nothing more arrives late.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = site.queue_items(Q_CHECK);
    got.sort();
    expected.sort();
    assert_eq!(got.len(), expected.len(), "items in the queue");
    assert!(
        got == expected,
        "the queue holds other lines than those sent"
    );
    // Both workers read sessions (each reads a session alone: the lines are exact).
    for w in site.procs.iter().filter(|p| p.name == "d4-workers") {
        assert!(
            w.output().contains("Session finished"),
            "a worker read nothing:\n{}",
            w.output()
        );
    }
    // Per-sensor counters: one increment per packet, whichever server took it.
    let daily = format!("daily_uuid:{}", today());
    for (uuid, packets) in &sent {
        let score = site.meta.cmd(&["ZSCORE", &daily, uuid]).as_str();
        assert_eq!(score, Some(packets.to_string()), "{uuid}");
    }

    // Two ingestions on one queue give the pDNS store one ingestion gives.
    // Several ingestions are exact only on a store with scripting (docs/compatibility.md):
    // the pDNS stores are real redis-servers even when the chain runs on d4-kv.
    let pair_store = Store::start_kind(StoreKind::Redis).expect("pDNS store");
    let single_store = Store::start_kind(StoreKind::Redis).expect("pDNS store");
    let pair_conf = analyzer_conf(&site, "pair", Q_PAIR, pair_store.port);
    let single_conf = analyzer_conf(&site, "single", Q_SINGLE, single_store.port);
    let ingest = |conf: &PathBuf, id: &str| {
        let mut cmd = Command::new(d4_testkit::bin_path("pdns-ingestion"));
        cmd.arg("-c")
            .arg(conf)
            .args(["--id", id, "--batch", "500", "--drain"])
            .env_remove("D4_LOG");
        Proc::spawn(&format!("pdns-ingestion-{id}"), cmd)
    };
    let mut runs = vec![
        ingest(&pair_conf, "a"),
        ingest(&pair_conf, "b"),
        ingest(&single_conf, "one"),
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    while runs.iter_mut().any(Proc::is_running) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for r in &mut runs {
        assert!(!r.is_running(), "{} did not drain:\n{}", r.name, r.output());
    }
    assert_eq!(site.queue_len(Q_PAIR), 0);
    assert_eq!(site.queue_len(Q_SINGLE), 0);
    let (pair, single) = (dump(&pair_store), dump(&single_store));
    assert!(single.len() > 1000, "{} keys", single.len());
    let differ: Vec<_> = single
        .iter()
        .filter(|(k, v)| pair.get(*k) != Some(*v))
        .take(10)
        .map(|(k, v)| format!("{k}: one {v} / two {:?}", pair.get(k)))
        .collect();
    assert!(
        differ.is_empty() && pair.len() == single.len(),
        "{} keys with two ingestions, {} with one; first differences:\n{}",
        pair.len(),
        single.len(),
        differ.join("\n")
    );
}

/// An `analyzer.conf` consuming queue `q` of the site into the pDNS store on `port`.
fn analyzer_conf(site: &Site, name: &str, q: &str, port: u16) -> PathBuf {
    let path = site.dir.path().join(format!("analyzer-{name}.conf"));
    let text = format!(
        "[global]\nmy-uuid = {q}\nd4-server = 127.0.0.1:{mp}\nlogging-level = INFO\n\n\
         [expiration]\n\n[exclude]\nsubstring = spamhaus.org\n\n\
         [store]\nhost = 127.0.0.1\nport = {port}\n",
        mp = site.meta.port
    );
    std::fs::write(&path, text).expect("analyzer.conf");
    path
}

/// Every key of db 0 with its type and value (members and fields sorted).
fn dump(store: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for key in store.cmd(&["KEYS", "*"]).as_strings() {
        let ty = store.cmd(&["TYPE", &key]).as_str().unwrap_or_default();
        let mut v = match ty.as_str() {
            "string" => vec![store.cmd(&["GET", &key]).as_str().unwrap_or_default()],
            "set" => store.cmd(&["SMEMBERS", &key]).as_strings(),
            "zset" => store
                .cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"])
                .as_strings(),
            "hash" => store.cmd(&["HGETALL", &key]).as_strings(),
            "list" => store.cmd(&["LRANGE", &key, "0", "-1"]).as_strings(),
            other => vec![format!("<{other}>")],
        };
        if ty != "zset" && ty != "list" && ty != "hash" {
            v.sort();
        }
        if ty == "hash" {
            let mut pairs: Vec<String> = v.chunks(2).map(|p| p.join("=")).collect();
            pairs.sort();
            v = pairs;
        }
        out.insert(key, format!("{ty} {}", v.join(",")));
    }
    out
}

/// Connects to `port` and sends one packet of `payload`; `Some` if the server kept the
/// connection (accepted), `None` if it closed it (refused).
async fn try_session(s: &Sensor, port: u16, payload: &[u8]) -> Option<TlsStream<TcpStream>> {
    let mut c = s.connect(port).await;
    send(&mut c, &s.packet(payload)).await;
    if closed_by_server(&mut c, Duration::from_millis(700)).await {
        None
    } else {
        Some(c)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_server_sensors_reconnect_to_the_other_and_lose_nothing() {
    let Some(mut site) = Site::start().await else {
        return;
    };
    let (a, port_a) = site.server(Some("kill-a"));
    let (_, port_b) = site.server(Some("kill-b"));
    site.queue(Q_CHECK).await;
    site.workers();
    let s = Sensor::new(&sensor_uuid(41));
    let other = Sensor::new(&sensor_uuid(42));
    let uuid = s.hex();

    // `s` on A, `other` on B.
    let mut on_a = s.connect(port_a).await;
    send(&mut on_a, &s.packet(b"a-1\na-2\n")).await;
    let mut on_b = other.connect(port_b).await;
    send(&mut on_b, &other.packet(b"b-1\n")).await;
    site.wait_until("first lines", WAIT, || site.queue_len(Q_CHECK) == 3);

    // A third server starting alone-looking (no --keep-connection-state) leaves the live
    // servers' state alone.
    let (c, _) = site.server(Some("kill-c"));
    for u in [&uuid, &other.hex()] {
        assert_eq!(
            site.stream.cmd(&["SISMEMBER", "active_connection:8", u]),
            Reply::Int(1),
            "{u} still live after another server started"
        );
    }
    site.procs[c].terminate(Duration::from_secs(10));

    // kill -9 of A: its session stays listed until its lease expires, so the sensor is
    // refused as a duplicate at first.
    let killed = Instant::now();
    site.procs[a].kill();
    assert_eq!(
        site.stream
            .cmd(&["SISMEMBER", "active_connection:8", &uuid]),
        Reply::Int(1)
    );
    assert!(try_session(&s, port_b, b"refused\n").await.is_none());
    // A kick of the sensor held by the dead server is dropped once the lease expired,
    // and never blacklists it (it used to be renewed every second, for good).
    site.stream.cmd(&["SADD", "server:sensor_to_kick", &uuid]);
    let blacklist = format!("temp_blacklist_uuid:{uuid}");
    site.wait_until("kick request dropped", WAIT, || {
        assert_eq!(site.stream.cmd(&["EXISTS", &blacklist]), Reply::Int(0));
        site.stream.cmd(&["EXISTS", "server:sensor_to_kick"]) == Reply::Int(0)
    });

    // The sensor reconnects to B (the payload of a refused attempt is sent again).
    let mut accepted = None;
    while accepted.is_none() && killed.elapsed() < WAIT {
        accepted = try_session(&s, port_b, b"a-3\n").await;
        if accepted.is_none() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let mut again = accepted.unwrap_or_else(|| panic!("never accepted by B after {WAIT:?}"));
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "accepted {took:?} after the kill"
    );
    assert_eq!(site.stream.cmd(&["EXISTS", &blacklist]), Reply::Int(0));
    send(&mut again, &s.packet(b"a-4\n")).await;
    drop(again);
    drop(on_b);
    drop(on_a);
    site.wait_until("every line", WAIT, || {
        site.queue_len(Q_CHECK) >= 5 && site.streams_left() == 0
    });
    let mut got = site.queue_items(Q_CHECK);
    got.sort();
    assert_eq!(got, vec!["a-1", "a-2", "a-3", "a-4", "b-1"]);
    // The dead server's state is gone; the other live server's sensor left cleanly.
    site.wait_until("live state cleaned", WAIT, || {
        site.stream.cmd(&["SCARD", "active_connection"]) == Reply::Int(0)
            && site.stream.cmd(&["EXISTS", "server_sessions:kill-a"]) == Reply::Int(0)
    });
}

/// GET or POST with curl and a cookie jar; returns (status, body).
fn curl(jar: &std::path::Path, url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-m", "20", "--cacert"])
        .arg(certs().root_ca())
        .arg("-b")
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .args(["-w", "\n%{http_code}"]);
    for (k, v) in form {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let out = cmd.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The CSRF token of a page's form.
fn csrf(body: &str) -> String {
    body.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in:\n{body}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_login_on_one_instance_works_on_the_other() {
    if !d4_testkit::require("curl") {
        return;
    }
    let Some(mut site) = Site::start().await else {
        return;
    };
    let (w1, w2) = (d4_testkit::free_port(), d4_testkit::free_port());
    for w in [w1, w2] {
        let conf = site.conf(0, w);
        let conf = conf.to_str().expect("utf-8 path").to_string();
        site.spawn("d4-web", &["-c", &conf], "d4-web listening on");
    }
    let text = std::fs::read_to_string(site.dir.path().join("DEFAULT_PASSWORD"))
        .expect("DEFAULT_PASSWORD");
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .expect("password= line")
        .to_string();
    let jar = site.dir.path().join("cookies");
    let (one, two) = (
        format!("https://127.0.0.1:{w1}"),
        format!("https://127.0.0.1:{w2}"),
    );
    // Not logged in: both send the login page.
    assert_eq!(curl(&jar, &format!("{two}/"), &[]).0, 302);
    // Log in on the first.
    let (_, page) = curl(&jar, &format!("{one}/login"), &[]);
    let token = csrf(&page);
    let (status, _) = curl(
        &jar,
        &format!("{one}/login"),
        &[
            ("username", "admin@admin.test"),
            ("password", &password),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(status, 302, "login");
    // The session lives in the CACHE store (db 3) with the idle expiry.
    let keys = send_cmd(site.meta.port, Some(3), &["KEYS", "web_session:*"]).as_strings();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl = send_cmd(site.meta.port, Some(3), &["TTL", &keys[0]]).as_int();
    assert!(
        ttl.is_some_and(|t| t > 8 * 3600 - 60 && t <= 8 * 3600),
        "{ttl:?}"
    );
    // The session works on the second, CSRF token included: change the password there.
    let (status, page) = curl(&jar, &format!("{two}/change_password"), &[]);
    assert_eq!(status, 200, "{page}");
    let token = csrf(&page);
    let new = "N3wMultiPassw0rd!";
    let (status, body) = curl(
        &jar,
        &format!("{two}/change_password"),
        &[
            ("password1", new),
            ("password2", new),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(status, 302, "{body}");
    let (status, page) = curl(&jar, &format!("{one}/"), &[]);
    assert_eq!(status, 200, "{page}");
    // Log out on the first: the second forgets the session too.
    let token = csrf(&page);
    let (status, _) = curl(&jar, &format!("{one}/logout"), &[("csrf_token", &token)]);
    assert_eq!(status, 302);
    assert_eq!(curl(&jar, &format!("{two}/"), &[]).0, 302);
    let keys = send_cmd(site.meta.port, Some(3), &["KEYS", "web_session:*"]).as_strings();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_sessions_are_taken_over_without_garbled_lines() {
    let Some(mut site) = Site::start().await else {
        return;
    };
    let (_, port) = site.server(None);
    site.queue(Q_CHECK).await;
    let first = site.workers();
    let s = Sensor::new(&sensor_uuid(77));
    let lines: Vec<String> = (0..3000).map(|i| pdns_line(77, i)).collect();
    let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    // 700-byte packets cut lines anywhere: at each pause below the worker holds a
    // partial line (the cuts are not at line ends).
    let packets: Vec<&[u8]> = text.as_bytes().chunks(700).collect();
    let (k1, k2) = (packets.len() / 3, 2 * packets.len() / 3);
    assert!(!packets[k1 - 1].ends_with(b"\n") && !packets[k2 - 1].ends_with(b"\n"));
    let mut c = s.connect(port).await;
    for p in &packets[..k1] {
        send(&mut c, &s.packet(p)).await;
    }
    site.wait_until("first lines", WAIT, || site.queue_len(Q_CHECK) >= 900);
    site.workers();
    let killed = Instant::now();
    site.procs[first].kill();
    for p in &packets[k1..k2] {
        send(&mut c, &s.packet(p)).await;
    }
    // The second worker takes the session over once the claim expired.
    site.wait_until("taken over", WAIT, || site.queue_len(Q_CHECK) >= 1900);
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(20), "taken over after {took:?}");
    for p in &packets[k2..] {
        send(&mut c, &s.packet(p)).await;
    }
    drop(c);
    site.wait_until("every line", WAIT, || {
        site.queue_len(Q_CHECK) >= 3000 && site.streams_left() == 0
    });
    let got = site.queue_items(Q_CHECK);
    let sent: std::collections::BTreeSet<&String> = lines.iter().collect();
    let garbled: Vec<&String> = got.iter().filter(|l| !sent.contains(l)).collect();
    assert!(
        garbled.is_empty(),
        "not sent: {:?}",
        &garbled[..garbled.len().min(5)]
    );
    let unique: std::collections::BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), lines.len(), "every line delivered");
    // At least once across the crash: at most the batch in flight is queued twice.
    assert!(
        got.len() - lines.len() <= 512,
        "{} duplicates",
        got.len() - lines.len()
    );
}
