//! Types 2 and 254 end to end: a meta header split over type-2 packets, the switch to
//! 254, lines delivered to the extended type's queue, and the worker's rejection of an
//! unsupported extended type (spec §4.3, §2.5 m).

use std::time::Duration;

use d4_core::queues::NewQueue;
use d4_testkit::Reply;

use crate::common::{closed_by_server, send, Mode, Sensor, Stack};

const S: &str = "ff7ba400e76c4053982dfeec42bdef38";
const Q: &str = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_header_then_extended_lines_reach_the_ext_queue() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    stack
        .meta
        .cmd(&["SADD", "server:accepted_extended_type", "d4-telemetry"]);
    stack
        .queues()
        .create(&NewQueue {
            format_type: "2".into(),
            metatype: Some("d4-telemetry".into()),
            uuid: Some(Q.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut s = Sensor::new(S);
    s.ty = 2;
    let mut c = s.connect(stack.port).await;
    let header = br#"{"type": "d4-telemetry", "encoding": "utf-8",
 "tags": ["tlp:white"]}"#;
    let mut wire = s.packet(&header[..20]);
    wire.extend(s.packet(&header[20..]));
    s.ty = 254;
    wire.extend(s.packet(b"{\"a\": 1}\n{\"b\""));
    wire.extend(s.packet(b": 2}\n{\"c\": 3}"));
    send(&mut c, &wire).await;
    stack.wait_until("extended type active", Duration::from_secs(10), || {
        stack
            .stream
            .cmd(&["SMEMBERS", &format!("active_connection_extended_type:{S}")])
            .as_strings()
            == vec!["d4-telemetry"]
    });
    assert_eq!(
        stack.stream.cmd(&["SISMEMBER", "active_connection:254", S]),
        Reply::Int(1)
    );
    assert_eq!(
        stack.stream.cmd(&["EXISTS", "active_connection:2"]),
        Reply::Int(0)
    );
    drop(c);
    let list = format!("analyzer:d4-telemetry:{Q}");
    stack.wait_until("3 items queued", Duration::from_secs(15), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(3)
    });
    let items: Vec<String> = (0..3)
        .filter_map(|_| stack.meta.cmd_db(2, &["RPOP", &list]).as_str())
        .collect();
    assert_eq!(items, vec![r#"{"a": 1}"#, r#"{"b": 2}"#, r#"{"c": 3}"#]);
    assert_eq!(
        stack
            .meta
            .cmd(&["SMEMBERS", &format!("all_extended_types_by_uuid:{S}")])
            .as_strings(),
        vec!["d4-telemetry"]
    );
    let mut types = stack
        .meta
        .cmd(&["SMEMBERS", &format!("all_types_by_uuid:{S}")])
        .as_strings();
    types.sort();
    assert_eq!(types, vec!["2", "254"]);
    assert!(stack
        .meta
        .cmd(&[
            "HGET",
            &format!("metadata_extended_type_by_uuid:{S}:d4-telemetry"),
            "last_seen"
        ])
        .as_str()
        .is_some());
    stack.wait_until("session cleaned", Duration::from_secs(10), || {
        stack
            .stream
            .cmd(&["KEYS", "stream:*"])
            .as_strings()
            .is_empty()
            && stack
                .stream
                .cmd(&["EXISTS", &format!("active_connection_extended_type:{S}")])
                == Reply::Int(0)
    });
    let files: Vec<String> = walk(&stack.data().join(S).join("254"));
    assert!(
        files
            .iter()
            .any(|f| f.contains("/d4-telemetry/") && f.ends_with(".json")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with(".txt.gz")), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_extended_type_is_flagged_and_the_session_refused() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    let mut s = Sensor::new(S);
    s.ty = 2;
    let mut c = s.connect(stack.port).await;
    send(&mut c, &s.packet(br#"{"type": "nope"}"#)).await;
    stack.wait_until("worker error", Duration::from_secs(10), || {
        stack
            .meta
            .cmd(&["HGET", &format!("metadata_uuid:{S}"), "Error"])
            .as_str()
            .as_deref()
            == Some("Error: Type=2, Unsupported extended_type: nope")
    });
    // The next header of that session is refused (Error:IncorrectType).
    s.ty = 254;
    send(&mut c, &s.packet(b"data\n")).await;
    assert!(closed_by_server(&mut c, Duration::from_secs(5)).await);
    stack.wait_until("flag cleared", Duration::from_secs(5), || {
        stack.stream.cmd(&["SCARD", "Error:IncorrectType"]) == Reply::Int(0)
    });
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ja3_jl_lines_become_saved_json_files_whose_paths_are_queued() {
    let Some(stack) = Stack::start(Mode::SharedSecret, true).await else {
        return;
    };
    stack
        .queues()
        .create(&NewQueue {
            format_type: "254".into(),
            metatype: Some("ja3-jl".into()),
            uuid: Some(Q.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut s = Sensor::new(S);
    s.ty = 2;
    let mut c = s.connect(stack.port).await;
    let mut wire = s.packet(br#"{"type": "ja3-jl"}"#);
    s.ty = 254;
    wire.extend(s.packet(
        b"{\"Timestamp\": \"1703350733\", \"Certificates\": [{\"Raw\": \"MAMCAQE=\"}]}\nnot json\n",
    ));
    send(&mut c, &wire).await;
    drop(c);
    let list = format!("analyzer:ja3-jl:{Q}");
    stack.wait_until("path queued", Duration::from_secs(15), || {
        stack.meta.cmd_db(2, &["LLEN", &list]) == Reply::Int(1)
    });
    let path = stack.meta.cmd_db(2, &["RPOP", &list]).as_str().unwrap();
    assert_eq!(
        path,
        stack
            .data()
            .join("datas/ja3-jl/jsons/1703350733.json")
            .to_string_lossy()
    );
    let certs = walk(&stack.data().join("datas/ja3-jl/certs"));
    assert_eq!(certs.len(), 1, "{certs:?}");
}
