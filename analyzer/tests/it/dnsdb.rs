//! The DNSDB v2-shaped endpoints of `pdns-cof-server` against a store written by
//! `pdns-ingestion` from given lines: exact SAF bodies for each lookup kind (rrset and rdata,
//! exact, wildcard, address, CIDR, time-fenced, limited, summarize), `X-API-Key`
//! authentication, `rate_limit`; and `dnsdbq` (Debian package, DNSDB v2 mode) running a
//! wildcard, a time-fenced and a CIDR query against the server. Also the opt-in SAF framing
//! and summaries of `/query`.

use std::path::Path;
use std::process::Command;

use d4_testkit::{require, Store};

use crate::common::*;

/// Fixture lines (passivedns format).
pub(crate) const LINES: &[&str] = &[
    "1700000100||10.0.0.1||10.0.0.2||IN||www.example.com||A||192.0.2.10||300||1",
    "1700000800||10.0.0.1||10.0.0.2||IN||www.example.com||A||192.0.2.10||300||1",
    "1700000600||10.0.0.1||10.0.0.2||IN||www.example.com||A||198.51.100.7||300||1",
    "1700000200||10.0.0.1||10.0.0.2||IN||mail.example.com||A||192.0.2.20||300||1",
    "1700000300||10.0.0.1||10.0.0.2||IN||a.b.example.com||AAAA||2001:db8:1::5||300||1",
    "1700000400||10.0.0.1||10.0.0.2||IN||example.com||NS||ns1.example.net||300||1",
    "1700000500||10.0.0.1||10.0.0.2||IN||www.example.org||A||192.0.2.30||300||1",
    "1700000700||10.0.0.1||10.0.0.2||IN||cdn.example.com||CNAME||www.example.org||300||1",
    "1700000050||10.0.0.1||10.0.0.2||IN||old.example.com||A||192.0.3.1||300||1",
];

/// The API key of the fixture.
pub(crate) const KEY: &str = "k-0123456789";

/// A store written by our ingestion from `lines`, and a COF server on it with `[cof]` `extra`.
pub(crate) fn fixture(
    lines: &[&str],
    extra: &str,
) -> Option<(Store, tempfile::TempDir, CofServer)> {
    let store = Store::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(
        dir.path(),
        store.port,
        store.port,
        &format!("[cof]\ntoken = {KEY}\n{extra}"),
    );
    push_lines(&store, lines);
    crate::search::drain(&conf);
    let cof = start_cof(&conf);
    Some((store, dir, cof))
}

/// One HTTP exchange with a body, the connection closed after it.
pub(crate) fn call(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let s = std::net::TcpStream::connect(addr).expect("connect COF server");
    http_exchange(s, addr, method, path, headers, body)
}

/// `GET path` with the fixture's API key.
pub(crate) fn get(addr: &str, path: &str) -> HttpResponse {
    call(addr, "GET", path, &[("X-API-Key", KEY)], "")
}

/// One DNSDB rrset object line.
fn rrset(count: i64, first: i64, last: i64, name: &str, t: &str, bw: &str, rdata: &str) -> String {
    format!("{{\"obj\":{{\"count\":{count},\"time_first\":{first},\"time_last\":{last},\"rrname\":\"{name}.\",\"rrtype\":\"{t}\",\"bailiwick\":\"{bw}.\",\"rdata\":[\"{rdata}\"]}}}}\n")
}

/// One DNSDB rdata object line.
fn rdata(count: i64, first: i64, last: i64, name: &str, t: &str, rdata: &str) -> String {
    format!("{{\"obj\":{{\"count\":{count},\"time_first\":{first},\"time_last\":{last},\"rrname\":\"{name}.\",\"rrtype\":\"{t}\",\"rdata\":\"{rdata}\"}}}}\n")
}

const BEGIN: &str = "{\"cond\":\"begin\"}\n";
const OK: &str = "{\"cond\":\"succeeded\"}\n";

fn saf(lines: &[String], end: &str) -> String {
    format!("{BEGIN}{}{end}", lines.concat())
}

#[test]
fn dnsdb_lookups_answer_exact_saf_bodies() {
    let Some((_store, _dir, cof)) = fixture(LINES, "") else {
        return;
    };
    let www10 = || {
        rrset(
            2,
            1700000100,
            1700000800,
            "www.example.com",
            "A",
            "example.com",
            "192.0.2.10",
        )
    };
    let www7 = || {
        rrset(
            1,
            1700000600,
            1700000600,
            "www.example.com",
            "A",
            "example.com",
            "198.51.100.7",
        )
    };
    let cdn = || {
        rrset(
            1,
            1700000700,
            1700000700,
            "cdn.example.com",
            "CNAME",
            "example.com",
            "www.example.org.",
        )
    };
    let mail = || {
        rrset(
            1,
            1700000200,
            1700000200,
            "mail.example.com",
            "A",
            "example.com",
            "192.0.2.20",
        )
    };
    let ab = || {
        rrset(
            1,
            1700000300,
            1700000300,
            "a.b.example.com",
            "AAAA",
            "example.com",
            "2001:db8:1::5",
        )
    };
    let old = || {
        rrset(
            1,
            1700000050,
            1700000050,
            "old.example.com",
            "A",
            "example.com",
            "192.0.3.1",
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("/dnsdb/v2/lookup/rrset/name/www.example.com", saf(&[www10(), www7()], OK)),
        ("/dnsdb/v2/lookup/rrset/name/www.example.com/A?limit=1&swclient=t&version=1", saf(&[www10()], "{\"cond\":\"limited\",\"msg\":\"result limit reached (1 records)\"}\n")),
        ("/dnsdb/v2/lookup/rrset/name/www.example.com/AAAA", saf(&[], OK)),
        ("/dnsdb/v2/lookup/rrset/name/%2A.example.com", saf(&[www10(), cdn(), www7(), ab(), mail(), old()], OK)),
        ("/dnsdb/v2/lookup/rrset/name/.example.com/A", saf(&[www10(), www7(), mail(), old()], OK)),
        ("/dnsdb/v2/lookup/rrset/name/www.example.*", saf(&[www10(), www7(), rrset(1, 1700000500, 1700000500, "www.example.org", "A", "example.org", "192.0.2.30")], OK)),
        ("/dnsdb/v2/lookup/rrset/name/*.example.com?time_last_after=1700000650", saf(&[www10(), cdn()], OK)),
        ("/dnsdb/v2/lookup/rrset/name/*.example.com?time_first_before=1700000250&offset=1", saf(&[mail(), old()], OK)),
        ("/dnsdb/v2/lookup/rdata/ip/192.0.2.10", saf(&[rdata(2, 1700000100, 1700000800, "www.example.com", "A", "192.0.2.10")], OK)),
        ("/dnsdb/v2/lookup/rdata/ip/192.0.2.0,24", saf(&[
            rdata(2, 1700000100, 1700000800, "www.example.com", "A", "192.0.2.10"),
            rdata(1, 1700000500, 1700000500, "www.example.org", "A", "192.0.2.30"),
            rdata(1, 1700000200, 1700000200, "mail.example.com", "A", "192.0.2.20"),
        ], OK)),
        ("/dnsdb/v2/lookup/rdata/ip/192.0.2.15-192.0.3.255", saf(&[
            rdata(1, 1700000500, 1700000500, "www.example.org", "A", "192.0.2.30"),
            rdata(1, 1700000200, 1700000200, "mail.example.com", "A", "192.0.2.20"),
            rdata(1, 1700000050, 1700000050, "old.example.com", "A", "192.0.3.1"),
        ], OK)),
        ("/dnsdb/v2/lookup/rdata/name/www.example.org", saf(&[rdata(1, 1700000700, 1700000700, "cdn.example.com", "CNAME", "www.example.org.")], OK)),
        ("/dnsdb/v2/lookup/rdata/name/ns1.example.net/NS", saf(&[rdata(1, 1700000400, 1700000400, "example.com", "NS", "ns1.example.net.")], OK)),
        ("/dnsdb/v2/summarize/rrset/name/*.example.com", saf(&["{\"obj\":{\"count\":7,\"num_results\":6,\"time_first\":1700000050,\"time_last\":1700000800}}\n".to_string()], OK)),
    ];
    for (path, want) in cases {
        let r = get(&cof.addr, path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/x-ndjson"),
            "{path}"
        );
        assert_eq!(r.body, want, "{path}");
    }
}

#[test]
fn dnsdb_auth_errors_and_rate_limit() {
    let Some((_store, _dir, cof)) = fixture(LINES, "") else {
        return;
    };
    let path = "/dnsdb/v2/lookup/rrset/name/www.example.com";
    assert_eq!(call(&cof.addr, "GET", path, &[], "").status, 401);
    assert_eq!(
        call(&cof.addr, "GET", path, &[("X-API-Key", "wrong")], "").status,
        401
    );
    let bearer = format!("Bearer {KEY}");
    assert_eq!(
        call(&cof.addr, "GET", path, &[("Authorization", &bearer)], "").status,
        200
    );
    for bad in [
        "/dnsdb/v2/lookup/rrset/name/*.com",
        "/dnsdb/v2/lookup/rrset/name/x/BOGUS",
        "/dnsdb/v2/lookup/rdata/ip/not-an-ip",
        "/dnsdb/v2/lookup/rdata/raw/00ff",
        "/dnsdb/v2/lookup/rrset/name/x?time_last_after=yesterday",
    ] {
        let r = get(&cof.addr, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.starts_with("{\"error\":"), "{bad}: {}", r.body);
    }
    let r = call(&cof.addr, "POST", path, &[("X-API-Key", KEY)], "");
    assert_eq!(r.status, 405);
    let r = get(&cof.addr, "/dnsdb/v2/rate_limit");
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).expect("JSON"),
        serde_json::json!({"rate": {"limit": "unlimited", "remaining": "n/a", "reset": "n/a"}})
    );
}

#[test]
fn cof_queries_in_saf_framing_and_summaries_on_request() {
    let Some((_store, _dir, cof)) = fixture(LINES, "") else {
        return;
    };
    let auth = ("Authorization", KEY);
    let plain = call(&cof.addr, "GET", "/query/www.example.com", &[auth], "");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body.lines().count(), 2);
    let wrapped = |body: &str| {
        let inner: Vec<String> = body.lines().map(|l| format!("{{\"obj\":{l}}}\n")).collect();
        saf(&inner, OK)
    };
    let r = call(
        &cof.addr,
        "GET",
        "/query/www.example.com?saf=1",
        &[auth],
        "",
    );
    assert_eq!(r.body, wrapped(&plain.body));
    let r = call(
        &cof.addr,
        "GET",
        "/query/www.example.com",
        &[
            auth,
            ("Accept", "application/x-ndjson;saf"),
            ("dribble-disable-active-query", "1"),
        ],
        "",
    );
    assert_eq!(r.body, wrapped(&plain.body));
    // A page that leaves records out ends `limited`.
    let r = call(
        &cof.addr,
        "GET",
        "/query/www.example.com?saf=1",
        &[auth, ("dribble-paginate-count", "1")],
        "",
    );
    assert!(r.header("x-dribble-cursor").is_some());
    assert!(
        r.body
            .ends_with("{\"cond\":\"limited\",\"msg\":\"page ends; continue from cursor 1\"}\n"),
        "{}",
        r.body
    );
    let r = call(
        &cof.addr,
        "GET",
        "/query/www.example.com?summarize=1",
        &[auth],
        "",
    );
    assert_eq!(
        r.body,
        "{\"count\":3,\"num_results\":2,\"time_first\":1700000100,\"time_last\":1700000800}\n"
    );
    let r = call(
        &cof.addr,
        "GET",
        "/query/*.example.com?summarize=1&saf=1",
        &[auth],
        "",
    );
    assert_eq!(r.body, saf(&["{\"obj\":{\"count\":7,\"num_results\":6,\"time_first\":1700000050,\"time_last\":1700000800}}\n".to_string()], OK));
}

/// Runs `dnsdbq -u dnsdb2 -j <args>` against `addr` and returns its JSON records.
fn dnsdbq(addr: &str, home: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new("dnsdbq")
        .args(["-u", "dnsdb2", "-j"])
        .args(args)
        .env("HOME", home)
        .env("DNSDB_API_KEY", KEY)
        .env("DNSDB_SERVER", format!("http://{addr}"))
        .output()
        .expect("run dnsdbq");
    assert!(
        out.status.success(),
        "dnsdbq {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("dnsdbq line {l:?}: {e}")))
        .collect()
}

/// `(rrname, rdata)` of dnsdbq's records, sorted.
fn pairs(records: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let rdata = match &r["rdata"] {
                serde_json::Value::Array(a) => a
                    .first()
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_string(),
                other => other.as_str().unwrap_or_default().to_string(),
            };
            (r["rrname"].as_str().unwrap_or_default().to_string(), rdata)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn dnsdbq_runs_wildcard_time_fenced_and_cidr_queries() {
    if !require("dnsdbq") {
        return;
    }
    let Some((_store, dir, cof)) = fixture(LINES, "") else {
        return;
    };
    let p = |n: &str, r: &str| (n.to_string(), r.to_string());
    let all = dnsdbq(&cof.addr, dir.path(), &["-r", "*.example.com"]);
    assert_eq!(
        pairs(&all),
        vec![
            p("a.b.example.com.", "2001:db8:1::5"),
            p("cdn.example.com.", "www.example.org."),
            p("mail.example.com.", "192.0.2.20"),
            p("old.example.com.", "192.0.3.1"),
            p("www.example.com.", "192.0.2.10"),
            p("www.example.com.", "198.51.100.7"),
        ]
    );
    assert_eq!(
        all.iter()
            .find(|r| r["rdata"][0] == "192.0.2.10")
            .map(|r| r["count"].clone()),
        Some(serde_json::json!(2))
    );
    // -A: records seen (last) after the time; -B: first seen before.
    let fenced = dnsdbq(
        &cof.addr,
        dir.path(),
        &[
            "-r",
            "*.example.com/A",
            "-A",
            "1700000650",
            "-B",
            "1700000700",
        ],
    );
    assert_eq!(pairs(&fenced), vec![p("www.example.com.", "192.0.2.10")]);
    let cidr = dnsdbq(&cof.addr, dir.path(), &["-i", "192.0.2.0/24"]);
    assert_eq!(
        pairs(&cidr),
        vec![
            p("mail.example.com.", "192.0.2.20"),
            p("www.example.com.", "192.0.2.10"),
            p("www.example.org.", "192.0.2.30"),
        ]
    );
    let names = dnsdbq(&cof.addr, dir.path(), &["-n", "www.example.org"]);
    assert_eq!(
        pairs(&names),
        vec![p("cdn.example.com.", "www.example.org.")]
    );
}
