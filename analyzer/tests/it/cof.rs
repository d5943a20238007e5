//! `pdns-cof-server` against a store written with redis-py in the upstream key layout
//! (spec pdns.md §1.5), and against a store written by our own ingestion: exact NDJSON bodies.

use d4_testkit::{python, Store};

use crate::common::*;

/// Writes the fixture store the way upstream `pdns-ingestion.py` does (spec §1.5 command
/// sequence, per line), plus raw keys for the upstream-bug cases.
const WRITER: &str = r#"
import sys, redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]), db=0)
def ingest(q, t, v, ts):
    r.sadd('r:%s:%s' % (q, t), v)
    r.sadd('v:%s:%s' % (v, t), q)
    k = '%s:%s:%s' % (q, v, t)
    if not r.exists('s:' + k):
        r.set('s:' + k, ts)
    last = r.get('l:' + k)
    if not last or int(last) < int(ts):
        r.set('l:' + k, ts)
    r.incr('o:' + k, amount=1)
    r.incrby('stats:processed', 1)
for ts in (1700000000, 1700000500, 1700000100):
    ingest('example.com', '1', '93.184.216.34', ts)
ingest('example.com', '2', 'ns1.example.net', 1700000001)
ingest('example.com', '15', 'mx.example.com', 1700000002)
ingest('example.com', '16', 'v=spf1 -all"', 1700000003)
ingest('example.com', '28', '2001:db8::2', 1700000004)
ingest('example.com', '12', 'ptr.example.org', 1700000005)
# NS member without last-seen and count (upstream: null fields)
r.sadd('r:example.com:2', 'ns2.example.net'); r.set('s:example.com:ns2.example.net:2', '1700000006')
# AAAA member whose first-seen expired: upstream `break`s and drops 2001:db8::2 too
r.sadd('r:example.com:28', '2001:db8::1')
# same name/rdata under two types: upstream reports the NS timestamps for both
ingest('alias.example.com', '2', 'example.com', 1650000000)
ingest('alias.example.com', '5', 'example.com', 1600000000)
# a set of 250 members: upstream silently returns nothing for it
for i in range(250):
    ingest('big.example.com', '1', '10.0.%d.%d' % (i // 100, i % 100), 1690000000 + i)
r.zincrby('stats:sensors', 5, 'sensor-a'); r.zincrby('stats:sensors', 2, 'sensor-b')
"#;

fn line(first: i64, last: &str, count: &str, rrtype: &str, rrname: &str, rdata: &str) -> String {
    format!("{{\"time_first\": {first}, \"time_last\": {last}, \"count\": {count}, \"rrtype\": \"{rrtype}\", \"rrname\": \"{rrname}\", \"rdata\": \"{rdata}\", \"origin\": \"origin not configured\"}}\n")
}

fn example_com() -> String {
    [
        line(
            1700000000,
            "1700000500",
            "3",
            "A",
            "example.com",
            "93.184.216.34",
        ),
        line(
            1700000001,
            "1700000001",
            "1",
            "NS",
            "example.com",
            "ns1.example.net",
        ),
        // Upstream wrote `null` for the missing l: and o:; we never do (issue 15): last seen
        // is taken from first seen, the count is 1.
        line(
            1700000006,
            "1700000006",
            "1",
            "NS",
            "example.com",
            "ns2.example.net",
        ),
        line(
            1700000002,
            "1700000002",
            "1",
            "MX",
            "example.com",
            "mx.example.com",
        ),
        line(
            1700000003,
            "1700000003",
            "1",
            "TXT",
            "example.com",
            "v=spf1 -all\\\"",
        ),
        line(
            1700000004,
            "1700000004",
            "1",
            "AAAA",
            "example.com",
            "2001:db8::2",
        ),
    ]
    .concat()
}

fn alias() -> String {
    [
        line(
            1650000000,
            "1650000000",
            "1",
            "NS",
            "alias.example.com",
            "example.com",
        ),
        line(
            1600000000,
            "1600000000",
            "1",
            "CNAME",
            "alias.example.com",
            "example.com",
        ),
    ]
    .concat()
}

fn fixture() -> Option<(Store, tempfile::TempDir, CofServer)> {
    let store = Store::start()?;
    python(WRITER, &[&store.port.to_string()]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let cof = start_cof(&conf);
    Some((store, dir, cof))
}

#[test]
fn upstream_layout_store_gives_exact_ndjson() {
    let Some((_store, _dir, cof)) = fixture() else {
        return;
    };
    let get = |p: &str| http_get(&cof.addr, p, &[]);

    let r = get("/query/example.com");
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/x-ndjson"))
    );
    assert_eq!(r.body, example_com());
    // Case and trailing dot do not matter; rrname is the stored name.
    assert_eq!(get("/query/EXAMPLE.Com.").body, example_com());
    // IP: every record of each associated name (upstream semantics).
    assert_eq!(get("/query/93.184.216.34").body, example_com());
    assert_eq!(get("/fquery/93.184.216.34").body, example_com());
    // fquery on a name: records of the names having it as rdata.
    assert_eq!(get("/fquery/ns1.example.net").body, example_com());
    assert_eq!(get("/fquery/example.com").body, alias());
    assert_eq!(get("/query/alias.example.com").body, alias());
    // Not found: 200, empty body (upstream).
    let r = get("/query/nothing.example");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    // All 250 members, in order.
    let big = get("/query/big.example.com").body;
    assert_eq!(big.lines().count(), 250);
    assert!(big.starts_with(&line(
        1690000000,
        "1690000000",
        "1",
        "A",
        "big.example.com",
        "10.0.0.0"
    )));
}

#[test]
fn info_metrics_and_errors() {
    let Some((store, _dir, cof)) = fixture() else {
        return;
    };
    let r = http_get(&cof.addr, "/info", &[]);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    let stats = 3 + 5 + 2 + 250;
    assert_eq!(
        r.body,
        format!(
            r#"{{"version": "git", "software": "analyzer-d4-passivedns", "stats": {stats}, "sensors": [{{"sensor_id": "sensor-a", "count": 5}}, {{"sensor_id": "sensor-b", "count": 2}}]}}"#
        )
    );
    store.cmd(&["DEL", "stats:processed"]);
    assert!(http_get(&cof.addr, "/info", &[])
        .body
        .contains("\"stats\": 0,"));

    for bad in ["/query/", "/fquery/", "/query/%zz", "/query/a%00b"] {
        let r = http_get(&cof.addr, bad, &[]);
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(r.body.starts_with("{\"error\":"), "{bad}: {}", r.body);
    }
    let r = http_get(
        &cof.addr,
        "/query/example.com",
        &[("dribble-filter-rrtype", "BOGUS")],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("valid types: A, NS, CNAME, MX, TXT, AAAA, SRV, RRSIG"),
        "{}",
        r.body
    );
    assert_eq!(http_get(&cof.addr, "/info/", &[]).status, 404);

    let m = http_get(&cof.addr, "/metrics", &[]).body;
    for line in [
        "# TYPE pdns_cof_requests counter",
        "pdns_cof_requests_total{route=\"query\",status=\"400\"} 4",
        "pdns_cof_requests_total{route=\"info\",status=\"200\"} 2",
        "# TYPE pdns_cof_request_duration_seconds histogram",
        "pdns_cof_request_duration_seconds_count{route=\"info\"} 2",
        "pdns_cof_request_duration_seconds_count{route=\"query\"} 4",
        "# TYPE pdns_cof_store_processed_records counter",
        "pdns_cof_store_processed_records_total 0",
    ] {
        assert!(m.lines().any(|l| l == line), "{line} in\n{m}");
    }

    for (method, path) in [
        ("POST", "/query/example.com"),
        ("DELETE", "/fquery/example.com"),
    ] {
        let r = http_request(&cof.addr, method, path, &[]);
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
    }
    for path in ["/queryx/example.com", "/query", "/fquery"] {
        assert_eq!(http_get(&cof.addr, path, &[]).status, 404, "{path}");
    }
}

#[test]
fn dribble_pagination_and_type_filter() {
    let Some((_store, _dir, cof)) = fixture() else {
        return;
    };
    let mut all = String::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let mut h = vec![("dribble-paginate-count", "100")];
        if !cursor.is_empty() {
            h.push(("dribble-paginate-cursor", cursor.as_str()));
        }
        let r = http_get(&cof.addr, "/query/big.example.com", &h);
        assert_eq!(r.status, 200);
        pages += 1;
        all.push_str(&r.body);
        match r.header("x-dribble-cursor") {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(all, http_get(&cof.addr, "/query/big.example.com", &[]).body);
    let ns = http_get(
        &cof.addr,
        "/query/example.com",
        &[("dribble-filter-rrtype", "ns")],
    )
    .body;
    assert_eq!(
        ns,
        example_com()
            .lines()
            .filter(|l| l.contains("\"NS\""))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

#[test]
fn auth_from_analyzer_conf() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(
        dir.path(),
        store.port,
        store.port,
        "\n[cof]\nbasic-auth = alice:s3cret\ntoken = tok123\n",
    );
    let cof = start_cof(&conf);
    let r = http_get(&cof.addr, "/query/example.com", &[]);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    assert_eq!(
        http_get(&cof.addr, "/info", &[("Authorization", "Bearer wrong")]).status,
        401
    );
    assert_eq!(
        http_get(&cof.addr, "/info", &[("Authorization", "Bearer tok123")]).status,
        200
    );
    assert_eq!(
        http_get(&cof.addr, "/info", &[("Authorization", "tok123")]).status,
        200
    );
    // alice:s3cret
    assert_eq!(
        http_get(
            &cof.addr,
            "/query/x.org",
            &[("Authorization", "Basic YWxpY2U6czNjcmV0")]
        )
        .status,
        200
    );
}

#[test]
fn lines_ingested_by_our_ingestion_are_served() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    push_lines(
        &store,
        &[
            "1700000000.1||c||s||IN||Example.com.||A||93.184.216.34||300||1",
            "1700000500.1||c||s||IN||example.com.||A||93.184.216.34||300||1",
            "1700000100.1||c||s||IN||example.com.||A||93.184.216.34||300||1",
            "1700000001.2||c||s||IN||example.com.||NS||ns1.example.net.||300||1",
            "1700000002.2||c||s||IN||example.com.||MX||mx.example.com.||300||1",
            "1700000003.2||c||s||IN||example.com.||TXT||\"v=spf1 -all\"||300||1",
            "1700000004.2||c||s||IN||example.com.||AAAA||2001:db8::2||300||1",
        ],
    );
    let mut cmd = analyzer_cmd("pdns-ingestion");
    cmd.arg("-c").arg(&conf).arg("--drain");
    let mut ing = d4_testkit::Proc::spawn("pdns-ingestion", cmd);
    assert!(
        wait_until(std::time::Duration::from_secs(20), || !ing.is_running()),
        "{}",
        ing.output()
    );
    let cof = start_cof(&conf);
    let want: String = example_com()
        .lines()
        .filter(|l| !l.contains("ns2"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(http_get(&cof.addr, "/query/example.com", &[]).body, want);
    assert_eq!(
        http_get(&cof.addr, "/query/2001:0db8:0:0::2", &[]).body,
        want
    );
}

/// CIRCL's own client, PyPDNS (PyPI `pypdns`), pages through our answers with the dribble
/// headers, authenticates with Basic auth and parses every record.
const PYPDNS: &str = r#"
import sys
from pypdns import PyPDNS
p = PyPDNS(url=sys.argv[1], basic_auth=('alice', 's3cret'))
big = list(p.iter_query('big.example.com'))
print(len(big), len({r.rdata for r in big}), big[0].rrtype, big[0].time_first)
recs = p.rfc_query('alias.example.com')
print(sorted((r.rrtype, r.rdata, r.time_first, r.count) for r in recs))
print(len(p.rfc_query('example.com', filter_rrtype='A')))
"#;

#[test]
fn pypdns_client_reads_our_answers() {
    let has_pypdns = std::process::Command::new("python3")
        .args(["-c", "import pypdns"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_pypdns {
        assert!(
            !d4_testkit::in_ci(),
            "pypdns (pip install pypdns) is required under CI"
        );
        eprintln!("SKIP: python module pypdns not installed");
        return;
    }
    let Some(store) = Store::start() else { return };
    python(WRITER, &[&store.port.to_string()]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(
        dir.path(),
        store.port,
        store.port,
        "\n[cof]\nbasic-auth = alice:s3cret\n",
    );
    let cof = start_cof(&conf);
    let out = python(PYPDNS, &[&format!("http://{}/query", cof.addr)]);
    assert_eq!(
        out,
        "250 250 A 1690000000\n[('CNAME', 'example.com', 1600000000, 1), ('NS', 'example.com', 1650000000, 1)]\n1\n"
    );
}

#[test]
fn store_down_gives_503_json_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = d4_testkit::free_port();
    let conf = write_conf(dir.path(), dead, dead, "");
    let mut cof = start_cof(&conf);
    let r = http_get(&cof.addr, "/query/example.com", &[]);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.body, r#"{"error":"passive DNS store unavailable"}"#);
    assert!(cof.proc.is_running());
    assert_eq!(
        cof.proc.terminate(std::time::Duration::from_secs(10)),
        Some(0),
        "{}",
        cof.proc.output()
    );
}

/// The store goes away under a running COF server and comes back: queries get a 503 (never a
/// hang or a crash) while it is down, and the same answer as before once it is back.
#[test]
fn store_restart_gives_503_then_the_same_answer() {
    let Some(mut store) = PersistentRedis::start() else {
        return;
    };
    for (k, v) in [
        ("s:example.org:192.0.2.7:1", "1700000000"),
        ("l:example.org:192.0.2.7:1", "1700000900"),
        ("o:example.org:192.0.2.7:1", "4"),
    ] {
        store.cmd(&["SET", k, v]);
    }
    store.cmd(&["SADD", "r:example.org:1", "192.0.2.7"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let mut cof = start_cof(&conf);
    let before = http_get(&cof.addr, "/query/example.org", &[]);
    assert_eq!(before.status, 200, "{before:?}");
    assert!(before.body.contains("\"count\": 4"), "{before:?}");

    store.kill();
    let down = http_get(&cof.addr, "/query/example.org", &[]);
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.body, r#"{"error":"passive DNS store unavailable"}"#);

    store.restart();
    let mut last = None;
    let back = wait_until(std::time::Duration::from_secs(15), || {
        let r = http_get(&cof.addr, "/query/example.org", &[]);
        let ok = r.status == 200 && r.body == before.body;
        last = Some(r);
        ok
    });
    assert!(back, "no answer after the store came back: {last:?}");
    assert!(cof.proc.is_running());
}
