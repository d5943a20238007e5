//! Real clients against d4-kv: `fred` (the Rust client of every other component, RESP2
//! and RESP3), redis-py (RESP2 as 5.x-7.x speak it, and `HELLO 3` as 8.x does), the
//! redigo-style `SELECT` + `LPOP` loop, and `redis-cli` (inline-free RESP and `--pipe`).

use std::process::{Command, Stdio};

use fred::prelude::*;
use fred::types::RespVersion;

use super::common::{Server, R};

async fn fred_roundtrip(port: u16, version: RespVersion) {
    let mut cfg = Config::from_url(&format!("redis://127.0.0.1:{port}/2")).expect("url");
    cfg.version = version;
    let client = Builder::from_config(cfg).build().expect("build");
    client
        .init()
        .await
        .expect("fred connects (handshake accepted)");
    let _: () = client.flushall(false).await.unwrap();
    let _: i64 = client
        .lpush("analyzer:8:q", vec!["a", "b", "c"])
        .await
        .unwrap();
    let v: Option<String> = client.rpop("analyzer:8:q", None).await.unwrap();
    assert_eq!(v.as_deref(), Some("a"));
    let id: String = client
        .xadd("st", false, None, "*", vec![("f", "1")])
        .await
        .unwrap();
    let read: Value = client.xread(Some(10), None, "st", "0").await.unwrap();
    assert!(format!("{read:?}").contains(&id), "{read:?}");
    let n: i64 = client
        .hset("h", vec![("a", "1"), ("b", "2")])
        .await
        .unwrap();
    assert_eq!(n, 2);
    let s1: f64 = client.zincrby("z", 1.5, "m").await.unwrap();
    let s2: f64 = client.zincrby("z", 1.0, "m").await.unwrap();
    assert_eq!((s1, s2), (1.5, 2.5));
    let p = client.pipeline();
    let _: () = p.incr("n").await.unwrap();
    let _: () = p.incr("n").await.unwrap();
    let _: () = p.get("n").await.unwrap();
    let all: Vec<Value> = p.all().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].as_string().as_deref(), Some("2"));
    let _: i64 = client.lpush("bq", "v").await.unwrap();
    let popped: Option<(String, String)> = client.brpop("bq", 1.0).await.unwrap();
    assert_eq!(popped, Some(("bq".into(), "v".into())));
    client.quit().await.unwrap();
}

#[tokio::test]
async fn fred_client_works_over_resp2_and_resp3() {
    let s = if std::env::var("KV_TEST_REDIS").is_ok() {
        Server::start_redis(&[]).unwrap()
    } else {
        Server::start(&[])
    };
    fred_roundtrip(s.port, RespVersion::RESP2).await;
    fred_roundtrip(s.port, RespVersion::RESP3).await;
    assert_eq!(s.cmd(&["SELECT", "0"]), R::ok());
}

const PY: &str = r#"
import sys, redis
port, proto = int(sys.argv[1]), int(sys.argv[2])
r = redis.Redis(host="127.0.0.1", port=port, db=2, protocol=proto)
assert r.ping()
r.flushdb()
r.lpush("analyzer:8:x", "l1", "l2")
assert r.rpop("analyzer:8:x") == b"l1"
assert tuple(r.brpop("analyzer:8:x", 1)) == (b"analyzer:8:x", b"l2")
assert r.brpop("analyzer:8:x", 1) is None
r.sadd("s", "a", "b"); r.expire("s", 100)
assert r.scard("s") == 2 and r.smembers("s") == {b"a", b"b"}
r.set("c", 1); r.incrby("c", 5); r.hincrby("h", "f", 2)
r.zincrby("z", 2, "a"); r.zincrby("z", 1, "b")
zr = [tuple(x) for x in r.zrevrange("z", 0, -1, withscores=True)]
assert zr == [(b"a", 2.0), (b"b", 1.0)], zr
assert r.get("nothing") is None
p = r.pipeline(); p.incr("k"); p.incr("k"); assert p.execute() == [1, 2]
print("ok", r.connection_pool.get_connection().protocol if hasattr(r.connection_pool, "get_connection") else "")
"#;

#[test]
fn redis_py_resp2_and_hello_3() {
    if !d4_testkit::require("python3") {
        return;
    }
    let s = Server::start(&[]);
    let port = s.port.to_string();
    for proto in ["2", "3"] {
        let out = d4_testkit::python(PY, &[&port, proto]);
        assert!(out.starts_with("ok"), "{out}");
    }
}

/// The same script under redis-py 5.x, installed beside the current one by
/// `tests/install-deps.sh` into `tests/.redis-py5`.
#[test]
fn redis_py_5_resp2_and_resp3() {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/.redis-py5");
    if !d4_testkit::require_path("redis-py 5.x (tests/install-deps.sh)", &lib.join("redis")) {
        return;
    }
    let env = [("PYTHONPATH", lib.as_path())];
    let version = d4_testkit::python_env("import redis; print(redis.__version__)", &[], &env);
    assert!(version.starts_with("5."), "not redis-py 5.x: {version}");
    let s = Server::start(&[]);
    let port = s.port.to_string();
    for proto in ["2", "3"] {
        let out = d4_testkit::python_env(PY, &[&port, proto], &env);
        assert!(
            out.starts_with("ok"),
            "redis-py {version} protocol {proto}: {out}"
        );
    }
}

#[test]
fn redigo_style_select_then_lpop_until_nil() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["SELECT", "2"]),
        R::ok(),
        "status reply, as hiredis and redigo require"
    );
    c.cmd(&["RPUSH", "q", "1", "2"]);
    assert_eq!(c.cmd(&["LPOP", "q"]), R::bulk("1"));
    assert_eq!(c.cmd(&["LPOP", "q"]), R::bulk("2"));
    assert_eq!(c.cmd(&["LPOP", "q"]), R::Bulk(None));
}

#[test]
fn redis_cli_commands_and_pipe_mode() {
    if !d4_testkit::require("redis-cli") {
        return;
    }
    let s = Server::start(&[]);
    let port = s.port.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["SET", "a", "hello world"]), "OK");
    assert_eq!(cli(&["GET", "a"]), "hello world");
    assert_eq!(cli(&["-n", "2", "LPUSH", "q", "x"]), "1");
    assert_eq!(cli(&["-n", "2", "LLEN", "q"]), "1");
    assert_eq!(
        cli(&["--no-raw", "INCR", "a"]),
        "(error) ERR value is not an integer or out of range"
    );
    let mut child = Command::new("redis-cli")
        .args(["-p", &port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..1000 {
            stdin
                .write_all(&super::common::encode(&["RPUSH", "bulk", &i.to_string()]))
                .unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("errors: 0, replies: 1000"));
    assert_eq!(cli(&["LLEN", "bulk"]), "1000");
}
