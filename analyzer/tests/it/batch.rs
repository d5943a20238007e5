//! `POST /batch`: NDJSON in (bare values, JSON strings, objects with per-line parameters),
//! one answer line per query out, tagged and in input order, failures per line; and 10,000
//! values in one request, timed.

use std::time::Instant;

use crate::dnsdb::{call, fixture, KEY, LINES};

fn post(addr: &str, body: &str) -> crate::common::HttpResponse {
    call(addr, "POST", "/batch", &[("X-API-Key", KEY)], body)
}

#[test]
fn each_line_gets_its_tagged_answer_in_order() {
    let Some((_store, _dir, cof)) = fixture(LINES, "") else {
        return;
    };
    let body = "www.example.com\n\
                \"192.0.2.0/24\"\n\
                {\"query\": \"*.example.com\", \"id\": 7, \"rrtype\": [\"A\"], \"time_last_after\": 1700000150}\n\
                {\"query\": \"*.example.com\", \"id\": \"lim\", \"limit\": 1}\n\
                *.com\n\
                nothing.example\n";
    let r = post(&cof.addr, body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let summary: Vec<(String, String, Vec<String>)> = lines
        .iter()
        .map(|v| {
            let recs = v["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r["rrname"].as_str().unwrap_or(""),
                        r["rrtype"].as_str().unwrap_or(""),
                        r["rdata"].as_str().unwrap_or("")
                    )
                })
                .collect();
            (
                v["query"].as_str().unwrap_or_default().to_string(),
                v["cond"].as_str().unwrap_or_default().to_string(),
                recs,
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        summary,
        vec![
            (
                s("www.example.com"),
                s("succeeded"),
                vec![
                    s("www.example.com A 192.0.2.10"),
                    s("www.example.com A 198.51.100.7")
                ]
            ),
            (
                s("192.0.2.0/24"),
                s("succeeded"),
                vec![
                    s("www.example.com A 192.0.2.10"),
                    s("www.example.org A 192.0.2.30"),
                    s("mail.example.com A 192.0.2.20")
                ]
            ),
            (
                s("*.example.com"),
                s("succeeded"),
                vec![
                    s("www.example.com A 192.0.2.10"),
                    s("www.example.com A 198.51.100.7"),
                    s("mail.example.com A 192.0.2.20")
                ]
            ),
            (
                s("*.example.com"),
                s("limited"),
                vec![s("www.example.com A 192.0.2.10")]
            ),
            (s("*.com"), s("failed"), vec![]),
            (s("nothing.example"), s("succeeded"), vec![]),
        ]
    );
    assert_eq!(lines[2]["id"], 7);
    assert_eq!(lines[3]["id"], "lim");
    assert!(
        lines[4]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("two labels"),
        "{}",
        lines[4]
    );
    // Records are COF records.
    assert_eq!(lines[0]["records"][0]["count"], 2);
    assert_eq!(lines[0]["records"][0]["time_first"], 1700000100);
    assert_eq!(lines[0]["records"][0]["origin"], "origin not configured");
    // Authentication and method.
    assert_eq!(call(&cof.addr, "POST", "/batch", &[], "x\n").status, 401);
    assert_eq!(
        call(&cof.addr, "GET", "/batch", &[("X-API-Key", KEY)], "").status,
        405
    );
}

#[test]
fn ten_thousand_values_in_one_request() {
    // 5,000 names with one A record each; the batch asks for them and 5,000 absent names.
    let lines: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                "1700000000||10.0.0.1||10.0.0.2||IN||h{i}.bulk.example||A||10.9.{}.{}||300||1",
                i / 256,
                i % 256
            )
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let Some((_store, _dir, cof)) = fixture(&refs, "") else {
        return;
    };
    let body: String = (0..10_000)
        .map(|i| format!("h{i}.bulk.example\n"))
        .collect();
    let t = Instant::now();
    let r = post(&cof.addr, &body);
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    let answers: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(answers.len(), 10_000);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(
            a["query"],
            format!("h{i}.bulk.example"),
            "answers keep input order"
        );
        let n = a["records"].as_array().map_or(0, Vec::len);
        assert_eq!(n, usize::from(i < 5000), "{a}");
    }
    eprintln!("batch: 10,000 values answered in {took:?}");
    assert!(took.as_secs() < 20, "10,000-value batch took {took:?}");
}
