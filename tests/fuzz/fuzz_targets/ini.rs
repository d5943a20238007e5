//! The INI reader of `server.conf` and `analyzer.conf` (`d4_core::config::Ini`, Python
//! configparser's rules) and the typed `server.conf` validation on top of it, on
//! arbitrary text.
//!
//! Beyond "no panic" it checks that an accepted document written back out (every
//! section, every option as `key = value`, continuation lines indented) reads back
//! with the same sections and options, that option names come out lowercased, and
//! that `ServerConfig::from_text` agrees with parsing then validating.
#![no_main]

use d4_core::config::{Ini, ServerConfig};
use libfuzzer_sys::fuzz_target;

/// Every section with its options, in the reader's (sorted) order.
type Content = Vec<(String, Vec<(String, String)>)>;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Ini::parse(text);
    let from_text = ServerConfig::from_text(text);
    match &parsed {
        Ok(ini) => {
            let typed = ServerConfig::from_ini(ini);
            assert_eq!(
                typed.is_ok(),
                from_text.is_ok(),
                "from_text and from_ini disagree"
            );
            check_round_trip(ini);
        }
        Err(_) => assert!(
            from_text.is_err(),
            "from_text accepted what Ini::parse refused"
        ),
    }
});

/// The sections and options of a document, in order.
fn content(ini: &Ini) -> Content {
    ini.sections()
        .map(|s| {
            let options = ini
                .options(s)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (s.to_string(), options)
        })
        .collect()
}

/// Writes the document out and reads it back.
fn check_round_trip(ini: &Ini) {
    let before = content(ini);
    let mut text = String::new();
    for (section, options) in &before {
        text.push_str(&format!("[{section}]\n"));
        for (key, value) in options {
            assert_eq!(*key, key.to_lowercase(), "option name not lowercased");
            let mut lines = value.split('\n');
            text.push_str(&format!("{key} = {}\n", lines.next().unwrap_or_default()));
            for more in lines {
                text.push_str(&format!("  {more}\n"));
            }
        }
    }
    let again = Ini::parse(&text).unwrap_or_else(|e| panic!("{e} in the written {text:?}"));
    assert_eq!(content(&again), before, "written as {text:?}");
}
