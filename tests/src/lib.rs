//! Test harness shared by every crate's process-level tests.
//!
//! - [`free_port`]: a free loopback TCP port.
//! - [`Store`]: a real Redis-compatible server (`redis-server`, or our `d4-kv` when
//!   `D4_TEST_STORE=d4-kv`) on a free port, in its own temp directory, stopped on drop.
//! - [`bin_path`] / [`Proc`]: the project's binaries as child processes, killed on drop,
//!   with their output kept in a file and printed when a test fails.
//! - [`require`]: skip a test when a tool is missing, except under `CI=true` where it fails.
//! - [`cluster`]: a real Redis Cluster of N masters on free ports, resharded live on demand.
//!
//! Everything binds 127.0.0.1 only.

pub mod cluster;
pub mod launch;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound once, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// Whether tests run under CI (`CI=true`), where missing tools are failures, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Returns true if `tool` is on PATH. If it is not: panics under CI, otherwise prints a
/// skip notice and returns false so the test can return early.
pub fn require(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    available(found, tool)
}

/// Like [`require`] for something installed outside PATH: true if `path` exists; if not,
/// panics under CI, otherwise prints a skip notice naming `what` and returns false.
pub fn require_path(what: &str, path: &Path) -> bool {
    available(path.exists(), &format!("{what} ({})", path.display()))
}

fn available(found: bool, what: &str) -> bool {
    if !found {
        assert!(
            !in_ci(),
            "{what} is required under CI=true but is not installed"
        );
        eprintln!("SKIP: {what} not installed");
    }
    found
}

/// The directory holding the workspace's built binaries (`target/<profile>`), found
/// from the running test executable (`target/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary such as `d4-server`. Binaries of other packages are built
/// by `cargo test --workspace`; a missing one is a clear panic, never a skip.
pub fn bin_path(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.is_file(),
        "binary {} not built: run the tests with `cargo test --workspace` (or `cargo build --workspace` first)",
        p.display()
    );
    p
}

/// The workspace root (for `conf/` samples and scripts).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A child process killed (SIGKILL) on drop, whose stdout+stderr go to a log file.
pub struct Proc {
    /// Human name used in messages.
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr captured into a temp log file.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.into(),
            child: Some(child),
            log,
            _dir: Some(dir),
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends SIGTERM and waits up to `timeout` for exit; returns the exit status code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until the log contains `needle` (e.g. the "listening" line).
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return true;
            }
            if !self.is_running() {
                return self.output().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- output of {} -----\n{}\n-----",
                self.name,
                self.output()
            );
        }
    }
}

/// Which Redis-compatible server a [`Store`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Real `redis-server` from the system.
    Redis,
    /// The project's own `d4-kv`.
    D4Kv,
}

impl StoreKind {
    /// From `D4_TEST_STORE` (`redis` default, or `d4-kv`).
    pub fn from_env() -> StoreKind {
        match std::env::var("D4_TEST_STORE").as_deref() {
            Ok("d4-kv") => StoreKind::D4Kv,
            _ => StoreKind::Redis,
        }
    }
}

/// A Redis-compatible server on a free loopback port, killed on drop.
pub struct Store {
    /// The TCP port it listens on.
    pub port: u16,
    /// Which server it is.
    pub kind: StoreKind,
    /// The process.
    pub proc: Proc,
    dir: tempfile::TempDir,
}

impl Store {
    /// Starts the store selected by `D4_TEST_STORE` (default: real redis-server).
    /// Returns `None` (a skip) when redis-server is missing outside CI.
    pub fn start() -> Option<Store> {
        Store::start_kind(StoreKind::from_env())
    }

    /// Starts a store of the given kind.
    pub fn start_kind(kind: StoreKind) -> Option<Store> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let port = free_port();
        let mut cmd = match kind {
            StoreKind::Redis => {
                if !require("redis-server") {
                    return None;
                }
                Command::new("redis-server")
            }
            StoreKind::D4Kv => Command::new(bin_path("d4-kv")),
        };
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "no"]);
        let proc = Proc::spawn(&format!("store-{port}"), cmd);
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "store on port {port} did not start: {}",
            proc.output()
        );
        Some(Store {
            port,
            kind,
            proc,
            dir,
        })
    }

    /// Data directory of this store.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Sends one command and returns its reply; for quick checks without a client library.
    pub fn cmd(&self, args: &[&str]) -> Reply {
        send_cmd(self.port, None, args)
    }

    /// `cmd` on a given db (SELECT first, on the same connection).
    pub fn cmd_db(&self, db: u8, args: &[&str]) -> Reply {
        send_cmd(self.port, Some(db), args)
    }
}

/// Sends one command (RESP) over a fresh connection to `127.0.0.1:port`, after `SELECT db`
/// when a db is given, and returns its reply. Only simple replies (status, error, integer,
/// bulk, arrays of those). A connection closed mid-reply gives a [`Reply::Error`].
pub fn send_cmd(port: u16, db: Option<u8>, args: &[&str]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let dbs = db.map(|d| d.to_string());
    let select: Vec<&str> = dbs.iter().flat_map(|d| ["SELECT", d.as_str()]).collect();
    let mut req = Vec::new();
    for cmd in [&select[..], args].into_iter().filter(|c| !c.is_empty()) {
        req.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
        for a in cmd {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
    }
    s.write_all(&req).unwrap_or_else(|e| panic!("write: {e}"));
    let mut r = BufReader::new(s);
    if db.is_some() {
        let _ = read_reply(&mut r);
    }
    read_reply(&mut r)
}

/// A RESP2 reply, as read by [`Store::cmd`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` (None for nil)
    Bulk(Option<Vec<u8>>),
    /// `*n` (None for nil)
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// Bulk as UTF-8 string (lossy); nil → None.
    pub fn as_str(&self) -> Option<String> {
        match self {
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Reply::Status(s) => Some(s.clone()),
            _ => None,
        }
    }
    /// Integer value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// Array of bulk strings as Strings (nil or non-string items become empty).
    pub fn as_strings(&self) -> Vec<String> {
        match self {
            Reply::Array(Some(items)) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default())
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn read_reply(r: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return Reply::Error("connection closed".into());
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1.min(line.len()));
    match kind {
        "+" => Reply::Status(rest.into()),
        "-" => Reply::Error(rest.into()),
        ":" => Reply::Int(rest.parse().unwrap_or(0)),
        "$" => {
            let n: i64 = rest.parse().unwrap_or(-1);
            if n < 0 {
                return Reply::Bulk(None);
            }
            let mut buf = vec![0u8; n as usize + 2];
            if r.read_exact(&mut buf).is_err() {
                return Reply::Error("short read".into());
            }
            buf.truncate(n as usize);
            Reply::Bulk(Some(buf))
        }
        "*" => {
            let n: i64 = rest.parse().unwrap_or(-1);
            if n < 0 {
                return Reply::Array(None);
            }
            Reply::Array(Some((0..n).map(|_| read_reply(r)).collect()))
        }
        _ => Reply::Error(format!("unexpected reply {line:?}")),
    }
}

/// Runs a Python snippet with `python3` (the legacy analyzer side: `redis-py`), returning
/// stdout. Panics with stderr on failure. Requires `python3`; the `redis` module is
/// installed by `.ci/run`.
pub fn python(script: &str, args: &[&str]) -> String {
    python_env(script, args, &[])
}

/// [`python`] with extra environment variables (e.g. `PYTHONPATH` for another redis-py).
pub fn python_env(script: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Certificates made by the project's own `gen_cert/` scripts in a temp directory:
/// `rootCA.crt`, `server.crt`, `server.key` (valid for 127.0.0.1, ::1, localhost).
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Runs `gen_root.sh` and `gen_cert.sh` on copies of the scripts. Requires `openssl`.
    pub fn generate() -> Certs {
        assert!(require("openssl") || !in_ci(), "openssl missing");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let src = workspace_root().join("gen_cert");
        for f in [
            "gen_root.sh",
            "gen_cert.sh",
            "openssl.cnf",
            "server_ext.cnf",
        ] {
            std::fs::copy(src.join(f), dir.path().join(f))
                .unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
        for script in ["gen_root.sh", "gen_cert.sh"] {
            let st = Command::new("bash")
                .arg(dir.path().join(script))
                .stdout(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("{script}: {e}"));
            assert!(st.success(), "{script} failed");
        }
        Certs { dir }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// Root CA certificate (PEM).
    pub fn root_ca(&self) -> PathBuf {
        self.dir.path().join("rootCA.crt")
    }
    /// Server certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }
    /// Server private key (PEM).
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable() {
        let p = free_port();
        assert!(TcpListener::bind(("127.0.0.1", p)).is_ok());
    }

    #[test]
    fn store_answers_ping() {
        let Some(store) = Store::start_kind(StoreKind::Redis) else {
            return;
        };
        assert_eq!(store.cmd(&["PING"]), Reply::Status("PONG".into()));
        assert_eq!(store.cmd_db(2, &["LPUSH", "k", "a", "b"]), Reply::Int(2));
        assert_eq!(
            store.cmd_db(2, &["RPOP", "k"]).as_str().as_deref(),
            Some("a")
        );
        assert_eq!(store.cmd(&["EXISTS", "k"]), Reply::Int(0));
    }
}
