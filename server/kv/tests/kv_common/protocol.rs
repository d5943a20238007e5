//! Wire-level behaviour: exact bytes for inline and multibulk requests, pipelining,
//! Redis's error texts, RESP3 shapes after `HELLO 3`, auth, transactions, expiry.

use std::io::Read;
use std::time::Duration;

use super::common::{Server, R};

#[test]
fn inline_and_pipelined_requests_get_exact_bytes_back() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.send(b"PING\r\nSET k \"a b\"\r\nGET k\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nINCR k\r\n");
    let want = b"+PONG\r\n+OK\r\n$3\r\na b\r\n$2\r\nhi\r\n-ERR value is not an integer or out of range\r\n";
    assert_eq!(
        String::from_utf8_lossy(&c.read_raw(want.len())),
        String::from_utf8_lossy(want)
    );
}

#[test]
fn error_texts_match_redis() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["FOO", "a", "b"]),
        R::Err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ".into())
    );
    assert_eq!(
        c.cmd(&["GET"]),
        R::Err("ERR wrong number of arguments for 'get' command".into())
    );
    c.cmd(&["LPUSH", "l", "x"]);
    assert_eq!(
        c.cmd(&["GET", "l"]),
        R::Err("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    );
    assert_eq!(
        c.cmd(&["SET", "a", "1", "NX", "XX"]),
        R::Err("ERR syntax error".into())
    );
    assert_eq!(
        c.cmd(&["SELECT", "16"]),
        R::Err("ERR DB index is out of range".into())
    );
    assert_eq!(
        c.cmd(&["CLIENT", "FOO"]),
        R::Err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.".into())
    );
    assert_eq!(
        c.cmd(&["PING"]),
        R::Simple("PONG".into()),
        "connection stays open after errors"
    );
}

#[test]
fn protocol_error_replies_then_closes() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.send(b"PING\r\n*1\r\n+x\r\n");
    assert_eq!(c.read(), R::Simple("PONG".into()));
    assert_eq!(
        c.read(),
        R::Err("ERR Protocol error: expected '$', got '+'".into())
    );
    let mut rest = Vec::new();
    let _ = c.r.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn hello_3_switches_to_resp3_shapes() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let R::Map(m) = c.cmd(&["HELLO", "3"]) else {
        panic!("HELLO 3 must reply a map")
    };
    assert!(m.contains(&(R::bulk("proto"), R::Int(3))));
    assert_eq!(c.cmd(&["GET", "missing"]), R::Null);
    c.cmd(&["ZADD", "z", "1.5", "a", "2", "b"]);
    let want = R::Array(Some(vec![
        R::Array(Some(vec![R::bulk("b"), R::Double("2".into())])),
        R::Array(Some(vec![R::bulk("a"), R::Double("1.5".into())])),
    ]));
    assert_eq!(c.cmd(&["ZREVRANGE", "z", "0", "-1", "WITHSCORES"]), want);
    c.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(
        c.cmd(&["HGETALL", "h"]),
        R::Map(vec![(R::bulk("f"), R::bulk("v"))])
    );
    assert_eq!(
        c.cmd(&["HELLO", "4"]),
        R::Err("NOPROTO unsupported protocol version".into())
    );
    let R::Array(Some(_)) = c.cmd(&["HELLO", "2"]) else {
        panic!("HELLO 2 replies in RESP2")
    };
    assert_eq!(c.cmd(&["GET", "missing"]), R::Bulk(None));
}

#[test]
fn requirepass_auth_and_hello_auth() {
    let s = Server::start(&["--requirepass", "s3cret"]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["GET", "a"]),
        R::Err("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        c.cmd(&["AUTH", "nope"]),
        R::Err("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), R::ok());
    assert_eq!(c.cmd(&["GET", "a"]), R::Bulk(None));
    let mut c2 = s.conn();
    let R::Map(_) = c2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "x"]) else {
        panic!()
    };
    assert_eq!(c2.cmd(&["CLIENT", "GETNAME"]), R::bulk("x"));
}

#[test]
fn multi_exec_and_execabort() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["MULTI"]), R::ok());
    assert_eq!(c.cmd(&["INCR", "n"]), R::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["LPUSH", "n", "x"]), R::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "n"]), R::Simple("QUEUED".into()));
    let wt = R::Err("WRONGTYPE Operation against a key holding the wrong kind of value".into());
    assert_eq!(
        c.cmd(&["EXEC"]),
        R::Array(Some(vec![R::Int(1), wt, R::Int(2)]))
    );
    c.cmd(&["MULTI"]);
    assert_eq!(
        c.cmd(&["NOPE"]),
        R::Err("ERR unknown command 'NOPE', with args beginning with: ".into())
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        R::Err("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(c.cmd(&["EXEC"]), R::Err("ERR EXEC without MULTI".into()));
}

#[test]
fn keys_expire_lazily_and_actively() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.cmd(&["SET", "a", "1", "PX", "100"]);
    c.cmd(&["SET", "b", "1"]);
    assert_eq!(c.cmd(&["PEXPIRE", "b", "100"]), R::Int(1));
    let R::Int(ttl) = c.cmd(&["PTTL", "a"]) else {
        panic!()
    };
    assert!((1..=100).contains(&ttl));
    // DBSIZE counts keys not yet collected, so reaching 0 proves active expiry ran.
    let t = std::time::Instant::now();
    while c.cmd(&["DBSIZE"]) != R::Int(0) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "active expiry removed both without access"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.cmd(&["GET", "a"]), R::Bulk(None));
    assert_eq!(c.cmd(&["TTL", "a"]), R::Int(-2));
}

#[test]
fn select_isolates_databases_and_info_has_sections() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["LPUSH", "analyzer:8:q", "line"]);
    c.cmd(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["EXISTS", "analyzer:8:q"]), R::Int(0));
    let info = c.cmd(&["INFO"]).s();
    for sec in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Keyspace",
        "db2:keys=1",
    ] {
        assert!(info.contains(sec), "INFO lacks {sec}");
    }
}

#[test]
fn unknown_config_option_is_reported() {
    let out = std::process::Command::new(super::common::kv_bin())
        .args(["--port", "0", "--frobnicate", "yes"])
        .output()
        .expect("run d4-kv");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown option 'frobnicate'"), "{err}");
}

#[test]
fn maxclients_refuses_extra_connections() {
    let s = Server::start(&["--maxclients", "1"]);
    // Let the server notice that the start-up probe connection closed.
    std::thread::sleep(Duration::from_millis(200));
    let mut a = s.conn();
    assert_eq!(a.cmd(&["PING"]), R::Simple("PONG".into()));
    let mut b = s.conn();
    assert_eq!(b.read(), R::Err("ERR max number of clients reached".into()));
}

#[test]
fn maxmemory_refuses_growing_commands_and_follows_config_set() {
    let oom = R::Err("OOM command not allowed when used memory > 'maxmemory'.".into());
    let s = Server::start(&["--maxmemory", "1"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), oom);
    assert_eq!(c.cmd(&["GET", "k"]), R::Bulk(None));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), R::ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]), R::ok());
    assert_eq!(c.cmd(&["INCR", "n"]), R::Int(1));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), R::ok());
    assert_eq!(c.cmd(&["INCR", "n"]), oom);
    assert_eq!(c.cmd(&["DEL", "k"]), R::Int(1), "deleting stays allowed");
}

#[test]
fn scan_returns_every_stable_key_once_while_keys_change() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for i in 0..500 {
        c.send_cmd(&["SET", &format!("k{i}"), "v"]);
    }
    for _ in 0..500 {
        c.read();
    }
    c.cmd(&["RPUSH", "alist", "x"]);
    let mut seen = std::collections::HashMap::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let R::Array(Some(parts)) = c.cmd(&["SCAN", &cursor, "COUNT", "7", "MATCH", "k*"]) else {
            panic!()
        };
        for k in match &parts[1] {
            R::Array(Some(v)) => v.clone(),
            _ => vec![],
        } {
            *seen.entry(k.s()).or_insert(0) += 1;
        }
        // Churn: delete keys k400.., add new ones, while the iteration runs.
        c.cmd(&["DEL", &format!("k{}", 400 + round)]);
        c.cmd(&["SET", &format!("new{round}"), "v"]);
        round += 1;
        cursor = parts[0].s();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..400 {
        assert_eq!(
            seen.get(&format!("k{i}")),
            Some(&1),
            "k{i} returned exactly once"
        );
    }
    assert!(round > 50, "COUNT is honoured ({round} calls)");
    assert!(!seen.contains_key("alist"), "MATCH filters");
    let R::Array(Some(parts)) = c.cmd(&["SCAN", "0", "COUNT", "1000", "TYPE", "list"]) else {
        panic!()
    };
    assert_eq!(parts[1], R::bulks(&["alist"]));
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changes() {
    let s = Server::start(&[]);
    let (mut a, mut b) = (s.conn(), s.conn());
    a.cmd(&["SET", "bal", "10"]);
    assert_eq!(a.cmd(&["WATCH", "bal"]), R::ok());
    b.cmd(&["INCR", "bal"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "bal", "0"]);
    assert_eq!(a.cmd(&["EXEC"]), R::Array(None), "conflicting write aborts");
    assert_eq!(a.cmd(&["GET", "bal"]), R::bulk("11"));
    a.cmd(&["WATCH", "bal"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "bal", "0"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        R::Array(Some(vec![R::ok()])),
        "no conflict: runs"
    );
    a.cmd(&["SET", "tmp", "x", "PX", "50"]);
    a.cmd(&["WATCH", "tmp"]);
    std::thread::sleep(Duration::from_millis(120));
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        R::Array(None),
        "expired watched key aborts"
    );
    a.cmd(&["MULTI"]);
    assert_eq!(
        a.cmd(&["WATCH", "x"]),
        R::Err("ERR WATCH inside MULTI is not allowed".into())
    );
    a.cmd(&["DISCARD"]);
}
