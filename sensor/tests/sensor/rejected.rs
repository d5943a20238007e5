//! A sensor the real `d4-server` rejects (issue 14): `d4-client` names the likely causes
//! in an ERROR and exits non-zero; with `--retry-rejected` it keeps retrying; an accepted
//! sensor still exits 0. `--check` validates the directory and the TLS connection.
//! `d4-passivedns` without `-l` warns when its standard output is a pipe.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use d4_testkit::{Certs, Proc, Store};

use crate::common::{Client, ConfDir};

const BIN: &str = env!("CARGO_BIN_EXE_d4-client");
const SENSOR_BIN: &str = env!("CARGO_BIN_EXE_d4-sensor");
const PDNS_BIN: &str = env!("CARGO_BIN_EXE_d4-passivedns");

/// The part of the ERROR every rejection prints.
const REJECTED: &str = "it rejects this sensor";

/// A real d4-server over one real redis-server (one database per store role).
struct Server {
    port: u16,
    store: Store,
    proc: Proc,
    _certs: Certs,
    _dir: tempfile::TempDir,
}

/// Starts d4-server in `mode` (`registration` or `shared-secret`), default key
/// "private key to change" (the key of [`ConfDir`]). `None`: redis-server missing
/// outside CI.
fn server(mode: &str) -> Option<Server> {
    let store = Store::start()?;
    let certs = Certs::generate();
    let dir = tempfile::tempdir().unwrap();
    let port = d4_testkit::free_port();
    let conf = format!(
        "[Save_Directories]\nuse_default_save_directory = no\nsave_directory = {data}\n\n\
         [D4_Server]\nserver_port = {port}\nserver_host = 127.0.0.1\nserver_mode = {mode}\n\
         default_hmac_key = private key to change\nanalyzer_queues_max_size = 100000000\n\
         tls_cert_file = {cert}\ntls_key_file = {key}\n\n\
         [Redis_STREAM]\nhost = 127.0.0.1\nport = {sp}\ndb = 0\n\n\
         [Redis_METADATA]\nhost = 127.0.0.1\nport = {sp}\ndb = 1\n\n\
         [Redis_SERV]\nhost = 127.0.0.1\nport = {sp}\ndb = 2\n\n\
         [Redis_ANALYZER]\nhost = 127.0.0.1\nport = {sp}\ndb = 3\n\n\
         [Redis_CACHE]\nhost = 127.0.0.1\nport = {sp}\ndb = 4\n",
        data = dir.path().join("data").display(),
        cert = certs.cert().display(),
        key = certs.key().display(),
        sp = store.port,
    );
    let conf_path = dir.path().join("server.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(d4_testkit::bin_path("d4-server"));
    cmd.arg("-c").arg(&conf_path).current_dir(dir.path());
    let mut proc = Proc::spawn("d4-server", cmd);
    assert!(
        proc.wait_for_output("listening on", Duration::from_secs(20)),
        "d4-server did not start:\n{}",
        proc.output()
    );
    Some(Server {
        port,
        store,
        proc,
        _certs: certs,
        _dir: dir,
    })
}

impl Server {
    /// A sensor configuration directory for this server (type 8, stdin).
    fn conf(&self) -> ConfDir {
        ConfDir::new(&format!("127.0.0.1:{}", self.port), 8, 4096)
    }
}

/// Runs d4-client on `conf` with a few passivedns lines on stdin; exit code and log.
fn send_lines(conf: &ConfDir, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["-c", conf.path().to_str().unwrap(), "-rt", "200ms"];
    args.extend_from_slice(extra);
    let mut c = Client::spawn(BIN, &args);
    let stdin = c.stdin.as_mut().unwrap();
    for i in 0..10 {
        writeln!(
            stdin,
            "1700000000.{i:06}||10.0.0.1||8.8.8.8||IN||n{i}.example.||A||10.1.0.{i}||60||1"
        )
        .unwrap();
    }
    let code = c.finish(Duration::from_secs(60));
    (code, c.log())
}

/// The ERROR names the causes and where to look.
fn assert_cause_list(log: &str) {
    for needle in [
        REJECTED,
        "not registered or not yet approved",
        "Server Management -> Pending Sensors",
        "wrong HMAC key",
        "type 8 is not accepted",
        "blacklisted",
        "d4-server log",
    ] {
        assert!(log.contains(needle), "{needle:?} missing in:\n{log}");
    }
    assert!(log.contains("ERROR"), "no ERROR line:\n{log}");
}

/// Registration mode, uuid never approved: non-zero exit, the cause list; the server
/// rejected it as not registered.
#[test]
fn unregistered_sensor_exits_non_zero_and_says_why() {
    let Some(mut srv) = server("registration") else {
        return;
    };
    let conf = srv.conf();
    let (code, log) = send_lines(&conf, &[]);
    assert_ne!(code, 0, "{log}");
    assert_cause_list(&log);
    assert!(log.contains("--retry-rejected"), "{log}");
    assert!(
        srv.proc
            .wait_for_output("not_registered", Duration::from_secs(5)),
        "{}",
        srv.proc.output()
    );
}

/// Shared-secret mode, wrong key: the same.
#[test]
fn wrong_hmac_key_exits_non_zero_and_says_why() {
    let Some(mut srv) = server("shared-secret") else {
        return;
    };
    let conf = srv.conf();
    conf.write("key", b"not the server key\n");
    let (code, log) = send_lines(&conf, &[]);
    assert_ne!(code, 0, "{log}");
    assert_cause_list(&log);
    assert!(
        srv.proc.wait_for_output("bad_hmac", Duration::from_secs(5)),
        "{}",
        srv.proc.output()
    );
}

/// Shared-secret mode, right key: exit 0, no rejection, the lines reached the stream store.
#[test]
fn accepted_sensor_exits_zero() {
    let Some(srv) = server("shared-secret") else {
        return;
    };
    let conf = srv.conf();
    let (code, log) = send_lines(&conf, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(REJECTED), "{log}");
    assert!(!log.contains("right after the first packet"), "{log}");
    let keys = srv.store.cmd_db(0, &["DBSIZE"]).as_int().unwrap_or(0);
    assert!(
        keys > 0,
        "nothing in the stream store:\n{}",
        srv.proc.output()
    );
}

/// `--retry-rejected`: a rejected stdin client keeps retrying (ERROR says so) and does
/// not exit.
#[test]
fn retry_rejected_keeps_retrying() {
    let Some(srv) = server("registration") else {
        return;
    };
    let conf = srv.conf();
    let args = [
        "-c",
        conf.path().to_str().unwrap(),
        "-rt",
        "200ms",
        "--retry-rejected",
    ];
    let mut c = Client::spawn(BIN, &args);
    writeln!(c.stdin.as_mut().unwrap(), "a line").unwrap();
    drop(c.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !c.log().contains("still retrying") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.log().contains("still retrying"), "{}", c.log());
    let child = c.child.as_mut().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "exited:\n{}", c.log());
}

/// Runs `bin --check` on `conf`; exit code, stdout and stderr.
fn check(bin: &str, conf: &ConfDir) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(["-c", conf.path().to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--check` passes against a running server (d4-client and d4-sensor), fails on a
/// port nobody listens on, on a bad setting, and with `-cc` and no CA file.
#[test]
fn check_validates_directory_and_connection() {
    let Some(srv) = server("shared-secret") else {
        return;
    };
    let conf = srv.conf();
    for bin in [BIN, SENSOR_BIN] {
        let (code, out, err) = check(bin, &conf);
        assert_eq!(code, 0, "{bin}: {out}{err}");
        assert!(out.contains("configuration: OK"), "{out}");
        assert!(out.contains("connection: OK"), "{out}");
    }

    let closed = ConfDir::new(&format!("127.0.0.1:{}", d4_testkit::free_port()), 8, 4096);
    let (code, out, err) = check(BIN, &closed);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("connection to 127.0.0.1:"), "{err}");

    let bad = srv.conf();
    bad.write("snaplen", b"lots\n");
    let (code, out, err) = check(BIN, &bad);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("snaplen"), "{err}");

    let out = Command::new(BIN)
        .args(["-c", conf.path().to_str().unwrap(), "--check", "-cc"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("rootCA.crt"), "{err}");
}

/// `d4-passivedns` without `-l`, stdout a pipe: a WARN says to use `-l -`, before anything
/// else (here the run then stops at the unsupported `-D`, so nothing is written to
/// /var/log). With `-l -` there is no such warning.
#[test]
fn passivedns_warns_when_piped_without_l() {
    let run = |args: &[&str]| {
        let out = Command::new(PDNS_BIN).args(args).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["-r", "/nonexistent.pcap", "-D"]);
    assert!(err.contains("WARN"), "{err}");
    assert!(err.contains("Use `-l -`"), "{err}");
    assert!(err.contains("/var/log/passivedns.log"), "{err}");
    let err = run(&["-r", "/nonexistent.pcap", "-D", "-l", "-"]);
    assert!(!err.contains("Use `-l -`"), "{err}");
}
