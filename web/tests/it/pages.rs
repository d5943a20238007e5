//! Every page renders for its role with seeded data; bad input is a clear 4xx, never a 500.

use super::common::{env, service, Client, PW};
use actix_web::http::StatusCode;

const U32: &str = "ff7ba400e76c4053982dfeec42bdef38";

fn seed(e: &super::common::Env) {
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    e.meta(&["ZADD", &format!("daily_uuid:{today}"), "42", U32]);
    e.meta(&["ZADD", &format!("daily_type:{today}"), "42", "8"]);
    e.meta(&["ZADD", &format!("stat_uuid_type:{today}:{U32}"), "40", "8"]);
    e.meta(&[
        "HSET",
        &format!("metadata_uuid:{U32}"),
        "first_seen",
        "1700000000",
        "last_seen",
        "1700000100",
        "description",
        "<b>edge</b>",
    ]);
    e.meta(&["SADD", &format!("all_types_by_uuid:{U32}"), "8", "254"]);
    e.meta(&[
        "SADD",
        &format!("all_extended_types_by_uuid:{U32}"),
        "ja3-jl",
    ]);
    e.meta(&[
        "HSET",
        &format!("metadata_type_by_uuid:{U32}:8"),
        "first_seen",
        "1700000000",
        "last_seen",
        "1700000100",
    ]);
    e.meta(&[
        "LPUSH",
        &format!("list_uuid_ip:{U32}"),
        "127.0.0.1-20240102030405",
    ]);
    e.meta(&["SADD", "server:accepted_type", "1", "2", "4", "8", "254"]);
    e.meta(&["SADD", "server:accepted_extended_type", "ja3-jl"]);
    e.meta(&[
        "SADD",
        "sensor_pending_registration",
        "0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d",
    ]);
    e.meta(&["SADD", "registered_uuid", U32]);
    e.meta(&["SADD", "blacklist_ip", "10.0.0.1"]);
    e.meta(&["SADD", "blacklist_uuid", "0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d"]);
    e.store.cmd_db(4, &["SADD", "active_connection", U32]);
    e.store.cmd_db(4, &["SADD", "active_connection:8", U32]);
}

#[actix_web::test]
async fn every_page_renders_for_an_admin() {
    let Some(e) = env().await else { return };
    seed(&e);
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    for p in [
        "/",
        "/sensors_status",
        "/sensors_status?active_connection_filter=True",
        &format!("/uuid_management?uuid={U32}"),
        "/server_management",
        "/server_management?blacklisted_ip=1&unblacklisted_uuid=2",
        "/blacklisted_ip",
        "/blacklisted_uuid?page=9",
        "/server/registered_sensor",
        "/server/pending_sensor",
        &format!("/sensors/monitoring/add?uuid={U32}"),
        "/settings/edit_profile",
        "/settings/create_user",
        "/settings/create_user?user_id=admin%40x.test",
        "/settings/users_list",
        "/analyzer_queue/create_queue",
    ] {
        let r = c.get(p).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
        assert!(r.body.contains("Log Out"), "{p}");
        assert!(
            !r.body.contains("<b>edge</b>"),
            "{p}: unescaped description"
        );
    }
    let r = c.get("/").await;
    assert!(
        r.body.contains(U32) && r.body.contains("<svg"),
        "chart lists the sensor"
    );
    let r = c.get("/sensors_status").await;
    assert!(r.body.contains("✓ Connected") && r.body.contains("ja3-jl"));
    let r = c.get(&format!("/uuid_management?uuid={U32}")).await;
    assert!(r.body.contains("127.0.0.1") && r.body.contains("2024-01-02 03:04:05"));
    e.meta(&["SET", "server:hmac_default_key", "s3cret-default"]);
    let r = c.get(&format!("/uuid_management?uuid={U32}")).await;
    assert!(
        r.body.contains("s3cret-default"),
        "admins see the default key"
    );
    e.user("plain@x.test", "user").await;
    let mut u = Client::new(service(&e.state).await);
    u.login("plain@x.test", PW).await;
    let r = u.get(&format!("/uuid_management?uuid={U32}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("s3cret-default"), "users do not");
}

#[actix_web::test]
async fn json_feeds_match_upstream_shapes() {
    let Some(e) = env().await else { return };
    seed(&e);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    let r = c.get("/_json_daily_uuid_stats").await;
    assert_eq!(r.body, format!("[{{\"key\":\"{U32}\",\"value\":42}}]\n"));
    let r = c.get("/_json_daily_type_stats").await;
    assert_eq!(
        r.body,
        "[{\"key\":\"8: passivedns CSV stream\",\"value\":42}]\n"
    );
    let r = c
        .get(&format!("/get_uuid_type_history_json?uuid_sensor={U32}"))
        .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(7));
    assert_eq!(v[6]["8"], 40.0);
    assert_eq!(v[0]["8"], 0);
    let r = c.get("/get_uuid_type_history_json?uuid_sensor=bad").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::BAD_REQUEST, "\"Incorrect UUID\"\n")
    );
    let r = c
        .get(&format!(
            "/get_uuid_stats_history_json?uuid_sensor={U32}&stats=total_size"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "missing data dir is not a 500");
    let r = c.get("/generate_uuid").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(d4_web::util::is_valid_uuid(v["uuid"].as_str().unwrap()));
    let r = c.get("/sensors/monitoring/errors").await;
    assert_eq!(r.body, "[]");
    let r = c.get("/show_active_uuid?show_active_connection=True").await;
    assert_eq!(
        r.location.as_deref(),
        Some("/sensors_status?active_connection_filter=False")
    );
    let r = c.get("/show_active_uuid").await;
    assert_eq!(
        r.location.as_deref(),
        Some("/sensors_status?active_connection_filter=True")
    );
}

#[actix_web::test]
async fn sensor_actions_write_upstream_keys() {
    let Some(e) = env().await else { return };
    seed(&e);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    let dashed = "ff7ba400-e76c-4053-982d-feec42bdef38";
    let back = Some(format!("/uuid_management?uuid={U32}"));
    let r = c
        .post(
            "/uuid_change_stream_max_size",
            &[("uuid", dashed), ("max_uuid_stream", "500")],
        )
        .await;
    assert_eq!(r.location, back);
    assert_eq!(
        e.meta(&["HGET", "stream_max_size_by_uuid", U32])
            .as_str()
            .as_deref(),
        Some("500")
    );
    let r = c
        .post("/set_uuid_hmac_key", &[("uuid", U32), ("key", "a'b")])
        .await;
    assert_eq!(r.location, back);
    assert_eq!(
        e.meta(&["HGET", &format!("metadata_uuid:{U32}"), "hmac_key"])
            .as_str()
            .as_deref(),
        Some("a&#39;b")
    );
    let r = c
        .post(
            "/uuid_change_description",
            &[("uuid", U32), ("description", "rack 4")],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "null\n"));
    let r = c
        .post(
            "/sensors/monitoring/add_post",
            &[("uuid", dashed), ("delta_time", "60")],
        )
        .await;
    assert_eq!(r.location, Some(format!("/uuid_management?uuid={U32}")));
    assert_eq!(
        e.meta(&["HGET", &format!("to_monitor:sensor:{U32}"), "delta_time"])
            .as_str()
            .as_deref(),
        Some("60")
    );
    assert_eq!(
        e.meta(&["SISMEMBER", "to_monitor:sensors", U32]).as_int(),
        Some(1)
    );
    let r = c.post("/sensors/monitoring/delete", &[("uuid", U32)]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        e.meta(&["EXISTS", &format!("to_monitor:sensor:{U32}")])
            .as_int(),
        Some(0)
    );
    let r = c
        .post("/blacklist_uuid?redirect=0", &[("uuid", dashed)])
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/server_management?blacklisted_uuid=1")
    );
    assert_eq!(
        e.meta(&["SISMEMBER", "blacklist_uuid", U32]).as_int(),
        Some(1)
    );
    let r = c.post("/blacklist_uuid?redirect=0", &[("uuid", U32)]).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/server_management?blacklisted_uuid=2")
    );
    let r = c
        .post("/unblacklist_uuid?redirect=1", &[("uuid", U32)])
        .await;
    assert_eq!(r.location, back);
    let r = c
        .post("/blacklist_ip?redirect=0", &[("ip", "10.1.0.0/30")])
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/server_management?blacklisted_ip=1")
    );
    assert_eq!(
        e.meta(&["SISMEMBER", "blacklist_ip", "10.1.0.3"]).as_int(),
        Some(1)
    );
    let r = c
        .post("/blacklist_ip?redirect=0", &[("ip", "10.0.0.0/8")])
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/server_management?blacklisted_ip=3")
    );
    let r = c
        .post("/unblacklist_ip?page=1", &[("ip", "10.0.0.1")])
        .await;
    assert_eq!(r.location.as_deref(), Some("/blacklisted_ip?page=1"));
    let r = c.post("/blacklist_ip_by_uuid", &[("uuid", U32)]).await;
    assert_eq!(r.location, back);
    assert_eq!(
        e.meta(&["SISMEMBER", "blacklist_ip_by_uuid", U32]).as_int(),
        Some(1)
    );
    let r = c
        .post("/add_accepted_type?redirect=1", &[("type", "3")])
        .await;
    assert_eq!(r.location.as_deref(), Some("/server_management"));
    assert_eq!(
        e.meta(&["SISMEMBER", "server:accepted_type", "3"]).as_int(),
        Some(1)
    );
    let r = c
        .post(
            "/add_accepted_type",
            &[("type", "254"), ("extended_type_name", "maltrail")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        e.meta(&["SISMEMBER", "server:accepted_extended_type", "maltrail"])
            .as_int(),
        Some(1)
    );
    c.post(
        "/remove_accepted_extended_type",
        &[("type_name", "maltrail")],
    )
    .await;
    assert_eq!(
        e.meta(&["SISMEMBER", "server:accepted_extended_type", "maltrail"])
            .as_int(),
        Some(0)
    );
}

#[actix_web::test]
async fn bad_input_is_a_clear_4xx_never_a_500() {
    let Some(e) = env().await else { return };
    seed(&e);
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    let gets = [
        "/uuid_management",
        "/uuid_management?uuid=xyz",
        "/uuid_management?uuid=FF7BA400E76C4053982DFEEC42BDEF38",
        "/sensors/monitoring/add",
        "/whois_data?ip=not-an-ip",
        "/settings/edit_user",
        "/uuid_management?uuid=%ZZ",
    ];
    for p in gets {
        let r = c.get(p).await;
        assert!(r.status.is_client_error(), "{p}: {}", r.status);
    }
    let posts: &[(&str, &[(&str, &str)])] = &[
        ("/kick_uuid", &[]),
        ("/kick_uuid", &[("uuid", "nope")]),
        (
            "/uuid_change_stream_max_size",
            &[("uuid", U32), ("max_uuid_stream", "-1")],
        ),
        ("/uuid_change_stream_max_size", &[("uuid", U32)]),
        ("/set_uuid_hmac_key", &[("uuid", "x"), ("key", "k")]),
        ("/set_uuid_hmac_key", &[("uuid", U32)]),
        ("/uuid_change_description", &[("uuid", U32)]),
        (
            "/uuid_change_description",
            &[("uuid", "x"), ("description", "d")],
        ),
        ("/blacklist_ip", &[("ip", "300.1.1.1")]),
        ("/blacklist_ip", &[("ip", "10.0.0.1/8")]),
        ("/blacklist_uuid", &[("uuid", "x")]),
        ("/blacklist_ip_by_uuid", &[]),
        ("/add_accepted_type", &[("type", "x")]),
        ("/add_accepted_type", &[("type", "99")]),
        ("/add_accepted_type", &[("type", "254")]),
        ("/remove_accepted_type", &[]),
        ("/remove_accepted_extended_type", &[]),
        ("/server/approve_sensor", &[]),
        ("/server/approve_sensor", &[("uuid", U32)]),
        ("/server/delete_pending_sensor", &[("uuid", U32)]),
        (
            "/server/delete_registered_sensor",
            &[("uuid", "0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d")],
        ),
        (
            "/sensors/monitoring/add_post",
            &[("uuid", U32), ("delta_time", "0")],
        ),
        (
            "/sensors/monitoring/add_post",
            &[("uuid", U32), ("delta_time", "x")],
        ),
        ("/settings/new_token_user", &[("user_id", "ghost@x.test")]),
        ("/settings/delete_user", &[("user_id", "ghost@x.test")]),
        (
            "/settings/create_user_post",
            &[("username", "bad"), ("user_role", "user")],
        ),
        (
            "/settings/create_user_post",
            &[("username", "a@b.cd"), ("user_role", "root")],
        ),
        (
            "/settings/create_user_post",
            &[
                ("username", "a@b.cd"),
                ("user_role", "user"),
                ("password1", "Abcdefgh1234"),
            ],
        ),
        (
            "/change_password",
            &[
                ("password1", &"Aa1".repeat(40)),
                ("password2", &"Aa1".repeat(40)),
            ],
        ),
    ];
    for (p, form) in posts {
        let r = c.post(p, form).await;
        assert!(
            r.status.is_client_error(),
            "{p} {form:?}: {} {}",
            r.status,
            r.body
        );
    }
    let r = c
        .post_body("/kick_uuid", &[("Content-Type", "text/xml")], "<x/>")
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[actix_web::test]
async fn registration_administration() {
    let Some(e) = env().await else { return };
    seed(&e);
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    let p = "0e4e5ecf4c1c4e5d9d0e5e1f2a3b4c5d";
    let r = c
        .post(&format!("/server/approve_sensor?uuid={p}"), &[])
        .await;
    assert_eq!(r.location.as_deref(), Some("/server/pending_sensor"));
    assert_eq!(
        e.meta(&["SISMEMBER", "registered_uuid", p]).as_int(),
        Some(1)
    );
    assert_eq!(
        e.meta(&["SISMEMBER", "sensor_pending_registration", p])
            .as_int(),
        Some(0)
    );
    let r = c
        .post(&format!("/server/approve_sensor?uuid={p}"), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("Sensor already approved"));
    let r = c
        .post(&format!("/server/delete_registered_sensor?uuid={p}"), &[])
        .await;
    assert_eq!(r.location.as_deref(), Some("/server/registered_sensor"));
    assert_eq!(
        e.meta(&["SISMEMBER", "registered_uuid", p]).as_int(),
        Some(0)
    );
}

#[actix_web::test]
async fn user_administration_keeps_upstream_layout() {
    let Some(e) = env().await else { return };
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    c.get("/settings/create_user").await;
    let r = c
        .post(
            "/settings/create_user_post",
            &[("username", "new@x.test"), ("user_role", "admin")],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/settings/users_list"),
        "{}",
        r.body
    );
    assert!(
        !r.location.unwrap_or_default().contains("password"),
        "no password in URLs"
    );
    let page = c.get("/settings/users_list").await;
    assert!(page.body.contains("User Created") && page.body.contains("new@x.test"));
    let again = c.get("/settings/users_list").await;
    assert!(
        !again.body.contains("User Created"),
        "the password is shown once"
    );
    let roles = |id: &str| -> Vec<String> {
        ["admin", "user", "sensor_register"]
            .iter()
            .filter(|r| {
                e.store
                    .cmd_db(1, &["SISMEMBER", &format!("user_role:{r}"), id])
                    .as_int()
                    == Some(1)
            })
            .map(|r| r.to_string())
            .collect()
    };
    assert_eq!(roles("new@x.test"), ["admin", "user", "sensor_register"]);
    assert_eq!(
        e.store
            .cmd_db(1, &["HGET", "user_metadata:new@x.test", "change_passwd"])
            .as_str()
            .as_deref(),
        Some("True")
    );
    let token = e
        .store
        .cmd_db(1, &["HGET", "user_metadata:new@x.test", "token"])
        .as_str()
        .unwrap();
    assert_eq!(
        e.store
            .cmd_db(1, &["HGET", "user:tokens", &token])
            .as_str()
            .as_deref(),
        Some("new@x.test")
    );
    // Demotion recomputes memberships (upstream emptied them all).
    c.post(
        "/settings/create_user_post",
        &[("username", "new@x.test"), ("user_role", "sensor_register")],
    )
    .await;
    assert_eq!(roles("new@x.test"), ["sensor_register"]);
    c.post(
        "/settings/create_user_post",
        &[("username", "new@x.test"), ("user_role", "user")],
    )
    .await;
    assert_eq!(roles("new@x.test"), ["user", "sensor_register"]);
    assert_eq!(
        e.store
            .cmd_db(1, &["HGET", "user_metadata:new@x.test", "role"])
            .as_str()
            .as_deref(),
        Some("user")
    );
    // New token for a user, then delete.
    c.post("/settings/new_token_user?user_id=new%40x.test", &[])
        .await;
    assert_eq!(
        e.store
            .cmd_db(1, &["HEXISTS", "user:tokens", &token])
            .as_int(),
        Some(0)
    );
    c.post("/settings/delete_user?user_id=new%40x.test", &[])
        .await;
    assert!(roles("new@x.test").is_empty());
    assert_eq!(
        e.store
            .cmd_db(1, &["EXISTS", "user_metadata:new@x.test"])
            .as_int(),
        Some(0)
    );
    assert_eq!(
        e.store
            .cmd_db(1, &["HEXISTS", "user:all", "new@x.test"])
            .as_int(),
        Some(0)
    );
}

#[actix_web::test]
async fn long_sensor_lists_are_paged_and_filtered() {
    let Some(e) = env().await else { return };
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    for i in 0..250 {
        let u = format!("{i:08x}e76c4053982d{i:012x}");
        e.meta(&["ZADD", &format!("daily_uuid:{today}"), "1", &u]);
        e.meta(&["SADD", "registered_uuid", &u]);
        e.store.cmd_db(4, &["SADD", "active_connection", &u]);
    }
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    let rows = |b: &str| b.matches("href=\"/uuid_management?uuid=").count();
    let r = c.get("/sensors_status").await;
    assert_eq!(rows(&r.body), 100);
    assert!(r.body.contains("250 sensor(s)"));
    let r = c.get("/sensors_status?page=3").await;
    assert_eq!(rows(&r.body), 50);
    assert!(
        r.body.contains("000000f9e76c4053982d0000000000f9"),
        "last one on the last page"
    );
    let r = c.get("/sensors_status?page=99&q=000000f9").await;
    assert_eq!(rows(&r.body), 1);
    let r = c.get("/sensors_status?active_connection_filter=True").await;
    assert_eq!(rows(&r.body), 100);
    assert!(
        r.body
            .contains("?active_connection_filter=True&amp;q=&amp;per_page=100&page=2"),
        "pager keeps the filter"
    );
    let r = c.get("/server/registered_sensor?page=2").await;
    assert_eq!(rows(&r.body), 100);
}
