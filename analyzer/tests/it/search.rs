//! The search engine through `/query` and `/fquery` with search parameters, against a store
//! written by `pdns-ingestion` from given passivedns lines: each query kind returns exactly
//! the expected records in the expected order (newest `time_last` first), and paginating
//! newest first returns every record once while ingestion keeps writing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use d4_testkit::{Proc, Reply, Store};

use crate::common::*;

/// The fixture lines (passivedns format): names under example.com at several depths, a
/// right-hand family (www.example.*), addresses in two IPv4 /24s and two IPv6 /48s.
pub(crate) const LINES: &[&str] = &[
    "1700000100||10.0.0.1||10.0.0.2||IN||www.example.com||A||192.0.2.10||300||1",
    "1700000200||10.0.0.1||10.0.0.2||IN||mail.example.com||A||192.0.2.20||300||1",
    "1700000300||10.0.0.1||10.0.0.2||IN||a.b.example.com||AAAA||2001:db8:1::5||300||1",
    "1700000400||10.0.0.1||10.0.0.2||IN||example.com||NS||ns1.example.net||300||1",
    "1700000500||10.0.0.1||10.0.0.2||IN||www.example.org||A||192.0.2.30||300||1",
    "1700000600||10.0.0.1||10.0.0.2||IN||WWW.Example.com.||A||198.51.100.7||300||1",
    "1700000700||10.0.0.1||10.0.0.2||IN||cdn.example.com||CNAME||www.example.org||300||1",
    "1700000050||10.0.0.1||10.0.0.2||IN||old.example.com||A||192.0.3.1||300||1",
    "1700000800||10.0.0.1||10.0.0.2||IN||www.example.com||A||192.0.2.10||300||1",
    "1700000900||10.0.0.1||10.0.0.2||IN||www.example.co.uk||A||203.0.113.9||300||1",
    "1700000150||10.0.0.1||10.0.0.2||IN||x.other.net||A||192.0.2.99||300||1",
    "1700000350||10.0.0.1||10.0.0.2||IN||v6.example.com||AAAA||2001:db8:2::1||300||1",
    "1700000360||10.0.0.1||10.0.0.2||IN||txt.example.com||TXT||\"hello\"||300||1",
    "1700000370||10.0.0.1||10.0.0.2||IN||4.3.2.1.in-addr.arpa||PTR||www.example.com||300||1",
];

/// One expected NDJSON line.
fn rec(first: i64, last: i64, count: i64, rrtype: &str, rrname: &str, rdata: &str) -> String {
    format!(
        "{{\"time_first\": {first}, \"time_last\": {last}, \"count\": {count}, \"rrtype\": \"{rrtype}\", \"rrname\": \"{rrname}\", \"rdata\": \"{rdata}\", \"origin\": \"origin not configured\"}}\n"
    )
}

fn www_a10() -> String {
    rec(
        1700000100,
        1700000800,
        2,
        "A",
        "www.example.com",
        "192.0.2.10",
    )
}
fn www_a7() -> String {
    rec(
        1700000600,
        1700000600,
        1,
        "A",
        "www.example.com",
        "198.51.100.7",
    )
}
fn mail() -> String {
    rec(
        1700000200,
        1700000200,
        1,
        "A",
        "mail.example.com",
        "192.0.2.20",
    )
}
fn ab() -> String {
    rec(
        1700000300,
        1700000300,
        1,
        "AAAA",
        "a.b.example.com",
        "2001:db8:1::5",
    )
}
fn org() -> String {
    rec(
        1700000500,
        1700000500,
        1,
        "A",
        "www.example.org",
        "192.0.2.30",
    )
}
fn cdn() -> String {
    rec(
        1700000700,
        1700000700,
        1,
        "CNAME",
        "cdn.example.com",
        "www.example.org",
    )
}
fn old() -> String {
    rec(
        1700000050,
        1700000050,
        1,
        "A",
        "old.example.com",
        "192.0.3.1",
    )
}
fn couk() -> String {
    rec(
        1700000900,
        1700000900,
        1,
        "A",
        "www.example.co.uk",
        "203.0.113.9",
    )
}
fn other() -> String {
    rec(1700000150, 1700000150, 1, "A", "x.other.net", "192.0.2.99")
}
fn v6() -> String {
    rec(
        1700000350,
        1700000350,
        1,
        "AAAA",
        "v6.example.com",
        "2001:db8:2::1",
    )
}
fn txt() -> String {
    rec(
        1700000360,
        1700000360,
        1,
        "TXT",
        "txt.example.com",
        "hello\\\"",
    )
}

/// Every search of the golden test and its exact body (`now` for relative fences).
pub(crate) fn golden(now: i64) -> Vec<(String, String)> {
    let rel = |t: i64| (t - now).to_string();
    vec![
        (
            "/query/*.example.com".into(),
            [www_a10(), cdn(), www_a7(), txt(), v6(), ab(), mail(), old()].concat(),
        ),
        (
            "/query/.example.com?rrtype=AAAA,CNAME".into(),
            [cdn(), v6(), ab()].concat(),
        ),
        (
            "/query/www.example.*".into(),
            [couk(), www_a10(), www_a7(), org()].concat(),
        ),
        (
            "/query/192.0.2.0/24".into(),
            [www_a10(), org(), mail(), other()].concat(),
        ),
        (
            "/query/192.0.2.0%2F23".into(),
            [www_a10(), org(), mail(), other(), old()].concat(),
        ),
        ("/query/2001:db8:1::/48".into(), ab()),
        ("/query/2001:db8::/40".into(), [v6(), ab()].concat()),
        (
            "/query/192.0.2.10-192.0.2.25".into(),
            [www_a10(), mail()].concat(),
        ),
        (
            "/query/*.example.com?time_last_after=1700000299&time_last_before=1700000701".into(),
            [cdn(), www_a7(), txt(), v6(), ab()].concat(),
        ),
        (
            "/query/*.example.com?time_first_before=1700000150".into(),
            [www_a10(), old()].concat(),
        ),
        (
            format!("/query/*.example.com?time_last_after={}", rel(1700000650)),
            [www_a10(), cdn()].concat(),
        ),
        (
            "/query/www.example.com?rrtype=A".into(),
            [www_a10(), www_a7()].concat(),
        ),
        ("/query/192.0.2.10?limit=5".into(), www_a10()),
        ("/fquery/www.example.org?limit=10".into(), cdn()),
        (
            "/query/*.example.com?rrtype=A&time_last_before=1700000700".into(),
            [www_a7(), mail(), old()].concat(),
        ),
    ]
}

/// A store written by our ingestion from [`LINES`], and a COF server on it.
fn fixture() -> Option<(Store, tempfile::TempDir, CofServer)> {
    let store = Store::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    push_lines(&store, LINES);
    drain(&conf);
    let cof = start_cof(&conf);
    Some((store, dir, cof))
}

/// Runs `pdns-ingestion --drain` to the end.
pub(crate) fn drain(conf: &Path) {
    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c").arg(conf).arg("--drain");
    let mut p = Proc::spawn("pdns-ingestion", cmd);
    assert!(
        wait_until(Duration::from_secs(30), || !p.is_running()),
        "ingestion did not finish: {}",
        p.output()
    );
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[test]
fn each_query_kind_returns_exactly_the_expected_records_newest_first() {
    let Some((_store, _dir, cof)) = fixture() else {
        return;
    };
    for (path, want) in golden(now()) {
        let r = http_get(&cof.addr, &path, &[]);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body, want, "{path}");
        assert_eq!(r.header("x-dribble-cursor"), None, "{path}");
    }
}

#[test]
fn search_headers_pages_and_refusals() {
    let Some((_store, _dir, cof)) = fixture() else {
        return;
    };
    // Several types in the CIRCL header, fences as headers.
    let r = http_get(
        &cof.addr,
        "/query/*.example.com",
        &[
            ("dribble-filter-rrtype", "AAAA,CNAME"),
            ("dribble-time-last-after", "1700000340"),
        ],
    );
    assert_eq!(r.body, [cdn(), v6()].concat());
    // Pages of 3 with the cursor of the previous page, as a parameter and as a header.
    let all = [www_a10(), cdn(), www_a7(), txt(), v6(), ab(), mail(), old()].concat();
    let first = http_get(&cof.addr, "/query/*.example.com?limit=3", &[]);
    assert_eq!(first.body, [www_a10(), cdn(), www_a7()].concat());
    let c1 = first
        .header("x-dribble-cursor")
        .expect("cursor")
        .to_string();
    let second = http_get(
        &cof.addr,
        &format!("/query/*.example.com?limit=3&cursor={c1}"),
        &[],
    );
    assert_eq!(second.body, [txt(), v6(), ab()].concat());
    let c2 = second
        .header("x-dribble-cursor")
        .expect("cursor")
        .to_string();
    let third = http_get(
        &cof.addr,
        "/query/*.example.com",
        &[
            ("dribble-paginate-count", "3"),
            ("dribble-paginate-cursor", &c2),
        ],
    );
    assert_eq!(third.body, [mail(), old()].concat());
    assert_eq!(third.header("x-dribble-cursor"), None);
    assert_eq!(
        [first.body, second.body, third.body].concat(),
        all,
        "pages are the whole answer"
    );
    for bad in [
        "/query/*.com?limit=1",
        "/query/www.*?limit=1",
        "/query/10.0.0.0/8?limit=1",
        "/query/*.example.com?rrtype=PTR",
        "/query/*.example.com?time_last_after=yesterday",
        "/query/*.example.com?cursor=garbage",
    ] {
        let r = http_get(&cof.addr, bad, &[]);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.starts_with("{\"error\":"), "{bad}: {}", r.body);
    }
    // Without a search parameter a name query is today's lookup (upstream order).
    let r = http_get(&cof.addr, "/query/www.example.com", &[]);
    assert_eq!(r.body, [www_a10(), www_a7()].concat());
}

/// Lines of `n` names under `page.example.com`, seen at `t0 + i`.
fn page_lines(range: std::ops::Range<u64>, t0: u64, rdata: &str) -> Vec<String> {
    range
        .map(|i| {
            format!(
                "{}||10.0.0.1||10.0.0.2||IN||h{i}.page.example.com||A||{rdata}||60||1",
                t0 + i
            )
        })
        .collect()
}

#[test]
fn newest_first_pages_return_every_record_once_while_ingestion_writes() {
    let Some(store) = Store::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    push_lines_port(
        store.port,
        &page_lines(0..300, 1_700_000_000, "198.51.100.1"),
    );
    drain(&conf);
    let cof = start_cof(&conf);
    let mut ingestion = {
        let mut cmd = analyzer_cmd("pdns-ingestion");
        cmd.arg("-c").arg(&conf);
        Proc::spawn("pdns-ingestion", cmd)
    };
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0u64;
    loop {
        let path = match &cursor {
            None => "/query/*.page.example.com?limit=25".to_string(),
            Some(c) => format!("/query/*.page.example.com?limit=25&cursor={c}"),
        };
        let r = http_get(&cof.addr, &path, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(r.body.lines().map(|l| {
            l.split("\"rrname\": \"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("rrname")
                .to_string()
        }));
        // Between pages: new names seen later than any record, and updates of records
        // already returned (which move above the cursor), while ingestion runs.
        let news = page_lines(
            1000 + pages * 10..1010 + pages * 10,
            1_800_000_000,
            "198.51.100.2",
        );
        let updates: Vec<String> = seen
            .iter()
            .take(5)
            .map(|n| {
                format!(
                    "{}||c||s||IN||{n}||A||198.51.100.1||60||1",
                    1_800_000_000 + pages
                )
            })
            .collect();
        push_lines_port(store.port, &[news, updates].concat());
        pages += 1;
        match r.header("x-dribble-cursor") {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 100, "pagination does not end");
    }
    let want: Vec<String> = (0..300)
        .rev()
        .map(|i| format!("h{i}.page.example.com"))
        .collect();
    assert_eq!(seen, want, "every original record once, newest first");
    assert!(
        wait_until(Duration::from_secs(20), || {
            store.cmd_db(2, &["LLEN", &queue_key()]) == Reply::Int(0)
        }),
        "ingestion did not drain: {}",
        ingestion.output()
    );
    // The writes landed: a new query starts with them.
    let r = http_get(&cof.addr, "/query/*.page.example.com?limit=1", &[]);
    assert!(r.body.contains("\"time_last\": 18000"), "{}", r.body);
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 300);
    ingestion.terminate(Duration::from_secs(10));
}

#[test]
fn records_with_partial_keys_are_completed_or_skipped_as_query_does() {
    // Index answers take last seen from the index score and read `l:` only for a record
    // without `s:`: such a record must read as `/query` reads it, and one without any time
    // must be skipped.
    let Some((store, _dir, cof)) = fixture() else {
        return;
    };
    store.cmd(&["DEL", "s:mail.example.com:192.0.2.20:1"]);
    store.cmd(&["SET", "l:mail.example.com:192.0.2.20:1", "1700000250"]);
    store.cmd(&[
        "DEL",
        "s:old.example.com:192.0.3.1:1",
        "l:old.example.com:192.0.3.1:1",
    ]);
    let mail = http_get(&cof.addr, "/query/mail.example.com", &[]).body;
    assert_eq!(
        mail,
        rec(
            1700000250,
            1700000250,
            1,
            "A",
            "mail.example.com",
            "192.0.2.20"
        )
    );
    assert_eq!(http_get(&cof.addr, "/query/old.example.com", &[]).body, "");
    let r = http_get(&cof.addr, "/query/*.example.com?rrtype=A", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, [www_a10(), www_a7(), mail].concat());
}
