//! Guard for the key-layout rule: Redis key names are formatted only in the key modules
//! (`server/core/src/keys/` for the D4 stores, `analyzer/src/model/keys.rs` for the pDNS store).
//! Any `format!` of a known key prefix elsewhere in library or binary code fails here.

use std::path::Path;

use d4_testkit::workspace_root;

/// Prefixes of every key family of the D4 and pDNS stores.
const PREFIXES: &[&str] = &[
    "stream:",
    "session_uuid:",
    "working_session_uuid:",
    "ended_session",
    "metadata_uuid:",
    "metadata_type_by_uuid:",
    "metadata_extended_type_by_uuid:",
    "analyzer:",
    "analyzer_uuid_group:",
    "analyzer_sensor_group:",
    "all_analyzer_queues",
    "all:analyzer:",
    "sensor:queues:",
    "daily_",
    "stat_uuid_",
    "stat_ip_uuid:",
    "stat_type_uuid:",
    "user_metadata:",
    "user_role:",
    "user:all",
    "user:tokens",
    "failed_login_",
    "active_connection",
    "active_uuid_type",
    "map:active_connection",
    "temp_blacklist_uuid:",
    "list_uuid_ip:",
    "all_types_by_uuid:",
    "to_monitor:",
    "r:{",
    "v:{",
    "s:{",
    "l:{",
    "o:{",
    "dist:",
    "stats:",
    "ix:",
    "server_lease:",
    "server_sessions:",
    "server_ids",
    "worker_claim:",
    "worker_tail:",
    "web_session",
    "sensors_monitoring:",
];

/// Files allowed to format keys.
fn is_key_module(path: &Path) -> bool {
    let p = path.to_string_lossy();
    p.contains("server/core/src/keys/") || p.ends_with("analyzer/src/model/keys.rs")
}

fn scan(dir: &Path, offenders: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            scan(&path, offenders);
        } else if path.extension().is_some_and(|x| x == "rs") && !is_key_module(&path) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                let Some(pos) = line.find("format!(\"") else {
                    continue;
                };
                let fmt = &line[pos + "format!(\"".len()..];
                if PREFIXES.iter().any(|p| fmt.starts_with(p)) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
}

#[test]
fn keys_are_formatted_only_in_the_key_modules() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for krate in [
        "server/proto",
        "server/kv",
        "server/core",
        "server/ingest",
        "server/workers",
        "analyzer",
        "sensor",
        "web",
    ] {
        let src = root.join(krate).join("src");
        assert!(
            src.is_dir(),
            "{} is not a crate source folder",
            src.display()
        );
        scan(&src, &mut offenders);
    }
    assert!(
        offenders.is_empty(),
        "key names formatted outside the key modules (use d4_core::keys / analyzer keys):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_guard_sees_a_formatted_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.rs"),
        "let k = format!(\"metadata_uuid:{u}\");\n",
    )
    .expect("write");
    let mut offenders = Vec::new();
    scan(dir.path(), &mut offenders);
    assert_eq!(offenders.len(), 1, "{offenders:?}");
}
