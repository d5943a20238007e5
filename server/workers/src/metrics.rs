//! The Prometheus metrics of `d4-workers` (prefix `d4_workers_`), served by `--metrics`.
//!
//! - `entries` (counter, label `type`): stream entries read, per D4 type.
//! - `lines` (counter, label `type`): items produced from them (lines, or the paths of
//!   saved files), per D4 type.
//! - `queued_items` (counter, label `queue_type`): items pushed to analyzer queues, counted
//!   once per queue; `queue_dropped_items` (counter, label `queue_type`): the oldest items
//!   trimmed off full queues. `queue_type` is the D4 type, or the extended type name of
//!   type 254; only kinds with at least one queue (made by the admin) get a series.
//! - `sessions_active` (gauge, label `type`): sessions each worker family follows.

use std::sync::Arc;

use d4_core::metrics::prometheus_client::metrics::counter::Counter;
use d4_core::metrics::prometheus_client::metrics::family::Family;
use d4_core::metrics::prometheus_client::metrics::gauge::Gauge;
use d4_core::metrics::prometheus_client::registry::Registry;
use d4_core::queues::deliver::Delivered;
use d4_core::queues::QueueKind;

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// The counters the worker families update.
#[derive(Debug, Default)]
pub struct Metrics {
    entries: Family<Labels, Counter>,
    lines: Family<Labels, Counter>,
    queued: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
    sessions: Family<Labels, Gauge>,
}

impl Metrics {
    /// The metrics, registered in a new `d4_workers` registry.
    pub fn registered() -> (Arc<Self>, Registry) {
        let m = Arc::new(Metrics::default());
        let mut r = Registry::with_prefix("d4_workers");
        r.register("entries", "Stream entries read", m.entries.clone());
        r.register(
            "lines",
            "Items (lines or saved file paths) produced from the entries",
            m.lines.clone(),
        );
        r.register(
            "queued_items",
            "Items pushed to analyzer queues, once per queue",
            m.queued.clone(),
        );
        r.register(
            "queue_dropped_items",
            "Oldest items trimmed off full analyzer queues",
            m.dropped.clone(),
        );
        r.register(
            "sessions_active",
            "Sensor sessions followed by each worker family",
            m.sessions.clone(),
        );
        (m, r)
    }

    /// Counts `entries` stream entries of type `ty` that produced `lines` items.
    pub(crate) fn processed(&self, ty: u8, entries: usize, lines: usize) {
        let labels = vec![("type", ty.to_string())];
        self.entries.get_or_create(&labels).inc_by(entries as u64);
        self.lines.get_or_create(&labels).inc_by(lines as u64);
    }

    /// Counts one delivery to the queues of `kind`.
    pub(crate) fn delivered(&self, kind: &QueueKind, d: Delivered) {
        if d.queues == 0 {
            return;
        }
        let label = match kind.extended() {
            Some(name) => name.to_owned(),
            None => kind.format_type().to_string(),
        };
        let labels = vec![("queue_type", label)];
        let items = (d.lines as u64).saturating_mul(d.queues as u64);
        self.queued.get_or_create(&labels).inc_by(items);
        self.dropped.get_or_create(&labels).inc_by(d.trimmed);
    }

    /// Sets how many sessions the family of manager type `ty` follows.
    pub(crate) fn sessions(&self, ty: u8, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.sessions
            .get_or_create(&vec![("type", ty.to_string())])
            .set(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_counters_and_move() {
        let (m, r) = Metrics::registered();
        m.processed(8, 2, 5);
        let d = Delivered {
            queues: 2,
            lines: 5,
            trimmed: 1,
        };
        m.delivered(&QueueKind::Plain(8), d);
        m.delivered(&QueueKind::Extended("ja3-jl".into()), Delivered::default());
        m.sessions(8, 3);
        let text = d4_core::metrics::render(&r);
        for t in [
            "# TYPE d4_workers_lines counter",
            "# TYPE d4_workers_queued_items counter",
            "# TYPE d4_workers_sessions_active gauge",
            "d4_workers_entries_total{type=\"8\"} 2",
            "d4_workers_lines_total{type=\"8\"} 5",
            "d4_workers_queued_items_total{queue_type=\"8\"} 10",
            "d4_workers_queue_dropped_items_total{queue_type=\"8\"} 1",
            "d4_workers_sessions_active{type=\"8\"} 3",
        ] {
            assert!(text.contains(t), "{t} missing in\n{text}");
        }
        assert!(!text.contains("ja3-jl"), "no queue, no series:\n{text}");
    }
}
