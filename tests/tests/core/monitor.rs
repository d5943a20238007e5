//! The monitor of d4-workers, end to end with real d4-server, d4-workers and redis-server:
//! a monitored sensor that stops sending is put in `sensors_monitoring:sensors_error`
//! after its delay, and a local webhook receiver, a local SMTP sink and a syslog socket
//! each get exactly one notice; when it sends again it leaves the set and one recovery
//! notice follows. A full analyzer queue and a queue nobody consumes are each reported
//! once, however many batches arrive meanwhile, and their end once too; a removed
//! queue leaves the alert sets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use d4_core::queues::NewQueue;
use d4_testkit::Reply;

use crate::common::{send, Mode, Sensor, Stack};

const S: &str = "5b0c3c1e9f2a4d6b8c7e1f3a5b7d9e20";
const Q: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// What a receiver got, one entry per delivery.
type Inbox = Arc<Mutex<Vec<String>>>;

/// A tiny HTTP server answering 200 to every request and keeping each body.
fn webhook_receiver() -> (u16, Inbox) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
    let port = l.local_addr().unwrap().port();
    let inbox = Inbox::default();
    let got = inbox.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            if let Some(body) = read_http_body(conn) {
                got.lock().unwrap().push(body);
            }
        }
    });
    (port, inbox)
}

/// Reads one request, answers 200, returns its body.
fn read_http_body(mut conn: TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    String::from_utf8(body).ok()
}

/// A tiny SMTP server accepting every mail and keeping each message (headers and body).
fn smtp_sink() -> (u16, Inbox) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
    let port = l.local_addr().unwrap().port();
    let inbox = Inbox::default();
    let got = inbox.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            if let Some(msg) = smtp_session(conn) {
                got.lock().unwrap().push(msg);
            }
        }
    });
    (port, inbox)
}

/// One SMTP dialogue; the message once `DATA` ended with a lone dot.
fn smtp_session(mut conn: TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(conn.try_clone().ok()?);
    conn.write_all(b"220 sink ESMTP\r\n").ok()?;
    let mut msg = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return msg;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-sink\r\n250 OK\r\n"
        } else if cmd == "DATA" {
            conn.write_all(b"354 go on\r\n").ok()?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).ok()? == 0 || l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            msg = Some(data);
            b"250 queued\r\n"
        } else if cmd == "QUIT" {
            conn.write_all(b"221 bye\r\n").ok()?;
            return msg;
        } else {
            b"250 OK\r\n"
        };
        conn.write_all(reply).ok()?;
    }
}

/// A datagram socket standing in for `/dev/log`.
fn syslog_socket(dir: &std::path::Path) -> (String, Inbox) {
    let path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&path).expect("bind syslog socket");
    let inbox = Inbox::default();
    let got = inbox.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = sock.recv(&mut buf) {
            got.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    });
    (path.display().to_string(), inbox)
}

/// Entries of `inbox` that contain `needle`.
fn count(inbox: &Inbox, needle: &str) -> usize {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains(needle))
        .count()
}

/// Appends `[Notifications]` to the stack's config and starts d4-workers with it.
fn start_workers_with(stack: &mut Stack, notifications: &str) {
    let mut conf = std::fs::read_to_string(stack.conf()).unwrap();
    conf.push_str("\n[Notifications]\n");
    conf.push_str(notifications);
    std::fs::write(stack.conf(), conf).unwrap();
    stack.start_workers();
    let w = stack.workers.as_mut().unwrap();
    assert!(
        w.wait_for_output("Monitor started", Duration::from_secs(10)),
        "{}",
        w.output()
    );
}

fn is_in_error(stack: &Stack) -> bool {
    stack
        .meta
        .cmd(&["SISMEMBER", "sensors_monitoring:sensors_error", S])
        == Reply::Int(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_down_then_recovered_notifies_every_sink_once_each() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (hook_port, hook) = webhook_receiver();
    let (smtp_port, mail) = smtp_sink();
    let (sock, syslog) = syslog_socket(stack.dir.path());
    start_workers_with(
        &mut stack,
        &format!(
            "check_interval = 1\nwebhook_url = http://127.0.0.1:{hook_port}/d4\n\
             smtp_host = 127.0.0.1\nsmtp_port = {smtp_port}\nsmtp_to = ops@example.org\n\
             syslog = yes\nsyslog_socket = {sock}\n"
        ),
    );
    let s = Sensor::new(S);
    let mut c = s.connect(stack.port).await;
    send(&mut c, &s.packet(b"a\n")).await;
    let md = format!("metadata_uuid:{S}");
    stack.wait_until("first packet seen", Duration::from_secs(10), || {
        stack.meta.cmd(&["HEXISTS", &md, "last_seen"]) == Reply::Int(1)
    });
    // Put it under monitoring as the web's form does, with a 2 s delay.
    stack
        .meta
        .cmd(&["HSET", &format!("to_monitor:sensor:{S}"), "delta_time", "2"]);
    stack.meta.cmd(&["SADD", "to_monitor:sensors", S]);

    // While it streams, it is never in error.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        send(&mut c, &s.packet(b"b\n")).await;
        assert!(!is_in_error(&stack), "streaming sensor marked down");
    }
    let last_packet = Instant::now();
    stack.wait_until("sensor in error", Duration::from_secs(10), || {
        is_in_error(&stack)
    });
    let silent = last_packet.elapsed();
    assert!(
        silent >= Duration::from_secs(2),
        "down after only {silent:?}"
    );

    // Several more checks run: still one notice per sink.
    stack.wait_until("down notices", Duration::from_secs(10), || {
        count(&hook, "sensor_down") == 1
            && count(&mail, "sensor_down") == 1
            && count(&syslog, "sensor_down") == 1
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let notice: serde_json::Value = serde_json::from_str(&hook.lock().unwrap()[0]).unwrap();
    assert_eq!(notice["event"], "sensor_down");
    assert_eq!(notice["sensor"], S);
    assert_eq!(count(&hook, "sensor_down"), 1);
    assert_eq!(count(&mail, "sensor_down"), 1);
    assert!(
        count(&mail, "To: ops@example.org") == 1,
        "{:?}",
        mail.lock().unwrap()
    );
    assert_eq!(count(&syslog, "sensor_down"), 1);
    assert!(
        syslog.lock().unwrap()[0].starts_with("<28>1 "),
        "{:?}",
        syslog.lock().unwrap()
    );

    // It sends again: out of the error set, one recovery notice per sink.
    send(&mut c, &s.packet(b"c\n")).await;
    stack.wait_until("sensor recovered", Duration::from_secs(10), || {
        !is_in_error(&stack)
    });
    stack.wait_until("recovery notices", Duration::from_secs(10), || {
        count(&hook, "sensor_recovered") == 1
            && count(&mail, "sensor_recovered") == 1
            && count(&syslog, "sensor_recovered") == 1
    });
    let w = stack.workers.as_mut().unwrap();
    assert!(w.output().contains("is down"), "{}", w.output());
    assert!(w.output().contains("recovered"), "{}", w.output());
    assert_eq!(hook.lock().unwrap().len(), 2, "{:?}", hook.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_unconsumed_queue_notify_once_not_per_batch() {
    let Some(mut stack) = Stack::start(Mode::SharedSecret, false).await else {
        return;
    };
    let (hook_port, hook) = webhook_receiver();
    start_workers_with(
        &mut stack,
        &format!(
            "check_interval = 1\nqueue_not_consumed_delay = 2\n\
             webhook_url = http://127.0.0.1:{hook_port}/d4\n"
        ),
    );
    stack
        .queues()
        .create(&NewQueue {
            format_type: "8".into(),
            uuid: Some(Q.into()),
            max_size: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    let list = format!("analyzer:8:{Q}");
    let s = Sensor::new(S);
    let mut c = s.connect(stack.port).await;
    // Batches keep arriving for 5 s while nothing pops: trimmed at every batch.
    for i in 0..10 {
        let batch: String = (0..10).map(|j| format!("line-{i}-{j}\n")).collect();
        send(&mut c, &s.packet(batch.as_bytes())).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(stack.meta.cmd_db(2, &["LLEN", &list]), Reply::Int(5));
    stack.wait_until("queue alerts", Duration::from_secs(10), || {
        count(&hook, "\"queue_full\"") >= 1 && count(&hook, "\"queue_not_consumed\"") >= 1
    });
    assert_eq!(
        count(&hook, "\"queue_full\""),
        1,
        "{:?}",
        hook.lock().unwrap()
    );
    assert_eq!(
        count(&hook, "\"queue_not_consumed\""),
        1,
        "{:?}",
        hook.lock().unwrap()
    );
    assert_eq!(
        stack
            .meta
            .cmd(&["SMEMBERS", "sensors_monitoring:queue_full"])
            .as_strings(),
        vec![Q.to_string()]
    );
    assert_eq!(
        stack
            .meta
            .cmd(&["SMEMBERS", "sensors_monitoring:queue_not_consumed"])
            .as_strings(),
        vec![Q.to_string()]
    );

    // A consumer drains it: each alert ends once.
    stack.meta.cmd_db(2, &["DEL", &list]);
    stack.wait_until("alerts cleared", Duration::from_secs(10), || {
        count(&hook, "queue_full_cleared") == 1 && count(&hook, "queue_consumed") == 1
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.lock().unwrap().len(), 4, "{:?}", hook.lock().unwrap());
    assert_eq!(
        stack.meta.cmd(&["SCARD", "sensors_monitoring:queue_full"]),
        Reply::Int(0)
    );

    // Full again: a new episode, a new notice; once the queue is removed, it leaves the set.
    let batch: String = (0..10).map(|j| format!("again-{j}\n")).collect();
    send(&mut c, &s.packet(batch.as_bytes())).await;
    stack.wait_until("second full notice", Duration::from_secs(10), || {
        count(&hook, "\"queue_full\"") == 2
    });
    stack.queues().remove(Q).await.unwrap();
    stack.wait_until("removed queue forgotten", Duration::from_secs(10), || {
        stack.meta.cmd(&["SCARD", "sensors_monitoring:queue_full"]) == Reply::Int(0)
    });
}
