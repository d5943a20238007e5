//! Guard for the rule "no module but `keys` formats a store key": scans the crate's
//! sources (outside `keys/` and `kv/`) for `format!` calls that start with a known key
//! prefix.

use std::path::Path;

/// Leading parts of the D4 key families (spec §3).
const PREFIXES: &[&str] = &[
    "stream:",
    "session_uuid",
    "working_session",
    "ended_session",
    "Error:Incorrect",
    "active_",
    "map:",
    "map-type",
    "temp_blacklist",
    "server:",
    "data_in_process",
    "worker_tail",
    "worker_claim",
    "server_ids",
    "server_lease",
    "server_sessions",
    "web_session",
    "metadata_",
    "all_types",
    "all_extended",
    "list_uuid_ip",
    "stat_",
    "daily_",
    "to_monitor",
    "sensors_monitoring",
    "analyzer:",
    "analyzer_",
    "sensor:queues",
    "all:analyzer",
    "all_analyzer",
    "blacklist",
    "registered_uuid",
    "first_date",
    "user:",
    "user_",
    "d4:",
    "failed_login",
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("keys") && !p.ends_with("kv") {
                scan(&p, hits);
            }
            continue;
        }
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            for pre in PREFIXES {
                if line.contains(&format!("format!(\"{pre}")) {
                    hits.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                }
            }
        }
    }
}

#[test]
fn no_key_is_formatted_outside_keys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hits = Vec::new();
    scan(&root.join("src"), &mut hits);
    scan(&root.join("examples"), &mut hits);
    assert!(
        hits.is_empty(),
        "store keys formatted outside keys/:\n{}",
        hits.join("\n")
    );
}
