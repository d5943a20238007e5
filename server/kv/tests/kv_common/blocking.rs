//! Blocking commands: wake-up on push, FIFO among waiters, timeouts, disconnects that
//! must not swallow elements, `XREAD BLOCK`, and blocking ops inside MULTI.

use std::time::{Duration, Instant};

use super::common::{Server, R};

/// Waits until the server reports `n` blocked clients (no fixed sleeps: robust under load).
fn wait_blocked(s: &Server, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    let t = Instant::now();
    while !s.cmd(&["INFO", "clients"]).s().contains(&want) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "never saw {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn blpop_wakes_on_push_and_pusher_never_sees_the_element() {
    let s = Server::start(&[]);
    let mut waiter = s.conn();
    waiter.send_cmd(&["BLPOP", "q1", "q2", "0"]);
    wait_blocked(&s, 1);
    let mut p = s.conn();
    // The element goes straight to the blocked client: the pusher's next command sees none.
    p.send_cmd(&["RPUSH", "q2", "a", "b"]);
    p.send_cmd(&["LLEN", "q2"]);
    assert_eq!(p.read(), R::Int(2));
    assert_eq!(p.read(), R::Int(1));
    assert_eq!(waiter.read(), R::bulks(&["q2", "a"]));
}

#[test]
fn waiters_are_served_in_blocking_order() {
    let s = Server::start(&[]);
    let mut w1 = s.conn();
    w1.send_cmd(&["BRPOP", "q", "5"]);
    wait_blocked(&s, 1);
    let mut w2 = s.conn();
    w2.send_cmd(&["BRPOP", "q", "5"]);
    wait_blocked(&s, 2);
    s.cmd(&["LPUSH", "q", "first"]);
    assert_eq!(w1.read(), R::bulks(&["q", "first"]));
    s.cmd(&["LPUSH", "q", "second"]);
    assert_eq!(w2.read(), R::bulks(&["q", "second"]));
}

#[test]
fn timeouts_reply_nil() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let t = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "none", "0.2"]), R::Array(None));
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        c.cmd(&["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.1"]),
        R::Bulk(None)
    );
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "100", "STREAMS", "s", "$"]),
        R::Array(None)
    );
    assert_eq!(
        c.cmd(&["BLPOP", "x", "-1"]),
        R::Err("ERR timeout is negative".into())
    );
    assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
}

#[test]
fn disconnected_waiter_does_not_consume() {
    let s = Server::start(&[]);
    let w = s.conn();
    let mut w = w;
    w.send_cmd(&["BRPOP", "q", "0"]);
    wait_blocked(&s, 1);
    drop(w);
    wait_blocked(&s, 0);
    s.cmd(&["LPUSH", "q", "kept"]);
    assert_eq!(s.cmd(&["RPOP", "q"]), R::bulk("kept"));
}

#[test]
fn blmove_and_xread_block_wake_up() {
    let s = Server::start(&[]);
    let mut m = s.conn();
    m.send_cmd(&["BLMOVE", "src", "dst", "RIGHT", "LEFT", "5"]);
    let mut x = s.conn();
    x.send_cmd(&[
        "XREAD", "COUNT", "10", "BLOCK", "5000", "STREAMS", "st", "$",
    ]);
    wait_blocked(&s, 2);
    s.cmd(&["RPUSH", "src", "v"]);
    assert_eq!(m.read(), R::bulk("v"));
    assert_eq!(s.cmd(&["LRANGE", "dst", "0", "-1"]), R::bulks(&["v"]));
    s.cmd(&["XADD", "st", "5-1", "f", "x"]);
    let entry = R::Array(Some(vec![R::bulk("5-1"), R::bulks(&["f", "x"])]));
    let want = R::Array(Some(vec![R::Array(Some(vec![
        R::bulk("st"),
        R::Array(Some(vec![entry])),
    ]))]));
    assert_eq!(x.read(), want);
}

#[test]
fn blocking_pop_inside_multi_does_not_block() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.cmd(&["MULTI"]);
    c.cmd(&["BLPOP", "empty", "0"]);
    assert_eq!(c.cmd(&["EXEC"]), R::Array(Some(vec![R::Array(None)])));
}
