//! The COF wire fixes of issue 15 and the authentication slow-down of issue 12 (defect 6),
//! against the real `pdns-cof-server` and redis-server: one JSON shape for every error,
//! never a `null` or non-integer time, the `rdata`-list / `bailiwick` option, and 429s with
//! `Retry-After` for a brute force while another client keeps its 200s.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use d4_testkit::Store;

use crate::common::*;

/// Every error answer: JSON content type and `{"error": "<text>"}`.
fn assert_json_error(r: &HttpResponse, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{what}: {r:?}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}: {:?}", r.body));
    let obj = v.as_object().unwrap_or_else(|| panic!("{what}: {v}"));
    assert_eq!(obj.len(), 1, "{what}: {v}");
    assert!(
        obj.get("error").is_some_and(|e| e.is_string()),
        "{what}: {v}"
    );
}

fn started(extra: &str) -> Option<(Store, tempfile::TempDir, CofServer)> {
    let store = Store::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, extra);
    let cof = start_cof(&conf);
    Some((store, dir, cof))
}

#[test]
fn every_error_has_the_same_json_shape() {
    let Some((_store, _dir, cof)) = started("") else {
        return;
    };
    for path in [
        "/",
        "/nothing",
        "/queryx/example.com",
        "/info/",
        "/query",
        "/metrics/x",
    ] {
        assert_json_error(&http_get(&cof.addr, path, &[]), 404, path);
    }
    for (method, path) in [
        ("POST", "/query/example.com"),
        ("PUT", "/info"),
        ("DELETE", "/metrics"),
        ("POST", "/nothing"),
    ] {
        let r = http_request(&cof.addr, method, path, &[]);
        let status = if path == "/nothing" { 404 } else { 405 };
        assert_json_error(&r, status, &format!("{method} {path}"));
        if status == 405 {
            assert_eq!(r.header("allow"), Some("GET"), "{method} {path}");
        }
    }
    assert_json_error(&http_get(&cof.addr, "/query/%zz", &[]), 400, "bad query");
    assert_json_error(
        &http_get(&cof.addr, "/query/x.org?bailiwick=maybe", &[]),
        400,
        "bad option",
    );
}

/// One partial-keys case: the answer, its `s:`/`l:`/`o:` values, and the record's
/// `(time_first, time_last, count)` it must give (`None`: skipped).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<(i64, i64, i64)>,
);

/// Partial keys: each case and the record it must give (or none).
#[test]
fn partial_keys_never_give_null_or_non_integer_times() {
    let Some((store, _dir, mut cof)) = started("") else {
        return;
    };
    let q = "partial.example";
    let cases: &[Case] = &[
        (
            "10.0.0.1",
            &[("s", "100"), ("l", "200"), ("o", "3")],
            Some((100, 200, 3)),
        ),
        ("10.0.0.2", &[("s", "100"), ("o", "3")], Some((100, 100, 3))),
        (
            "10.0.0.3",
            &[("s", "100"), ("l", "soon"), ("o", "3")],
            Some((100, 100, 3)),
        ),
        (
            "10.0.0.4",
            &[("s", "100"), ("l", "200")],
            Some((100, 200, 1)),
        ),
        ("10.0.0.5", &[("l", "200"), ("o", "2")], Some((200, 200, 2))),
        (
            "10.0.0.6",
            &[("s", "300"), ("l", "200"), ("o", "1")],
            Some((300, 300, 1)),
        ),
        (
            "10.0.0.7",
            &[("s", "100.0"), ("l", "200.0"), ("o", "4")],
            Some((100, 200, 4)),
        ),
        ("10.0.0.8", &[("s", "x"), ("o", "5")], None),
        ("10.0.0.9", &[], None),
    ];
    for (v, keys, _) in cases {
        store.cmd(&["SADD", &format!("r:{q}:1"), v]);
        for (family, value) in *keys {
            store.cmd(&["SET", &format!("{family}:{q}:{v}:1"), value]);
        }
    }
    let r = http_get(&cof.addr, &format!("/query/{q}"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.body.contains("null"), "{}", r.body);
    let mut got = Vec::new();
    for l in r.body.lines() {
        let rec: serde_json::Value = serde_json::from_str(l).expect("record JSON");
        let int = |k: &str| {
            rec.get(k)
                .and_then(serde_json::Value::as_i64)
                .unwrap_or_else(|| panic!("{k} is not an integer: {l}"))
        };
        let rdata = rec
            .get("rdata")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        got.push((rdata, (int("time_first"), int("time_last"), int("count"))));
    }
    let want: Vec<(String, (i64, i64, i64))> = cases
        .iter()
        .filter_map(|(v, _, want)| want.map(|w| (v.to_string(), w)))
        .collect();
    assert_eq!(got, want, "{}", r.body);
    // The WARN is written after the answer is sent: wait for it.
    assert!(
        cof.proc
            .wait_for_output("Records with partial s:/l:/o: keys", Duration::from_secs(5)),
        "{}",
        cof.proc.output()
    );
}

fn seed_zone(store: &Store) {
    // example.org is a zone apex (NS records); www.example.org and deep.a.example.org are in it;
    // orphan.example.net has no NS anywhere above it.
    for (q, t, v) in [
        ("example.org", "2", "ns1.example.org"),
        ("www.example.org", "1", "192.0.2.1"),
        ("deep.a.example.org", "1", "192.0.2.2"),
        ("host.orphan.example.net", "1", "192.0.2.3"),
    ] {
        store.cmd(&["SADD", &format!("r:{q}:{t}"), v]);
        for (family, value) in [("s", "1700000000"), ("l", "1700000000"), ("o", "1")] {
            store.cmd(&["SET", &format!("{family}:{q}:{v}:{t}"), value]);
        }
    }
}

#[test]
fn rdata_list_and_bailiwick_on_request_or_by_config() {
    let Some((store, dir, cof)) = started("") else {
        return;
    };
    seed_zone(&store);
    let plain = http_get(&cof.addr, "/query/www.example.org", &[]).body;
    assert_eq!(
        plain,
        "{\"time_first\": 1700000000, \"time_last\": 1700000000, \"count\": 1, \"rrtype\": \"A\", \"rrname\": \"www.example.org\", \"rdata\": \"192.0.2.1\", \"origin\": \"origin not configured\"}\n",
        "default bytes unchanged"
    );
    let full = |name: &str| {
        http_get(
            &cof.addr,
            &format!("/query/{name}?rdata-list=1&bailiwick=1"),
            &[],
        )
        .body
    };
    assert_eq!(
        full("www.example.org"),
        "{\"time_first\": 1700000000, \"time_last\": 1700000000, \"count\": 1, \"rrtype\": \"A\", \"rrname\": \"www.example.org\", \"rdata\": [\"192.0.2.1\"], \"bailiwick\": \"example.org\", \"origin\": \"origin not configured\"}\n"
    );
    assert!(full("deep.a.example.org").contains("\"bailiwick\": \"example.org\""));
    assert!(full("example.org").contains("\"bailiwick\": \"example.org\""));
    assert!(full("host.orphan.example.net").contains("\"bailiwick\": \"example.net\""));
    let list_only = http_get(&cof.addr, "/query/www.example.org?rdata-list=yes", &[]).body;
    assert!(
        list_only.contains("\"rdata\": [\"192.0.2.1\"], \"origin\""),
        "{list_only}"
    );

    // The same as the default of analyzer.conf; a request can still turn it off.
    drop(cof);
    let conf = write_conf(
        dir.path(),
        store.port,
        store.port,
        "\n[cof]\nrdata-list = yes\nbailiwick = yes\n",
    );
    let cof = start_cof(&conf);
    assert_eq!(
        http_get(&cof.addr, "/query/www.example.org", &[]).body,
        full_of(&cof, "www.example.org")
    );
    assert_eq!(
        http_get(
            &cof.addr,
            "/query/www.example.org?rdata-list=0&bailiwick=0",
            &[]
        )
        .body,
        plain
    );
}

fn full_of(cof: &CofServer, name: &str) -> String {
    http_get(
        &cof.addr,
        &format!("/query/{name}?rdata-list=1&bailiwick=1"),
        &[],
    )
    .body
}

#[test]
fn brute_force_gets_429_while_a_good_client_keeps_200() {
    let Some((_store, _dir, cof)) = started("\n[cof]\nbasic-auth = alice:s3cret\n") else {
        return;
    };
    let attacker: IpAddr = "127.0.0.1".parse().expect("ip");
    let good: IpAddr = "127.0.0.2".parse().expect("ip");
    // alice:wrong / alice:s3cret
    let wrong = [("Authorization", "Basic YWxpY2U6d3Jvbmc=")];
    let right = [("Authorization", "Basic YWxpY2U6czNjcmV0")];
    let started = Instant::now();
    let (mut unauthorized, mut limited) = (0, 0);
    for i in 0..300 {
        let r = http_get_from(attacker, &cof.addr, "/query/x.org", &wrong);
        match r.status {
            401 => unauthorized += 1,
            429 => {
                limited += 1;
                let after: u64 = r
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("429 without Retry-After: {r:?}"));
                assert!((1..=2).contains(&after), "{r:?}");
                assert_json_error(&r, 429, "limited");
            }
            other => panic!("attempt {i}: status {other}: {r:?}"),
        }
        if i % 50 == 0 {
            let ok = http_get_from(good, &cof.addr, "/query/x.org", &right);
            assert_eq!(ok.status, 200, "good client from another address: {ok:?}");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let allowed = 10 + secs.ceil() as usize + 1;
    assert!(
        unauthorized <= allowed,
        "{unauthorized} wrong passwords checked in {secs:.1} s (at most {allowed})"
    );
    assert!(limited >= 300 - allowed, "{limited} limited");
    // While limited, even the right password from that address waits; after a second one
    // attempt is allowed again.
    // (Two back to back: the bucket refills one token per second, so at most one passes.)
    let statuses = [(); 2].map(|_| http_get_from(attacker, &cof.addr, "/info", &right).status);
    assert!(statuses.contains(&429), "{statuses:?}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        http_get_from(attacker, &cof.addr, "/info", &right).status,
        200
    );
}
