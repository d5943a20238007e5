//! Analyzer queue pages: the tutorial's inline form, the creator, editor, size, flush,
//! remove and the sample preview, checked against the keys in the store.

use super::common::{env, service, Client, Env, PW};
use actix_web::http::StatusCode;

const S1: &str = "ff7ba400e76c4053982dfeec42bdef38";

fn accept(e: &Env) {
    e.meta(&["SADD", "server:accepted_type", "1", "2", "4", "8", "254"]);
    e.meta(&["SADD", "server:accepted_extended_type", "ja3-jl"]);
}

fn created_uuid(location: Option<&str>) -> String {
    let loc = location.expect("redirect");
    let (page, q) = loc.split_once('#').expect("to the queue's row");
    assert_eq!(page, format!("/server_management?created={q}"), "{loc}");
    q.to_string()
}

#[actix_web::test]
async fn tutorial_inline_form_creates_a_type_8_queue() {
    let Some(e) = env().await else { return };
    accept(&e);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    let page = c.get("/server_management").await;
    assert!(
        page.body.contains("Add New Analyzer Queue") && page.body.contains("id=\"generate-uuid\"")
    );
    let q = "3c0bd52a-4a1b-4e6c-9a2a-7d1f0e9b8c7d";
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[
                ("analyzer_type", "8"),
                ("analyzer_uuid", q),
                ("description", "pdns"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(created_uuid(r.location.as_deref()), q);
    assert_eq!(
        e.meta(&["HGET", &format!("analyzer:{q}"), "type"])
            .as_str()
            .as_deref(),
        Some("8")
    );
    assert_eq!(e.meta(&["SISMEMBER", "analyzer:8", q]).as_int(), Some(1));
    // The queue shows with its length going up as items arrive, and back to 0 on flush.
    e.store
        .cmd_db(2, &["LPUSH", &format!("analyzer:8:{q}"), "line1", "line2"]);
    let page = c.get("/server_management").await;
    assert!(page.body.contains(q) && page.body.contains("pdns"));
    assert!(page.body.contains("queue-length\">2<"), "length shown");
    let r = c
        .get(&format!(
            "/get_analyser_sample?type=8&analyzer_uuid={q}&max_line_len=4"
        ))
        .await;
    assert_eq!(r.body, "\"line [...]\\nline [...]\\n\"\n");
    let r = c
        .post(
            &format!("/empty_analyzer_queue?redirect=1&type=8&analyzer_uuid={q}"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        e.store
            .cmd_db(2, &["LLEN", &format!("analyzer:8:{q}")])
            .as_int(),
        Some(0)
    );
    // Max size, then remove.
    let r = c
        .post(
            &format!("/analyzer_change_max_size?analyzer_uuid={q}&redirect=0"),
            &[("max_size_analyzer", "500")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        e.meta(&["HGET", &format!("analyzer:{q}"), "max_size"])
            .as_str()
            .as_deref(),
        Some("500")
    );
    let r = c
        .post(
            &format!("/remove_analyzer?redirect=1&type=8&analyzer_uuid={q}"),
            &[],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/server_management"));
    assert_eq!(
        e.meta(&["EXISTS", &format!("analyzer:{q}")]).as_int(),
        Some(0)
    );
    assert_eq!(
        e.meta(&["SISMEMBER", "all_analyzer_queues", q]).as_int(),
        Some(0)
    );
}

#[actix_web::test]
async fn multipart_creation_without_uuid_generates_one() {
    let Some(e) = env().await else { return };
    accept(&e);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n--B\r\nContent-Disposition: form-data; name=\"analyzer_type\"\r\n\r\n8\r\n--B--\r\n",
        c.csrf
    );
    let r = c
        .post_body(
            "/analyzer_queue/create_queue_post",
            &[("Content-Type", "multipart/form-data; boundary=B")],
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let q = created_uuid(r.location.as_deref());
    assert!(d4_web::util::is_valid_uuid(&q));
    assert_eq!(e.meta(&["SISMEMBER", "analyzer:8", &q]).as_int(), Some(1));
}

#[actix_web::test]
async fn group_queue_creation_and_edit() {
    let Some(e) = env().await else { return };
    accept(&e);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    c.get("/analyzer_queue/create_queue").await;
    let dashed = "ff7ba400-e76c-4053-982d-feec42bdef38";
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[
                ("analyzer_type", "8"),
                ("first_sensor_uuid", dashed),
                ("sensor_x", "not-a-uuid"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("not-a-uuid") && r.body.contains("invalid"));
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[("analyzer_type", "8"), ("first_sensor_uuid", dashed)],
        )
        .await;
    let q = created_uuid(r.location.as_deref());
    assert_eq!(
        e.meta(&["SISMEMBER", "analyzer_uuid_group:8", &q]).as_int(),
        Some(1)
    );
    assert_eq!(
        e.meta(&["SMEMBERS", &format!("analyzer_sensor_group:{q}")])
            .as_strings(),
        vec![S1.to_string()]
    );
    assert_eq!(
        e.meta(&["SISMEMBER", &format!("sensor:queues:8:{S1}"), &q])
            .as_int(),
        Some(1)
    );
    let r = c
        .get(&format!("/analyzer_queue/edit_queue?queue_uuid={q}"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(S1));
    let other = "0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d";
    let r = c
        .post(
            "/analyzer_queue/edit_queue_post",
            &[
                ("queue_uuid", &q),
                ("description", "grp"),
                ("first_sensor_uuid", other),
            ],
        )
        .await;
    assert_eq!(
        r.location,
        Some(format!("/analyzer_queue/edit_queue?queue_uuid={q}"))
    );
    assert_eq!(
        e.meta(&["SMEMBERS", &format!("analyzer_sensor_group:{q}")])
            .as_strings(),
        vec![other.to_string()]
    );
    assert_eq!(
        e.meta(&["HGET", &format!("analyzer:{q}"), "description"])
            .as_str()
            .as_deref(),
        Some("grp")
    );
}

#[actix_web::test]
async fn queue_errors_are_clear() {
    let Some(e) = env().await else { return };
    accept(&e);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    c.get("/analyzer_queue/create_queue").await;
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[("analyzer_type", "3")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Invalid type"));
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[("analyzer_type", "254"), ("analyzer_metatype", "nope")],
        )
        .await;
    assert!(r.body.contains("Invalid extended type"));
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[("analyzer_type", "8"), ("analyzer_uuid", "xyz")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let q = "3c0bd52a-4a1b-4e6c-9a2a-7d1f0e9b8c7d";
    c.post(
        "/analyzer_queue/create_queue_post",
        &[("analyzer_type", "8"), ("analyzer_uuid", q)],
    )
    .await;
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[("analyzer_type", "8"), ("analyzer_uuid", q)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let unknown = "0e4e5ecf-4c1c-4e5d-9d0e-5e1f2a3b4c5d";
    assert_eq!(
        c.get(&format!("/analyzer_queue/edit_queue?queue_uuid={unknown}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get("/analyzer_queue/edit_queue").await.status,
        StatusCode::BAD_REQUEST
    );
    for path in [
        "/empty_analyzer_queue",
        "/remove_analyzer",
        "/analyzer_change_max_size",
    ] {
        let r = c
            .post(
                &format!("{path}?analyzer_uuid={unknown}&max_size_analyzer=5"),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let r = c.post(&format!("{path}?analyzer_uuid=bad"), &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
    let r = c
        .post(
            &format!("/analyzer_change_max_size?analyzer_uuid={q}&max_size_analyzer=0"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c.get("/get_analyser_sample?analyzer_uuid=bad").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The legacy tutorial route, by GET, shows a confirmation and creates nothing.
    let r = c
        .get("/add_new_analyzer?redirect=1&type=8&analyzer_uuid=&analyzer_description=x")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Confirm"));
    let r = c
        .post(
            "/add_new_analyzer?redirect=1&type=8&analyzer_uuid=&analyzer_description=old",
            &[],
        )
        .await;
    let q2 = created_uuid(r.location.as_deref());
    assert_eq!(
        e.meta(&["HGET", &format!("analyzer:{q2}"), "description"])
            .as_str()
            .as_deref(),
        Some("old")
    );
}
