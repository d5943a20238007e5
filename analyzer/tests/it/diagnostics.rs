//! Every analyzer dead end speaks (issue 14): `--check` of the three programs, the ingestion's
//! warnings while its queue is not registered on the D4 server, `analyzer.conf` validation,
//! and the ingestion's `/metrics` moving with the traffic. Real binaries, real redis-server.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use d4_testkit::{free_port, Proc, Reply, Store};

use crate::common::*;
use crate::ingestion::GOLDEN_LINES;

/// Runs `bin -c conf <args>` to completion.
fn run(bin: &str, conf: &Path, args: &[&str]) -> Output {
    analyzer_cmd(bin)
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .expect("run analyzer binary")
}

/// Exit status and stdout + stderr of a finished run.
fn status_and_text(o: &Output) -> (Option<i32>, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

/// Registers the test queue `UUID` on the D4 metadata store (db 0) with type `ty`, as the
/// web admin and `d4-queues create` do (the hash is what the ingestion looks up).
fn register_queue(store: &Store, ty: &str) {
    let key = format!("analyzer:{UUID}");
    assert!(matches!(
        store.cmd_db(0, &["HSET", &key, "type", ty]),
        Reply::Int(_)
    ));
}

/// A copy of `conf` (`placeholder.conf` beside it) with the sample's `my-uuid`, which is
/// not a queue uuid, in place of the registered queue.
fn with_sample_uuid(conf: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(conf).expect("read conf");
    let placeholder = conf.with_file_name("placeholder.conf");
    std::fs::write(&placeholder, text.replace(UUID, "my-uuid")).expect("write conf");
    placeholder
}

#[test]
fn ingestion_check_names_each_queue_dead_end() {
    let Some(store) = Store::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "bogus = 1\n");
    let placeholder = with_sample_uuid(&conf);

    let (code, out) = status_and_text(&run("pdns-ingestion", &placeholder, &["--check"]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("error: [global] my-uuid = \"my-uuid\" is not a queue uuid"),
        "{out}"
    );
    assert!(out.contains("d4-queues create --type 8"), "{out}");
    assert!(
        out.contains("warning: unknown option [store] bogus"),
        "{out}"
    );

    // --validate reads the file only: the placeholder is an error, the unknown key a warning.
    let (code, out) = status_and_text(&run("pdns-ingestion", &placeholder, &["--validate"]));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is not a queue uuid"), "{out}");
    for bin in ["pdns-ingestion", "pdns-cof-server"] {
        let (code, out) = status_and_text(&run(bin, &conf, &["--validate"]));
        assert_eq!(code, Some(0), "{bin}: {out}");
        assert!(
            out.contains("warning: unknown option [store] bogus") && out.contains(": OK"),
            "{bin}: {out}"
        );
    }

    let (code, out) = status_and_text(&run("pdns-ingestion", &conf, &["--check"]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "error: queue {UUID} ([global] my-uuid) is not registered on the D4 server"
        )),
        "{out}"
    );

    register_queue(&store, "1");
    let (code, out) = status_and_text(&run("pdns-ingestion", &conf, &["--check"]));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is a queue of type 1, not 8"), "{out}");

    register_queue(&store, "8");
    let (code, out) = status_and_text(&run("pdns-ingestion", &conf, &["--check"]));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("warning: the queue is registered but never received data"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(": OK"), "{out}");
}

#[test]
fn check_fails_on_bad_values_and_unreachable_stores() {
    let Some(store) = Store::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write_conf(
        dir.path(),
        store.port,
        store.port,
        "[cof]\nrdata-list = maybe\n",
    );
    for bin in ["pdns-ingestion", "pdns-cof-server", "pdns-import"] {
        let (code, out) = status_and_text(&run(bin, &bad, &["--check"]));
        assert_ne!(code, Some(0), "{bin}: {out}");
        assert!(out.contains("[cof] rdata-list = \"maybe\""), "{bin}: {out}");
    }

    let good = write_conf(dir.path(), store.port, store.port, "");
    for bin in ["pdns-cof-server", "pdns-import"] {
        let (code, out) = status_and_text(&run(bin, &good, &["--check"]));
        assert_eq!(code, Some(0), "{bin}: {out}");
        assert!(!out.contains("warning"), "{bin}: {out}");
    }

    let dead = free_port();
    let unreachable = write_conf(dir.path(), store.port, dead, "");
    for (bin, expected) in [("pdns-cof-server", 1), ("pdns-import", 2)] {
        let (code, out) = status_and_text(&run(bin, &unreachable, &["--check"]));
        assert_eq!(code, Some(expected), "{bin}: {out}");
        assert!(
            out.contains(&format!(
                "error: pDNS store redis://127.0.0.1:{dead}/0 unreachable"
            )),
            "{bin}: {out}"
        );
    }
}

/// Starts the ingestion on `conf` with extra arguments.
fn start_ingestion(conf: &Path, args: &[&str]) -> Proc {
    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c").arg(conf).args(args);
    Proc::spawn("pdns-ingestion", cmd)
}

#[test]
fn ingestion_warns_while_its_queue_is_not_registered() {
    let Some(store) = Store::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "bogus = 1\n");
    let placeholder = with_sample_uuid(&conf);

    let mut p = start_ingestion(&placeholder, &[]);
    assert!(
        p.wait_for_output(
            "[global] my-uuid = \"my-uuid\" is not a queue uuid",
            Duration::from_secs(10)
        ),
        "{}",
        p.output()
    );
    let out = p.output();
    assert!(out.contains("ERROR"), "{out}");
    assert!(
        out.contains("WARN") && out.contains("Unknown option [store] bogus"),
        "{out}"
    );
    p.terminate(Duration::from_secs(10));

    let missing = "is not registered on the D4 server";
    let mut p = start_ingestion(&conf, &["--queue-check-secs", "1"]);
    assert!(
        wait_until(Duration::from_secs(10), || p
            .output()
            .matches(missing)
            .count()
            >= 2),
        "warned at start and again: {}",
        p.output()
    );
    register_queue(&store, "8");
    assert!(
        p.wait_for_output(
            "Hint: the queue is registered but never received data",
            Duration::from_secs(10)
        ),
        "{}",
        p.output()
    );
    let warned = p.output().matches(missing).count();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        p.output().matches(missing).count(),
        warned,
        "no more warning once registered: {}",
        p.output()
    );
    assert!(p.terminate(Duration::from_secs(10)).is_some());
}

/// The value of the sample `name` (the whole text before the value) in a scrape.
fn sample(body: &str, name: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_string))
}

#[test]
fn ingestion_metrics_move_with_the_traffic() {
    let Some(store) = Store::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    register_queue(&store, "8");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut p = start_ingestion(&conf, &["--metrics", &addr]);
    assert!(
        d4_testkit::wait_for_port(port, Duration::from_secs(10)),
        "{}",
        p.output()
    );
    let before = http_get(&addr, "/metrics", &[]);
    assert_eq!(before.status, 200, "{before:?}");
    assert_eq!(
        sample(&before.body, "pdns_ingestion_lines_total").as_deref(),
        Some("0"),
        "{}",
        before.body
    );

    push_lines(&store, GOLDEN_LINES);
    assert!(
        wait_until(Duration::from_secs(10), || {
            sample(
                &http_get(&addr, "/metrics", &[]).body,
                "pdns_ingestion_lines_total",
            )
            .as_deref()
                == Some("8")
        }),
        "{}",
        p.output()
    );
    let m = http_get(&addr, "/metrics", &[]).body;
    for (name, value) in [
        ("pdns_ingestion_records_total", "6"),
        (
            "pdns_ingestion_rejected_lines_total{reason=\"too-few-fields\"}",
            "1",
        ),
        ("pdns_ingestion_excluded_lines_total", "1"),
        ("pdns_ingestion_queue_length", "0"),
    ] {
        assert_eq!(sample(&m, name).as_deref(), Some(value), "{name} in\n{m}");
    }
    for line in [
        "# TYPE pdns_ingestion_lines counter",
        "# TYPE pdns_ingestion_rejected_lines counter",
        "# TYPE pdns_ingestion_batch_duration_seconds histogram",
        "# TYPE pdns_ingestion_queue_length gauge",
        "# TYPE pdns_ingestion_lag_seconds gauge",
    ] {
        assert!(m.lines().any(|l| l == line), "{line} in\n{m}");
    }
    let batches: u64 = sample(&m, "pdns_ingestion_batch_duration_seconds_count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(batches >= 1, "{m}");
    assert!(p.terminate(Duration::from_secs(10)).is_some());
}
