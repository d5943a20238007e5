//! Issue 14's web fixes seen through requests: the whois message when the program is
//! missing, the success message after creating a queue, the pager's gap marker and page
//! size, the one search box, the e-mail kept after a failed login, and the dashboard's
//! monitoring banner and top-N captions at 1,000 sensors.

use super::common::{env, env_with, service, Client, PW};
use actix_web::http::StatusCode;

const U32: &str = "ff7ba400e76c4053982dfeec42bdef38";

/// `n` sensors that sent data today (uuid v4 shaped, sorted by index).
fn seed_sensors(e: &super::common::Env, n: usize) {
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    let key = format!("daily_uuid:{today}");
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut args: Vec<String> = vec!["ZADD".into(), key.clone()];
        for i in chunk {
            args.push(format!("{}", i + 1));
            args.push(format!("{i:08x}e76c4053982dfeec42bdef38"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        e.meta(&refs);
    }
}

#[actix_web::test]
async fn missing_whois_says_so_instead_of_os_error_2() {
    let Some(e) = env_with(|s| s.whois_program = "/nonexistent/d4-test/whois".into()).await else {
        return;
    };
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    let r = c.get("/whois_data?ip=192.0.2.1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("whois is not installed on the server"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("os error"), "{}", r.body);
    // The sensor page keeps the whois box hidden until a lookup fills it.
    let p = c.get(&format!("/uuid_management?uuid={U32}")).await;
    assert!(
        p.body.contains(r#"<div id="whois-box" class="hidden">"#),
        "{}",
        p.body
    );
}

#[actix_web::test]
async fn creating_a_queue_shows_a_success_message() {
    let Some(e) = env().await else { return };
    e.meta(&["SADD", "server:accepted_type", "8"]);
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    c.get("/server_management").await;
    let q = "3b7f3e8a-6b1c-4f6e-9d2a-1c2b3d4e5f60";
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[("analyzer_type", "8"), ("analyzer_uuid", q)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let to = r.location.expect("redirect");
    assert!(to.ends_with(&format!("#{q}")), "{to}");
    let page = c.get(to.split('#').next().unwrap()).await;
    let alert = page
        .body
        .find(r#"id="queue-created""#)
        .map(|i| &page.body[i..i + 300])
        .expect("success message");
    assert!(alert.contains(q) && alert.contains("created"), "{alert}");
    // The monitor's "not consumed" mark shows on the queue row as a hint.
    assert!(!page.body.contains("badge warn not-consumed"));
    e.meta(&["SADD", "sensors_monitoring:queue_not_consumed", q]);
    let page = c.get("/server_management").await;
    assert!(
        page.body.contains("badge warn not-consumed"),
        "{}",
        page.body
    );
    // Without `created` (a plain visit) there is no message.
    let plain = c.get("/server_management").await;
    assert!(!plain.body.contains("queue-created"));
    // The uuid field is wide enough for a whole dashed uuid.
    assert!(
        plain.body.contains(r#"class="full-uuid""#) && plain.body.contains(r#"size="36""#),
        "uuid field"
    );
}

#[actix_web::test]
async fn sensor_lists_page_with_gaps_sizes_and_one_search_box() {
    let Some(e) = env().await else { return };
    seed_sensors(&e, 1100);
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    // 1100 sensors at 100 per page: 11 pages, "1 2 3 … 10 11" with the gap marked.
    let r = c.get("/sensors_status").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("1100 sensor(s)"), "{}", r.body);
    let pager = &r.body[r.body.find(r#"class="pager""#).unwrap()..];
    let pager = &pager[..pager.find("</div>").unwrap()];
    assert!(
        pager.contains(r#"<span class="gap" aria-hidden="true">…</span>"#),
        "{pager}"
    );
    assert!(
        pager.contains("page=11\">11</a>") && !pager.contains("page=5\">5</a>"),
        "{pager}"
    );
    // One search box on the page.
    assert_eq!(r.body.matches("name=\"q\"").count(), 1, "{}", r.body);
    // Page size 25: 44 pages, 25 rows, and the links keep the size.
    let r = c.get("/sensors_status?per_page=25&page=2").await;
    let rows = r
        .body
        .matches("<a class=\"mono\" href=\"/uuid_management")
        .count();
    assert_eq!(rows, 25);
    assert!(
        r.body.contains("per_page=25&page=44\">44</a>"),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"<option value="25" selected>"#));
    // A size not offered falls back to the default.
    let r = c.get("/sensors_status?per_page=7").await;
    assert_eq!(
        r.body
            .matches("<a class=\"mono\" href=\"/uuid_management")
            .count(),
        100
    );
    // A partial uuid filters; a whole uuid opens that sensor.
    // "0000004" is in 00000004 and 00000040-0000004f: 17 sensors.
    let r = c.get("/sensors_status?q=0000004").await;
    assert!(r.body.contains("17 sensor(s)"), "{}", r.body);
    let r = c.get(&format!("/sensors_status?q={U32}")).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location.as_deref(),
        Some(&*format!("/uuid_management?uuid={U32}"))
    );
    // The columns are sortable.
    let r = c.get("/sensors_status").await;
    assert!(r
        .body
        .contains(r#"<table id="sensors-table" data-sortable>"#));
    assert_eq!(r.body.matches("<th data-sort-col>").count(), 5);
}

#[actix_web::test]
async fn failed_login_keeps_the_email() {
    let Some(e) = env().await else { return };
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    let r = c.login("admin@x.test", "wrong-Passw0rd").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Password Incorrect"));
    assert!(r.body.contains(r#"value="admin@x.test""#), "{}", r.body);
    // Escaped like any other value.
    let r = c.login("a\"<b>@x.test", "wrong-Passw0rd").await;
    assert!(
        r.body.contains("value=\"a&quot;&lt;b&gt;@x.test\""),
        "{}",
        r.body
    );
}

#[actix_web::test]
async fn dashboard_labels_top_n_and_shows_monitoring_alerts() {
    let Some(e) = env().await else { return };
    seed_sensors(&e, 1000);
    e.user("admin@x.test", "admin").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("admin@x.test", PW).await;
    let r = c.get("/").await;
    assert!(
        r.body.contains("top 30 of 1000 sensors by packets"),
        "{}",
        r.body
    );
    assert!(r.body.contains("all 1000 sensors that sent data today"));
    assert!(r.body.contains("top 10 of 1000 sensors"));
    assert!(!r.body.contains("(others)"));
    assert!(!r.body.contains("monitoring-banner"));
    e.meta(&["SADD", "sensors_monitoring:sensors_error", U32]);
    e.meta(&[
        "SADD",
        "sensors_monitoring:queue_not_consumed",
        "3b7f3e8a-6b1c-4f6e-9d2a-1c2b3d4e5f60",
    ]);
    let r = c.get("/").await;
    let banner = &r.body[r.body.find("monitoring-banner").expect("banner")..];
    assert!(
        banner.contains("1 monitored sensor(s) down") && banner.contains(U32),
        "{banner}"
    );
    assert!(
        banner.contains("1 analyzer queue(s) not consumed"),
        "{banner}"
    );
    assert!(!banner.contains("queues-full"));
}
