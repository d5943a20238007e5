//! `GET /metrics`: an API token of any user is needed; the request counters move with the
//! requests answered, by route pattern and status.

use super::common::{env, service, Client};
use actix_web::http::StatusCode;

/// The value of the sample `series` (name and labels as rendered), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[actix_web::test]
async fn metrics_need_a_token_and_count_requests() {
    let Some(e) = env().await else { return };
    let token = e.user("metrics@scrape.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    let r = c.get("/metrics").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = c
        .get_with("/metrics", &[("Authorization", "not-a-token")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    let auth = [("Authorization", token.as_str())];
    let first = c.get_with("/metrics", &auth).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first
        .content_type
        .starts_with("application/openmetrics-text"));
    for t in [
        "# TYPE d4_web_requests counter\n",
        "# TYPE d4_web_request_duration_seconds histogram\n",
    ] {
        assert!(first.body.contains(t), "{t} missing in\n{}", first.body);
    }
    let refused = "d4_web_requests_total{route=\"/metrics\",status=\"401\"}";
    assert!(sample(&first.body, refused) >= 2.0, "{}", first.body);

    let login = c.get("/login").await;
    let second = c.get_with("/metrics", &auth).await;
    let moved = |series: &str| sample(&second.body, series) - sample(&first.body, series);
    let ok = "d4_web_requests_total{route=\"/metrics\",status=\"200\"}";
    assert_eq!(
        moved(ok),
        1.0,
        "the first scrape is counted:\n{}",
        second.body
    );
    let page = format!(
        "d4_web_requests_total{{route=\"/login\",status=\"{}\"}}",
        login.status.as_u16()
    );
    assert!(moved(&page) >= 1.0, "{page} did not move:\n{}", second.body);
}
