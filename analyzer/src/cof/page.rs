//! `GET /search`: the search page, rendered on the server (no script, no external resource;
//! the stylesheet `analyzer/assets/search.css` is inlined). A search box takes names,
//! wildcards (`*.example.com`, `www.example.*`), addresses, prefixes and ranges; filters are
//! the type and a time fence (seen after / first seen before, as dates). Results, newest
//! first, carry a timeline of first/last seen per record (an SVG bar on a scale shared by the
//! page) and pivot links: an address → the names that pointed at it; a name → its records;
//! `domain` → everything under the name's parent domain; `rdata` → the records pointing at a
//! name.
//!
//! Parameters: `q`, `side=rdata` (match the answer instead of the owner name), `rrtype`,
//! `after` and `before` (`YYYY-MM-DD`), `cursor` (next page).

use std::fmt::Write as _;

use super::ask::{Ask, Side};
use super::record::CofRecord;
use crate::model::rrtype;
use crate::search::{params, Cursor, SearchError, Subject};

/// Records per page.
pub(crate) const PAGE: usize = 500;
/// Width of a timeline (px).
const TIMELINE_W: i64 = 240;
/// Height of a timeline (px).
const TIMELINE_H: i64 = 14;
/// Seconds per day.
const DAY: i64 = 86_400;

/// The form's values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    /// Search text.
    pub(crate) q: String,
    /// Match the answer (`side=rdata`).
    pub(crate) rdata: bool,
    /// Type filter (mnemonic, empty = any).
    pub(crate) rrtype: String,
    /// Seen on or after this date.
    pub(crate) after: String,
    /// First seen on or before this date.
    pub(crate) before: String,
    /// Page cursor.
    pub(crate) cursor: String,
}

impl Form {
    /// Reads the query string.
    pub(crate) fn parse(query: &str) -> Form {
        let mut f = Form::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = super::dnsdb::decode(&v.replace('+', " ")).unwrap_or_default();
            match k {
                "q" => f.q = v,
                "side" => f.rdata = v == "rdata",
                "rrtype" => f.rrtype = v,
                "after" => f.after = v,
                "before" => f.before = v,
                "cursor" => f.cursor = v,
                _ => {}
            }
        }
        f
    }

    /// The question of the form, or why it is not one.
    pub(crate) fn ask(&self) -> Result<Ask, String> {
        let err = |e: SearchError| e.to_string();
        let mut ask = if self.rdata {
            Ask::new(Side::Rdata, Subject::rdata(&self.q).map_err(err)?)
        } else {
            Ask::guess(&self.q).map_err(err)?
        };
        if !self.rrtype.is_empty() {
            ask.query.types = vec![params::parse_type(&self.rrtype).map_err(err)?];
        }
        if !self.after.is_empty() {
            ask.query.fence.last_after = Some(date(&self.after)? - 1);
        }
        if !self.before.is_empty() {
            ask.query.fence.first_before = Some(date(&self.before)? + DAY);
        }
        if !self.cursor.is_empty() {
            ask.query.after =
                Some(Cursor::decode(&self.cursor).ok_or("invalid page cursor".to_string())?);
        }
        ask.query.limit = PAGE;
        Ok(ask)
    }

    /// The URL of this form with `q` (and the side) replaced, filters kept, no cursor.
    fn with_q(&self, q: &str, rdata: bool) -> String {
        let f = Form {
            q: q.to_string(),
            rdata,
            cursor: String::new(),
            ..self.clone()
        };
        f.url()
    }

    /// `/search?...` for the form.
    fn url(&self) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut u = format!("/search?q={}", enc(&self.q));
        if self.rdata {
            u.push_str("&side=rdata");
        }
        for (k, v) in [
            ("rrtype", &self.rrtype),
            ("after", &self.after),
            ("before", &self.before),
            ("cursor", &self.cursor),
        ] {
            if !v.is_empty() {
                let _ = write!(u, "&{k}={}", enc(v));
            }
        }
        u
    }
}

/// `YYYY-MM-DD` → epoch seconds of its start (UTC).
fn date(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a date (YYYY-MM-DD)");
    let mut it = s.trim().splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from civil (proleptic Gregorian), H. Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * DAY)
}

/// Epoch seconds → `YYYY-MM-DD` (UTC).
fn day_of(t: i64) -> String {
    let z = t.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Epoch seconds → `YYYY-MM-DD HH:MM:SS` (UTC).
fn time_of(t: i64) -> String {
    let s = t.rem_euclid(DAY);
    format!(
        "{} {:02}:{:02}:{:02}",
        day_of(t),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A timeline end's label: the date, or the time too when the page spans under two days.
fn axis_label(t: i64, span: i64) -> String {
    if span < 2 * DAY {
        time_of(t)
    } else {
        day_of(t)
    }
}

/// HTML-escapes text (element content and quoted attributes).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the page shows under the form.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// No search yet.
    Empty,
    /// The search was refused (bad input).
    Error(String),
    /// Records of a page and the next page's cursor.
    Records(Vec<CofRecord>, Option<Cursor>),
}

/// The whole page.
pub(crate) fn render(form: &Form, outcome: &Outcome) -> String {
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    // No favicon request (it would be a 404 and a prompt for credentials).
    h.push_str("<link rel=\"icon\" href=\"data:,\">");
    let _ = write!(
        h,
        "<title>{}passive DNS search</title><style>{}</style></head><body>",
        if form.q.is_empty() {
            String::new()
        } else {
            format!("{} - ", esc(&form.q))
        },
        include_str!("../../assets/search.css")
    );
    h.push_str("<header><h1>Passive DNS search</h1></header><main>");
    form_html(&mut h, form);
    match outcome {
        Outcome::Empty => h.push_str(
            "<p class=\"hint\">Names (<code>www.example.com</code>), wildcards (<code>*.example.com</code>, \
             <code>www.example.*</code>), addresses (<code>192.0.2.1</code>), prefixes (<code>192.0.2.0/24</code>) \
             and ranges (<code>192.0.2.1-192.0.2.9</code>).</p>",
        ),
        Outcome::Error(msg) => {
            let _ = write!(h, "<p class=\"error\" id=\"error\">{}</p>", esc(msg));
        }
        Outcome::Records(records, next) => results_html(&mut h, form, records, next.as_ref()),
    }
    h.push_str("</main></body></html>\n");
    h
}

/// The search form.
fn form_html(h: &mut String, f: &Form) {
    let _ = write!(
        h,
        "<form class=\"search\" method=\"get\" action=\"/search\"><label>Search<input name=\"q\" value=\"{}\" \
         placeholder=\"name, *.domain, IP, prefix\" autofocus></label>",
        esc(&f.q)
    );
    if f.rdata {
        h.push_str("<input type=\"hidden\" name=\"side\" value=\"rdata\">");
    }
    h.push_str("<label>Type<select name=\"rrtype\"><option value=\"\">any</option>");
    for t in rrtype::SERVED.iter() {
        let m = rrtype::mnemonic(*t);
        let sel = if m.eq_ignore_ascii_case(&f.rrtype) {
            " selected"
        } else {
            ""
        };
        let _ = write!(h, "<option{sel}>{}</option>", esc(&m));
    }
    let _ = write!(
        h,
        "</select></label><label>Seen after<input type=\"date\" name=\"after\" value=\"{}\"></label>\
         <label>First seen before<input type=\"date\" name=\"before\" value=\"{}\"></label>\
         <button type=\"submit\">Search</button></form>",
        esc(&f.after),
        esc(&f.before)
    );
}

/// The results table with timelines and pivots, and the pager.
fn results_html(h: &mut String, f: &Form, records: &[CofRecord], next: Option<&Cursor>) {
    let _ = write!(
        h,
        "<p class=\"summary\" id=\"summary\">{} record{}{}, newest first.</p>",
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        if next.is_some() { " on this page" } else { "" }
    );
    if records.is_empty() {
        return;
    }
    let lo = records.iter().map(|r| r.time_first).min().unwrap_or(0);
    let hi = records.iter().map(|r| r.time_last).max().unwrap_or(lo);
    let _ = write!(
        h,
        "<table class=\"results\"><thead><tr><th>Name</th><th>Type</th><th>Data</th><th>First seen</th>\
         <th>Last seen</th><th>Count</th><th>Timeline<div class=\"axis\"><span>{}</span><span>{}</span></div></th></tr></thead><tbody>",
        axis_label(lo, hi.saturating_sub(lo)),
        axis_label(hi, hi.saturating_sub(lo))
    );
    for r in records {
        row_html(h, f, r, lo, hi);
    }
    h.push_str("</tbody></table>");
    if let Some(c) = next {
        let more = Form {
            cursor: c.encode(),
            ..f.clone()
        };
        let _ = write!(
            h,
            "<nav class=\"pager\"><a id=\"next\" href=\"{}\">Next page →</a></nav>",
            esc(&more.url())
        );
    }
}

/// One record row.
fn row_html(h: &mut String, f: &Form, r: &CofRecord, lo: i64, hi: i64) {
    let name_link = f.with_q(&r.rrname, false);
    let _ = write!(
        h,
        "<tr><td><a class=\"name\" href=\"{}\" title=\"records of this name\">{}</a>",
        esc(&name_link),
        esc(&r.rrname)
    );
    if let Some(parent) = parent_domain(&r.rrname) {
        let _ = write!(
            h,
            "<a class=\"pivot domain\" href=\"{}\" title=\"everything under {}\">domain</a>",
            esc(&f.with_q(&format!("*.{parent}"), false)),
            esc(parent)
        );
    }
    let _ = write!(h, "</td><td>{}</td><td class=\"rdata\">", esc(&r.rrtype));
    let rdata_is_ip = r.rdata.parse::<std::net::IpAddr>().is_ok();
    if rdata_is_ip {
        let _ = write!(
            h,
            "<a class=\"ip\" href=\"{}\" title=\"names that pointed at this address\">{}</a>",
            esc(&f.with_q(&r.rdata, false)),
            esc(&r.rdata)
        );
    } else if matches!(r.rrtype.as_str(), "NS" | "CNAME" | "MX" | "SRV" | "PTR") {
        let _ = write!(
            h,
            "<a class=\"target\" href=\"{}\" title=\"records of this name\">{}</a>\
             <a class=\"pivot rdata\" href=\"{}\" title=\"names pointing at it\">pointed at by</a>",
            esc(&f.with_q(&r.rdata, false)),
            esc(&r.rdata),
            esc(&f.with_q(&r.rdata, true))
        );
    } else {
        h.push_str(&esc(&r.rdata));
    }
    let _ = write!(
        h,
        "</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
        time_of(r.time_first),
        time_of(r.time_last),
        r.count,
        timeline(r, lo, hi)
    );
}

/// An SVG bar from first to last seen on the page's scale `lo..hi` (at least 3 px wide).
fn timeline(r: &CofRecord, lo: i64, hi: i64) -> String {
    // i128: stored times are any i64 a writer put there, and must not overflow.
    let span = (i128::from(hi) - i128::from(lo)).max(1);
    let x = |t: i64| {
        let px =
            (i128::from(t) - i128::from(lo)).clamp(0, span) * i128::from(TIMELINE_W - 3) / span;
        i64::try_from(px).unwrap_or(0)
    };
    let (x0, x1) = (x(r.time_first), x(r.time_last));
    format!(
        "<svg class=\"timeline\" width=\"{TIMELINE_W}\" height=\"{TIMELINE_H}\" viewBox=\"0 0 {TIMELINE_W} {TIMELINE_H}\" \
         role=\"img\" aria-label=\"seen {} to {}\"><rect class=\"track\" x=\"0\" y=\"5\" width=\"{TIMELINE_W}\" height=\"4\"/>\
         <rect class=\"bar\" x=\"{x0}\" y=\"2\" width=\"{}\" height=\"10\" rx=\"2\"/></svg>",
        day_of(r.time_first),
        day_of(r.time_last),
        (x1 - x0).max(3)
    )
}

/// The parent domain of a name when it has at least two labels (`a.b.example.com` →
/// `b.example.com`, `www.example.com` → `example.com`).
fn parent_domain(name: &str) -> Option<&str> {
    let (_, parent) = name.split_once('.')?;
    parent.contains('.').then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date("1970-01-01"), Ok(0));
        assert_eq!(date("2023-11-14"), Ok(1_699_920_000));
        assert_eq!(day_of(1_700_000_000), "2023-11-14");
        assert_eq!(time_of(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(day_of(date("2024-02-29").unwrap()), "2024-02-29");
        assert!(date("2024-13-01").is_err());
        assert!(date("yesterday").is_err());
    }

    #[test]
    fn form_and_links() {
        let f = Form::parse("q=%2A.example.com&rrtype=A&after=2023-11-01&x=1");
        assert_eq!(f.q, "*.example.com");
        let a = f.ask().expect("ask");
        assert_eq!(a.query.types, vec![1]);
        assert_eq!(
            a.query.fence.last_after,
            Some(date("2023-11-01").unwrap() - 1)
        );
        assert_eq!(
            f.with_q("192.0.2.1", false),
            "/search?q=192%2E0%2E2%2E1&rrtype=A&after=2023%2D11%2D01"
        );
        assert!(Form::parse("q=*.com").ask().is_err());
        assert_eq!(parent_domain("www.example.com"), Some("example.com"));
        assert_eq!(parent_domain("example.com"), None);
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn timeline_bars_scale_to_the_page() {
        let r = |first, last| CofRecord {
            time_first: first,
            time_last: last,
            count: 1,
            rrtype: "A".into(),
            rrname: "www.example.com".into(),
            rdata: "192.0.2.1".into(),
            origin: String::new(),
            bailiwick: None,
        };
        assert!(timeline(&r(0, 100), 0, 100).contains("x=\"0\" y=\"2\" width=\"237\""));
        assert!(timeline(&r(50, 50), 0, 100).contains("x=\"118\" y=\"2\" width=\"3\""));
        // Absurd stored times neither panic nor overflow.
        assert!(timeline(&r(i64::MIN, i64::MAX), i64::MIN, i64::MAX).contains("width=\"237\""));
        assert!(time_of(i64::MIN).len() > 10);
        let page = render(
            &Form::parse("q=www.example.com"),
            &Outcome::Records(vec![r(0, 100)], None),
        );
        assert!(page.contains("class=\"bar\""));
        assert!(
            page.contains("href=\"/search?q=192%2E0%2E2%2E1\""),
            "{page}"
        );
        assert!(page.contains("title=\"everything under example.com\""));
        assert!(!page.contains("<script"), "no script");
    }
}
