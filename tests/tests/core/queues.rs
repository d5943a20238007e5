//! Analyzer queues (spec §5) against a real redis-server: the exact keys written by each
//! operation, delivery semantics (FIFO by RPOP, group queues, trimming), and the fixed
//! upstream bugs of spec §9 items 26-29.

use bytes::Bytes;
use d4_core::queues::{NewQueue, QueueError, QueueKind, Router};
use d4_testkit::Reply;
use std::time::Duration;

use crate::common::Env;

const Q1: &str = "3f0c5a4e-9b1d-4c2e-8f6a-1b2c3d4e5f60";
const Q2: &str = "7a1b2c3d4e5f4a6b8c9d0e1f2a3b4c5d";
const SENSOR_A: &str = "ff7ba400e76c4053982dfeec42bdef38";
const SENSOR_A_DASHED: &str = "ff7ba400-e76c-4053-982d-feec42bdef38";
const SENSOR_B: &str = "0b4c1f2e3d4a4b5c9d6e7f8091a2b3c4";

fn members(env: &Env, db: u8, key: &str) -> Vec<String> {
    let mut v = env.store.cmd_db(db, &["SMEMBERS", key]).as_strings();
    v.sort();
    v
}

fn hget(env: &Env, key: &str, field: &str) -> Option<String> {
    env.store.cmd(&["HGET", key, field]).as_str()
}

fn rpop_all(env: &Env, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(s) = env.store.cmd_db(2, &["RPOP", key]).as_str() {
        out.push(s);
    }
    out
}

fn lines(v: &[&str]) -> Vec<Bytes> {
    v.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

#[tokio::test]
async fn type_queue_creation_writes_upstream_keys() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.seed_accepted().await;
    let q = env.queues(100);
    let id = q
        .create(&NewQueue {
            format_type: "8".into(),
            uuid: Some(Q1.into()),
            description: Some("pdns".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(id, Q1, "a valid unused uuid is kept as given");
    assert_eq!(
        hget(&env, &format!("analyzer:{Q1}"), "type").as_deref(),
        Some("8")
    );
    assert_eq!(
        hget(&env, &format!("analyzer:{Q1}"), "description").as_deref(),
        Some("pdns")
    );
    assert_eq!(hget(&env, &format!("analyzer:{Q1}"), "max_size"), None);
    assert_eq!(members(&env, 0, "analyzer:8"), vec![Q1]);
    assert_eq!(members(&env, 0, "all:analyzer:format_type"), vec!["8"]);
    assert_eq!(members(&env, 0, "all:analyzer:by:format_type:8"), vec![Q1]);
    assert_eq!(members(&env, 0, "all_analyzer_queues"), vec![Q1]);
    assert!(members(&env, 0, "analyzer_uuid_group:8").is_empty());

    // Same uuid again, and an invalid one: a fresh dashed uuid4 each time.
    for wanted in [Some(Q1), Some("not-a-uuid"), None] {
        let id = q
            .create(&NewQueue {
                format_type: "8".into(),
                uuid: wanted.map(String::from),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_ne!(id, Q1);
        assert!(
            d4_core::proto::is_valid_uuid_v4_str(&id) && id.len() == 36,
            "{id}"
        );
    }
    assert_eq!(members(&env, 0, "analyzer:8").len(), 4);
}

#[tokio::test]
async fn creation_checks_accepted_types() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.seed_accepted().await;
    let q = env.queues(100);
    let mk = |t: &str, ext: Option<&str>| NewQueue {
        format_type: t.into(),
        metatype: ext.map(String::from),
        ..Default::default()
    };
    assert!(matches!(
        q.create(&mk("7", None)).await,
        Err(QueueError::InvalidType)
    ));
    assert!(matches!(
        q.create(&mk("999", None)).await,
        Err(QueueError::InvalidType)
    ));
    assert!(matches!(
        q.create(&mk("254", Some("nope"))).await,
        Err(QueueError::InvalidExtendedType)
    ));
    assert!(matches!(
        q.create(&mk("254", None)).await,
        Err(QueueError::InvalidExtendedType)
    ));
    assert_eq!(QueueError::InvalidType.to_string(), "Invalid type");
    assert_eq!(
        QueueError::InvalidExtendedType.to_string(),
        "Invalid extended type"
    );
    // "2" means 254; a non-integer means 1.
    let id = q.create(&mk("2", Some("ja3-jl"))).await.unwrap();
    assert_eq!(
        hget(&env, &format!("analyzer:{id}"), "type").as_deref(),
        Some("254")
    );
    assert_eq!(
        hget(&env, &format!("analyzer:{id}"), "metatype").as_deref(),
        Some("ja3-jl")
    );
    assert_eq!(members(&env, 0, "analyzer:254:ja3-jl"), vec![id.clone()]);
    assert_eq!(
        members(&env, 0, "all:analyzer:by:extended_type:ja3-jl"),
        vec![id.clone()]
    );
    assert_eq!(
        members(&env, 0, "all:analyzer:extended_type"),
        vec!["ja3-jl"]
    );
    let one = q.create(&mk("pcap", None)).await.unwrap();
    assert_eq!(
        hget(&env, &format!("analyzer:{one}"), "type").as_deref(),
        Some("1")
    );
}

/// Spec §9 item 27: group queues of plain types are indexed where delivery reads.
#[tokio::test]
async fn group_queue_of_plain_type_is_indexed_by_type_and_receives_data() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.seed_accepted().await;
    let q = env.queues(100);
    let id = q
        .create(&NewQueue {
            format_type: "8".into(),
            uuid: Some(Q2.into()),
            sensors: vec![SENSOR_A_DASHED.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(members(&env, 0, "analyzer_uuid_group:8"), vec![Q2]);
    assert!(members(&env, 0, "analyzer:8").is_empty());
    assert_eq!(
        members(&env, 0, &format!("analyzer_sensor_group:{id}")),
        vec![SENSOR_A]
    );
    assert_eq!(
        members(&env, 0, &format!("sensor:queues:8:{SENSOR_A}")),
        vec![Q2]
    );
    assert!(members(&env, 0, &format!("sensor:queues:list:{SENSOR_A}")).is_empty());

    let kind = QueueKind::Plain(8);
    q.deliver(SENSOR_A, &kind, &lines(&["a1", "a2"]))
        .await
        .unwrap();
    q.deliver(SENSOR_B, &kind, &lines(&["b1"])).await.unwrap();
    assert_eq!(
        rpop_all(&env, &format!("analyzer:8:{Q2}")),
        vec!["a1", "a2"]
    );
}

#[tokio::test]
async fn delivery_is_fifo_deduplicated_trimmed_and_stamped() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.seed_accepted().await;
    let q = env.queues(1000);
    q.create(&NewQueue {
        format_type: "8".into(),
        uuid: Some(Q1.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    q.create(&NewQueue {
        format_type: "8".into(),
        uuid: Some(Q2.into()),
        sensors: vec![SENSOR_A.into()],
        ..Default::default()
    })
    .await
    .unwrap();
    // Also list Q1 in sensor A's group set: it must still get each line once.
    env.store
        .cmd(&["SADD", &format!("sensor:queues:8:{SENSOR_A}"), Q1]);
    let kind = QueueKind::Plain(8);
    let t = q.targets(SENSOR_A, &kind).await.unwrap();
    assert_eq!(
        t.iter().map(|t| t.queue.as_str()).collect::<Vec<_>>(),
        vec![Q1, Q2]
    );
    assert!(t.iter().all(|t| t.max_size == 1000));

    let d = q
        .deliver(SENSOR_A, &kind, &lines(&["1", "", "2", "3"]))
        .await
        .unwrap();
    assert_eq!((d.queues, d.lines, d.trimmed), (2, 3, 0));
    assert!(hget(&env, &format!("analyzer:{Q1}"), "last_updated")
        .and_then(|s| s.parse::<f64>().ok())
        .is_some());
    assert_eq!(
        rpop_all(&env, &format!("analyzer:8:{Q1}")),
        vec!["1", "2", "3"]
    );

    // Spec §9 item 26: the list keeps exactly max_size items, the newest.
    assert!(q.edit_max_size(Q1, "3").await.unwrap());
    let mut router = Router::new(q.clone(), Duration::from_secs(60));
    let batch: Vec<String> = (0..5).map(|i| format!("l{i}")).collect();
    let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
    let d = router
        .deliver(SENSOR_A, &kind, &lines(&batch))
        .await
        .unwrap();
    assert_eq!(d.trimmed, 2, "Q1 drops 2, Q2 drops none");
    assert_eq!(
        rpop_all(&env, &format!("analyzer:8:{Q1}")),
        vec!["l2", "l3", "l4"]
    );
    assert_eq!(
        env.store.cmd_db(2, &["LLEN", &format!("analyzer:8:{Q2}")]),
        Reply::Int(8)
    );
}

/// Spec §9 items 28 and 29: extended queues use `<ext>` in sensor sets and lists, and
/// flush/remove reach the real list and every index.
#[tokio::test]
async fn extended_group_queue_edit_flush_remove() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.seed_accepted().await;
    let q = env.queues(100);
    let id = q
        .create(&NewQueue {
            format_type: "254".into(),
            metatype: Some("ja3-jl".into()),
            uuid: Some(Q1.into()),
            sensors: vec![SENSOR_A.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(members(&env, 0, "analyzer_uuid_group:254:ja3-jl"), vec![Q1]);
    assert_eq!(
        members(&env, 0, &format!("sensor:queues:ja3-jl:{SENSOR_A}")),
        vec![Q1]
    );

    q.edit_sensors(&id, &[SENSOR_B.into(), SENSOR_A_DASHED.into()])
        .await
        .unwrap();
    assert_eq!(members(&env, 0, &format!("analyzer_sensor_group:{id}")), {
        let mut v = vec![SENSOR_A.to_string(), SENSOR_B.to_string()];
        v.sort();
        v
    });
    assert_eq!(
        members(&env, 0, &format!("sensor:queues:ja3-jl:{SENSOR_B}")),
        vec![Q1]
    );
    assert!(members(&env, 0, &format!("sensor:queues:254:{SENSOR_B}")).is_empty());
    q.edit_sensors(&id, &[SENSOR_B.into()]).await.unwrap();
    assert!(members(&env, 0, &format!("sensor:queues:ja3-jl:{SENSOR_A}")).is_empty());

    let kind = QueueKind::Extended("ja3-jl".into());
    q.deliver(SENSOR_B, &kind, &lines(&["x", "y"]))
        .await
        .unwrap();
    let list = format!("analyzer:ja3-jl:{Q1}");
    assert_eq!(env.store.cmd_db(2, &["LLEN", &list]), Reply::Int(2));
    q.flush(&id).await.unwrap();
    assert_eq!(env.store.cmd_db(2, &["EXISTS", &list]), Reply::Int(0));

    q.deliver(SENSOR_B, &kind, &lines(&["z"])).await.unwrap();
    assert!(matches!(
        q.remove("nope").await,
        Err(QueueError::InvalidUuid)
    ));
    assert!(matches!(q.remove(Q2).await, Err(QueueError::UnknownQueue)));
    q.remove(&id).await.unwrap();
    assert_eq!(env.store.cmd_db(2, &["EXISTS", &list]), Reply::Int(0));
    for key in [
        format!("analyzer:{Q1}"),
        format!("analyzer_sensor_group:{Q1}"),
        format!("sensor:queues:ja3-jl:{SENSOR_B}"),
        "analyzer_uuid_group:254:ja3-jl".into(),
        "all:analyzer:by:extended_type:ja3-jl".into(),
        "all:analyzer:by:format_type:254".into(),
        "all:analyzer:format_type".into(),
        "all:analyzer:extended_type".into(),
        "all_analyzer_queues".into(),
    ] {
        assert_eq!(
            env.store.cmd(&["EXISTS", &key]),
            Reply::Int(0),
            "{key} left behind"
        );
    }
}

#[tokio::test]
async fn metadata_listing_and_edits() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.seed_accepted().await;
    let q = env.queues(500);
    q.create(&NewQueue {
        format_type: "8".into(),
        uuid: Some(Q1.into()),
        description: Some("first".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    q.create(&NewQueue {
        format_type: "8".into(),
        uuid: Some(Q2.into()),
        sensors: vec![SENSOR_B.into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let info = q.get(Q1).await.unwrap().unwrap();
    assert_eq!(info.last_updated_text(), "Never");
    assert_eq!(
        (info.length, info.size_limit, info.max_size),
        (0, 500, None)
    );
    assert!(!info.is_group);

    q.deliver(SENSOR_B, &QueueKind::Plain(8), &lines(&["a", "b"]))
        .await
        .unwrap();
    assert!(matches!(
        q.edit_max_size(Q1, "x").await,
        Err(QueueError::InvalidMaxSize)
    ));
    assert!(!q.edit_max_size(Q1, "0").await.unwrap());
    assert!(q.edit_max_size(Q1, "42").await.unwrap());
    assert!(!q.edit_description(Q1, "").await.unwrap());
    assert!(q.edit_description(Q1, "second").await.unwrap());
    assert!(!q
        .edit_description("c9a1b2c3-d4e5-4f60-8a1b-2c3d4e5f6071", "x")
        .await
        .unwrap());

    let all = q.list().await.unwrap();
    assert_eq!(all.len(), 2);
    let a = all.iter().find(|i| i.uuid == Q1).unwrap();
    assert_eq!((a.length, a.size_limit, a.max_size), (2, 42, Some(42)));
    assert_eq!(a.description, "second");
    assert_ne!(a.last_updated_text(), "Never");
    let b = all.iter().find(|i| i.uuid == Q2).unwrap();
    assert!(b.is_group);
    assert_eq!(b.sensors, vec![SENSOR_B]);
    assert_eq!(b.kind, QueueKind::Plain(8));
    assert!(q
        .get("c9a1b2c3-d4e5-4f60-8a1b-2c3d4e5f6071")
        .await
        .unwrap()
        .is_none());
}
