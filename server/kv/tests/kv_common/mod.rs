//! Harness for the d4-kv tests: start the binary (or real redis-server) on a free port,
//! and a small raw RESP2/RESP3 client that keeps every reply type distinct.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use d4_testkit::{free_port, wait_for_port, Proc};

/// A running d4-kv (or redis-server) with its own data directory.
pub(crate) struct Server {
    /// Port.
    pub port: u16,
    /// Process (killed on drop).
    pub proc: Proc,
    /// Data directory (kept across restarts when reused).
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// Path of the d4-kv binary under test.
pub(crate) fn kv_bin() -> &'static str {
    env!("CARGO_BIN_EXE_d4-kv")
}

impl Server {
    /// Starts d4-kv in a fresh temp dir with extra `--option value` args.
    pub(crate) fn start(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts d4-kv on a given data dir (for restart tests).
    pub(crate) fn start_in(dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(kv_bin(), dir, extra)
    }

    /// Starts real redis-server (None when missing outside CI).
    pub(crate) fn start_redis(extra: &[&str]) -> Option<Server> {
        if !d4_testkit::require("redis-server") {
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::spawn("redis-server", &dir, extra);
        s._tmp = Some(tmp);
        Some(s)
    }

    /// Starts real redis-server on a given data dir (None when missing outside CI).
    pub(crate) fn start_redis_in(dir: &Path, extra: &[&str]) -> Option<Server> {
        if !d4_testkit::require("redis-server") {
            return None;
        }
        Some(Server::spawn("redis-server", dir, extra))
    }

    fn spawn(bin: &str, dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir)
            .args(["--save", ""]);
        cmd.args(extra);
        let proc = Proc::spawn(&format!("{bin}-{port}"), cmd);
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "{bin} did not start: {}",
            proc.output()
        );
        Server {
            port,
            proc,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    /// A new raw connection.
    pub(crate) fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }

    /// One command on a fresh connection.
    pub(crate) fn cmd(&self, args: &[&str]) -> R {
        self.conn().cmd(args)
    }
}

/// A reply, keeping RESP3 types apart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum R {
    /// `+`
    Simple(String),
    /// `-`
    Err(String),
    /// `:`
    Int(i64),
    /// `$` (None: `$-1`)
    Bulk(Option<Vec<u8>>),
    /// `*` (None: `*-1`)
    Array(Option<Vec<R>>),
    /// `_`
    Null,
    /// `,`
    Double(String),
    /// `%`
    Map(Vec<(R, R)>),
    /// `~`
    Set(Vec<R>),
    /// `#`
    Bool(bool),
}

impl R {
    /// Bulk text.
    pub(crate) fn s(&self) -> String {
        match self {
            R::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            R::Simple(s) | R::Double(s) => s.clone(),
            other => format!("{other:?}"),
        }
    }
    /// Shorthand for a bulk reply.
    pub(crate) fn bulk(s: &str) -> R {
        R::Bulk(Some(s.as_bytes().to_vec()))
    }
    /// Shorthand for an array of bulks.
    pub(crate) fn bulks(v: &[&str]) -> R {
        R::Array(Some(v.iter().map(|s| R::bulk(s)).collect()))
    }
    /// `+OK`
    pub(crate) fn ok() -> R {
        R::Simple("OK".into())
    }
}

/// A raw client connection.
pub(crate) struct Conn {
    /// Reader half.
    pub r: BufReader<TcpStream>,
    /// Writer half.
    pub w: TcpStream,
}

/// Encodes a command as a RESP multibulk.
pub(crate) fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Conn {
    /// Connects to a loopback port.
    pub(crate) fn connect(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let w = s.try_clone().expect("clone");
        Conn {
            r: BufReader::new(s),
            w,
        }
    }
    /// Sends raw bytes.
    pub(crate) fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).expect("write");
    }
    /// Sends a command without reading.
    pub(crate) fn send_cmd(&mut self, args: &[&str]) {
        self.send(&encode(args));
    }
    /// Sends a command and reads one reply.
    pub(crate) fn cmd(&mut self, args: &[&str]) -> R {
        self.send_cmd(args);
        self.read()
    }
    /// Reads exactly `n` raw bytes.
    pub(crate) fn read_raw(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.r.read_exact(&mut b).expect("read_raw");
        b
    }
    /// Reads one reply.
    pub(crate) fn read(&mut self) -> R {
        self.try_read().expect("read reply")
    }
    /// Reads one reply; None on EOF/timeout.
    pub(crate) fn try_read(&mut self) -> Option<R> {
        let mut line = String::new();
        if self.r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches("\r\n").to_string();
        let (t, rest) = line.split_at(1);
        let n = || rest.parse::<i64>().unwrap_or(-1);
        Some(match t {
            "+" => R::Simple(rest.into()),
            "-" => R::Err(rest.into()),
            ":" => R::Int(n()),
            "_" => R::Null,
            "," => R::Double(rest.into()),
            "#" => R::Bool(rest == "t"),
            "$" | "=" => {
                if n() < 0 {
                    return Some(R::Bulk(None));
                }
                let mut b = vec![0; n() as usize + 2];
                self.r.read_exact(&mut b).ok()?;
                b.truncate(n() as usize);
                R::Bulk(Some(b))
            }
            "*" => {
                if n() < 0 {
                    return Some(R::Array(None));
                }
                R::Array(Some((0..n()).map(|_| self.read()).collect()))
            }
            "~" => R::Set((0..n()).map(|_| self.read()).collect()),
            "%" => R::Map((0..n()).map(|_| (self.read(), self.read())).collect()),
            other => panic!("unexpected reply type {other:?}"),
        })
    }
}
