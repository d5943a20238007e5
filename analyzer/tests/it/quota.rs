//! Quotas per credential (`[cof] quota-*`): a caller over its queries per day gets 429
//! with `Retry-After` on every endpoint, other callers do not; `rate_limit` reports the
//! counters in DNSDB's shape; the results quota cuts answers (`x-dribble-errors` and a
//! cursor on `/query`, `limited` in SAF).

use crate::common::HttpResponse;
use crate::dnsdb::{call, fixture, KEY, LINES};

/// Quotas: the fixture key 3 queries a day (a day, not a minute: a test crossing a window
/// boundary would see the counters reset) and 1000 a minute; `bob` 1 result per query.
const QUOTAS: &str = "basic-auth = bob:pw\nquota-for = k-0123456789:1000/3/0, bob:0/0/1\n";

fn as_bob(addr: &str, path: &str) -> HttpResponse {
    // bob:pw
    call(
        addr,
        "GET",
        path,
        &[("Authorization", "Basic Ym9iOnB3")],
        "",
    )
}

#[test]
fn queries_per_day_then_429_with_retry_after() {
    let Some((_store, _dir, cof)) = fixture(LINES, QUOTAS) else {
        return;
    };
    let key = ("X-API-Key", KEY);
    let rate = |addr: &str| {
        let r = call(addr, "GET", "/dnsdb/v2/rate_limit", &[key], "");
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str::<serde_json::Value>(&r.body).expect("JSON")
    };
    let v = rate(&cof.addr);
    assert_eq!(v["rate"]["limit"], 3);
    assert_eq!(v["rate"]["remaining"], 3);
    assert_eq!(v["rate"]["burst_size"], 1000);
    assert_eq!(v["rate"]["burst_window"], 60);
    assert!(
        v["rate"]["reset"].as_i64().unwrap_or(0) % 86_400 == 0,
        "{v}"
    );
    for path in [
        "/dnsdb/v2/lookup/rrset/name/www.example.com",
        "/query/www.example.com",
        "/search?q=www.example.com",
    ] {
        let r = call(&cof.addr, "GET", path, &[key], "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // The day holds 3 (rate_limit does not count); every endpoint now answers 429.
    for path in [
        "/query/www.example.com",
        "/dnsdb/v2/lookup/rrset/name/www.example.com",
        "/new",
    ] {
        let r = call(&cof.addr, "GET", path, &[key], "");
        assert_eq!(r.status, 429, "{path}: {}", r.body);
        let retry: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=86_400).contains(&retry), "{retry}");
        assert!(
            r.body.contains("quota exceeded: 3 queries per day"),
            "{}",
            r.body
        );
    }
    let v = rate(&cof.addr);
    assert_eq!(v["rate"]["remaining"], 0);
    assert!(v["rate"]["burst_remaining"].is_u64(), "{v}");
    // Batch lines over the quota fail one by one; the request itself is answered.
    let r = call(&cof.addr, "POST", "/batch", &[key], "www.example.com\n");
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("\"cond\": \"failed\", \"msg\": \"quota exceeded: 3 queries per day"),
        "{}",
        r.body
    );
    // Another credential is not affected.
    assert_eq!(as_bob(&cof.addr, "/query/www.example.com").status, 200);
}

#[test]
fn results_per_query_cut_answers_and_say_so() {
    let Some((_store, _dir, cof)) = fixture(LINES, QUOTAS) else {
        return;
    };
    let r = as_bob(&cof.addr, "/query/www.example.com");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.lines().count(), 1, "{}", r.body);
    assert_eq!(r.header("x-dribble-cursor"), Some("1"));
    let errors: serde_json::Value =
        serde_json::from_str(r.header("x-dribble-errors").expect("x-dribble-errors"))
            .expect("JSON");
    assert!(
        errors["limited"]
            .as_str()
            .unwrap_or_default()
            .contains("1 records per query"),
        "{errors}"
    );
    // The next page continues from the cursor.
    let r2 = call(
        &cof.addr,
        "GET",
        "/query/www.example.com",
        &[
            ("Authorization", "Basic Ym9iOnB3"),
            ("dribble-paginate-cursor", "1"),
        ],
        "",
    );
    assert_eq!(r2.body.lines().count(), 1);
    assert_ne!(r.body, r2.body);
    let r = as_bob(&cof.addr, "/dnsdb/v2/lookup/rrset/name/*.example.com");
    assert_eq!(r.body.lines().count(), 3, "{}", r.body);
    assert!(
        r.body
            .ends_with("{\"cond\":\"limited\",\"msg\":\"result limit reached (1 records)\"}\n"),
        "{}",
        r.body
    );
    let r = as_bob(&cof.addr, "/query/*.example.com?saf=1");
    assert!(r.header("x-dribble-errors").is_some());
    assert!(r.body.contains("\"cond\":\"limited\""), "{}", r.body);
    let v: serde_json::Value =
        serde_json::from_str(&as_bob(&cof.addr, "/dnsdb/v2/rate_limit").body).expect("JSON");
    assert_eq!(v["rate"]["results_max"], 1);
    assert_eq!(v["rate"]["limit"], "unlimited");
}

#[test]
fn without_credentials_the_address_is_the_caller() {
    let Some(store) = d4_testkit::Store::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = crate::common::write_conf(
        dir.path(),
        store.port,
        store.port,
        "[cof]\nquota-per-day = 1\n",
    );
    crate::common::push_lines(&store, LINES);
    crate::search::drain(&conf);
    let cof = crate::common::start_cof(&conf);
    let path = "/query/www.example.com";
    assert_eq!(call(&cof.addr, "GET", path, &[], "").status, 200);
    assert_eq!(call(&cof.addr, "GET", path, &[], "").status, 429);
    // Made-up credentials do not make another caller.
    let r = call(
        &cof.addr,
        "GET",
        path,
        &[("X-API-Key", "fresh"), ("Authorization", "Bearer x")],
        "",
    );
    assert_eq!(r.status, 429);
    // Another address is another caller.
    let other =
        crate::common::http_get_from("127.0.0.2".parse().expect("ip"), &cof.addr, path, &[]);
    assert_eq!(other.status, 200);
}
