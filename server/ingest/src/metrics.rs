//! The Prometheus metrics of `d4-server` (prefix `d4_server_`), served by `--metrics`.
//!
//! - `accepted_packets`, `accepted_bytes` (counters, labels `type`, `uuid`): packets and
//!   payload bytes written to the stream store. The first [`MAX_SENSOR_LABELS`] sensor
//!   uuids get their own series; later ones share `uuid="other"`, so a flood of forged
//!   uuids cannot grow the registry without bound.
//! - `rejections` (counter, labels `reason`, `type`): connections closed by a check, by
//!   [`Reject::kind`](crate::reject::Reject::kind).
//! - `connections` (counter): connections admitted; `connection_ends` (counter, label `end`):
//!   how sessions ended.
//! - `connections_open`, `unauthenticated_reserved_bytes` (gauges) and `admission_refused`
//!   (label `reason`), `admission_evicted` (label `reason`) (counters): read from the
//!   [`Admission`] bookkeeping at each scrape.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use d4_core::metrics::prometheus_client::collector::Collector;
use d4_core::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use d4_core::metrics::prometheus_client::metrics::counter::{ConstCounter, Counter};
use d4_core::metrics::prometheus_client::metrics::family::Family;
use d4_core::metrics::prometheus_client::metrics::gauge::ConstGauge;
use d4_core::metrics::prometheus_client::registry::Registry;
use d4_proto::DataType;

use crate::admission::Admission;

/// How many sensor uuids get their own `uuid` label value.
pub const MAX_SENSOR_LABELS: usize = 1000;

/// The label value shared by the sensors past [`MAX_SENSOR_LABELS`].
pub const OTHER_SENSORS: &str = "other";

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// The counters the connections update.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted_packets: Family<Labels, Counter>,
    accepted_bytes: Family<Labels, Counter>,
    rejections: Family<Labels, Counter>,
    connections: Counter,
    connection_ends: Family<Labels, Counter>,
    /// The uuids that have their own label value.
    labelled: Mutex<HashSet<String>>,
}

impl Metrics {
    /// The metrics, registered in a new `d4_server` registry with the admission gauges.
    pub fn registered(admission: Arc<Admission>) -> (Arc<Self>, Registry) {
        let m = Arc::new(Metrics::default());
        let mut r = Registry::with_prefix("d4_server");
        r.register(
            "accepted_packets",
            "D4 packets accepted and written to the stream store",
            m.accepted_packets.clone(),
        );
        r.register(
            "accepted_bytes",
            "Payload bytes of the accepted D4 packets",
            m.accepted_bytes.clone(),
        );
        r.register(
            "rejections",
            "Connections closed by a check, by reason and D4 type",
            m.rejections.clone(),
        );
        r.register("connections", "Connections admitted", m.connections.clone());
        r.register(
            "connection_ends",
            "Sessions ended, by how they ended",
            m.connection_ends.clone(),
        );
        r.register_collector(Box::new(AdmissionCollector(admission)));
        (m, r)
    }

    /// Counts one admitted connection.
    pub fn connection(&self) {
        self.connections.inc();
    }

    /// Counts a written batch of `packets` packets holding `bytes` payload bytes.
    pub fn accepted(&self, uuid: &str, ty: DataType, packets: u64, bytes: u64) {
        let labels = vec![("type", ty.0.to_string()), ("uuid", self.uuid_label(uuid))];
        self.accepted_packets.get_or_create(&labels).inc_by(packets);
        self.accepted_bytes.get_or_create(&labels).inc_by(bytes);
    }

    /// Counts a rejection.
    pub fn rejected(&self, reason: &'static str, ty: DataType) {
        let labels = vec![("reason", reason.to_owned()), ("type", ty.0.to_string())];
        self.rejections.get_or_create(&labels).inc();
    }

    /// Counts how a session ended, by the label the connection gives its end.
    pub fn ended(&self, how: &'static str) {
        self.connection_ends
            .get_or_create(&vec![("end", how.to_owned())])
            .inc();
    }

    /// `uuid` itself while fewer than [`MAX_SENSOR_LABELS`] uuids have a label, else
    /// [`OTHER_SENSORS`].
    fn uuid_label(&self, uuid: &str) -> String {
        let mut seen = self.labelled.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(uuid) {
            return uuid.to_owned();
        }
        if seen.len() < MAX_SENSOR_LABELS {
            seen.insert(uuid.to_owned());
            return uuid.to_owned();
        }
        OTHER_SENSORS.to_owned()
    }
}

/// Reads the admission bookkeeping at scrape time.
struct AdmissionCollector(Arc<Admission>);

impl std::fmt::Debug for AdmissionCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdmissionCollector")
    }
}

impl Collector for AdmissionCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let a = &self.0;
        let open = ConstGauge::new(a.live() as i64);
        let help = "Connections open now (authenticated or not)";
        open.encode(encoder.encode_descriptor(
            "connections_open",
            help,
            None,
            open.metric_type(),
        )?)?;
        let reserved = ConstGauge::new(a.reserved() as i64);
        let help = "Payload bytes reserved by connections not authenticated yet";
        reserved.encode(encoder.encode_descriptor(
            "unauthenticated_reserved_bytes",
            help,
            None,
            reserved.metric_type(),
        )?)?;
        let c = a.counts();
        let refused = [
            ("per_address", c.refused_per_address),
            ("full", c.refused_full),
        ];
        let help = "Connections refused at accept (per-address cap, every slot authenticated)";
        encode_counters(&mut encoder, "admission_refused", help, &refused)?;
        let evicted = [
            ("slot", c.evicted_for_slot),
            ("buffer", c.evicted_for_buffer),
        ];
        let help = "Unauthenticated connections evicted for a slot or for buffer space";
        encode_counters(&mut encoder, "admission_evicted", help, &evicted)
    }
}

/// One counter family `name` with a `reason` label per value.
fn encode_counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(&str, u64)],
) -> Result<(), std::fmt::Error> {
    let kind = ConstCounter::new(0u64).metric_type();
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (reason, v) in values {
        let labels = [("reason", *reason)];
        ConstCounter::new(*v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use d4_core::config::AdmissionSettings;

    fn render(r: &Registry) -> String {
        d4_core::metrics::render(r)
    }

    #[test]
    fn counters_are_counters_and_move() {
        let (m, r) = Metrics::registered(Admission::new(AdmissionSettings::default()));
        m.connection();
        m.accepted("u1", DataType(8), 2, 100);
        m.rejected("bad_hmac", DataType(8));
        m.ended("eof");
        let text = render(&r);
        for t in [
            "# TYPE d4_server_accepted_packets counter",
            "# TYPE d4_server_admission_refused counter",
            "# TYPE d4_server_connections_open gauge",
            "d4_server_accepted_bytes_total{type=\"8\",uuid=\"u1\"} 100",
            "d4_server_accepted_packets_total{type=\"8\",uuid=\"u1\"} 2",
            "d4_server_rejections_total{reason=\"bad_hmac\",type=\"8\"} 1",
            "d4_server_connections_total 1",
            "d4_server_connection_ends_total{end=\"eof\"} 1",
            "d4_server_admission_evicted_total{reason=\"slot\"} 0",
        ] {
            assert!(text.contains(t), "{t} missing in\n{text}");
        }
    }

    #[test]
    fn sensor_labels_are_bounded() {
        let m = Metrics::default();
        for i in 0..MAX_SENSOR_LABELS {
            assert_eq!(m.uuid_label(&i.to_string()), i.to_string());
        }
        assert_eq!(m.uuid_label("new"), OTHER_SENSORS);
        assert_eq!(m.uuid_label("0"), "0");
    }
}
