//! REST API: token auth, registration, monitoring errors, JSON 404/405.

use super::common::{env, service, Client};
use actix_web::http::StatusCode;

const U: &str = "ff7ba400-e76c-4053-982d-feec42bdef38";
const U32: &str = "ff7ba400e76c4053982dfeec42bdef38";

fn reg_body(uuid: &str, key: &str) -> String {
    format!(r#"{{"uuid":"{uuid}","hmac_key":"{key}","mail":"ops@x.test"}}"#)
}

#[actix_web::test]
async fn register_sensor_with_a_sensor_register_token() {
    let Some(e) = env().await else { return };
    let token = e
        .user("config_generator@register.test", "sensor_register")
        .await;
    let mut c = Client::new(service(&e.state).await);
    let auth = [
        ("Authorization", token.as_str()),
        ("Content-Type", "application/json"),
    ];
    let r = c
        .post_body("/api/v1/add/sensor/register", &auth, &reg_body(U, "k<&>ey"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body, format!("{{\n  \"uuid\": \"{U32}\"\n}}"));
    let key = e
        .meta(&["HGET", &format!("metadata_uuid:{U32}"), "hmac_key"])
        .as_str();
    assert_eq!(key.as_deref(), Some("k&lt;&amp;&gt;ey"));
    assert_eq!(
        e.meta(&["SISMEMBER", "sensor_pending_registration", U32])
            .as_int(),
        Some(1)
    );
    // Again: 409.
    let r = c
        .post_body("/api/v1/add/sensor/register", &auth, &reg_body(U, "x"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body,
        "{\n  \"reason\": \"Sensor already registered\",\n  \"status\": \"error\"\n}"
    );
}

#[actix_web::test]
async fn register_rejects_bad_input_with_json_errors() {
    let Some(e) = env().await else { return };
    let token = e
        .user("config_generator@register.test", "sensor_register")
        .await;
    let mut c = Client::new(service(&e.state).await);
    let auth = [
        ("Authorization", token.as_str()),
        ("Content-Type", "application/json"),
    ];
    let other = "0e4e5ecf-4c1c-4e5d-9d0e-5e1f2a3b4c5d";
    for (body, status, reason) in [
        ("not json", 400, "Malformed JSON body"),
        ("[]", 400, "Malformed JSON body: expected an object"),
        (r#"{"hmac_key":"k"}"#, 400, "Invalid uuid"),
        (r#"{"uuid":"nope","hmac_key":"k"}"#, 400, "Invalid uuid"),
        (
            &format!(r#"{{"uuid":"{other}"}}"#),
            400,
            "Mandatory parameter(s) not provided",
        ),
    ] {
        let r = c
            .post_body("/api/v1/add/sensor/register", &auth, body)
            .await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(v["reason"], reason, "{body}");
        assert_eq!(v["status"], "error");
    }
    // third_party is stored as the string True instead of crashing.
    let body = format!(r#"{{"uuid":"{other}","hmac_key":"k","third_party":true}}"#);
    let r = c
        .post_body("/api/v1/add/sensor/register", &auth, &body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let tp = e
        .meta(&[
            "HGET",
            "metadata_uuid:0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d",
            "third_party",
        ])
        .as_str();
    assert_eq!(tp.as_deref(), Some("True"));
}

#[actix_web::test]
async fn api_tokens_are_checked_and_failures_counted() {
    let Some(e) = env().await else { return };
    let user_token = e.user("u@x.test", "user").await;
    let reg_token = e.user("r@x.test", "sensor_register").await;
    let mut c = Client::new(service(&e.state).await);
    let path = "/api/v1/sensors/monitoring/errors";
    let r = c.get(path).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Authentication needed"));
    // Spaces are removed from the header, as upstream.
    let spaced = format!("{} {}", &user_token[..10], &user_token[10..]);
    let r = c.get_with(path, &[("Authorization", &spaced)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, "[]");
    e.meta(&["SADD", "sensors_monitoring:sensors_error", U32]);
    let r = c.get_with(path, &[("Authorization", &user_token)]).await;
    assert_eq!(r.body, format!("[\n  \"{U32}\"\n]"));
    // A sensor_register token lacks the user role: 403, not counted.
    let r = c.get_with(path, &[("Authorization", &reg_token)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Access Forbidden"));
    // Bad tokens: 401 and counted; at 5 even a good token is refused.
    for bad in ["Bearer x", "a".repeat(41).as_str(), "short"] {
        let r = c.get_with(path, &[("Authorization", bad)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Authentication failed"));
    }
    for _ in 0..2 {
        c.get_with(path, &[("Authorization", "nope")]).await;
    }
    let r = c.get_with(path, &[("Authorization", &user_token)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.body.contains("Max Connection Attempts reached"),
        "{}",
        r.body
    );
    assert_eq!(
        e.store
            .cmd_db(3, &["GET", "failed_login_ip_api:127.0.0.1"])
            .as_str()
            .as_deref(),
        Some("5")
    );
}

#[actix_web::test]
async fn unknown_api_paths_and_methods_are_json() {
    let Some(e) = env().await else { return };
    let mut c = Client::new(service(&e.state).await);
    let r = c.get("/api/v1/nothing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        "{\n  \"reason\": \"404 Not Found\",\n  \"status\": \"error\"\n}"
    );
    let r = c.get("/api/v1/add/sensor/register").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["documentation"],
        "https://d4-project.org#add_sensor_register"
    );
    assert_eq!(
        v["reason"],
        "Method Not Allowed: The method is not allowed for the requested URL"
    );
    let r = c.get("/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.content_type.starts_with("text/html"));
}

#[actix_web::test]
async fn queues_can_be_created_through_the_api() {
    let Some(e) = env().await else { return };
    e.meta(&["SADD", "server:accepted_type", "8"]);
    let token = e.user("u@x.test", "user").await;
    let reg = e.user("r@x.test", "sensor_register").await;
    let mut c = Client::new(service(&e.state).await);
    let path = "/api/v1/add/analyzer/queue";
    let r = c
        .post_body(
            path,
            &[
                ("Authorization", token.as_str()),
                ("Content-Type", "application/json"),
            ],
            r#"{"type": 8, "description": "api"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let q = v["uuid"].as_str().unwrap().to_string();
    assert_eq!(e.meta(&["SISMEMBER", "analyzer:8", &q]).as_int(), Some(1));
    assert_eq!(
        e.meta(&["HGET", &format!("analyzer:{q}"), "description"])
            .as_str()
            .as_deref(),
        Some("api")
    );
    let fixed = "3c0bd52a-4a1b-4e6c-9a2a-7d1f0e9b8c7d";
    let r = c
        .post_body(
            path,
            &[
                ("Authorization", token.as_str()),
                ("Content-Type", "application/json"),
            ],
            &format!(r#"{{"type": "8", "uuid": "{fixed}"}}"#),
        )
        .await;
    assert_eq!(r.body, format!("{{\n  \"uuid\": \"{fixed}\"\n}}"));
    let r = c
        .post_body(
            path,
            &[
                ("Authorization", token.as_str()),
                ("Content-Type", "application/json"),
            ],
            &format!(r#"{{"type": "8", "uuid": "{fixed}"}}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = c
        .post_body(
            path,
            &[
                ("Authorization", token.as_str()),
                ("Content-Type", "application/json"),
            ],
            r#"{"type": 3}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.contains("Invalid type")),
        (StatusCode::BAD_REQUEST, true)
    );
    let r = c
        .post_body(
            path,
            &[
                ("Authorization", token.as_str()),
                ("Content-Type", "application/json"),
            ],
            r#"{"description": "x"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c
        .post_body(
            path,
            &[
                ("Authorization", reg.as_str()),
                ("Content-Type", "application/json"),
            ],
            r#"{"type": 8}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
