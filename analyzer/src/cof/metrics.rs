//! Prometheus counters of the COF server, rendered by `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use actix_web::http::StatusCode;

/// Routes with their own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/query/<q>`.
    Query,
    /// `/fquery/<q>`.
    Fquery,
    /// `/info`.
    Info,
}

const ROUTES: [(Route, &str); 3] = [
    (Route::Query, "query"),
    (Route::Fquery, "fquery"),
    (Route::Info, "info"),
];

#[derive(Debug, Default)]
struct RouteCounters {
    ok: AtomicU64,
    client_err: AtomicU64,
    server_err: AtomicU64,
    micros: AtomicU64,
}

/// Request and record counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    routes: [RouteCounters; 3],
    records: AtomicU64,
}

impl Metrics {
    fn idx(route: Route) -> usize {
        ROUTES.iter().position(|(r, _)| *r == route).unwrap_or(0)
    }

    /// Counts one request: `Ok(records)` or the error status.
    pub(crate) fn observe(&self, route: Route, result: Result<usize, StatusCode>, took: Duration) {
        let c = &self.routes[Self::idx(route)];
        match result {
            Ok(n) => {
                c.ok.fetch_add(1, Relaxed);
                self.records.fetch_add(n as u64, Relaxed);
            }
            Err(s) if s.is_client_error() => {
                c.client_err.fetch_add(1, Relaxed);
            }
            Err(_) => {
                c.server_err.fetch_add(1, Relaxed);
            }
        }
        c.micros
            .fetch_add(took.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// Text exposition format; `processed` is `stats:processed` read at scrape time.
    pub(crate) fn render(&self, processed: Option<i64>) -> String {
        let mut out = String::new();
        out.push_str("# HELP pdns_cof_requests_total COF API requests by route and outcome.\n# TYPE pdns_cof_requests_total counter\n");
        for (route, name) in ROUTES {
            let c = &self.routes[Self::idx(route)];
            for (outcome, v) in [
                ("ok", &c.ok),
                ("client_error", &c.client_err),
                ("server_error", &c.server_err),
            ] {
                let _ = writeln!(
                    out,
                    "pdns_cof_requests_total{{route=\"{name}\",outcome=\"{outcome}\"}} {}",
                    v.load(Relaxed)
                );
            }
        }
        out.push_str("# HELP pdns_cof_request_seconds_total Time spent answering, by route.\n# TYPE pdns_cof_request_seconds_total counter\n");
        for (route, name) in ROUTES {
            let us = self.routes[Self::idx(route)].micros.load(Relaxed);
            let _ = writeln!(
                out,
                "pdns_cof_request_seconds_total{{route=\"{name}\"}} {:.6}",
                us as f64 / 1e6
            );
        }
        out.push_str("# HELP pdns_cof_records_total COF records returned.\n# TYPE pdns_cof_records_total counter\n");
        let _ = writeln!(out, "pdns_cof_records_total {}", self.records.load(Relaxed));
        if let Some(p) = processed {
            out.push_str("# HELP pdns_store_processed Records ingested (stats:processed).\n# TYPE pdns_store_processed gauge\n");
            let _ = writeln!(out, "pdns_store_processed {p}");
        }
        out
    }
}
