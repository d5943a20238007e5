//! `GET /metrics`: the web's Prometheus metrics (prefix `d4_web_`), for an API token of
//! any user (`Authorization: <token>`, as the REST API).
//!
//! - `requests` (counter, labels `route`, `status`): requests answered. `route` is the
//!   matched route pattern (`/sensor/{uuid}`...), never the raw path, so the series stay
//!   bounded; a request no route matched counts as `route="unmatched"`.
//! - `request_duration_seconds` (histogram, label `route`): time to answer.
//!
//! [`track`] is the middleware that counts every request; the counters live for the
//! whole process (every worker thread's `App` shares them).

use std::sync::LazyLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use d4_core::metrics::prometheus_client::metrics::counter::Counter;
use d4_core::metrics::prometheus_client::metrics::family::Family;
use d4_core::metrics::prometheus_client::metrics::histogram::Histogram;
use d4_core::metrics::prometheus_client::registry::{Registry, Unit};

use crate::auth::guard::state;
use crate::auth::token::authenticate;
use crate::error::{ApiError, WebError};

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// Upper bounds (seconds) of the latency buckets: 1 ms to 10 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The `route` label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The web's counters and their registry.
struct WebMetrics {
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    registry: Registry,
}

/// A latency histogram with [`BUCKETS`].
fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The process's web metrics.
static METRICS: LazyLock<WebMetrics> = LazyLock::new(|| {
    let requests = Family::<Labels, Counter>::default();
    let durations: Family<Labels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(histogram);
    let mut registry = Registry::with_prefix("d4_web");
    registry.register(
        "requests",
        "HTTP requests answered, by route pattern and status",
        requests.clone(),
    );
    registry.register_with_unit(
        "request_duration",
        "Time to answer an HTTP request, by route pattern",
        Unit::Seconds,
        durations.clone(),
    );
    WebMetrics {
        requests,
        durations,
        registry,
    }
});

/// Registers the route.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(d4_core::metrics::PATH)
            .route(web::get().to(metrics_page))
            .default_service(web::to(super::common::method_not_allowed)),
    );
}

/// Middleware: counts the request and its latency under its route pattern.
pub(crate) async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let status = res.status().as_u16().to_string();
    let m = &*METRICS;
    m.requests
        .get_or_create(&vec![("route", route.clone()), ("status", status)])
        .inc();
    m.durations
        .get_or_create(&vec![("route", route)])
        .observe(started.elapsed().as_secs_f64());
    Ok(res)
}

/// The metrics text, for a valid API token.
async fn metrics_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let st = state(&req).map_err(|_: WebError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
    })?;
    authenticate(&st, &req, "user").await?;
    Ok(HttpResponse::Ok()
        .content_type(d4_core::metrics::CONTENT_TYPE)
        .body(d4_core::metrics::render(&METRICS.registry)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    #[actix_web::test]
    async fn requests_are_counted_by_route_pattern_and_status() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(track))
                .route(
                    "/metrics-test/{id}",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                ),
        )
        .await;
        for path in ["/metrics-test/1", "/metrics-test/2", "/no-such-page"] {
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        }
        let text = d4_core::metrics::render(&METRICS.registry);
        for t in [
            "# TYPE d4_web_requests counter",
            "# TYPE d4_web_request_duration_seconds histogram",
            "d4_web_requests_total{route=\"/metrics-test/{id}\",status=\"200\"} 2",
            "d4_web_request_duration_seconds_count{route=\"/metrics-test/{id}\"} 2",
            "d4_web_requests_total{route=\"unmatched\",status=\"404\"}",
        ] {
            assert!(text.contains(t), "{t} missing in\n{text}");
        }
        assert!(!text.contains("/metrics-test/1"), "raw paths are no labels");
    }
}
