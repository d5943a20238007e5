//! Harness for the analyzer tests: persistent redis-server instances that can be restarted on
//! the same port, `analyzer.conf` files, and the analyzer binaries as child processes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use d4_testkit::{bin_path, free_port, require, wait_for_port, Proc, Reply, Store};

/// A redis-server with an append-only file fsynced on every write, restartable on its port.
pub(crate) struct PersistentRedis {
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    proc: Option<Proc>,
}

impl PersistentRedis {
    pub(crate) fn start() -> Option<PersistentRedis> {
        if !require("redis-server") {
            return None;
        }
        let mut r = PersistentRedis {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            proc: None,
        };
        r.restart();
        Some(r)
    }

    /// SIGKILLs the server (no clean shutdown).
    pub(crate) fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts (again) on the same port and directory.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
        ])
        .arg(self.dir.path())
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]);
        let proc = Proc::spawn(&format!("redis-{}", self.port), cmd);
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "redis did not start: {}",
            proc.output()
        );
        self.proc = Some(proc);
        // The AOF may still be loading: wait until commands are served.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Reply::Status(s) = self.cmd(&["PING"]) {
                if s == "PONG" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Reply {
        raw_cmd(self.port, 0, args)
    }

    pub(crate) fn cmd_db(&self, db: u8, args: &[&str]) -> Reply {
        raw_cmd(self.port, db, args)
    }
}

/// One command on `port`/`db` over a fresh connection (the testkit's RESP code).
pub(crate) fn raw_cmd(port: u16, db: u8, args: &[&str]) -> Reply {
    d4_testkit::send_cmd(port, Some(db), args)
}

/// Writes an analyzer.conf for queue server `d4_port` and store `store_port`.
pub(crate) fn write_conf(dir: &Path, d4_port: u16, store_port: u16, extra: &str) -> PathBuf {
    let path = dir.join("analyzer.conf");
    let text = format!(
        "[global]\nmy-uuid = {UUID}\nd4-server = 127.0.0.1:{d4_port}\nlogging-level = INFO\n\n\
         [expiration]\n16 = 24000\n99 = 26000\n\n[exclude]\nsubstring = spamhaus.org,asn.cymru.com\n\n\
         [store]\nhost = 127.0.0.1\nport = {store_port}\n{extra}"
    );
    std::fs::write(&path, text).expect("write conf");
    path
}

/// The queue uuid used by the tests.
pub(crate) const UUID: &str = "6a2461ce-c29d-44fc-b4fa-947d68826639";

/// `analyzer:8:<UUID>`.
pub(crate) fn queue_key() -> String {
    format!("analyzer:8:{UUID}")
}

/// A command for an analyzer binary with the environment overrides removed.
pub(crate) fn analyzer_cmd(bin: &str) -> Command {
    let mut cmd = Command::new(bin_path(bin));
    for v in [
        "D4_ANALYZER_REDIS_HOST",
        "D4_ANALYZER_REDIS_PORT",
        "D4_REDIS_METADATA_HOST",
        "D4_REDIS_METADATA_PORT",
        "RUST_LOG",
        "D4_LOG",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

/// Pushes lines like the D4 server does (LPUSH, oldest first) onto the test queue.
pub(crate) fn push_lines(store: &Store, lines: &[&str]) {
    for chunk in lines.chunks(1000) {
        let mut args = vec!["LPUSH", "analyzer:8:6a2461ce-c29d-44fc-b4fa-947d68826639"];
        args.extend_from_slice(chunk);
        assert!(matches!(store.cmd_db(2, &args), Reply::Int(_)));
    }
}

/// Pushes lines to a queue on an arbitrary port.
pub(crate) fn push_lines_port(port: u16, lines: &[String]) {
    let key = queue_key();
    for chunk in lines.chunks(1000) {
        let mut args = vec!["LPUSH", key.as_str()];
        args.extend(chunk.iter().map(String::as_str));
        assert!(matches!(raw_cmd(port, 2, &args), Reply::Int(_)));
    }
}

/// Polls `cond` every 50 ms up to `timeout`.
pub(crate) fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Every key of a db but the d4-rs `ix:` indexes, with its value rendered as text, sorted:
/// strings as-is, sets and hash fields sorted, plus ` ttl` when the key expires.
pub(crate) fn dump(port: u16, db: u8) -> Vec<String> {
    let mut keys = raw_cmd(port, db, &["KEYS", "*"]).as_strings();
    // The d4-rs search indexes are checked by index.rs; the golden dumps are the upstream keys.
    keys.retain(|k| !k.starts_with(d4_analyzer::model::keys::INDEX_PREFIX));
    keys.sort();
    keys.iter()
        .map(|k| {
            let ty = raw_cmd(port, db, &["TYPE", k]);
            let val = match ty.as_str().as_deref() {
                Some("string") => raw_cmd(port, db, &["GET", k]).as_str().unwrap_or_default(),
                Some("set") => {
                    let mut m = raw_cmd(port, db, &["SMEMBERS", k]).as_strings();
                    m.sort();
                    format!("{{{}}}", m.join(", "))
                }
                Some("hash") => {
                    let flat = raw_cmd(port, db, &["HGETALL", k]).as_strings();
                    let mut pairs: Vec<String> = flat
                        .chunks(2)
                        .map(|p| format!("{}={}", p[0], p.get(1).cloned().unwrap_or_default()))
                        .collect();
                    pairs.sort();
                    format!("{{{}}}", pairs.join(", "))
                }
                Some("zset") => raw_cmd(port, db, &["ZRANGE", k, "0", "-1", "WITHSCORES"])
                    .as_strings()
                    .join(","),
                other => format!("<{other:?}>"),
            };
            let ttl = raw_cmd(port, db, &["TTL", k]).as_int().unwrap_or(-1);
            let ttl = if ttl > 0 {
                " ttl".to_string()
            } else {
                String::new()
            };
            format!("{k} = {val}{ttl}")
        })
        .collect()
}

/// A started `pdns-cof-server` and the address it logged.
pub(crate) struct CofServer {
    pub(crate) proc: Proc,
    pub(crate) addr: String,
}

/// Starts `pdns-cof-server -c conf --port 0` and reads the bound address from its log.
pub(crate) fn start_cof(conf: &Path) -> CofServer {
    let mut cmd = analyzer_cmd("pdns-cof-server");
    cmd.arg("-c")
        .arg(conf)
        .args(["--port", "0", "--workers", "2"]);
    let mut proc = Proc::spawn("pdns-cof-server", cmd);
    assert!(
        proc.wait_for_output("COF server listening on ", Duration::from_secs(20)),
        "no listening line: {}",
        proc.output()
    );
    let out = proc.output();
    let addr = out
        .split("COF server listening on ")
        .nth(1)
        .and_then(|s| s.split(". ").next())
        .map(|s| s.trim_end_matches('.').to_string())
        .unwrap_or_default();
    CofServer { proc, addr }
}

/// A minimal HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with extra headers, `Connection: close`.
pub(crate) fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request(addr, "GET", path, headers)
}

/// `METHOD path` (no body) with extra headers, `Connection: close`.
pub(crate) fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let s = std::net::TcpStream::connect(addr).expect("connect COF server");
    http_exchange(s, addr, method, path, headers, "")
}

/// `GET path` from the local address `src` (e.g. 127.0.0.2: another client of a loopback
/// server).
pub(crate) fn http_get_from(
    src: std::net::IpAddr,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    use socket2::{Domain, SockAddr, Socket, Type};
    let to: std::net::SocketAddr = addr.parse().expect("server address");
    let sock = Socket::new(Domain::for_address(to), Type::STREAM, None).expect("socket");
    sock.bind(&SockAddr::from(std::net::SocketAddr::new(src, 0)))
        .expect("bind source address");
    sock.connect(&SockAddr::from(to))
        .expect("connect COF server");
    http_exchange(sock.into(), addr, "GET", path, headers, "")
}

/// One HTTP exchange on `s` (`body` sent with its length), the connection closed after it;
/// a chunked answer (streamed) is reassembled.
pub(crate) fn http_exchange(
    mut s: std::net::TcpStream,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    use std::io::{Read, Write};
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// The payload of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}
