//! `pdns-import`: COF NDJSON / JSON array and passivedns logs (plain and gzip) into the store.

use std::io::Write;

use d4_testkit::Store;

use crate::common::*;
use crate::ingestion::{GOLDEN_LINES, GOLDEN_STORE};

fn import(conf: &std::path::Path, files: &[&std::path::Path]) -> (Option<i32>, String) {
    let mut cmd = analyzer_cmd("pdns-import");
    cmd.arg("-c").arg(conf).arg("--quiet").args(files);
    let out = cmd.output().expect("run pdns-import");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn passivedns_gzip_log_gives_the_same_store_as_ingestion() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let path = dir.path().join("passivedns.log.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create"),
        flate2::Compression::default(),
    );
    for l in GOLDEN_LINES {
        writeln!(gz, "{l}").expect("write");
    }
    gz.finish().expect("gzip");
    let (code, out) = import(&conf, &[&path]);
    // The banner line is rejected: exit status 1, everything else imported.
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("imported 6 records, 1 rejected, 1 excluded"),
        "{out}"
    );
    assert_eq!(
        dump(store.port, 0),
        GOLDEN_STORE
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn cof_ndjson_and_legacy_array_are_served() {
    let Some(store) = Store::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_conf(dir.path(), store.port, store.port, "");
    let nd = dir.path().join("feed.ndjson");
    std::fs::write(
        &nd,
        concat!(
            r#"{"rrname": "WWW.Example.org.", "rrtype": "A", "rdata": ["192.0.2.1"], "time_first": 1600000000, "time_last": 1600000100, "count": 12, "sensor_id": "circl"}"#, "\n",
            "\n",
            r#"{"rrname": "www.example.org.", "rrtype": "A", "rdata": "192.0.2.1", "time_first": "1500000000", "time_last": 1550000000, "sensor_id": "circl"}"#, "\n",
            r#"{"rrname": "broken"#, "\n",
        ),
    )
    .expect("write");
    let arr = dir.path().join("legacy.json");
    std::fs::write(&arr, r#"[{"rrname": "mail.example.org", "rrtype": "MX", "rdata": "mx.example.org", "time_first": 1, "time_last": 2, "count": 3}]"#).expect("write");
    let (code, out) = import(&conf, &[&nd, &arr]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("imported 3 records, 1 rejected"), "{out}");
    assert!(
        out.contains("line=4"),
        "line number of the bad record: {out}"
    );
    let cof = start_cof(&conf);
    // time_first is the minimum, time_last the maximum, count the source's count.
    assert_eq!(
        http_get(&cof.addr, "/query/www.example.org", &[]).body,
        "{\"time_first\": 1500000000, \"time_last\": 1600000100, \"count\": 12, \"rrtype\": \"A\", \"rrname\": \"www.example.org\", \"rdata\": \"192.0.2.1\", \"origin\": \"origin not configured\"}\n"
    );
    assert!(http_get(&cof.addr, "/query/mail.example.org", &[])
        .body
        .contains("\"count\": 3, \"rrtype\": \"MX\""));
    assert!(http_get(&cof.addr, "/info", &[])
        .body
        .ends_with(r#""stats": 3, "sensors": [{"sensor_id": "circl", "count": 2}]}"#));
}
