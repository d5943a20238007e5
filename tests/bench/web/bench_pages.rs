//! Page render time of d4-web with 1,000 sensors and 100 analyzer queues in the store.
//!
//! Starts a real store (redis-server, or d4-kv with `D4_TEST_STORE=d4-kv`), seeds it the
//! way the D4 server and workers would, logs in through the login form and times each
//! page in-process (handler + store round trips + template; no TLS). A store `PING`
//! round trip is printed as the floor to compare against. Target: < 50 ms per page.
//!
//! Run: `tests/bench/web/run.sh` (release build) or
//! `cargo run --release -p d4-web --example bench_pages -- [iterations]`.

use actix_web::{test, web};
use d4_core::config::ServerConfig;
use d4_core::queues::NewQueue;
use d4_testkit::Store;
use d4_web::auth::password;
use d4_web::store::users;
use d4_web::Settings;
use std::time::{Duration, Instant};

const SENSORS: usize = 1000;
const QUEUES: usize = 100;

fn sensor(i: usize) -> String {
    format!("{:08x}e76c4053982d{:012x}", i, i)
}

fn conf(port: u16) -> String {
    let mut s = String::from("[D4_Server]\nserver_mode = registration\n");
    for (sec, db) in [
        ("STREAM", 4),
        ("METADATA", 0),
        ("SERV", 1),
        ("ANALYZER", 2),
        ("CACHE", 3),
    ] {
        s.push_str(&format!(
            "[Redis_{sec}]\nhost = 127.0.0.1\nport = {port}\ndb = {db}\n"
        ));
    }
    s
}

fn seed(store: &Store) {
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    let m = |a: &[&str]| store.cmd_db(0, a);
    m(&["SADD", "server:accepted_type", "1", "2", "4", "8", "254"]);
    m(&["SADD", "server:accepted_extended_type", "ja3-jl"]);
    for i in 0..SENSORS {
        let u = sensor(i);
        m(&[
            "ZADD",
            &format!("daily_uuid:{today}"),
            &(i * 7 + 1).to_string(),
            &u,
        ]);
        m(&[
            "HSET",
            &format!("metadata_uuid:{u}"),
            "first_seen",
            &now,
            "last_seen",
            &now,
            "description",
            "bench sensor",
        ]);
        m(&["SADD", &format!("all_types_by_uuid:{u}"), "8", "1"]);
        m(&["SADD", "registered_uuid", &u]);
        m(&["ZADD", &format!("stat_uuid_type:{today}:{u}"), "10", "8"]);
        if i % 2 == 0 {
            store.cmd_db(4, &["SADD", "active_connection", &u]);
            store.cmd_db(4, &["SADD", "active_connection:8", &u]);
        }
    }
    m(&[
        "ZADD",
        &format!("daily_type:{today}"),
        "7000",
        "8",
        "300",
        "1",
    ]);
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    actix_web::rt::System::new().block_on(run(iterations));
}

async fn run(iterations: usize) {
    let store = Store::start().expect("redis-server (or d4-kv) is required");
    seed(&store);
    let cfg = ServerConfig::from_text(&conf(store.port)).expect("conf");
    let mut settings = Settings::from_config(&cfg);
    settings.login_jitter = false;
    settings.default_password_file = std::env::temp_dir().join("d4-bench-DEFAULT_PASSWORD");
    let state = d4_web::build_state(&cfg, settings).await.expect("state");
    for i in 0..QUEUES {
        let q = NewQueue {
            format_type: if i % 10 == 0 {
                "254".into()
            } else {
                "8".into()
            },
            metatype: (i % 10 == 0).then(|| "ja3-jl".to_string()),
            description: Some(format!("queue {i}")),
            sensors: if i % 5 == 0 {
                vec![sensor(i)]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        let id = state.queues.create(&q).await.expect("queue");
        store.cmd_db(2, &["LPUSH", &format!("analyzer:8:{id}"), "a", "b", "c"]);
    }
    users::ensure_roles(&state.stores.serv)
        .await
        .expect("roles");
    let h = password::hash("BenchPassw0rd1", 4).expect("hash");
    users::create_user(
        &state.stores.serv,
        "bench@x.test",
        &h,
        "admin",
        1.0,
        &password::generate_token(),
        false,
    )
    .await
    .expect("user");
    let app = test::init_service(d4_web::app::app(state.clone())).await;
    // Log in through the form.
    let page = test::call_service(&app, test::TestRequest::get().uri("/login").to_request()).await;
    let login_cookie = page
        .response()
        .cookies()
        .next()
        .expect("csrf cookie")
        .into_owned();
    let body = String::from_utf8_lossy(&test::read_body(page).await).into_owned();
    let i = body.find("name=\"csrf_token\" value=\"").expect("token") + 25;
    let tok = body[i..].split('"').next().unwrap_or_default().to_string();
    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/login")
            .cookie(login_cookie)
            .set_form([
                ("csrf_token", tok.as_str()),
                ("username", "bench@x.test"),
                ("password", "BenchPassw0rd1"),
            ])
            .to_request(),
    )
    .await;
    let session = r
        .response()
        .cookies()
        .find(|c| c.name() == "d4_session")
        .expect("session")
        .into_owned();
    // Floor: one store round trip.
    let mut ping = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        let _: String = state
            .stores
            .meta
            .query(&d4_core::store::cmd("PING"))
            .await
            .expect("ping");
        ping.push(t.elapsed());
    }
    println!("d4-web page render, {SENSORS} sensors, {QUEUES} queues, store {:?}, {iterations} iterations", store.kind);
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms", "bytes"
    );
    println!(
        "{:<48} {:>9.3} {:>9.3} {:>9.3} {:>9}",
        "(store PING round trip)",
        pct(&mut ping.clone(), 0.5),
        pct(&mut ping.clone(), 0.95),
        pct(&mut ping, 1.0),
        "-"
    );
    let pages = [
        "/".to_string(),
        "/sensors_status".to_string(),
        "/sensors_status?active_connection_filter=True".to_string(),
        format!("/uuid_management?uuid={}", sensor(1)),
        "/server_management".to_string(),
        "/server/registered_sensor".to_string(),
        "/_json_daily_uuid_stats".to_string(),
        "/settings/users_list".to_string(),
    ];
    let mut worst: f64 = 0.0;
    for p in &pages {
        let mut times = Vec::with_capacity(iterations);
        let mut bytes = 0;
        for _ in 0..iterations {
            let req = test::TestRequest::get()
                .uri(p)
                .cookie(session.clone())
                .to_request();
            let t = Instant::now();
            let resp = test::call_service(&app, req).await;
            let status = resp.status();
            let b = test::read_body(resp).await;
            times.push(t.elapsed());
            assert!(status.is_success(), "{p}: {status}");
            bytes = b.len();
        }
        let p95 = pct(&mut times, 0.95);
        worst = worst.max(p95);
        println!(
            "{:<48} {:>9.3} {:>9.3} {:>9.3} {:>9}",
            p,
            pct(&mut times, 0.5),
            p95,
            pct(&mut times, 1.0),
            bytes
        );
    }
    println!(
        "worst p95 {worst:.1} ms (target < 50 ms): {}",
        if worst < 50.0 { "OK" } else { "OVER" }
    );
    drop(web::Data::clone(&state));
}
