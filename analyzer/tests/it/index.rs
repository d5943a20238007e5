//! The d4-rs search indexes and the newly observed feed as `pdns-ingestion` and `pdns-import`
//! write them beside the upstream keys: exact keys, members and scores; feed entries only for
//! names and records seen for the first time.

use d4_analyzer::index::starting_key;
use d4_testkit::{Reply, Store};

use crate::common::*;
use crate::search::drain;

const LINES: &[&str] = &[
    "1700000100||10.0.0.1||10.0.0.2||IN||www.example.com||A||192.0.2.10||300||1",
    "1700000200||10.0.0.1||10.0.0.2||IN||a.b.example.co.uk||AAAA||2001:db8:1::5||300||1",
    "1700000300||10.0.0.1||10.0.0.2||IN||www.example.com||A||192.0.2.10||300||1",
    "1700000400||10.0.0.1||10.0.0.2||IN||example.com||NS||ns1.example.net||300||1",
    "1700000500||10.0.0.1||10.0.0.2||IN||10.2.0.192.in-addr.arpa||PTR||www.example.com||300||1",
];

const WWW: &str = "1:15:www.example.com:192.0.2.10,1700000300";
const AB: &str = "28:17:a.b.example.co.uk:2001:db8:1::5,1700000200";

/// The index keys (`ix:` but the feed and the reindex state) as `key = member,score,...`.
pub(crate) fn index_dump(port: u16, db: u8) -> Vec<String> {
    let mut keys = raw_cmd(port, db, &["KEYS", "ix:*"]).as_strings();
    keys.retain(|k| k != "ix:new" && k != "ix:reindex");
    keys.sort();
    keys.iter()
        .map(|k| {
            let m = raw_cmd(port, db, &["ZRANGE", k, "0", "-1", "WITHSCORES"]).as_strings();
            format!("{k} = {}", m.join(","))
        })
        .collect()
}

/// The feed entries as `field=value` lists (ids dropped).
fn feed(store: &Store) -> Vec<String> {
    let Reply::Array(Some(entries)) = store.cmd(&["XRANGE", "ix:new", "-", "+"]) else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| match e {
            Reply::Array(Some(parts)) => parts
                .get(1)
                .map(|f| f.as_strings().join(" "))
                .unwrap_or_default(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn ingestion_writes_the_index_keys_and_the_new_feed() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    push_lines(&store, LINES);
    drain(&conf);
    let pre = |labels: &str, m: &str| format!("{} = {m}", starting_key(labels));
    let mut want = vec![
        format!("ix:ip4:192.0.2 = {WWW}"),
        format!("ix:ip6:20010db80001 = {AB}"),
        pre("a.b", AB),
        pre("a.b.example", AB),
        pre("a.b.example.co", AB),
        pre("www.example", WWW),
        format!("ix:sub:b.example.co.uk = {AB}"),
        format!("ix:sub:co.uk = {AB}"),
        format!("ix:sub:example.co.uk = {AB}"),
        format!("ix:sub:example.com = {WWW}"),
    ];
    want.sort();
    assert_eq!(index_dump(store.port, 0), want);
    assert_eq!(
        feed(&store),
        vec![
            "kind name rrname a.b.example.co.uk time_first 1700000200",
            "kind name rrname example.com time_first 1700000400",
            "kind name rrname www.example.com time_first 1700000100",
            "kind record rrname www.example.com rrtype A rdata 192.0.2.10 time_first 1700000100",
            "kind record rrname a.b.example.co.uk rrtype AAAA rdata 2001:db8:1::5 time_first 1700000200",
            "kind record rrname example.com rrtype NS rdata ns1.example.net time_first 1700000400",
        ]
    );
    // Known names and records again, one new record of a known name, an older sighting: the
    // scores only grow, the feed gets the new record only.
    push_lines(
        &store,
        &[
            "1700000050||c||s||IN||www.example.com||A||192.0.2.10||300||1",
            "1700000600||c||s||IN||www.example.com||A||192.0.2.11||300||1",
            "1700000700||c||s||IN||example.com||NS||ns1.example.net||300||1",
        ],
    );
    drain(&conf);
    assert_eq!(
        store
            .cmd(&["ZRANGE", "ix:ip4:192.0.2", "0", "-1", "WITHSCORES"])
            .as_strings(),
        vec![
            "1:15:www.example.com:192.0.2.10",
            "1700000300",
            "1:15:www.example.com:192.0.2.11",
            "1700000600"
        ]
    );
    let f = feed(&store);
    assert_eq!(f.len(), 7, "{f:?}");
    assert_eq!(
        f[6],
        "kind record rrname www.example.com rrtype A rdata 192.0.2.11 time_first 1700000600"
    );
    // The upstream keys are untouched by the indexes (the golden dumps check them whole).
    assert_eq!(
        store
            .cmd(&["GET", "l:www.example.com:192.0.2.10:1"])
            .as_str()
            .as_deref(),
        Some("1700000300")
    );
}

#[test]
fn cof_import_writes_the_same_indexes_as_ingestion() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    push_lines(&store, LINES);
    drain(&conf);
    let by_ingestion = index_dump(store.port, 0);
    store.cmd(&["FLUSHALL"]);
    let path = dir.path().join("lines.log");
    std::fs::write(&path, LINES.join("\n") + "\n").expect("write");
    let out = analyzer_cmd("pdns-import")
        .arg("-c")
        .arg(&conf)
        .arg("--quiet")
        .arg(&path)
        .output()
        .expect("pdns-import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(index_dump(store.port, 0), by_ingestion);
}
