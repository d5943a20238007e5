//! `d4-client --print-uuid` and `d4-sensor --print-uuid` (D4-project/d4-core#34):
//! register and approve a sensor before it ever connects.

use std::process::Command;

use crate::common::{ConfDir, UUID};

const BIN: &str = env!("CARGO_BIN_EXE_d4-client");
const SENSOR_BIN: &str = env!("CARGO_BIN_EXE_d4-sensor");

/// Runs `d4-client -c DIR <flag>`; returns stdout, after checking the exit status 0.
fn print_uuid(dir: &std::path::Path, flag: &str) -> String {
    print_uuid_with(BIN, dir, flag)
}

/// Runs `<bin> -c DIR <flag>`; returns stdout, after checking the exit status 0.
fn print_uuid_with(bin: &str, dir: &std::path::Path, flag: &str) -> String {
    let out = Command::new(bin)
        .args(["-c", dir.to_str().unwrap(), flag])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// A directory without a uuid (and without the other settings yet): a v4 uuid is
/// generated, written to DIR/uuid as a first start writes it, printed; the next call
/// prints the same one. Go-style `-print-uuid` works too.
#[test]
fn print_uuid_generates_once_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let first = print_uuid(dir.path(), "--print-uuid");
    let uuid = first.trim_end_matches('\n');
    assert_eq!(first, format!("{uuid}\n"), "one line");
    let parsed = uuid::Uuid::parse_str(uuid).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(
        parsed.hyphenated().to_string(),
        uuid,
        "canonical lower case"
    );
    let file = std::fs::read_to_string(dir.path().join("uuid")).unwrap();
    assert_eq!(file, format!("{uuid}\n"));
    assert_eq!(
        print_uuid(dir.path(), "-print-uuid"),
        first,
        "kept, not replaced"
    );
    assert_eq!(
        print_uuid_with(SENSOR_BIN, dir.path(), "--print-uuid"),
        first,
        "d4-sensor prints the same uuid"
    );
}

/// An existing uuid is printed and the file left untouched; nothing is sent (the
/// destination is unreachable and the command returns at once).
#[test]
fn print_uuid_keeps_an_existing_one() {
    let conf = ConfDir::new("127.0.0.1:1", 8, 4096);
    conf.write("uuid", format!("{}\n", UUID.to_uppercase()).as_bytes());
    assert_eq!(print_uuid(conf.path(), "--print-uuid"), format!("{UUID}\n"));
    assert_eq!(
        print_uuid_with(SENSOR_BIN, conf.path(), "--print-uuid"),
        format!("{UUID}\n")
    );
    assert_eq!(
        std::fs::read_to_string(conf.path().join("uuid")).unwrap(),
        format!("{}\n", UUID.to_uppercase())
    );
}
