//! Prometheus metrics of the COF server (prefix `pdns_cof_`), rendered by `/metrics` through
//! `d4_core::metrics`:
//!
//! - `requests` (counter, labels `route`, `status`): requests by route and HTTP status.
//! - `request_duration_seconds` (histogram, label `route`): time to answer.
//! - `records` (counter): COF records returned.
//! - `store_errors` (counter): requests answered 503 because the store failed (lost
//!   connection, timeout, or a refused command); 503 means nothing else in this server.
//! - `store_processed_records` (counter): the store's `stats:processed` (records ingested,
//!   by every ingestion and import), read at each scrape. It replaces the gauge
//!   `pdns_store_processed` of earlier versions.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use d4_core::metrics::prometheus_client::collector::Collector;
use d4_core::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use d4_core::metrics::prometheus_client::metrics::counter::{ConstCounter, Counter};
use d4_core::metrics::prometheus_client::metrics::family::Family;
use d4_core::metrics::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use d4_core::metrics::prometheus_client::registry::Registry;

/// Routes with their own series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/query/<q>`.
    Query,
    /// `/fquery/<q>`.
    Fquery,
    /// `/info`.
    Info,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Query => "query",
            Route::Fquery => "fquery",
            Route::Info => "info",
        }
    }
}

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// Builds the latency histogram of one route: 250 µs to about 8 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// `stats:processed` as last read, exported as a counter (-1: never read, not exported).
#[derive(Debug)]
struct StoreProcessed(Arc<AtomicI64>);

impl Collector for StoreProcessed {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(v) = u64::try_from(self.0.load(Relaxed)) else {
            return Ok(());
        };
        let c = ConstCounter::new(v);
        let m = encoder.encode_descriptor(
            "store_processed_records",
            "Records ingested into the pDNS store (stats:processed), read at scrape time",
            None,
            c.metric_type(),
        )?;
        c.encode(m)
    }
}

/// Request and record metrics, with their registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    records: Counter,
    store_errors: Counter,
    processed: Arc<AtomicI64>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<Labels, Counter>::default();
        let durations: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let records = Counter::default();
        let store_errors = Counter::default();
        let processed = Arc::new(AtomicI64::new(-1));
        let mut registry = Registry::with_prefix("pdns_cof");
        registry.register(
            "requests",
            "COF API requests by route and HTTP status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a COF API request, by route",
            durations.clone(),
        );
        registry.register("records", "COF records returned", records.clone());
        registry.register(
            "store_errors",
            "Requests answered 503 because the pDNS store failed or refused a command",
            store_errors.clone(),
        );
        registry.register_collector(Box::new(StoreProcessed(processed.clone())));
        Metrics {
            requests,
            durations,
            records,
            store_errors,
            processed,
            registry,
        }
    }
}

impl Metrics {
    /// Counts one request: `Ok(records)` or the error status.
    pub(crate) fn observe(&self, route: Route, result: Result<usize, StatusCode>, took: Duration) {
        let status = match result {
            Ok(n) => {
                self.records.inc_by(n as u64);
                StatusCode::OK
            }
            Err(s) => {
                if s == StatusCode::SERVICE_UNAVAILABLE {
                    self.store_errors.inc();
                }
                s
            }
        };
        self.requests
            .get_or_create(&vec![
                ("route", route.label().to_string()),
                ("status", status.as_u16().to_string()),
            ])
            .inc();
        self.durations
            .get_or_create(&vec![("route", route.label().to_string())])
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text; `processed` is `stats:processed` read now (`None` when the
    /// store did not answer: the last value read is shown).
    pub(crate) fn render(&self, processed: Option<i64>) -> String {
        if let Some(p) = processed {
            self.processed.store(p.max(0), Relaxed);
        }
        d4_core::metrics::render(&self.registry)
    }
}
