//! The README against the real launcher and binaries:
//!
//! - its tutorial, run as written: the commands of the `sh` blocks of "Tutorial" in order
//!   (free ports and this build's binaries substituted, the `sudo` capture line left out),
//!   with the one step the README does in the browser (approving the pending sensor) done
//!   over HTTP with the same forms;
//! - each `LAUNCH.sh` dead end its "Troubleshooting" lists: a dead store, a missing
//!   `server.conf` section, a wrong certificate path, each reported in the terminal with
//!   a non-zero exit status.
//!
//! Each test has its own `D4_HOME` and runs without screen (`D4_SCREEN=0`), so these tests
//! share nothing with each other or with `tutorial.rs`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use d4_testkit::launch::LaunchHome;
use d4_testkit::{require, target_dir, workspace_root, Certs, Store};

/// Seconds `LAUNCH.sh -l` waits for a service in the dead-end tests: long enough for a
/// healthy service on a busy machine, short enough to keep the test quick.
const SHORT_READY_TIMEOUT: &str = "4";

/// A `D4_HOME` with the sample configuration on free ports (registration mode kept) and
/// `conf/sensor.sample/` as a clone has it; stopped with `-k` on drop.
struct Home(LaunchHome);

impl std::ops::Deref for Home {
    type Target = LaunchHome;
    fn deref(&self) -> &LaunchHome {
        &self.0
    }
}

impl Home {
    /// A home for the store server `store` (`d4-kv`, `redis-server` or `external`).
    fn new(store: &str) -> Home {
        let h = Home(LaunchHome::new(store, |server| server));
        // The README's sensor step copies conf/sensor.sample/ as a clone has it.
        let sample = h.path().join("conf/sensor.sample");
        std::fs::create_dir_all(&sample).expect("sensor.sample dir");
        for e in
            std::fs::read_dir(workspace_root().join("conf/sensor.sample")).expect("sensor.sample")
        {
            let e = e.expect("sensor.sample entry");
            std::fs::copy(e.path(), sample.join(e.file_name())).expect("copy sensor.sample");
        }
        h
    }

    /// Rewrites `conf/server.conf` with `edit`.
    fn edit_server_conf(&self, edit: impl FnOnce(String) -> String) {
        let file = self.path().join("conf/server.conf");
        let text = std::fs::read_to_string(&file).expect("read server.conf");
        std::fs::write(&file, edit(text)).expect("write server.conf");
    }

    /// Runs `LAUNCH.sh ARGS` here with `ready_timeout` seconds of patience.
    fn launch(&self, args: &[&str], ready_timeout: &str) -> Output {
        self.launcher(args)
            .current_dir(self.path())
            .env("D4_SCREEN", "0")
            .env("D4_READY_TIMEOUT", ready_timeout)
            .output()
            .expect("run LAUNCH.sh")
    }

    /// Pid files of `run/` whose process is alive.
    fn live_services(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.path().join("run")) else {
            return Vec::new();
        };
        dir.flatten()
            .filter(|e| {
                let pid = std::fs::read_to_string(e.path()).unwrap_or_default();
                let pid = pid.trim();
                !pid.is_empty() && Path::new("/proc").join(pid).exists()
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs(30));
        }
        let _ = self.launch(&["-k"], "30");
    }
}

/// stdout and stderr of a run, together.
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `text` without the section `[name]` (its header and options).
fn without_section(text: &str, name: &str) -> String {
    let header = format!("[{name}]");
    let mut inside = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with('[') {
                inside = l.trim() == header;
            }
            !inside
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Dead ends of LAUNCH.sh

/// A store that never answers: `-l` must not say everything started. It names d4-server as
/// not ready, gives the reason from its log (the unreachable `Redis_STREAM`) and exits 1.
#[test]
fn launch_names_the_service_waiting_for_a_dead_store() {
    if !require("openssl") {
        return;
    }
    let home = Home::new("external"); // nothing answers on the configured store ports
    let out = home.launch(&["-l"], SHORT_READY_TIMEOUT);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("d4-server NOT ready"), "{t}");
    assert!(
        t.contains("Redis_STREAM"),
        "the reason must name the store: {t}"
    );
    assert!(t.contains("logs/d4-server.log"), "{t}");
    assert!(t.contains("not ready: d4-server"), "final status: {t}");
    assert!(!t.contains("d4-server ready"), "{t}");
    for dir in ["gen_cert", "logs"] {
        assert_owner_only(
            &home.path().join(dir),
            if dir == "logs" { ".log" } else { ".key" },
        );
    }
}

/// Every file of `dir` whose name ends with `suffix` is readable by its owner only.
fn assert_owner_only(dir: &Path, suffix: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = 0;
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        if e.file_name().to_string_lossy().ends_with(suffix) {
            let mode = e.metadata().expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", e.path().display());
            seen += 1;
        }
    }
    assert!(seen > 0, "no {suffix} file in {}", dir.display());
}

/// A deleted `[Redis_STREAM]` section is named by `--check` and by `-l` (which starts
/// nothing), never reported as a refused connection.
#[test]
fn a_missing_section_is_named_by_check_and_launch() {
    if !require("openssl") {
        return;
    }
    let home = Home::new("d4-kv");
    home.edit_server_conf(|t| without_section(&t, "Redis_STREAM"));
    for args in [&["--check"][..], &["-l"][..]] {
        let out = home.launch(args, SHORT_READY_TIMEOUT);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {t}");
        assert!(
            t.contains("[Redis_STREAM]: section missing"),
            "{args:?}: {t}"
        );
        assert!(!t.to_lowercase().contains("refused"), "{args:?}: {t}");
    }
    assert!(
        home.live_services().is_empty(),
        "{:?}",
        home.live_services()
    );
}

/// A configured certificate that does not exist stops `-l` with its path; `gen_cert/` is
/// only for the default path, so nothing is generated. `--check` reports it too.
#[test]
fn a_wrong_certificate_path_is_reported_not_regenerated() {
    let home = Home::new("d4-kv");
    let wrong = home.path().join("nowhere/server.crt");
    home.edit_server_conf(|t| {
        t.replace(
            "tls_cert_file = gen_cert/server.crt",
            &format!("tls_cert_file = {}", wrong.display()),
        )
    });
    for args in [&["-l"][..], &["--check"][..]] {
        let out = home.launch(args, SHORT_READY_TIMEOUT);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {t}");
        assert!(
            t.contains(&format!(
                "tls_cert_file = {}: no such file",
                wrong.display()
            )),
            "{args:?}: {t}"
        );
    }
    assert!(
        !home.path().join("gen_cert").exists(),
        "gen_cert/ was created"
    );
    assert!(
        home.live_services().is_empty(),
        "{:?}",
        home.live_services()
    );
}

/// `--check` on a sound setup passes and starts nothing; once a store is gone it names
/// that store and fails.
#[test]
fn check_passes_then_names_a_store_that_stopped() {
    let (Some(stream), Some(meta), Some(pdns)) = (Store::start(), Store::start(), Store::start())
    else {
        return;
    };
    let certs = Certs::generate();
    let home = Home::new("external");
    home.edit_server_conf(|t| {
        t.replace(
            &format!("port = {}", home.stream_port),
            &format!("port = {}", stream.port),
        )
        .replace(
            &format!("port = {}", home.meta_port),
            &format!("port = {}", meta.port),
        )
        .replace(
            "tls_cert_file = gen_cert/server.crt",
            &format!("tls_cert_file = {}", certs.cert().display()),
        )
        .replace(
            "tls_key_file = gen_cert/server.key",
            &format!("tls_key_file = {}", certs.key().display()),
        )
    });
    let analyzer = home.path().join("conf/analyzer.conf");
    let text_a = std::fs::read_to_string(&analyzer)
        .expect("analyzer.conf")
        .replace(
            &format!("127.0.0.1:{}", home.meta_port),
            &format!("127.0.0.1:{}", meta.port),
        )
        .replace(
            &format!("port = {}", home.pdns_port),
            &format!("port = {}", pdns.port),
        );
    std::fs::write(&analyzer, text_a).expect("analyzer.conf");
    let queues = |args: &[&str]| {
        let out = Command::new(target_dir().join("d4-queues"))
            .current_dir(home.path())
            .args(["-c", "conf/server.conf"])
            .args(args)
            .output()
            .expect("d4-queues");
        assert!(out.status.success(), "d4-queues {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // What d4-server seeds at its first start (it does not run in this test).
    meta.cmd_db(0, &["SADD", d4_core::keys::meta::ACCEPTED_TYPE, "8"]);
    let queue = queues(&["create", "--type", "8", "--description", "check"]);
    queues(&["set-analyzer-uuid", "conf/analyzer.conf", &queue]);

    let out = home.launch(&["--check"], SHORT_READY_TIMEOUT);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("All checks passed"), "{t}");
    assert!(t.contains("Redis_STREAM"), "{t}");
    assert!(home.live_services().is_empty(), "--check started something");

    let stream_port = stream.port;
    drop(stream);
    let out = home.launch(&["--check"], SHORT_READY_TIMEOUT);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "Redis_STREAM (localhost:{stream_port}): no answer"
        )),
        "{t}"
    );
    assert!(!t.contains("All checks passed"), "{t}");
}

// ------------------------------------------------------------------------------------------
// The tutorial, as written

/// The passivedns log the tutorial replays: answers for the names its queries ask about.
const PASSIVEDNS_LOG: &str = "\
1700000000.100000||10.0.0.5||10.0.0.1||IN||www.example.com.||A||93.184.216.34||300||1
1700000100.200000||10.0.0.6||10.0.0.1||IN||www.example.com.||A||93.184.216.34||300||2
";

/// The `sh` blocks of the README section `## Tutorial…`, in order.
fn tutorial_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let start = readme.find("\n## Tutorial").expect("a Tutorial section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Turns a README block into what this test runs: the launcher and binaries of this build,
/// this home's ports, and no `sudo` capture (it needs root and a live interface).
fn localize(block: &str, home: &Home) -> String {
    let bin = format!("{}/", target_dir().display());
    let launcher = workspace_root().join("LAUNCH.sh").display().to_string();
    let mut out = String::new();
    let mut joined = String::new();
    for line in block.lines() {
        joined.push_str(line);
        if line.ends_with('\\') {
            joined.push('\n');
            continue;
        }
        let cmd = std::mem::take(&mut joined);
        if cmd.trim_start().starts_with("sudo ") {
            continue;
        }
        out += &cmd
            .replace("./LAUNCH.sh", &launcher)
            .replace("./target/release/", &bin)
            .replace(":4443", &format!(":{}", home.d4_port))
            .replace(":7000", &format!(":{}", home.web_port))
            .replace(":8400", &format!(":{}", home.cof_port));
        out.push('\n');
    }
    out
}

/// The README's browser step "Server Management → Pending Sensors → Approve", over HTTP
/// with the web's own forms: first login with `DEFAULT_PASSWORD`, the forced password
/// change, the pending list (which must show `$SENSOR`), and the Approve form.
fn approve_in_the_web(home: &Home) -> String {
    format!(
        r#"
J=$(mktemp); U=https://127.0.0.1:{web}; C="curl -sSk -c $J -b $J"
tok() {{ sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1; }}
EMAIL=$(sed -n 's/^email=//p' DEFAULT_PASSWORD); PASS=$(sed -n 's/^password=//p' DEFAULT_PASSWORD)
T=$($C $U/login | tok)
$C -o /dev/null --data-urlencode csrf_token=$T --data-urlencode "username=$EMAIL" \
   --data-urlencode "password=$PASS" $U/login
T=$($C $U/change_password | tok)
$C -o /dev/null --data-urlencode csrf_token=$T --data-urlencode password1=Readme-Walk-92 \
   --data-urlencode password2=Readme-Walk-92 $U/change_password
PENDING=$($C $U/server/pending_sensor)
echo "$PENDING" | grep -qiE "$SENSOR|${{SENSOR//-/}}" || {{ echo "sensor $SENSOR not in Pending Sensors"; exit 1; }}
T=$(echo "$PENDING" | tok)
CODE=$($C -o /dev/null -w '%{{http_code}}' --data-urlencode csrf_token=$T \
   --data-urlencode "uuid=$SENSOR" $U/server/approve_sensor)
[ "$CODE" = 302 ] || {{ echo "approve_sensor answered $CODE"; exit 1; }}
"#,
        web = home.web_port
    )
}

/// Runs `script` with bash in the home (stops at the first failing command).
fn run_script(home: &Home, script: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(home.path())
        .env("D4_HOME", home.path())
        .env("D4_BIN", target_dir())
        .env("D4_SCREEN", "0")
        .stdin(Stdio::null())
        .output()
        .expect("bash")
}

/// The README tutorial, registration path included: start, queue, sensor configuration,
/// registration with the admin token, approval, the replayed passivedns log, and the
/// README's COF queries, which must return the replayed record.
#[test]
fn readme_tutorial_runs_as_written() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let home = Home::new("d4-kv"); // the README's default store
    std::fs::write(home.path().join("passivedns.log"), PASSIVEDNS_LOG).expect("log");
    let blocks = tutorial_blocks();
    let register = blocks
        .iter()
        .position(|b| b.contains("/api/v1/add/sensor/register"))
        .expect("a registration block");
    let (queries, steps) = blocks.split_last().expect("blocks");
    assert!(queries.contains("/query/www.example.com"), "{queries}");
    let mut script = String::new();
    for (i, block) in steps.iter().enumerate() {
        script += &localize(block, &home);
        if i == register {
            script += &approve_in_the_web(&home);
        }
    }
    let out = run_script(&home, &script);
    assert!(
        out.status.success(),
        "README steps failed:\n{script}\n{}\n{}",
        text(&out),
        home.logs(30)
    );

    let queries = localize(queries, &home);
    let first = queries.lines().next().expect("a query");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text(&run_script(&home, first)).contains("93.184.216.34") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = run_script(&home, &queries);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let record = t
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["rrname"] == "www.example.com")
        .unwrap_or_else(|| panic!("no www.example.com record in:\n{t}\n{}", home.logs(30)));
    assert_eq!(record["rdata"], "93.184.216.34", "{record}");
    assert_eq!(record["count"], 2, "{record}");
    let web_log = std::fs::read_to_string(home.path().join("logs/d4-web.log")).expect("web log");
    assert!(web_log.contains("new user created"), "{web_log}");
    assert!(
        !web_log.contains("password: ") && !web_log.contains("token: "),
        "secrets in logs/d4-web.log:\n{web_log}"
    );
}
