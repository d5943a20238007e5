//! The Prometheus metrics of `pdns-ingestion` (prefix `pdns_ingestion_`), served by
//! `--metrics ADDR:PORT` through `d4_core::metrics`.
//!
//! - `lines` (counter): queue lines ingested (written, rejected or excluded).
//! - `records` (counter): records written (upstream `stats:processed`).
//! - `rejected_lines` (counter, label `reason`): malformed lines, by reason.
//! - `excluded_lines` (counter): lines skipped by `[exclude] substring`.
//! - `batch_duration_seconds` (histogram): time to write one batch, retries included.
//! - `queue_length` (gauge): lines waiting in the queue after the last pop.
//! - `lag_seconds` (gauge): age of the newest observation of the last batch written.
//! - `store_errors` (counter, label `class`): failed batch writes: `transient` (retried) or
//!   `permanent` (the store refused a command; the ingestion stops).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use d4_core::metrics::prometheus_client::metrics::counter::Counter;
use d4_core::metrics::prometheus_client::metrics::family::Family;
use d4_core::metrics::prometheus_client::metrics::gauge::Gauge;
use d4_core::metrics::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use d4_core::metrics::prometheus_client::registry::Registry;

use crate::write::Batch;

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// The ingestion's counters, gauges and histogram.
#[derive(Debug)]
pub struct Metrics {
    lines: Counter,
    records: Counter,
    rejected: Family<Labels, Counter>,
    excluded: Counter,
    batch_seconds: Histogram,
    queue_length: Gauge,
    lag_seconds: Gauge,
    store_errors: Family<Labels, Counter>,
}

impl Metrics {
    /// The metrics, registered in a new `pdns_ingestion` registry.
    pub fn registered() -> (Arc<Self>, Registry) {
        let m = Arc::new(Metrics {
            lines: Counter::default(),
            records: Counter::default(),
            rejected: Family::default(),
            excluded: Counter::default(),
            // 1 ms to about 65 s.
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            queue_length: Gauge::default(),
            lag_seconds: Gauge::default(),
            store_errors: Family::default(),
        });
        let mut r = Registry::with_prefix("pdns_ingestion");
        r.register("lines", "Queue lines ingested", m.lines.clone());
        r.register("records", "Records written", m.records.clone());
        r.register(
            "rejected_lines",
            "Malformed lines rejected, by reason",
            m.rejected.clone(),
        );
        r.register(
            "excluded_lines",
            "Lines skipped by [exclude] substring",
            m.excluded.clone(),
        );
        r.register(
            "batch_duration_seconds",
            "Time to write one batch to the pDNS store, retries included",
            m.batch_seconds.clone(),
        );
        r.register(
            "queue_length",
            "Lines waiting in the queue after the last pop",
            m.queue_length.clone(),
        );
        r.register(
            "lag_seconds",
            "Age of the newest observation of the last batch written",
            m.lag_seconds.clone(),
        );
        r.register(
            "store_errors",
            "Failed batch writes to the pDNS store, by class (transient: retried, permanent: refused)",
            m.store_errors.clone(),
        );
        (m, r)
    }

    /// Counts a written batch of `lines` lines that took `took`.
    pub(crate) fn batch_written(&self, lines: usize, b: &Batch, took: Duration) {
        self.lines.inc_by(lines as u64);
        self.records.inc_by(b.processed.max(0) as u64);
        self.excluded.inc_by(b.excluded.max(0) as u64);
        for (reason, n) in &b.rejected {
            self.rejected
                .get_or_create(&vec![("reason", (*reason).to_string())])
                .inc_by((*n).max(0) as u64);
        }
        self.batch_seconds.observe(took.as_secs_f64());
        if let Some(newest) = b.tuples.iter().map(|t| t.last).max() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.lag_seconds
                .set(i64::try_from(now.saturating_sub(newest)).unwrap_or(i64::MAX));
        }
    }

    /// Counts one failed batch write.
    pub(crate) fn store_error(&self, permanent: bool) {
        let class = if permanent { "permanent" } else { "transient" };
        self.store_errors
            .get_or_create(&vec![("class", class.to_string())])
            .inc();
    }

    /// Records the queue length seen by the last pop.
    pub(crate) fn queue_length(&self, n: usize) {
        self.queue_length.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}
