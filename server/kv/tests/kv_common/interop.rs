//! Real clients against d4-kv: `redis-rs` (the Rust client of every other component,
//! RESP2 and RESP3), redis-py (RESP2 as 5.x-7.x speak it, and `HELLO 3` as 8.x does), the
//! redigo-style `SELECT` + `LPOP` loop, and `redis-cli` (inline-free RESP and `--pipe`).

use std::process::{Command, Stdio};

use redis::aio::MultiplexedConnection;
use redis::{cmd, FromRedisValue, Value};

use super::common::{Server, R};

/// Every text (bulk, simple, verbatim) anywhere in a reply, depth first.
fn texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => out.push(s.clone()),
        Value::VerbatimString { text, .. } => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| texts(i, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            texts(k, out);
            texts(v, out);
        }),
        _ => {}
    }
}

async fn query<T: FromRedisValue>(c: &mut MultiplexedConnection, command: &redis::Cmd) -> T {
    command
        .query_async(c)
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", command.args_iter().next()))
}

async fn redis_rs_roundtrip(port: u16, resp3: bool) {
    let proto = if resp3 { "?protocol=resp3" } else { "" };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/2{proto}")).expect("url");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis-rs connects (handshake accepted)");
    let _: () = query(&mut c, &cmd("FLUSHALL")).await;
    let _: i64 = query(
        &mut c,
        cmd("LPUSH").arg("analyzer:8:q").arg(&["a", "b", "c"]),
    )
    .await;
    let v: Option<String> = query(&mut c, cmd("RPOP").arg("analyzer:8:q")).await;
    assert_eq!(v.as_deref(), Some("a"));
    let id: String = query(&mut c, cmd("XADD").arg("st").arg("*").arg("f").arg("1")).await;
    let read: Value = query(
        &mut c,
        cmd("XREAD")
            .arg("COUNT")
            .arg(10)
            .arg("STREAMS")
            .arg("st")
            .arg("0"),
    )
    .await;
    let mut seen = Vec::new();
    texts(&read, &mut seen);
    assert!(seen.contains(&id), "{read:?}");
    let n: i64 = query(
        &mut c,
        cmd("HSET").arg("h").arg("a").arg("1").arg("b").arg("2"),
    )
    .await;
    assert_eq!(n, 2);
    let s1: f64 = query(&mut c, cmd("ZINCRBY").arg("z").arg(1.5).arg("m")).await;
    let s2: f64 = query(&mut c, cmd("ZINCRBY").arg("z").arg(1.0).arg("m")).await;
    assert_eq!((s1, s2), (1.5, 2.5));
    let all: Vec<Value> = redis::pipe()
        .cmd("INCR")
        .arg("n")
        .cmd("INCR")
        .arg("n")
        .cmd("GET")
        .arg("n")
        .query_async(&mut c)
        .await
        .expect("pipeline");
    assert_eq!(all.len(), 3);
    let third: String = redis::from_redis_value_ref(&all[2]).expect("GET reply");
    assert_eq!(third, "2");
    let _: i64 = query(&mut c, cmd("LPUSH").arg("bq").arg("v")).await;
    let popped: Option<(String, String)> = query(&mut c, cmd("BRPOP").arg("bq").arg(1.0)).await;
    assert_eq!(popped, Some(("bq".into(), "v".into())));
    let _: () = query(&mut c, &cmd("QUIT")).await;
}

#[tokio::test]
async fn redis_rs_client_works_over_resp2_and_resp3() {
    let s = if std::env::var("KV_TEST_REDIS").is_ok() {
        Server::start_redis(&[]).unwrap()
    } else {
        Server::start(&[])
    };
    redis_rs_roundtrip(s.port, false).await;
    redis_rs_roundtrip(s.port, true).await;
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
