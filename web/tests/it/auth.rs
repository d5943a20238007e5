//! Login, lockout, forced password change, CSRF, roles, sessions.

use super::common::{conf_text, env, service, Client, PW};
use actix_web::http::StatusCode;

#[actix_web::test]
async fn anonymous_requests_go_to_login_with_next() {
    let Some(e) = env().await else { return };
    let mut c = Client::new(service(&e.state).await);
    let r = c.get("/server_management?x=1").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location.as_deref(),
        Some("/login?next=%2Fserver_management%3Fx%3D1")
    );
    // Static files need no login.
    let r = c.get("/static/css/d4.css").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c.get("/static/json/type.json").await;
    assert!(r.body.contains("passivedns"), "{}", r.body);
}

#[actix_web::test]
async fn login_requires_the_form_csrf_token() {
    let Some(e) = env().await else { return };
    e.user("a@b.cd", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    let r = c
        .post_raw("/login", &[("username", "a@b.cd"), ("password", PW)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("CSRF"));
    let r = c.login("a@b.cd", PW).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location.as_deref(), Some("/"));
    let sess = r
        .cookies
        .iter()
        .find(|(k, _)| k == "d4_session")
        .expect("session cookie");
    assert_eq!(sess.1.len(), 64);
    assert_eq!(c.get("/").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn session_cookie_is_hardened() {
    let Some(e) = env().await else { return };
    e.user("a@b.cd", "user").await;
    let app = service(&e.state).await;
    let page = actix_web::test::call_service(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/login")
            .to_request(),
    )
    .await;
    let c = page.response().cookies().next().expect("login csrf cookie");
    assert!(c.http_only().unwrap_or(false) && c.secure().unwrap_or(false));
    assert_eq!(c.same_site(), Some(actix_web::cookie::SameSite::Lax));
}

#[actix_web::test]
async fn failed_logins_lock_ip_and_user_for_300s() {
    let Some(e) = env().await else { return };
    e.user("a@b.cd", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    for _ in 0..5 {
        let r = c.login("a@b.cd", "wrong").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Password Incorrect"));
    }
    let ip = e
        .store
        .cmd_db(3, &["GET", "failed_login_ip:127.0.0.1"])
        .as_str();
    assert_eq!(ip.as_deref(), Some("5"));
    let ttl = e
        .store
        .cmd_db(3, &["TTL", "failed_login_user_id:a@b.cd"])
        .as_int()
        .unwrap();
    assert!((1..=300).contains(&ttl), "{ttl}");
    // Locked now, even with the right password, and the GET shows it too.
    let r = c.login("a@b.cd", PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.body
            .contains("Max Connection Attempts reached, Please wait"),
        "{}",
        r.body
    );
    // Another IP is locked out through the per-user counter.
    c.peer = "127.0.0.2:1".parse().unwrap();
    let r = c.login("a@b.cd", PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn sensor_register_accounts_cannot_use_the_ui() {
    let Some(e) = env().await else { return };
    e.user("reg@x.test", "sensor_register").await;
    let mut c = Client::new(service(&e.state).await);
    let r = c.login("reg@x.test", PW).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn forced_password_change_is_enforced_on_every_page() {
    let Some(e) = env().await else { return };
    e.user("u@x.test", "user").await;
    e.store.cmd_db(
        1,
        &["HSET", "user_metadata:u@x.test", "change_passwd", "True"],
    );
    let old_token = e
        .store
        .cmd_db(1, &["HGET", "user_metadata:u@x.test", "token"])
        .as_str();
    let mut c = Client::new(service(&e.state).await);
    let r = c.login("u@x.test", PW).await;
    assert_eq!(r.location.as_deref(), Some("/change_password"));
    for p in [
        "/",
        "/sensors_status",
        "/server_management",
        "/settings/edit_profile",
    ] {
        let r = c.get(p).await;
        assert_eq!(r.location.as_deref(), Some("/change_password"), "{p}");
    }
    let r = c.get("/change_password").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("alert bad"), "no error on first load");
    let r = c
        .post(
            "/change_password",
            &[("password1", "weak"), ("password2", "weak")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c
        .post(
            "/change_password",
            &[
                ("password1", "NewPassw0rd99"),
                ("password2", "NewPassw0rd9"),
            ],
        )
        .await;
    assert!(r.body.contains("match"));
    let r = c
        .post(
            "/change_password",
            &[
                ("password1", "NewPassw0rd99"),
                ("password2", "NewPassw0rd99"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/"));
    assert_eq!(c.get("/").await.status, StatusCode::OK);
    let flag = e
        .store
        .cmd_db(1, &["HEXISTS", "user_metadata:u@x.test", "change_passwd"])
        .as_int();
    assert_eq!(flag, Some(0));
    // The API token survives a password change (upstream rotated it).
    let token = e
        .store
        .cmd_db(1, &["HGET", "user_metadata:u@x.test", "token"])
        .as_str();
    assert_eq!(token, old_token);
    let mut c2 = Client::new(service(&e.state).await);
    assert_eq!(
        c2.login("u@x.test", "NewPassw0rd99")
            .await
            .location
            .as_deref(),
        Some("/")
    );
}

#[actix_web::test]
async fn next_page_is_followed_only_when_local() {
    let Some(e) = env().await else { return };
    e.user("a@b.cd", "user").await;
    for (next, want) in [
        ("/sensors_status", "/sensors_status"),
        ("https://evil.example/", "/"),
        ("//evil", "/"),
    ] {
        let mut c = Client::new(service(&e.state).await);
        c.get("/login").await;
        let r = c
            .post(
                "/login",
                &[
                    ("username", "a@b.cd"),
                    ("password", PW),
                    ("next_page", next),
                ],
            )
            .await;
        assert_eq!(r.location.as_deref(), Some(want), "{next}");
    }
}

#[actix_web::test]
async fn actions_need_post_and_csrf() {
    let Some(e) = env().await else { return };
    e.user("a@b.cd", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("a@b.cd", PW).await;
    let u = "ff7ba400-e76c-4053-982d-feec42bdef38";
    // GET shows a confirmation form and changes nothing.
    let r = c.get(&format!("/kick_uuid?uuid={u}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Confirm") && r.body.contains(u));
    assert_eq!(
        e.store
            .cmd_db(4, &["SCARD", "server:sensor_to_kick"])
            .as_int(),
        Some(0)
    );
    // POST without or with a wrong token: 403.
    let r = c.post_raw(&format!("/kick_uuid?uuid={u}"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = c
        .post_raw(&format!("/kick_uuid?uuid={u}"), &[("csrf_token", "x")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // With the token: done, stored undashed.
    let r = c.post(&format!("/kick_uuid?uuid={u}"), &[]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let m = e
        .store
        .cmd_db(4, &["SMEMBERS", "server:sensor_to_kick"])
        .as_strings();
    assert_eq!(m, vec!["ff7ba400e76c4053982dfeec42bdef38".to_string()]);
    // Other methods: 405 page.
    let r = c
        .send_method(actix_web::http::Method::PUT, "/kick_uuid")
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn admin_pages_need_the_admin_role() {
    let Some(e) = env().await else { return };
    e.user("user@x.test", "user").await;
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("user@x.test", PW).await;
    for p in [
        "/settings/users_list",
        "/settings/create_user",
        "/server/pending_sensor",
        "/server/registered_sensor",
    ] {
        assert_eq!(c.get(p).await.status, StatusCode::FORBIDDEN, "{p}");
    }
    let r = c
        .post(
            "/server/approve_sensor?uuid=ff7ba400e76c4053982dfeec42bdef38",
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut a = Client::new(service(&e.state).await);
    a.login("admin@x.test", PW).await;
    for p in [
        "/settings/users_list",
        "/settings/create_user",
        "/server/pending_sensor",
        "/server/registered_sensor",
    ] {
        assert_eq!(a.get(p).await.status, StatusCode::OK, "{p}");
    }
}

#[actix_web::test]
async fn logout_ends_the_session_and_deleted_users_are_logged_out() {
    let Some(e) = env().await else { return };
    e.user("a@x.test", "admin").await;
    e.user("b@x.test", "user").await;
    let mut a = Client::new(service(&e.state).await);
    a.login("a@x.test", PW).await;
    let mut b = Client::new(service(&e.state).await);
    b.login("b@x.test", PW).await;
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    a.get("/settings/users_list").await;
    let r = a
        .post("/settings/delete_user?user_id=b%40x.test", &[])
        .await;
    assert_eq!(r.location.as_deref(), Some("/settings/users_list"));
    assert_eq!(b.get("/").await.status, StatusCode::FOUND);
    let r = a.post("/logout", &[]).await;
    assert_eq!(r.location.as_deref(), Some("/login"));
    assert_eq!(
        a.get("/").await.location.as_deref(),
        Some("/login?next=%2F")
    );
}

/// Sessions and their CSRF tokens live in the CACHE store (db 3) with the idle expiry: a
/// second instance over the same stores (another `d4-web` behind the balancer, or this
/// one restarted) knows them, and a logout on one ends them on both.
#[actix_web::test]
async fn sessions_are_shared_by_instances_over_one_cache_store() {
    let Some(e) = env().await else { return };
    e.user("a@x.test", "admin").await;
    let mut one = Client::new(service(&e.state).await);
    one.login("a@x.test", PW).await;
    let keys = e.store.cmd_db(3, &["KEYS", "web_session:*"]).as_strings();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl = e.store.cmd_db(3, &["TTL", &keys[0]]).as_int().unwrap_or(0);
    assert!(ttl > 8 * 3600 - 60 && ttl <= 8 * 3600, "ttl {ttl}");

    let cfg =
        d4_core::config::ServerConfig::from_text(&conf_text(e.store.port, 7000, e.dir.path()))
            .expect("conf");
    let settings = e.state.settings.clone();
    let other = d4_web::build_state(&cfg, settings).await.expect("state");
    let mut two = Client::new(service(&other).await);
    two.cookies = one.cookies.clone();
    assert_eq!(two.get("/").await.status, StatusCode::OK);
    // The CSRF token of the session is accepted by the other instance.
    two.csrf = one.csrf.clone();
    let r = two.post("/logout", &[]).await;
    assert_eq!(r.location.as_deref(), Some("/login"));
    assert_eq!(one.get("/").await.status, StatusCode::FOUND);
    assert!(e
        .store
        .cmd_db(3, &["KEYS", "web_session:*"])
        .as_strings()
        .is_empty());
}

#[actix_web::test]
async fn first_start_creates_default_accounts_and_password_file() {
    let Some(e) = env().await else { return };
    let created = d4_web::auth::bootstrap::ensure_default_users(&e.state)
        .await
        .unwrap()
        .expect("created");
    let file = e.dir.path().join("DEFAULT_PASSWORD");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        &lines[..3],
        [
            "# Password Generated by default",
            "# This file is deleted after the first login",
            "#"
        ]
    );
    assert_eq!(lines[3], "email=admin@admin.test");
    assert_eq!(lines[4], format!("password={}", created.password));
    assert_eq!(lines[5], format!("API_Key={}", created.token));
    assert_eq!(created.password.len(), 30);
    // Tokens and roles as upstream.
    assert_eq!(
        e.store
            .cmd_db(1, &["HGET", "user:tokens", &created.token])
            .as_str()
            .as_deref(),
        Some("admin@admin.test")
    );
    assert_eq!(
        e.store
            .cmd_db(
                1,
                &[
                    "SISMEMBER",
                    "user_role:sensor_register",
                    "config_generator@register.test"
                ]
            )
            .as_int(),
        Some(1)
    );
    assert_eq!(
        e.store
            .cmd_db(
                1,
                &[
                    "SISMEMBER",
                    "user_role:user",
                    "config_generator@register.test"
                ]
            )
            .as_int(),
        Some(0)
    );
    assert_eq!(
        e.store
            .cmd_db(1, &["ZSCORE", "d4:all_role", "sensor_register"])
            .as_str()
            .as_deref(),
        Some("20")
    );
    // Second start: nothing created.
    assert!(d4_web::auth::bootstrap::ensure_default_users(&e.state)
        .await
        .unwrap()
        .is_none());
    // Log in with the file's password, forced change, file removed; a second change works.
    let mut c = Client::new(service(&e.state).await);
    let r = c.login("admin@admin.test", &created.password).await;
    assert_eq!(r.location.as_deref(), Some("/change_password"));
    let r = c
        .post(
            "/change_password",
            &[
                ("password1", "Adm1nPassw0rd"),
                ("password2", "Adm1nPassw0rd"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/"));
    assert!(!file.exists());
    let r = c
        .post(
            "/change_password",
            &[
                ("password1", "Adm1nPassw0rd2"),
                ("password2", "Adm1nPassw0rd2"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/"),
        "second change of the default admin works"
    );
}
