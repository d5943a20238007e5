//! The `d4-web` binary end to end: TLS on the configured port, first-start accounts and
//! `DEFAULT_PASSWORD`, `--show-token`, and the documented curl flow
//! (`web/scripts/d4-web-create-queue.sh`) creating a type-8 queue.

use super::common::{conf_text, start_web_bin, web_cmd, WebBin};
use d4_testkit::{free_port, require, Store};
use std::process::Command;
use std::time::Duration;

#[test]
fn binary_serves_tls_and_the_curl_flow_creates_a_queue() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let Some(store) = Store::start() else { return };
    store.cmd_db(0, &["SADD", "server:accepted_type", "8"]);
    let WebBin {
        proc: mut web,
        dir,
        conf,
        port,
        certs,
    } = start_web_bin(&store);
    assert!(web
        .output()
        .contains("d4-web listening on https://127.0.0.1:"));
    let out = web.output();
    assert!(out.contains("new user created: admin@admin.test"), "{out}");
    let file = dir.path().join("DEFAULT_PASSWORD");
    let text = std::fs::read_to_string(&file).expect("DEFAULT_PASSWORD in the working directory");
    assert!(out.contains(&format!(
        "DEFAULT_PASSWORD written to {}",
        std::fs::canonicalize(&file).unwrap().display()
    )));
    let file_token = text
        .lines()
        .find_map(|l| l.strip_prefix("API_Key="))
        .unwrap()
        .to_string();
    // The secrets are in the file only: stdout here is a pipe, as under LAUNCH.sh or systemd.
    let file_password = text
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .unwrap();
    assert!(
        !out.contains(file_password) && !out.contains(&file_token),
        "{out}"
    );
    // --show-token gives the same token.
    let shown = web_cmd(&conf, dir.path())
        .args(["--show-token", "admin@admin.test"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), file_token);
    let url = format!("https://127.0.0.1:{port}");
    // TLS 1.2 works, verified against the project's root CA; plain HTTP gets no page.
    let ca = certs.root_ca();
    let tls12 = Command::new("curl")
        .args(["-sS", "--tlsv1.2", "--tls-max", "1.2", "--cacert"])
        .arg(&ca)
        .arg(format!("{url}/login"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&tls12.stdout).contains("Please sign in"),
        "{tls12:?}"
    );
    let plain = Command::new("curl")
        .args(["-sS", "-m", "5", &format!("http://127.0.0.1:{port}/login")])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("sign in"));
    // The documented flow: log in with DEFAULT_PASSWORD, forced change, create a queue.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/d4-web-create-queue.sh"
    );
    let run = Command::new("bash")
        .arg(script)
        .args([
            "-u",
            &url,
            "-n",
            "N3wAdminPassw0rd",
            "-t",
            "8",
            "-d",
            "e2e",
            "-c",
        ])
        .arg(&ca)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stderr),
        web.output()
    );
    let q = String::from_utf8_lossy(&run.stdout).trim().to_string();
    assert!(d4_web::util::is_valid_uuid(&q), "{q:?}");
    assert_eq!(
        store.cmd_db(0, &["SISMEMBER", "analyzer:8", &q]).as_int(),
        Some(1)
    );
    assert_eq!(
        store
            .cmd_db(0, &["HGET", &format!("analyzer:{q}"), "description"])
            .as_str()
            .as_deref(),
        Some("e2e")
    );
    assert!(
        !file.exists(),
        "DEFAULT_PASSWORD removed after the admin's password change"
    );
    // Second run with the new password and a chosen uuid.
    let q2 = "3c0bd52a-4a1b-4e6c-9a2a-7d1f0e9b8c7d";
    let run = Command::new("bash")
        .arg(script)
        .args([
            "-u",
            &url,
            "-e",
            "admin@admin.test",
            "-p",
            "N3wAdminPassw0rd",
            "-q",
            q2,
            "-c",
        ])
        .arg(&ca)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        q2,
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The API token from the file still works after the password change.
    let api = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            &format!("Authorization: {file_token}"),
            &format!("{url}/api/v1/sensors/monitoring/errors"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&api.stdout), "[]");
    assert_eq!(
        web.terminate(Duration::from_secs(15)),
        Some(0),
        "{}",
        web.output()
    );
}

#[test]
fn bad_config_or_missing_cert_exits_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    std::fs::write(&conf, conf_text(1, free_port(), dir.path())).unwrap();
    let out = web_cmd(&conf, dir.path())
        .arg("--validate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.crt"),
        "{out:?}"
    );
    std::fs::write(&conf, "[D4_Server]\nserver_mode = nope\n").unwrap();
    let out = web_cmd(&conf, dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("server_mode"));
    let help = web_cmd(&conf, dir.path()).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--config"));
}

/// Seconds curl spent on one form login (GET /login for the cookie and CSRF token, then the
/// timed POST), sent from the loopback address `src` so that the per-address lock (5 failures)
/// is not reached.
fn timed_login(url: &str, ca: &std::path::Path, src: &str, user: &str, pw: &str) -> f64 {
    let jar = tempfile::NamedTempFile::new().unwrap();
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--interface", src, "--cacert"])
            .arg(ca)
            .arg("-b")
            .arg(jar.path())
            .arg("-c")
            .arg(jar.path())
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let page = curl(&[&format!("{url}/login")]);
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("CSRF token on the login page")
        .to_string();
    let secs = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{time_total}",
        "--data-urlencode",
        &format!("username={user}"),
        "--data-urlencode",
        &format!("password={pw}"),
        "--data-urlencode",
        &format!("csrf_token={csrf}"),
        &format!("{url}/login"),
    ]);
    secs.trim().parse().expect("curl's time_total")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn login_timing_does_not_tell_which_accounts_exist() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let Some(store) = Store::start() else { return };
    let WebBin {
        proc: mut web,
        port,
        certs,
        ..
    } = start_web_bin(&store);
    let url = format!("https://127.0.0.1:{port}");
    let ca = certs.root_ca();
    // The real settings: bcrypt cost 12 and the 1-300 ms jitter. Four wrong passwords for
    // the existing admin (one under its lock) against four unknown accounts, alternated.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..4 {
        let src = format!("127.0.0.{}", 10 + 2 * i);
        known.push(timed_login(
            &url,
            &ca,
            &src,
            "admin@admin.test",
            "Wr0ngPassword",
        ));
        let src = format!("127.0.0.{}", 11 + 2 * i);
        let nobody = format!("nobody{i}@example.test");
        unknown.push(timed_login(&url, &ca, &src, &nobody, "Wr0ngPassword"));
    }
    let (k, u) = (median(known.clone()), median(unknown.clone()));
    // Before the decoy check an unknown account answered in ~4 ms against ~450 ms.
    assert!(
        u > k / 2.0 && u < k * 2.0,
        "known {known:?} vs unknown {unknown:?} (medians {k:.3} s vs {u:.3} s)"
    );
    assert_eq!(web.terminate(Duration::from_secs(15)), Some(0));
}
