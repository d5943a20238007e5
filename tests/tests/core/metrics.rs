//! `/metrics` of the real `d4-server` and `d4-workers` (`--metrics ADDR:PORT`): the
//! names and types (counters are counters) and that the counters move with the traffic
//! sent through the chain: sensor → d4-server → stream → d4-workers → analyzer queue.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use d4_core::queues::NewQueue;
use d4_testkit::{Proc, Reply};

use crate::common::{closed_by_server, send, Mode, Sensor, Stack};

const QUEUE: &str = "7c1e2a3b-4d5e-4f60-8a1b-2c3d4e5f6a7b";
const GOOD: &str = "3f2b1c0d9e8f4a7b8c6d5e4f3a2b1c0d";
const FORGER: &str = "9a8b7c6d5e4f4a3b9c2d1e0f9a8b7c6d";
const WAIT: Duration = Duration::from_secs(30);

/// Counters every scrape of d4-server must declare as counters.
const SERVER_COUNTERS: [&str; 6] = [
    "d4_server_accepted_packets",
    "d4_server_accepted_bytes",
    "d4_server_rejections",
    "d4_server_connections",
    "d4_server_connection_ends",
    "d4_server_admission_refused",
];

/// Counters every scrape of d4-workers must declare as counters.
const WORKER_COUNTERS: [&str; 4] = [
    "d4_workers_entries",
    "d4_workers_lines",
    "d4_workers_queued_items",
    "d4_workers_queue_dropped_items",
];

/// One `GET /metrics` over plain HTTP/1.1: (status line, body).
fn scrape(port: u16) -> (String, String) {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).expect("metrics response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Asserts the `# TYPE` of each name, and that no `_total` sample belongs to a gauge.
fn assert_types(text: &str, counters: &[&str], gauges: &[&str]) {
    for c in counters {
        assert!(
            text.contains(&format!("# TYPE {c} counter\n")),
            "{c} is not a counter:\n{text}"
        );
    }
    for g in gauges {
        assert!(
            text.contains(&format!("# TYPE {g} gauge\n")),
            "{g} is not a gauge:\n{text}"
        );
    }
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split(' ').skip(2);
        let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        assert!(
            !(name.ends_with("_total") && kind != "counter"),
            "{line}: a _total that is not a counter"
        );
    }
}

/// The metric names starting with `prefix` that the Grafana dashboard uses, without the
/// `_total` / `_bucket` sample suffixes.
fn dashboard_names(prefix: &str) -> Vec<String> {
    let path = d4_testkit::workspace_root().join("conf/grafana/d4-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("the Grafana dashboard");
    let mut names: Vec<String> = text
        .match_indices(prefix)
        .map(|(i, _)| {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let name = name.strip_suffix("_total").unwrap_or(&name);
            name.strip_suffix("_bucket").unwrap_or(name).to_owned()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Asserts that every `prefix` metric of the dashboard is declared in the scrape `text`.
fn assert_dashboard_uses_real_names(text: &str, prefix: &str) {
    let names = dashboard_names(prefix);
    assert!(
        names.len() >= 3,
        "dashboard has no {prefix} metrics: {names:?}"
    );
    for n in names {
        assert!(
            text.contains(&format!("# TYPE {n} ")),
            "the dashboard uses {n}, which is not exported:\n{text}"
        );
    }
}

/// Starts `bin` on the stack's config with `--metrics` on a free port; waits for `ready`.
fn start_with_metrics(stack: &Stack, bin: &str, ready: &str) -> (Proc, u16) {
    let port = d4_testkit::free_port();
    let mut cmd = Command::new(d4_testkit::bin_path(bin));
    cmd.arg("-c")
        .arg(stack.conf())
        .arg("--metrics")
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(stack.dir.path());
    let mut p = Proc::spawn(bin, cmd);
    assert!(
        p.wait_for_output(ready, Duration::from_secs(20)),
        "{bin} did not start:\n{}",
        p.output()
    );
    assert!(
        d4_testkit::wait_for_port(port, Duration::from_secs(10)),
        "{bin}: no metrics listener on {port}:\n{}",
        p.output()
    );
    (p, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_workers_metrics_count_the_traffic() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    // The stack's server has no metrics listener: replace it by one that has.
    if let Some(mut p) = stack.server.take() {
        p.terminate(Duration::from_secs(10));
    }
    let (server, server_port) = start_with_metrics(&stack, "d4-server", "listening on");
    stack.server = Some(server);
    let (workers, workers_port) = start_with_metrics(&stack, "d4-workers", "Worker family started");
    stack.workers = Some(workers);
    stack
        .queues()
        .create(&NewQueue {
            format_type: "8".into(),
            uuid: Some(QUEUE.into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let (status, before) = scrape(server_port);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_types(&before, &SERVER_COUNTERS, &["d4_server_connections_open"]);
    assert_eq!(sample(&before, "d4_server_connections_total"), Some(0.0));

    // 20 packets of 5 lines each from a good sensor.
    let good = Sensor::new(GOOD);
    let payloads: Vec<Vec<u8>> = (0..20)
        .map(|p| {
            (0..5)
                .map(|l| format!("1700000000.1||10.0.0.{p}||192.0.2.53||IN||h{l}.example.||A||198.51.100.{l}||300||1\n"))
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let mut c = good.connect(stack.port).await;
    for p in &payloads {
        send(&mut c, &good.packet(p)).await;
    }
    // A forger: its packet's HMAC does not match, the server closes the connection.
    let mut forger = Sensor::new(FORGER);
    forger.key = b"not the key".to_vec();
    let mut f = forger.connect(stack.port).await;
    send(&mut f, &forger.packet(b"forged\n")).await;
    assert!(closed_by_server(&mut f, WAIT).await, "forger not dropped");
    drop(c);

    let list = format!("analyzer:8:{QUEUE}");
    stack.wait_until("every line queued", WAIT, || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(100)
    });

    let (_, text) = scrape(server_port);
    assert_types(&text, &SERVER_COUNTERS, &["d4_server_connections_open"]);
    let good_series = format!("{{type=\"8\",uuid=\"{GOOD}\"}}");
    assert_eq!(
        sample(
            &text,
            &format!("d4_server_accepted_packets_total{good_series}")
        ),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("d4_server_accepted_bytes_total{good_series}")
        ),
        Some(bytes as f64),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "d4_server_rejections_total{reason=\"bad_hmac\",type=\"8\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "d4_server_connections_total"),
        Some(2.0),
        "{text}"
    );
    assert_dashboard_uses_real_names(&text, "d4_server_");
    assert!(
        !text.contains(FORGER),
        "a rejected uuid gets no series:\n{text}"
    );

    // The workers count the same traffic once the session's lines are queued.
    stack.wait_until("the workers' counters", WAIT, || {
        let (_, w) = scrape(workers_port);
        sample(&w, "d4_workers_queued_items_total{queue_type=\"8\"}") == Some(100.0)
    });
    let (status, w) = scrape(workers_port);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_types(&w, &WORKER_COUNTERS, &["d4_workers_sessions_active"]);
    assert_dashboard_uses_real_names(&w, "d4_workers_");
    assert_eq!(
        sample(&w, "d4_workers_lines_total{type=\"8\"}"),
        Some(100.0),
        "{w}"
    );
    assert_eq!(
        sample(&w, "d4_workers_entries_total{type=\"8\"}"),
        Some(20.0),
        "{w}"
    );
    assert_eq!(
        sample(&w, "d4_workers_queue_dropped_items_total{queue_type=\"8\"}"),
        Some(0.0),
        "{w}"
    );
    assert!(w.contains("d4_workers_sessions_active{type=\"8\"}"), "{w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_metrics_port_stops_the_daemon_with_its_address() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let out = Command::new(d4_testkit::bin_path("d4-workers"))
        .arg("-c")
        .arg(stack.conf())
        .arg("--metrics")
        .arg(addr.to_string())
        .output()
        .expect("run d4-workers");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("binding the metrics listener {addr}")),
        "{stderr}"
    );
}
