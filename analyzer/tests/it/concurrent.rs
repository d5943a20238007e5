//! Several `pdns-ingestion`s on one queue give the same store as one (issue 18): first and
//! last seen are updated atomically in the store, so no interleaving of the writers' batches
//! loses an update.

use std::time::Duration;

use d4_testkit::{Proc, Store, StoreKind};

use crate::common::*;

/// Lines of this test: few tuples seen many times, times out of order, so that two writers
/// touch the same `s:`/`l:` keys in almost every batch.
const LINES: usize = 40_000;
const NAMES: usize = 150;
const ANSWERS: usize = 4;

/// `LINES` passivedns lines, the same at every call (a fixed linear congruential sequence).
fn lines() -> Vec<String> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..LINES)
        .map(|_| {
            let name = next() as usize % NAMES;
            let answer = next() as usize % ANSWERS;
            let ts = 1_700_000_000 + next() % 100_000;
            format!(
                "{ts}.5||10.0.0.1||8.8.8.8||IN||host{name}.example.org.||A||192.0.2.{answer}||60||1"
            )
        })
        .collect()
}

/// Starts `pdns-ingestion --drain` with ingestion id `id`.
fn drain(conf: &std::path::Path, id: &str) -> Proc {
    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c")
        .arg(conf)
        .args(["--drain", "--batch", "200", "--id", id]);
    Proc::spawn(&format!("pdns-ingestion-{id}"), cmd)
}

/// Waits for a drain to finish; the number of lines it ingested (from its last log line).
fn finished(p: &mut Proc) -> u64 {
    assert!(
        wait_until(Duration::from_secs(120), || !p.is_running()),
        "ingestion did not finish: {}",
        p.output()
    );
    let out = p.output();
    assert!(out.contains("Ingestion stopped."), "{out}");
    out.rsplit("Ingestion stopped.")
        .next()
        .and_then(|tail| tail.split("lines=").nth(1))
        .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_ingestions_on_one_queue_give_the_store_of_one() {
    // redis-server whatever D4_TEST_STORE says: d4-kv has no scripting, and several writers
    // are documented as unsafe there (this test fails on it, as it did before scripting).
    let Some(one) = Store::start_kind(StoreKind::Redis) else {
        return;
    };
    let Some(two) = Store::start_kind(StoreKind::Redis) else {
        return;
    };
    let lines = lines();
    let dir_one = tempfile::tempdir().expect("tempdir");
    let dir_two = tempfile::tempdir().expect("tempdir");
    let conf_one = write_conf(dir_one.path(), one.port, one.port, "");
    let conf_two = write_conf(dir_two.path(), two.port, two.port, "");
    push_lines_port(one.port, &lines);
    push_lines_port(two.port, &lines);

    let mut single = drain(&conf_one, "solo");
    let mut a = drain(&conf_two, "a");
    let mut b = drain(&conf_two, "b");
    assert_eq!(finished(&mut single), LINES as u64);
    let (la, lb) = (finished(&mut a), finished(&mut b));
    assert_eq!(la + lb, LINES as u64);
    // Both took a real share of the queue, so their writes interleaved.
    assert!(
        la > LINES as u64 / 10 && lb > LINES as u64 / 10,
        "{la} + {lb}"
    );

    let want = dump(one.port, 0);
    assert!(
        want.iter().any(|k| k.starts_with("s:host0.example.org:")),
        "{want:?}"
    );
    assert_eq!(
        want.iter()
            .filter(|k| k.starts_with("s:") || k.starts_with("l:"))
            .count(),
        2 * NAMES * ANSWERS
    );
    let got = dump(two.port, 0);
    let differ: Vec<(&String, &String)> = want
        .iter()
        .zip(got.iter())
        .filter(|(w, g)| w != g)
        .take(10)
        .collect();
    assert!(
        want.len() == got.len() && differ.is_empty(),
        "{} keys vs {}; first differences (one process, two): {differ:#?}",
        want.len(),
        got.len()
    );
}
