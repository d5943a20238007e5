//! Whether the queue `analyzer:8:<my-uuid>` can ever receive data: the D4 server only pushes
//! to queues registered in its metadata store (hash `analyzer:<uuid>` of type 8), so an
//! unregistered uuid is a silent dead end. The ingestion checks at start and then
//! periodically ([`watch`]), and `--check` once ([`QueueStatus::read`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use d4_core::config::RedisEndpoint;
use d4_core::queues::{QueueInfo, QueueKind, Queues};
use d4_core::store::{Policy, Store};
use tokio_util::sync::CancellationToken;

use crate::model::config::HOW_TO_CREATE;

/// A registered queue that received nothing for this long gets a hint.
pub const IDLE_HINT_AFTER: Duration = Duration::from_secs(600);

/// What the metadata store says about the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueStatus {
    /// A type-8 queue: its last push (epoch seconds, if any) and whether it is a group queue
    /// with its sensors.
    Registered {
        /// `last_updated` of the queue hash.
        last_updated: Option<f64>,
        /// Sensors of a group queue (empty: every type-8 sensor feeds it).
        sensors: Vec<String>,
    },
    /// No queue with this uuid.
    Missing,
    /// A queue of another type.
    WrongType(QueueKind),
}

impl QueueStatus {
    /// Reads the queue's registration from the metadata store `meta` (one connection
    /// attempt: a dead store is an error the caller reports).
    pub async fn read(meta: &RedisEndpoint, uuid: &str) -> anyhow::Result<QueueStatus> {
        let store = Store::connect(meta, Policy::INTERACTIVE).await?;
        // `get` reads the list length from the second store; the metadata one stands in
        // (the length is not used here).
        let queues = Queues::new(store.clone(), store, 1);
        let info = queues.get(uuid).await?;
        Ok(Self::from_info(info))
    }

    fn from_info(info: Option<QueueInfo>) -> QueueStatus {
        match info {
            None => QueueStatus::Missing,
            Some(i) if i.kind == QueueKind::Plain(8) => QueueStatus::Registered {
                last_updated: i.last_updated,
                sensors: i.sensors,
            },
            Some(i) => QueueStatus::WrongType(i.kind),
        }
    }

    /// What is wrong, if anything: a missing or mistyped queue is a problem (`Err`), a
    /// registered one that received nothing for [`IDLE_HINT_AFTER`] a hint (`Ok(Some)`).
    pub fn problem(&self, uuid: &str, meta: &RedisEndpoint) -> Result<Option<String>, String> {
        match self {
            QueueStatus::Missing => Err(format!(
                "queue {uuid} ([global] my-uuid) is not registered on the D4 server (no \
                 analyzer queue with this uuid in its metadata store {}): nothing will arrive. \
                 {HOW_TO_CREATE}",
                meta.url()
            )),
            QueueStatus::WrongType(kind) => Err(format!(
                "queue {uuid} ([global] my-uuid) is a queue of type {}, not 8 (passive DNS): \
                 its data is not passivedns lines. {HOW_TO_CREATE}",
                kind_text(kind)
            )),
            QueueStatus::Registered {
                last_updated,
                sensors,
            } => Ok(idle_hint(*last_updated, sensors, now_epoch())),
        }
    }
}

/// `8` or `254 (<ext>)`.
fn kind_text(kind: &QueueKind) -> String {
    match kind {
        QueueKind::Plain(t) => t.to_string(),
        QueueKind::Extended(ext) => format!("254 ({ext})"),
    }
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The hint for a registered queue that never received data, or not for a long time.
fn idle_hint(last_updated: Option<f64>, sensors: &[String], now: f64) -> Option<String> {
    let feeders = if sensors.is_empty() {
        "every sensor of type 8 feeds it: is one sending (`d4-passivedns ... -l - | d4-client`) \
         and approved (web: Server Management → Pending Sensors)?"
            .to_string()
    } else {
        format!(
            "it is a sensor-group queue fed only by {}: are they sending?",
            sensors.join(", ")
        )
    };
    match last_updated {
        None => Some(format!(
            "the queue is registered but never received data; {feeders}"
        )),
        Some(t) if now - t >= IDLE_HINT_AFTER.as_secs_f64() => Some(format!(
            "the queue received nothing for {} s; {feeders}",
            (now - t) as u64
        )),
        Some(_) => None,
    }
}

/// Logs what is wrong with the queue now and then every `every` until `stop`: a missing or
/// mistyped queue at WARN, an idle one as a WARN hint, an unreachable metadata store at WARN.
/// Silent while the queue is registered and fed.
pub async fn watch(meta: RedisEndpoint, uuid: String, every: Duration, stop: CancellationToken) {
    loop {
        match QueueStatus::read(&meta, &uuid).await {
            Ok(status) => match status.problem(&uuid, &meta) {
                Err(p) => tracing::warn!(queue = %uuid, "{p}"),
                Ok(Some(hint)) => tracing::warn!(queue = %uuid, "Hint: {hint}"),
                Ok(None) => {}
            },
            Err(e) => {
                tracing::warn!(queue = %uuid, metadata = %meta.url(), error = %format!("{e:#}"), "Cannot check that the queue is registered.")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_hint_names_the_feeders() {
        assert_eq!(idle_hint(Some(1000.0), &[], 1100.0), None);
        let never = idle_hint(None, &[], 0.0).unwrap_or_default();
        assert!(never.contains("never received"), "{never}");
        let group = idle_hint(Some(0.0), &["abc".into()], 1000.0).unwrap_or_default();
        assert!(group.contains("1000 s") && group.contains("abc"), "{group}");
    }

    #[test]
    fn missing_and_mistyped_queues_are_problems() {
        let meta = RedisEndpoint::single("127.0.0.1", 6380, 0);
        let missing = QueueStatus::Missing
            .problem("u", &meta)
            .expect_err("missing");
        assert!(missing.contains("not registered") && missing.contains("d4-queues create"));
        let typed = QueueStatus::WrongType(QueueKind::Plain(1))
            .problem("u", &meta)
            .expect_err("type");
        assert!(typed.contains("type 1, not 8"), "{typed}");
    }
}
