//! The analyzer's passivedns line parser (one `analyzer:8:<uuid>` queue item), on
//! arbitrary bytes.
//!
//! The line module is private to d4-analyzer and needs only its RR type table, so the
//! files `analyzer/src/model/line.rs` and `rrtype.rs` are compiled into this target as
//! they are (the analyzer's HTTP and store dependencies stay out of the fuzz build).
//!
//! Beyond "no panic" it checks:
//! - bytes and text give the same result, and surrounding whitespace changes nothing;
//! - an accepted record is normalised: its query name is non-empty, lowercase, without
//!   a leading or trailing dot, and normalising it again changes nothing (the answer
//!   too, but for TXT whose opening quote is removed after normalising);
//! - a line rebuilt from an accepted record (type as `TYPE<n>`) parses to the same
//!   record, when no field contains `|`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// `line.rs` reaches the type table as `super::rrtype`: both sit at this crate's root.
#[path = "../../../analyzer/src/model/line.rs"]
#[allow(dead_code)]
#[rustfmt::skip] // formatted with its own crate
mod line;
#[path = "../../../analyzer/src/model/rrtype.rs"]
#[allow(dead_code)]
#[rustfmt::skip] // formatted with its own crate
mod rrtype;

use line::{normalise_name, parse, parse_str, Record};

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(parsed, parse_str(text));
    assert_eq!(parsed, parse_str(&format!(" \t{text}\r\n")));
    if let Ok(record) = parsed {
        check_normalised(&record);
        check_rebuilt(&record);
    }
});

/// The record's names are in the form the store keys use.
fn check_normalised(r: &Record) {
    assert!(!r.q.is_empty());
    assert!(!r.q.starts_with('.') && !r.q.ends_with('.'), "{:?}", r.q);
    assert_eq!(normalise_name(&r.q), r.q);
    if r.t != rrtype::TXT {
        assert_eq!(normalise_name(&r.v), r.v);
    }
}

/// A line written from the record's own fields reads back as the same record.
fn check_rebuilt(r: &Record) {
    let fields = [&r.class, &r.q, &r.v];
    if fields.iter().any(|f| f.contains('|')) || r.ttl.as_ref().is_some_and(|t| t.contains('|')) {
        return;
    }
    // A TXT answer lost its opening quote after normalising: what is left may hold
    // another quote or a dot at an end, which a second parse would take off too.
    if r.t == rrtype::TXT && (r.v.contains('"') || normalise_name(&r.v) != r.v) {
        return;
    }
    // Stripping dots can leave whitespace at the end of the answer; as the last field
    // of a line it would be trimmed off with the line.
    if r.ttl.is_none() && r.v.trim_end() != r.v {
        return;
    }
    let mut line = format!(
        "{}||192.0.2.1||192.0.2.53||{}||{}||TYPE{}||{}",
        r.ts, r.class, r.q, r.t, r.v
    );
    if let Some(ttl) = &r.ttl {
        line.push_str(&format!("||{ttl}||1"));
    }
    assert_eq!(parse_str(&line).as_ref(), Ok(r), "rebuilt line {line:?}");
}
