//! The tutorial, end to end, as a new user runs it: `./LAUNCH.sh -l`, a sensor streaming
//! passivedns lines over TLS, a type-8 analyzer queue, the passive DNS analyzer, a COF query
//! with curl, `./LAUNCH.sh -k`, and a second `-l` that finds the data again.
//!
//! Each test gets its own `D4_HOME` (conf/, data/, logs/, run/) with free ports written into
//! the configuration, and runs the release binaries of this build (`D4_BIN`). The tests
//! share the upstream screen session names, so they run one at a time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use d4_testkit::launch::LaunchHome;
use d4_testkit::{bin_path, require, wait_for_port, workspace_root};

/// Screen session names are global: one stack at a time.
static ONE_STACK: Mutex<()> = Mutex::new(());

const SENSOR_UUID: &str = "ff7ba400-e76c-4053-982d-feec42bdef38";
const HMAC_KEY: &str = "private key to change";

/// A stack in a temporary `D4_HOME` (shared-secret mode), stopped with `LAUNCH.sh -k` on drop.
struct Stack(LaunchHome);

impl std::ops::Deref for Stack {
    type Target = LaunchHome;
    fn deref(&self) -> &LaunchHome {
        &self.0
    }
}

impl Stack {
    /// Writes `conf/` for the given store server (`d4-kv` or `redis-server`).
    fn new(store: &str) -> Stack {
        Stack(LaunchHome::new(store, |server| {
            server.replace("server_mode = registration", "server_mode = shared-secret")
        }))
    }

    fn home(&self) -> &Path {
        self.path()
    }

    /// Runs `LAUNCH.sh ARGS` in this home; panics with its output if it fails.
    fn launch(&self, args: &[&str]) -> String {
        let out = self.launch_raw(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "LAUNCH.sh {args:?} failed:\n{text}\n{}",
            self.logs()
        );
        text
    }

    fn launch_raw(&self, args: &[&str]) -> Output {
        self.launcher(args).output().expect("run LAUNCH.sh")
    }

    /// The end of every log file, for failure messages.
    fn logs(&self) -> String {
        self.0.logs(40)
    }

    /// A sensor configuration directory for our d4-client, streaming stdin to this server.
    fn sensor_conf(&self) -> PathBuf {
        let dir = self.home().join("sensor");
        std::fs::create_dir_all(&dir).expect("sensor dir");
        for (name, value) in [
            ("key", HMAC_KEY.to_string()),
            ("uuid", SENSOR_UUID.to_string()),
            ("snaplen", "4096".to_string()),
            ("type", "8".to_string()),
            ("version", "1".to_string()),
            ("source", "stdin".to_string()),
            ("destination", format!("127.0.0.1:{}", self.d4_port)),
        ] {
            std::fs::write(dir.join(name), format!("{value}\n")).expect("sensor conf file");
        }
        dir
    }

    /// `cat lines | <client> -c conf` (`d4-client` or `d4-sensor`): streams the lines and
    /// waits for a clean exit.
    fn send_lines(&self, client: &str, lines: &str) {
        let mut child = Command::new(bin_path(client))
            .arg("-c")
            .arg(self.sensor_conf())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {client}: {e}"));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(lines.as_bytes())
            .expect("write lines");
        let out = child.wait_with_output().expect("wait for the sensor");
        assert!(
            out.status.success(),
            "{client} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
    }

    /// `curl http://127.0.0.1:<cof>/query/<q>` body.
    fn query(&self, q: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{}/query/{q}", self.cof_port))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the COF server until `/query/<q>` returns `n` records (or times out).
    fn wait_records(&self, q: &str, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let records: Vec<serde_json::Value> = self
                .query(q)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON {l:?}: {e}"))
                })
                .collect();
            if records.len() >= n || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The ports every part listens on.
    fn ports(&self) -> [u16; 6] {
        [
            self.d4_port,
            self.web_port,
            self.stream_port,
            self.meta_port,
            self.pdns_port,
            self.cof_port,
        ]
    }

    /// The pids recorded in run/ that are still alive.
    fn live_pids(&self) -> Vec<String> {
        let mut live = Vec::new();
        if let Ok(dir) = std::fs::read_dir(self.home().join("run")) {
            for e in dir.flatten() {
                let pid = std::fs::read_to_string(e.path()).unwrap_or_default();
                let pid = pid.trim();
                if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                    live.push(format!("{}={pid}", e.file_name().to_string_lossy()));
                }
            }
        }
        live
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let _ = self.launch_raw(&["-k"]);
    }
}

/// Passivedns lines of the tutorial: two answers for one name, seen at different times.
fn tutorial_lines() -> String {
    [
        "1700000000.100000||10.0.0.5||10.0.0.1||IN||www.d4-tutorial.example.||A||192.0.2.10||300||1",
        "1700000100.200000||10.0.0.6||10.0.0.1||IN||www.d4-tutorial.example.||A||192.0.2.10||300||4",
        "1700000050.300000||10.0.0.5||10.0.0.1||IN||www.d4-tutorial.example.||A||192.0.2.11||300||1",
        "1700000200.400000||10.0.0.7||10.0.0.1||IN||other.d4-tutorial.example.||AAAA||2001:db8::1||60||1",
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

/// Checks the COF records of the tutorial name: counts are lines, first/last seen are the
/// line timestamps (seconds).
fn assert_tutorial_records(records: &[serde_json::Value]) {
    let by_rdata = |rdata: &str| {
        records
            .iter()
            .find(|r| r["rdata"] == rdata)
            .unwrap_or_else(|| panic!("no record for {rdata} in {records:?}"))
            .clone()
    };
    assert_eq!(records.len(), 2, "{records:?}");
    let a = by_rdata("192.0.2.10");
    assert_eq!(a["rrname"], "www.d4-tutorial.example");
    assert_eq!(a["rrtype"], "A");
    assert_eq!(a["count"], 2);
    assert_eq!(a["time_first"], 1700000000);
    assert_eq!(a["time_last"], 1700000100);
    let b = by_rdata("192.0.2.11");
    assert_eq!(b["count"], 1);
    assert_eq!(b["time_first"], 1700000050);
    assert_eq!(b["time_last"], 1700000050);
}

/// After `-k`: no recorded process alive and no port of the stack open.
fn assert_all_stopped(stack: &Stack) {
    assert!(
        stack.live_pids().is_empty(),
        "still running: {:?}",
        stack.live_pids()
    );
    for port in stack.ports() {
        assert!(
            !wait_for_port(port, Duration::from_millis(300)),
            "port {port} still open after LAUNCH.sh -k\n{}",
            stack.logs()
        );
    }
}

/// The quick-start path: `-l -q` creates the queue and configures the analyzer itself.
fn quickstart_flow(store: &str) {
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::new(store);
    let out = stack.launch(&["-l", "-q"]);
    assert!(out.contains("Created analyzer queue"), "{out}");
    let analyzer =
        std::fs::read_to_string(stack.home().join("conf/analyzer.conf")).expect("analyzer.conf");
    assert!(
        !analyzer.contains("6a2461ce-c29d-44fc-b4fa-947d68826639"),
        "my-uuid not rewritten"
    );
    for port in stack.ports() {
        assert!(
            wait_for_port(port, Duration::from_secs(20)),
            "port {port} not open\n{}",
            stack.logs()
        );
    }

    stack.send_lines("d4-client", &tutorial_lines());
    let records = stack.wait_records("www.d4-tutorial.example", 2, Duration::from_secs(30));
    assert_tutorial_records(&records);
    let other = stack.wait_records("other.d4-tutorial.example", 1, Duration::from_secs(10));
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!(other[0]["rdata"], "2001:db8::1");

    // Stop everything: no process, no port.
    let out = stack.launch(&["-k"]);
    assert!(out.contains("stopped"), "{out}");
    assert_all_stopped(&stack);
    // -k twice is harmless.
    stack.launch(&["-k"]);

    // A second -l finds the data again (the stores persisted it).
    stack.launch(&["-l"]);
    let records = stack.wait_records("www.d4-tutorial.example", 2, Duration::from_secs(30));
    assert_tutorial_records(&records);
}

/// The manual tutorial path: queue created in the web admin (logged-in session with the
/// generated password, forced password change, the inline create-queue form), its uuid
/// written into analyzer.conf, the analyzer restarted, then `cat file | d4-sensor -c conf`.
fn web_flow(store: &str) {
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::new(store);
    let out = stack.launch(&["-l"]);
    assert!(out.contains("DEFAULT_PASSWORD"), "no login hint in:\n{out}");
    let password_file = stack.home().join("DEFAULT_PASSWORD");
    let defaults =
        std::fs::read_to_string(&password_file).expect("DEFAULT_PASSWORD written on first start");
    assert!(defaults.contains("email=admin@admin.test"), "{defaults}");

    let created = Command::new("bash")
        .arg(workspace_root().join("web/scripts/d4-web-create-queue.sh"))
        .args(["-u", &format!("https://127.0.0.1:{}", stack.web_port)])
        .arg("-f")
        .arg(&password_file)
        .args([
            "-n",
            "Tutorial-Passw0rd-42",
            "-t",
            "8",
            "-d",
            "tutorial queue",
        ])
        .output()
        .expect("create queue through the web");
    assert!(
        created.status.success(),
        "web queue creation failed: {}\n{}",
        String::from_utf8_lossy(&created.stderr),
        stack.logs()
    );
    let queue = String::from_utf8_lossy(&created.stdout).trim().to_string();
    assert!(
        d4_core::proto::is_valid_uuid_v4_str(&queue),
        "not a queue uuid: {queue:?}"
    );
    assert!(
        !password_file.exists(),
        "DEFAULT_PASSWORD must be deleted after the first password change"
    );

    let set = Command::new(bin_path("d4-queues"))
        .arg("set-analyzer-uuid")
        .arg(stack.home().join("conf/analyzer.conf"))
        .arg(&queue)
        .status()
        .expect("d4-queues");
    assert!(set.success());
    stack.launch(&["-rp"]);

    // As the tutorial's `passivedns | d4-goclient`: a passivedns file piped into d4-sensor.
    stack.send_lines("d4-sensor", &tutorial_lines());
    let records = stack.wait_records("www.d4-tutorial.example", 2, Duration::from_secs(30));
    assert_tutorial_records(&records);
    // Case and trailing-dot insensitive, and reverse lookups by IP.
    let upper = stack.wait_records("WWW.d4-tutorial.example.", 2, Duration::from_secs(5));
    assert_eq!(upper.len(), 2, "{upper:?}");
    let by_ip = stack.wait_records("192.0.2.11", 1, Duration::from_secs(5));
    assert!(
        by_ip
            .iter()
            .any(|r| r["rrname"] == "www.d4-tutorial.example"),
        "{by_ip:?}"
    );

    stack.launch(&["-k"]);
    assert_all_stopped(&stack);
}

#[test]
fn tutorial_web_queue_with_d4_kv() {
    if !require("curl") || !require("openssl") {
        return;
    }
    web_flow("d4-kv");
}

#[test]
fn tutorial_web_queue_with_redis_server() {
    if !require("curl") || !require("openssl") || !require("redis-server") {
        return;
    }
    web_flow("redis-server");
}

#[test]
fn tutorial_quickstart_with_d4_kv() {
    if !require("curl") || !require("openssl") {
        return;
    }
    quickstart_flow("d4-kv");
}

#[test]
fn tutorial_quickstart_with_redis_server() {
    if !require("curl") || !require("openssl") || !require("redis-server") {
        return;
    }
    quickstart_flow("redis-server");
}
