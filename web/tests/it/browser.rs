//! Headless Chromium (playwright-core, `tests/browser/tutorial.mjs`) walks the tutorial
//! against the real binary over TLS with a seeded store: login with DEFAULT_PASSWORD,
//! forced change, dashboard, sensors status, sensor detail, add a type-8 queue with a
//! generated uuid, watch its length go up and back to zero. Screenshots go to
//! `target/<profile>/test-output/browser/`. Missing chromium/node/playwright-core fails
//! under CI=true and skips otherwise.
//!
//! `tests/browser/layout.mjs` checks the layout at 1366 and 600 px (element boxes), sorting,
//! the page size choice and the e-mail kept after a failed login, over 1,000 seeded sensors
//! with one of them down; its screenshots go to `test-output/browser-layout/`.

use super::common::{default_password, start_web_bin, WebBin};
use d4_testkit::{require, target_dir, workspace_root, Store};
use std::process::Command;

const SENSOR: &str = "ff7ba400e76c4053982dfeec42bdef38";

fn playwright_installed() -> bool {
    let dir = workspace_root().join("tests/browser");
    let ok = dir.join("node_modules/playwright-core").is_dir();
    if !ok {
        assert!(
            !d4_testkit::in_ci(),
            "playwright-core missing: run `npm install --prefix tests/browser`"
        );
        eprintln!("SKIP: playwright-core not installed in tests/browser");
    }
    ok
}

fn seed(store: &Store) {
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    let m = |a: &[&str]| store.cmd_db(0, a);
    m(&["ZADD", &format!("daily_uuid:{today}"), "1200", SENSOR]);
    m(&[
        "ZADD",
        &format!("daily_uuid:{today}"),
        "300",
        "0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d",
    ]);
    m(&["ZADD", &format!("daily_type:{today}"), "1500", "8"]);
    m(&[
        "ZADD",
        &format!("stat_uuid_type:{today}:{SENSOR}"),
        "1200",
        "8",
    ]);
    m(&[
        "HSET",
        &format!("metadata_uuid:{SENSOR}"),
        "first_seen",
        &now,
        "last_seen",
        &now,
        "description",
        "lab sensor",
    ]);
    m(&[
        "HSET",
        "metadata_uuid:0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d",
        "first_seen",
        &now,
        "last_seen",
        &now,
    ]);
    m(&["SADD", &format!("all_types_by_uuid:{SENSOR}"), "8"]);
    m(&[
        "HSET",
        &format!("metadata_type_by_uuid:{SENSOR}:8"),
        "first_seen",
        &now,
        "last_seen",
        &now,
    ]);
    m(&[
        "LPUSH",
        &format!("list_uuid_ip:{SENSOR}"),
        "127.0.0.1-20240102030405",
    ]);
    m(&["SADD", "server:accepted_type", "1", "2", "4", "8", "254"]);
    m(&["SADD", "server:accepted_extended_type", "ja3-jl"]);
    m(&[
        "SADD",
        "sensor_pending_registration",
        "3c0bd52a4a1b4e6c9a2a7d1f0e9b8c7d",
    ]);
    store.cmd_db(4, &["SADD", "active_connection", SENSOR]);
    store.cmd_db(4, &["SADD", "active_connection:8", SENSOR]);
}

#[test]
fn tutorial_workflow_in_headless_chromium() {
    if !require("node") || !require("chromium") || !require("openssl") || !playwright_installed() {
        return;
    }
    let Some(store) = Store::start() else { return };
    seed(&store);
    let WebBin {
        proc: web,
        dir,
        port,
        ..
    } = start_web_bin(&store);
    let pw = default_password(dir.path());
    let shots = target_dir().join("test-output/browser");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(workspace_root().join("tests/browser/tutorial.mjs"))
        .current_dir(workspace_root().join("tests/browser"))
        .env("D4_URL", format!("https://127.0.0.1:{port}"))
        .env("D4_USER", "admin@admin.test")
        .env("D4_PASSWORD", &pw)
        .env("D4_NEW_PASSWORD", "Br0wserTestPassw0rd")
        .env("D4_SENSOR", SENSOR)
        .env("D4_STORE_PORT", store.port.to_string())
        .env("D4_SHOTS", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\nscreenshots in {}", shots.display());
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        web.output()
    );
    let q = stdout
        .lines()
        .find_map(|l| l.strip_prefix("QUEUE "))
        .expect("queue uuid")
        .trim()
        .to_string();
    assert_eq!(
        store.cmd_db(0, &["SISMEMBER", "analyzer:8", &q]).as_int(),
        Some(1)
    );
    let n = std::fs::read_dir(&shots).map(|d| d.count()).unwrap_or(0);
    assert!(n >= 12, "{n} screenshots");
}

/// 1,000 sensors that sent data today, each with its own last-seen time, and one sensor
/// down in `sensors_monitoring:sensors_error`.
fn seed_many(store: &Store) {
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    let now = chrono::Utc::now().timestamp();
    let key = format!("daily_uuid:{today}");
    for chunk in (0..1000).collect::<Vec<i64>>().chunks(250) {
        let mut z: Vec<String> = vec!["ZADD".into(), key.clone()];
        for i in chunk {
            let u = format!("{i:08x}e76c4053982dfeec42bdef38");
            z.push(((i * 7919) % 1000 + 1).to_string());
            z.push(u.clone());
            // Last seen in an order unrelated to the uuid order, so sorting shows.
            let seen = (now - (i * 7919) % 1000 * 60).to_string();
            store.cmd_db(
                0,
                &[
                    "HSET",
                    &format!("metadata_uuid:{u}"),
                    "first_seen",
                    &seen,
                    "last_seen",
                    &seen,
                ],
            );
        }
        let refs: Vec<&str> = z.iter().map(String::as_str).collect();
        store.cmd_db(0, &refs);
    }
    store.cmd_db(0, &["SADD", "sensors_monitoring:sensors_error", SENSOR]);
}

#[test]
fn layout_sorting_and_login_in_headless_chromium() {
    if !require("node") || !require("chromium") || !require("openssl") || !playwright_installed() {
        return;
    }
    let Some(store) = Store::start() else { return };
    seed(&store);
    seed_many(&store);
    let WebBin {
        proc: web,
        dir,
        port,
        ..
    } = start_web_bin(&store);
    let pw = default_password(dir.path());
    let shots = target_dir().join("test-output/browser-layout");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(workspace_root().join("tests/browser/layout.mjs"))
        .current_dir(workspace_root().join("tests/browser"))
        .env("D4_URL", format!("https://127.0.0.1:{port}"))
        .env("D4_USER", "admin@admin.test")
        .env("D4_PASSWORD", &pw)
        .env("D4_NEW_PASSWORD", "Br0wserTestPassw0rd")
        .env("D4_SENSOR", SENSOR)
        .env("D4_SHOTS", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\nscreenshots in {}", shots.display());
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        web.output()
    );
    for name in [
        "dashboard-600",
        "sensors-status-1366",
        "sensor-600",
        "login-failed-600",
    ] {
        assert!(shots.join(format!("{name}.png")).is_file(), "{name}.png");
    }
}
