//! `GET /new`: the newly observed names and records that ingestion recorded, filtered by
//! time, kind and limit, continued with `after`, SAF-framed on request.

use std::collections::BTreeSet;

use crate::dnsdb::{fixture, get, LINES};

/// `(kind, rrname, rrtype, rdata)` of each feed line.
fn entries(body: &str) -> Vec<(String, String, String, String)> {
    body.lines()
        .filter(|l| !l.starts_with("{\"cond\""))
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            let f = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            assert!(v["time_first"].is_i64(), "{l}");
            assert!(f("id").contains('-'), "{l}");
            (f("kind"), f("rrname"), f("rrtype"), f("rdata"))
        })
        .collect()
}

#[test]
fn newly_observed_names_and_records() {
    let Some((_store, _dir, cof)) = fixture(LINES, "") else {
        return;
    };
    let r = get(&cof.addr, "/new?since=-3600");
    assert_eq!(r.status, 200, "{}", r.body);
    let all = entries(&r.body);
    let names: BTreeSet<String> = all
        .iter()
        .filter(|e| e.0 == "name")
        .map(|e| e.1.clone())
        .collect();
    let want: BTreeSet<String> = [
        "www.example.com",
        "mail.example.com",
        "a.b.example.com",
        "example.com",
        "www.example.org",
        "cdn.example.com",
        "old.example.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, want);
    let records: BTreeSet<(String, String, String)> = all
        .iter()
        .filter(|e| e.0 == "record")
        .map(|e| (e.1.clone(), e.2.clone(), e.3.clone()))
        .collect();
    assert_eq!(records.len(), 8, "{records:?}");
    assert!(records.contains(&("www.example.com".into(), "A".into(), "198.51.100.7".into())));
    // kind filter, and nothing in the future.
    let only = entries(&get(&cof.addr, "/new?kind=name").body);
    assert_eq!(only.len(), 7);
    assert!(only.iter().all(|e| e.0 == "name"));
    assert_eq!(get(&cof.addr, "/new?since=4000000000").body, "");
    // limit with SAF: limited, then continue after the last id.
    let r = get(&cof.addr, "/new?limit=10&saf=1");
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.first(), Some(&"{\"cond\":\"begin\"}"));
    assert_eq!(lines.len(), 12, "{}", r.body);
    let end: serde_json::Value = serde_json::from_str(lines[11]).expect("terminator");
    assert_eq!(end["cond"], "limited");
    let last: serde_json::Value = serde_json::from_str(lines[10]).expect("entry");
    let after = last["id"].as_str().expect("id");
    assert!(
        end["msg"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("after={after}")),
        "{end}"
    );
    let rest = get(&cof.addr, &format!("/new?after={after}&saf=1"));
    assert!(
        rest.body.ends_with("{\"cond\":\"succeeded\"}\n"),
        "{}",
        rest.body
    );
    assert_eq!(entries(&rest.body).len() + 10, all.len());
    assert_eq!(get(&cof.addr, "/new?after=bogus").status, 400);
}
