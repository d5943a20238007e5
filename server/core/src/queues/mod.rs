//! Analyzer queues: the lists external analyzers `RPOP` (spec `d4-core-server.md` §5).
//!
//! A queue is a hash `analyzer:<q>` in META plus a list `analyzer:<type-or-ext>:<q>` in
//! ANALYZER (6380 db 2). Workers `LPUSH` one item per line, analyzers `RPOP` from the
//! right, so the list is FIFO. A queue is either a *type* queue (every sensor's data of
//! that type) or a *sensor-group* queue (only the listed sensors). This module owns
//! every operation on them:
//!
//! - [`admin`]: create, edit (description, max size, sensor set), flush, remove;
//! - [`read`]: queue metadata for listings (length, last update, group members);
//! - [`deliver`]: pushing lines to every queue of a type plus the sensor's group
//!   queues, one pipeline per batch, with a short-lived target cache.
//!
//! Key names come from [`crate::keys`]; the layout is upstream's so the Python web,
//! `Analyzer_Queue.py` and legacy analyzers keep working. Upstream bugs fixed here
//! (spec §9 items 26-31) are listed in `docs/compatibility.md`.

pub mod admin;
pub mod deliver;
pub mod read;

use std::fmt;

use crate::store::{cmd, Store, StoreError};

pub use admin::NewQueue;
pub use deliver::{Router, Target};
pub use read::QueueInfo;

/// Why a queue operation was refused. The `Display` texts are upstream's messages.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The type is not in `server:accepted_type`.
    #[error("Invalid type")]
    InvalidType,
    /// The extended type is not in `server:accepted_extended_type`.
    #[error("Invalid extended type")]
    InvalidExtendedType,
    /// Not a v4 uuid (dashes allowed).
    #[error("Invalid uuid")]
    InvalidUuid,
    /// No `analyzer:<q>` hash.
    #[error("unknow queue uuid")]
    UnknownQueue,
    /// A max size that is not a positive integer.
    #[error("analyzer max size, Invalid Integer")]
    InvalidMaxSize,
    /// The store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// What a queue carries: a plain D4 type or an extended (type 254) type name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueKind {
    /// A plain D4 type (never 2 or 254: 2 is stored as 254, 254 needs a name).
    Plain(u8),
    /// An extended type of 254 sessions, e.g. `ja3-jl`.
    Extended(String),
}

impl QueueKind {
    /// The decimal format type stored in `analyzer:<q>` `type` (254 for extended).
    pub fn format_type(&self) -> u8 {
        match self {
            QueueKind::Plain(t) => *t,
            QueueKind::Extended(_) => 254,
        }
    }

    /// The extended type name, if any.
    pub fn extended(&self) -> Option<&str> {
        match self {
            QueueKind::Plain(_) => None,
            QueueKind::Extended(e) => Some(e),
        }
    }

    /// META set of type (non-group) queues: `analyzer:<type>` or `analyzer:254:<ext>`.
    pub fn type_queues_key(&self) -> String {
        match self {
            QueueKind::Plain(t) => crate::keys::meta::queues_of_type(t),
            QueueKind::Extended(e) => crate::keys::meta::queues_of_extended_type(e),
        }
    }

    /// META set of group queues: `analyzer_uuid_group:<type>` or `analyzer_uuid_group:254:<ext>`.
    pub fn group_queues_key(&self) -> String {
        match self {
            QueueKind::Plain(t) => crate::keys::meta::group_queues_of_type(t),
            QueueKind::Extended(e) => crate::keys::meta::group_queues_of_extended_type(e),
        }
    }

    /// ANALYZER list of queue `q`: `analyzer:<type-or-ext>:<q>`.
    pub fn list_key(&self, q: &str) -> String {
        crate::keys::analyzer::queue(self, q)
    }

    /// META set `sensor:queues:<type-or-ext>:<sensor>`.
    pub fn sensor_queues_key(&self, sensor: &str) -> String {
        crate::keys::meta::sensor_queues(self, sensor)
    }
}

impl fmt::Display for QueueKind {
    /// The `<type-or-ext>` part of queue keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueKind::Plain(t) => write!(f, "{t}"),
            QueueKind::Extended(e) => f.write_str(e),
        }
    }
}

/// Upstream `sanitize_queue_type`: a non-integer becomes 1, and 2 becomes 254.
pub fn sanitize_queue_type(raw: &str) -> i64 {
    match raw.trim().parse::<i64>() {
        Ok(2) => 254,
        Ok(t) => t,
        Err(_) => 1,
    }
}

/// A sensor uuid as the server keys it: dashes removed.
pub fn sensor_key(sensor: &str) -> String {
    sensor.trim().chars().filter(|c| *c != '-').collect()
}

/// Float epoch as Python's `repr(time.time())` writes it (`last_updated`).
pub fn float_epoch_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", now.as_secs_f64())
}

/// Analyzer-queue management over the META and ANALYZER stores.
#[derive(Clone)]
pub struct Queues {
    /// `Redis_METADATA` (queue hashes and index sets).
    pub meta: Store,
    /// `Redis_ANALYZER` (the queue lists).
    pub analyzer: Store,
    /// `[D4_Server] analyzer_queues_max_size`: the size of queues without `max_size`.
    pub default_max: u64,
}

impl Queues {
    /// Wraps connected stores.
    pub fn new(meta: Store, analyzer: Store, default_max: u64) -> Self {
        Queues {
            meta,
            analyzer,
            default_max: default_max.max(1),
        }
    }

    /// The kind of an existing queue, from its hash; `None` if the queue does not exist
    /// or its hash has no usable `type`.
    pub async fn kind_of(&self, q: &str) -> Result<Option<QueueKind>, QueueError> {
        use crate::keys::meta::{queue, queue_field};
        let (ty, meta): (Option<String>, Option<String>) = self
            .meta
            .query(
                cmd("HMGET")
                    .arg(queue(q))
                    .arg(queue_field::TYPE)
                    .arg(queue_field::METATYPE),
            )
            .await?;
        Ok(kind_from_fields(ty.as_deref(), meta.as_deref()))
    }
}

/// Rebuilds a [`QueueKind`] from the `type` / `metatype` fields of a queue hash.
pub(crate) fn kind_from_fields(ty: Option<&str>, metatype: Option<&str>) -> Option<QueueKind> {
    let ty: u8 = ty?.trim().parse().ok()?;
    match (ty, metatype) {
        (254, Some(ext)) if !ext.is_empty() => Some(QueueKind::Extended(ext.to_string())),
        (254, _) => None,
        (t, _) => Some(QueueKind::Plain(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_type_is_sanitized_like_upstream() {
        assert_eq!(sanitize_queue_type("8"), 8);
        assert_eq!(sanitize_queue_type("2"), 254);
        assert_eq!(sanitize_queue_type("x"), 1);
        assert_eq!(sanitize_queue_type(""), 1);
    }

    #[test]
    fn kinds_name_their_keys() {
        let p = QueueKind::Plain(8);
        assert_eq!(p.list_key("q"), "analyzer:8:q");
        assert_eq!(p.type_queues_key(), "analyzer:8");
        assert_eq!(p.group_queues_key(), "analyzer_uuid_group:8");
        assert_eq!(p.sensor_queues_key("s"), "sensor:queues:8:s");
        let e = QueueKind::Extended("ja3-jl".into());
        assert_eq!(e.list_key("q"), "analyzer:ja3-jl:q");
        assert_eq!(e.type_queues_key(), "analyzer:254:ja3-jl");
        assert_eq!(e.group_queues_key(), "analyzer_uuid_group:254:ja3-jl");
        assert_eq!(e.sensor_queues_key("s"), "sensor:queues:ja3-jl:s");
        assert_eq!(e.format_type(), 254);
    }

    #[test]
    fn kind_from_hash_fields() {
        assert_eq!(kind_from_fields(Some("8"), None), Some(QueueKind::Plain(8)));
        assert_eq!(
            kind_from_fields(Some("254"), Some("ja3-jl")),
            Some(QueueKind::Extended("ja3-jl".into()))
        );
        assert_eq!(kind_from_fields(Some("254"), None), None);
        assert_eq!(kind_from_fields(None, None), None);
        assert_eq!(kind_from_fields(Some("x"), None), None);
    }

    #[test]
    fn sensor_keys_drop_dashes() {
        assert_eq!(
            sensor_key("ff7ba400-e76c-4053-982d-feec42bdef38"),
            "ff7ba400e76c4053982dfeec42bdef38"
        );
    }

    #[test]
    fn float_epoch_parses_as_a_float() {
        let v: f64 = float_epoch_now().parse().unwrap();
        assert!(v > 1.6e9);
    }
}
