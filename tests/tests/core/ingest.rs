//! d4-server rejections (spec §2.5/§2.6), one test each: the connection is dropped, the
//! upstream `Error` field is written (or not, as upstream), the rejected sensor's earlier
//! packets are kept, and another sensor connected at the same time is unaffected.

use std::time::Duration;

use d4_testkit::Reply;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::common::{closed_by_server, send, Mode, Sensor, Stack};

const BAD: &str = "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d";
const GOOD: &str = "0b4c1f2e3d4a4b5c9d6e7f8091a2b3c4";
const WAIT: Duration = Duration::from_secs(5);

/// Entries in all `stream:<ty>:*` streams whose `uuid` field is `uuid`.
pub(crate) fn entries_of(stack: &Stack, ty: u8, uuid: &str) -> usize {
    let keys = stack
        .stream
        .cmd(&["KEYS", &format!("stream:{ty}:*")])
        .as_strings();
    keys.iter()
        .map(|k| match stack.stream.cmd(&["XRANGE", k, "-", "+"]) {
            Reply::Array(Some(entries)) => entries
                .iter()
                .filter(|e| match e {
                    Reply::Array(Some(pair)) => pair
                        .get(1)
                        .map(|f| {
                            f.as_strings()
                                .windows(2)
                                .any(|w| w[0] == "uuid" && w[1] == uuid)
                        })
                        .unwrap_or(false),
                    _ => false,
                })
                .count(),
            _ => 0,
        })
        .sum()
}

fn error_field(stack: &Stack, uuid: &str) -> Option<String> {
    stack
        .meta
        .cmd(&["HGET", &format!("metadata_uuid:{uuid}"), "Error"])
        .as_str()
}

/// A well-behaved sensor connected before the bad one, with one packet accepted.
async fn good_sensor(stack: &Stack) -> (Sensor, TlsStream<TcpStream>) {
    let s = Sensor::new(GOOD);
    let mut c = s.connect(stack.port).await;
    send(&mut c, &s.packet(b"good 1\n")).await;
    stack.wait_until("good packet", WAIT, || entries_of(stack, 8, GOOD) == 1);
    (s, c)
}

/// The good sensor still works after the bad one was rejected.
async fn good_sensor_unaffected(stack: &Stack, s: &Sensor, c: &mut TlsStream<TcpStream>) {
    send(c, &s.packet(b"good 2\n")).await;
    stack.wait_until("good sensor unaffected", WAIT, || {
        entries_of(stack, 8, GOOD) == 2
    });
    assert!(!closed_by_server(c, Duration::from_millis(200)).await);
    assert_eq!(
        stack
            .stream
            .cmd(&["SISMEMBER", "active_connection:8", GOOD]),
        Reply::Int(1)
    );
}

async fn expect_dropped(c: &mut TlsStream<TcpStream>) {
    assert!(
        closed_by_server(c, WAIT).await,
        "connection was not dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hmac_is_rejected_after_earlier_packets_are_kept() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let mut bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    let mut wire = bad.packet(b"kept 1\n");
    wire.extend(bad.packet(b"kept 2\n"));
    bad.key = b"wrong key".to_vec();
    wire.extend(bad.packet(b"forged\n"));
    send(&mut c, &wire).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, BAD).as_deref(),
        Some("Error: HMAC don't match")
    );
    assert_eq!(
        entries_of(&stack, 8, BAD),
        2,
        "packets before the bad one are kept"
    );
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
    stack.wait_until("bad sensor released", WAIT, || {
        stack.stream.cmd(&["SISMEMBER", "active_connection:8", BAD]) == Reply::Int(0)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_packet_with_bad_hmac_never_enters_the_connection_sets() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let mut bad = Sensor::new(BAD);
    bad.key = b"wrong".to_vec();
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    // An unknown uuid gets no sensor hash from an unauthenticated peer (hostile.rs).
    assert_eq!(
        stack.meta.cmd(&["EXISTS", &format!("metadata_uuid:{BAD}")]),
        Reply::Int(0)
    );
    assert_eq!(
        stack.stream.cmd(&["EXISTS", "active_connection:8"]),
        Reply::Int(0)
    );
    assert_eq!(
        stack
            .meta
            .cmd(&["EXISTS", &format!("all_types_by_uuid:{BAD}")]),
        Reply::Int(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_uuid_in_registration_mode() {
    let Some(stack) = Stack::start(Mode::Registration, false).await else {
        return;
    };
    stack.meta.cmd(&["SADD", "registered_uuid", GOOD]);
    let (gs, mut gc) = good_sensor(&stack).await;
    let bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        stack.meta.cmd(&["EXISTS", &format!("metadata_uuid:{BAD}")]),
        Reply::Int(0)
    );
    assert_eq!(entries_of(&stack, 8, BAD), 0);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blacklisted_uuid() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    stack.meta.cmd(&["SADD", "blacklist_uuid", BAD]);
    let bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(error_field(&stack, BAD), None);
    assert_eq!(entries_of(&stack, 8, BAD), 0);
    // A connection that handed nothing to the workers is not left in ended_session.
    assert_eq!(stack.stream.cmd(&["SCARD", "ended_session"]), Reply::Int(0));
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blacklisted_ip_by_uuid_blacklists_the_ip() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    stack.meta.cmd(&["SADD", "blacklist_ip_by_uuid", BAD]);
    let bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        stack.meta.cmd(&["SMEMBERS", "blacklist_ip"]).as_strings(),
        vec!["127.0.0.1"]
    );
    // Any sensor from that IP is now refused.
    let good = Sensor::new(GOOD);
    let mut g = good.connect(stack.port).await;
    send(&mut g, &good.packet(b"y\n")).await;
    expect_dropped(&mut g).await;
    assert_eq!(entries_of(&stack, 8, GOOD), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blacklisted_ip_drops_a_live_sensor_at_its_next_packet() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    // The good sensor's first packet is kept; then its IP is blacklisted: the next
    // batch from that IP drops the connection, nothing already accepted is lost.
    stack.meta.cmd(&["SADD", "blacklist_ip", "127.0.0.1"]);
    send(&mut gc, &gs.packet(b"after\n")).await;
    expect_dropped(&mut gc).await;
    assert_eq!(entries_of(&stack, 8, GOOD), 1);
    assert_eq!(error_field(&stack, GOOD), None);
    stack.meta.cmd(&["SREM", "blacklist_ip", "127.0.0.1"]);
    stack.meta.cmd(&["SADD", "blacklist_ip", "192.0.2.1"]);
    let mut g2 = gs.connect(stack.port).await;
    send(&mut g2, &gs.packet(b"again\n")).await;
    stack.wait_until("accepted again", WAIT, || entries_of(&stack, 8, GOOD) == 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_v4_uuid() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let v1 = "a1b2c3d4e5f61a7b8c9d0e1f2a3b4c5d";
    let bad = Sensor::new(v1);
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        stack.meta.cmd(&["EXISTS", &format!("metadata_uuid:{v1}")]),
        Reply::Int(0)
    );
    assert_eq!(entries_of(&stack, 8, v1), 0);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_packet_is_refused_at_its_header() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    // Exactly the limit is accepted.
    send(&mut c, &bad.packet(&vec![b'a'; 1_000_000])).await;
    stack.wait_until("1 MB packet", WAIT, || entries_of(&stack, 8, BAD) == 1);
    // One byte more: only the header is sent; the server refuses without waiting.
    let big = bad.packet(&vec![b'b'; 1_000_001]);
    send(&mut c, &big[..62]).await;
    expect_dropped(&mut c).await;
    assert_eq!(error_field(&stack, BAD), None);
    assert_eq!(entries_of(&stack, 8, BAD), 1);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_not_accepted() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let mut bad = Sensor::new(BAD);
    bad.ty = 5;
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(error_field(&stack, BAD), None);
    assert_eq!(entries_of(&stack, 5, BAD), 0);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_uuid_and_type() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let mut c = gs.connect(stack.port).await;
    send(&mut c, &gs.packet(b"dup\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, GOOD).as_deref(),
        Some("Error: This UUID is using the same UUID for one type=8")
    );
    // The first connection keeps its place (and its next packet clears the Error).
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
    assert_eq!(error_field(&stack, GOOD), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_254_first_type_change_and_uuid_change() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let mut bad = Sensor::new(BAD);
    bad.ty = 254;
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x")).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, BAD).as_deref(),
        Some("Error: a type 2 packet must be sent, type=254")
    );

    bad.ty = 8;
    let mut c = bad.connect(stack.port).await;
    let mut wire = bad.packet(b"ok\n");
    bad.ty = 3;
    stack.meta.cmd(&["SADD", "server:accepted_type", "3"]);
    wire.extend(bad.packet(b"changed\n"));
    send(&mut c, &wire).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, BAD).as_deref(),
        Some("Error: Unexpected type change type=8, new type=3")
    );
    assert_eq!(entries_of(&stack, 8, BAD), 1);

    bad.ty = 8;
    let other = "c0ffee00c0ff4eee8eee0000c0ffee00";
    let mut c = bad.connect(stack.port).await;
    let mut wire = bad.packet(b"ok\n");
    wire.extend(Sensor::new(other).packet(b"other\n"));
    send(&mut c, &wire).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, other).as_deref(),
        Some(format!("Error: The uuid change, new_uuid={other}").as_str())
    );
    assert_eq!(entries_of(&stack, 8, BAD), 2);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_limit_is_back_pressure() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    stack
        .meta
        .cmd(&["HSET", "stream_max_size_by_uuid", BAD, "3"]);
    let bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    let wire: Vec<u8> = (0..5)
        .flat_map(|i| bad.packet(format!("{i}\n").as_bytes()))
        .collect();
    send(&mut c, &wire).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, BAD).as_deref(),
        Some("Error: stream exceed max entries limit")
    );
    assert_eq!(entries_of(&stack, 8, BAD), 3);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_disconnects_and_blacklists_for_30_seconds() {
    let Some(stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (gs, mut gc) = good_sensor(&stack).await;
    let bad = Sensor::new(BAD);
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    stack.wait_until("accepted", WAIT, || entries_of(&stack, 8, BAD) == 1);
    // No traffic needed: the server polls kick requests.
    stack.stream.cmd(&["SADD", "server:sensor_to_kick", BAD]);
    expect_dropped(&mut c).await;
    assert_eq!(
        stack
            .stream
            .cmd(&["GET", &format!("temp_blacklist_uuid:{BAD}")])
            .as_str()
            .as_deref(),
        Some("some random string")
    );
    let ttl = stack
        .stream
        .cmd(&["TTL", &format!("temp_blacklist_uuid:{BAD}")])
        .as_int()
        .unwrap();
    assert!((1..=30).contains(&ttl), "ttl {ttl}");
    stack.wait_until("kick request removed", WAIT, || {
        stack.stream.cmd(&["EXISTS", "server:sensor_to_kick"]) == Reply::Int(0)
    });
    let mut c = bad.connect(stack.port).await;
    send(&mut c, &bad.packet(b"y\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(
        error_field(&stack, BAD).as_deref(),
        Some("Error: This UUID is temporarily blacklisted")
    );
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_state_is_cleaned_at_start() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (_gs, mut gc) = good_sensor(&stack).await;
    // Crash the server (SIGKILL): its sessions stay listed in the store.
    if let Some(mut p) = stack.server.take() {
        p.kill();
    }
    let _ = closed_by_server(&mut gc, WAIT).await;
    assert_eq!(
        stack
            .stream
            .cmd(&["SISMEMBER", "active_connection:8", GOOD]),
        Reply::Int(1)
    );
    stack.start_server();
    assert_eq!(
        stack.stream.cmd(&["EXISTS", "active_connection:8"]),
        Reply::Int(0)
    );
    assert_eq!(stack.stream.cmd(&["SCARD", "ended_session"]), Reply::Int(1));
    // The sensor reconnects without a duplicate rejection.
    let gs = Sensor::new(GOOD);
    let mut c = gs.connect(stack.port).await;
    send(&mut c, &gs.packet(b"back\n")).await;
    stack.wait_until("reconnected", WAIT, || entries_of(&stack, 8, GOOD) == 2);
    assert_eq!(error_field(&stack, GOOD), None);
}

/// Default `server_host = ::` is dual-stack: IPv4 peers are keyed as plain IPv4, IPv6
/// peers as IPv6, and blacklisting one address leaves the other alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_blacklist_of_one_ip_leaves_the_other() {
    let Some(stack) = Stack::start_on(Mode::SharedSecret, false, "::").await else {
        return;
    };
    if std::net::TcpStream::connect(("::1", stack.port)).is_err() {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    }
    assert!(stack
        .server
        .as_ref()
        .unwrap()
        .output()
        .contains(&format!("[::]:{}", stack.port)));
    stack.meta.cmd(&["SADD", "blacklist_ip", "::1"]);
    let (gs, mut gc) = good_sensor(&stack).await;
    let bad = Sensor::new(BAD);
    let mut c = crate::common::connect_tls_to("::1", stack.port).await;
    send(&mut c, &bad.packet(b"x\n")).await;
    expect_dropped(&mut c).await;
    assert_eq!(entries_of(&stack, 8, BAD), 0);
    good_sensor_unaffected(&stack, &gs, &mut gc).await;
    let ips = stack
        .meta
        .cmd(&["LRANGE", &format!("list_uuid_ip:{GOOD}"), "0", "-1"])
        .as_strings();
    assert!(ips[0].starts_with("127.0.0.1-"), "{ips:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sessions_and_releases_their_state() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (_gs, mut gc) = good_sensor(&stack).await;
    let mut server = stack.server.take().unwrap();
    assert_eq!(
        server.terminate(Duration::from_secs(15)),
        Some(0),
        "{}",
        server.output()
    );
    assert!(closed_by_server(&mut gc, WAIT).await);
    assert_eq!(
        stack.stream.cmd(&["EXISTS", "active_connection"]),
        Reply::Int(0)
    );
    assert_eq!(
        stack.stream.cmd(&["EXISTS", "active_connection:8"]),
        Reply::Int(0)
    );
    assert_eq!(stack.stream.cmd(&["SCARD", "ended_session"]), Reply::Int(1));
    assert_eq!(
        entries_of(&stack, 8, GOOD),
        1,
        "accepted data stays for the workers"
    );
}

/// Regression: with its stores gone, d4-server used to wait for a Redis command timeout
/// (kick poll) before honouring SIGTERM. A clean stop must not depend on the stores.
#[tokio::test]
async fn sigterm_with_the_stores_down_exits_promptly() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    stack.stream.proc.kill();
    stack.meta.proc.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut server = stack.server.take().unwrap();
    assert!(
        server.terminate(Duration::from_secs(12)).is_some(),
        "d4-server did not exit within 12 s of SIGTERM with its stores down:\n{}",
        server.output()
    );
}
