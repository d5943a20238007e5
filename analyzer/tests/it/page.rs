//! The search page of `pdns-cof-server` (`/search`): rendered HTML for a wildcard, an
//! address pivot, escaping and authentication over HTTP; and `tests/browser/search.mjs` in
//! headless Chromium (wildcard search, timelines, pivot links, type filter), whose
//! screenshots are checked here too (PNG, page width, not blank). Missing chromium, node or
//! playwright-core fails under CI=true and skips otherwise.

use std::process::Command;

use d4_testkit::{in_ci, require, target_dir, workspace_root};

use crate::dnsdb::{call, fixture, LINES};

/// `alice:pw` for the page (browsers send Basic credentials).
const USER: &str = "basic-auth = alice:pw\n";
const BASIC: (&str, &str) = ("Authorization", "Basic YWxpY2U6cHc=");

#[test]
fn page_renders_results_timelines_and_pivots() {
    let Some((_store, _dir, cof)) = fixture(LINES, USER) else {
        return;
    };
    let r = call(&cof.addr, "GET", "/search", &[], "");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Basic")));
    let r = call(
        &cof.addr,
        "GET",
        "/search?q=%2A.example.com&rrtype=A",
        &[BASIC],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let h = &r.body;
    assert!(
        h.contains("<p class=\"summary\" id=\"summary\">4 records, newest first.</p>"),
        "{h}"
    );
    assert_eq!(h.matches("<rect class=\"bar\"").count(), 4);
    assert!(
        h.contains("<a class=\"ip\" href=\"/search?q=192%2E0%2E2%2E10&amp;rrtype=A\""),
        "{h}"
    );
    assert!(h.contains("href=\"/search?q=%2A%2Eexample%2Ecom&amp;rrtype=A\" title=\"everything under example.com\">domain</a>"), "{h}");
    assert!(
        h.contains(
            "<td>2023-11-14 22:15:00</td><td>2023-11-14 22:26:40</td><td class=\"num\">2</td>"
        ),
        "{h}"
    );
    assert!(
        !h.contains("<script") && !h.contains("http://") && !h.contains("https://"),
        "self-contained"
    );
    // The address pivot: names that pointed at it.
    let r = call(&cof.addr, "GET", "/search?q=192.0.2.10", &[BASIC], "");
    assert!(r.body.contains("1 record, newest first."), "{}", r.body);
    assert!(r.body.contains(">www.example.com</a>"));
    // Input is escaped and bad input explained.
    let r = call(
        &cof.addr,
        "GET",
        "/search?q=%3Cscript%3E*.com",
        &[BASIC],
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("value=\"&lt;script&gt;*.com\""),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<p class=\"error\" id=\"error\">"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<script>"));
}

fn browser_tools() -> bool {
    if !require("node") || !require("chromium") {
        return false;
    }
    let ok = workspace_root()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir();
    if !ok {
        assert!(
            !in_ci(),
            "playwright-core missing: run `npm install --prefix tests/browser`"
        );
        eprintln!("SKIP: playwright-core not installed in tests/browser");
    }
    ok
}

/// Width and height of a PNG (from its IHDR chunk).
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(..8)? != b"\x89PNG\r\n\x1a\n" || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |r: std::ops::Range<usize>| {
        bytes
            .get(r)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    Some((be(16..20)?, be(20..24)?))
}

#[test]
fn search_page_in_headless_chromium() {
    if !browser_tools() {
        return;
    }
    let Some((_store, _dir, cof)) = fixture(LINES, USER) else {
        return;
    };
    let shots = target_dir().join("test-output/browser-search");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(workspace_root().join("tests/browser/search.mjs"))
        .current_dir(workspace_root().join("tests/browser"))
        .env("D4_URL", format!("http://{}", cof.addr))
        .env("D4_USER", "alice")
        .env("D4_PASSWORD", "pw")
        .env("D4_SHOTS", &shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\nscreenshots in {}", shots.display());
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        cof.proc.output()
    );
    for (name, min_bytes) in [
        ("01-empty", 5_000),
        ("02-wildcard", 20_000),
        ("04-ip-pivot", 10_000),
        ("05-rdata-pivot", 10_000),
        ("06-filter", 10_000),
    ] {
        let bytes = std::fs::read(shots.join(format!("{name}.png"))).expect(name);
        let (w, h) = png_size(&bytes).unwrap_or_else(|| panic!("{name} is not a PNG"));
        assert_eq!(w, 1366, "{name}");
        assert!(h >= 300, "{name}: {w}x{h}");
        assert!(
            bytes.len() >= min_bytes,
            "{name}: only {} bytes, blank?",
            bytes.len()
        );
    }
    let bar = std::fs::read(shots.join("03-timeline.png")).expect("timeline shot");
    // The 240x14 SVG, give or take a pixel of sub-pixel layout.
    let (w, h) = png_size(&bar).expect("timeline PNG");
    assert!(
        (240..=242).contains(&w) && (14..=16).contains(&h),
        "{w}x{h}"
    );
}
