//! Creating, editing, flushing and removing analyzer queues (upstream `Analyzer_Queue.py`
//! `create_queues`, `edit_queue_*`, `flush_queue`, `remove_queues`).
//!
//! Each operation writes exactly upstream's keys, with its bugs fixed: group queues of
//! plain types are indexed under `sensor:queues:<type>:<sensor>` (not `:list:`), sensor
//! sets of extended queues use the extended name, sensor uuids are stored without
//! dashes, and flushing/removing an extended queue touches `analyzer:<ext>:<q>`.

use std::collections::BTreeSet;

use crate::store::{pipe, Cmd, Value};

use super::{sanitize_queue_type, sensor_key, QueueError, QueueKind, Queues};
use crate::keys::meta;
use d4_proto::is_valid_uuid_v4_str;

/// What to create (the web's create-queue form).
#[derive(Debug, Clone, Default)]
pub struct NewQueue {
    /// Format type as given (upstream sanitizes: non-integer → 1, 2 → 254).
    pub format_type: String,
    /// Extended type name (required for 254).
    pub metatype: Option<String>,
    /// Wanted queue uuid; replaced by a fresh dashed uuid4 if invalid or already used.
    pub uuid: Option<String>,
    /// Sensors of a group queue; empty for a type queue.
    pub sensors: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// Optional `max_size` stored at creation (upstream never stores one here).
    pub max_size: Option<u64>,
}

impl Queues {
    /// Validates the type (and extended type) of a new queue against the accepted sets.
    pub async fn check_kind(
        &self,
        format_type: &str,
        metatype: Option<&str>,
    ) -> Result<QueueKind, QueueError> {
        let ty = sanitize_queue_type(format_type);
        let accepted: bool = self
            .meta
            .query(&Cmd::sismember(meta::ACCEPTED_TYPE, ty))
            .await?;
        let ty = u8::try_from(ty).map_err(|_| QueueError::InvalidType)?;
        if !accepted {
            return Err(QueueError::InvalidType);
        }
        if ty != 254 {
            return Ok(QueueKind::Plain(ty));
        }
        let ext = metatype.unwrap_or_default().trim();
        let ok: bool = !ext.is_empty()
            && self
                .meta
                .query::<bool>(&Cmd::sismember(meta::ACCEPTED_EXTENDED_TYPE, ext))
                .await?;
        if ok {
            Ok(QueueKind::Extended(ext.to_string()))
        } else {
            Err(QueueError::InvalidExtendedType)
        }
    }

    /// Creates a queue; returns its uuid (the one given if valid and unused, else a new one).
    pub async fn create(&self, new: &NewQueue) -> Result<String, QueueError> {
        let kind = self
            .check_kind(&new.format_type, new.metatype.as_deref())
            .await?;
        let q = self.fresh_queue_uuid(new.uuid.as_deref()).await?;
        let sensors: BTreeSet<String> = new
            .sensors
            .iter()
            .map(|s| sensor_key(s))
            .filter(|s| !s.is_empty())
            .collect();
        let mut p = pipe();
        let qkey = meta::queue(&q);
        p.hset(&qkey, meta::queue_field::TYPE, kind.format_type())
            .ignore();
        if let Some(d) = new.description.as_deref().filter(|d| !d.is_empty()) {
            p.hset(&qkey, meta::queue_field::DESCRIPTION, d).ignore();
        }
        if let Some(n) = new.max_size.filter(|n| *n > 0) {
            p.hset(&qkey, meta::queue_field::MAX_SIZE, n).ignore();
        }
        let ty = kind.format_type().to_string();
        p.sadd(meta::ALL_ANALYZER_FORMAT_TYPE, &ty).ignore();
        p.sadd(meta::all_queues_by_format_type(&ty), &q).ignore();
        let index = if sensors.is_empty() {
            kind.type_queues_key()
        } else {
            kind.group_queues_key()
        };
        p.sadd(index, &q).ignore();
        if let QueueKind::Extended(ext) = &kind {
            p.hset(&qkey, meta::queue_field::METATYPE, ext).ignore();
            p.sadd(meta::all_queues_by_extended_type(ext), &q).ignore();
            p.sadd(meta::ALL_ANALYZER_EXTENDED_TYPE, ext).ignore();
        }
        for s in &sensors {
            p.sadd(meta::queue_sensor_group(&q), s).ignore();
            p.sadd(kind.sensor_queues_key(s), &q).ignore();
        }
        p.sadd(meta::ALL_ANALYZER_QUEUES, &q).ignore();
        self.meta.run::<()>(&p).await?;
        Ok(q)
    }

    /// Upstream `sanitize_uuid(q, not_exist=True)`: keep a valid unused uuid as given,
    /// else make a new dashed uuid4.
    async fn fresh_queue_uuid(&self, wanted: Option<&str>) -> Result<String, QueueError> {
        if let Some(q) = wanted.map(str::trim).filter(|q| is_valid_uuid_v4_str(q)) {
            let exists: bool = self.meta.query(&Cmd::exists(meta::queue(q))).await?;
            if !exists {
                return Ok(q.to_string());
            }
        }
        Ok(uuid::Uuid::new_v4().to_string())
    }

    /// Sets the description (ignored when empty, as upstream). Returns whether it was set.
    pub async fn edit_description(&self, q: &str, description: &str) -> Result<bool, QueueError> {
        if description.is_empty() || !self.exists(q).await? {
            return Ok(false);
        }
        self.meta
            .query::<()>(&Cmd::hset(
                meta::queue(q),
                meta::queue_field::DESCRIPTION,
                description,
            ))
            .await?;
        Ok(true)
    }

    /// Sets `max_size` from the web's text input: non-integer → [`QueueError::InvalidMaxSize`];
    /// stored only if the queue exists and the value is > 0. Returns whether it was stored.
    pub async fn edit_max_size(&self, q: &str, raw: &str) -> Result<bool, QueueError> {
        let n: i64 = raw.trim().parse().map_err(|_| QueueError::InvalidMaxSize)?;
        if n <= 0 || !self.exists(q).await? {
            return Ok(false);
        }
        self.meta
            .query::<()>(&Cmd::hset(meta::queue(q), meta::queue_field::MAX_SIZE, n))
            .await?;
        Ok(true)
    }

    /// Makes the queue's sensor group equal to `sensors` (dashes stripped), updating
    /// `analyzer_sensor_group:<q>` and each `sensor:queues:<type-or-ext>:<sensor>`.
    pub async fn edit_sensors(&self, q: &str, sensors: &[String]) -> Result<(), QueueError> {
        let kind = self.kind_of(q).await?.ok_or(QueueError::UnknownQueue)?;
        let wanted: BTreeSet<String> = sensors
            .iter()
            .map(|s| sensor_key(s))
            .filter(|s| !s.is_empty())
            .collect();
        let current: BTreeSet<String> = self
            .meta
            .query(&Cmd::smembers(meta::queue_sensor_group(q)))
            .await?;
        let mut p = pipe();
        for s in wanted.difference(&current) {
            p.sadd(meta::queue_sensor_group(q), s).ignore();
            p.sadd(kind.sensor_queues_key(s), q).ignore();
        }
        for s in current.difference(&wanted) {
            p.srem(meta::queue_sensor_group(q), s).ignore();
            p.srem(kind.sensor_queues_key(s), q).ignore();
        }
        if !p.is_empty() {
            self.meta.run::<()>(&p).await?;
        }
        Ok(())
    }

    /// Empties the queue's list (`DEL analyzer:<type-or-ext>:<q>`).
    pub async fn flush(&self, q: &str) -> Result<(), QueueError> {
        let kind = self.kind_of(q).await?.ok_or(QueueError::UnknownQueue)?;
        self.analyzer
            .query::<()>(&Cmd::del(kind.list_key(q)))
            .await?;
        Ok(())
    }

    /// Removes a queue: its hash, group, index memberships and list.
    pub async fn remove(&self, q: &str) -> Result<(), QueueError> {
        if !is_valid_uuid_v4_str(q) {
            return Err(QueueError::InvalidUuid);
        }
        let kind = self.kind_of(q).await?.ok_or(QueueError::UnknownQueue)?;
        let sensors: Vec<String> = self
            .meta
            .query(&Cmd::smembers(meta::queue_sensor_group(q)))
            .await?;
        let ty = kind.format_type().to_string();
        let mut p = pipe();
        p.del(meta::queue(q)).ignore();
        p.del(meta::queue_sensor_group(q)).ignore();
        for s in &sensors {
            p.srem(kind.sensor_queues_key(s), q).ignore();
            // Queues made by the Python stack were indexed under `list` (spec §9 item 27).
            p.srem(meta::sensor_queues("list", s), q).ignore();
        }
        p.srem(meta::all_queues_by_format_type(&ty), q).ignore();
        p.srem(kind.type_queues_key(), q).ignore();
        p.srem(kind.group_queues_key(), q).ignore();
        if let Some(ext) = kind.extended() {
            p.srem(meta::all_queues_by_extended_type(ext), q).ignore();
        }
        p.srem(meta::ALL_ANALYZER_QUEUES, q).ignore();
        p.scard(meta::all_queues_by_format_type(&ty));
        if let Some(ext) = kind.extended() {
            p.scard(meta::all_queues_by_extended_type(ext));
        }
        let replies: Vec<Value> = self.meta.run(&p).await?;
        self.prune_indexes(&kind, &ty, &replies).await?;
        self.analyzer
            .query::<()>(&Cmd::del(kind.list_key(q)))
            .await?;
        Ok(())
    }

    /// Drops the type / extended type from the `all:analyzer:*` sets once no queue uses it.
    /// `replies` ends with the SCARD of the by-type set (and of the by-ext set for 254).
    async fn prune_indexes(
        &self,
        kind: &QueueKind,
        ty: &str,
        replies: &[Value],
    ) -> Result<(), QueueError> {
        let count = |v: Option<&Value>| v.and_then(crate::store::value::int).unwrap_or(1);
        let (by_type, by_ext) = match kind {
            QueueKind::Extended(_) => {
                let n = replies.len();
                (count(replies.get(n.wrapping_sub(2))), count(replies.last()))
            }
            QueueKind::Plain(_) => (count(replies.last()), 1),
        };
        if by_type == 0 {
            self.meta
                .query::<()>(&Cmd::srem(meta::ALL_ANALYZER_FORMAT_TYPE, ty))
                .await?;
        }
        if let (0, Some(ext)) = (by_ext, kind.extended()) {
            self.meta
                .query::<()>(&Cmd::srem(meta::ALL_ANALYZER_EXTENDED_TYPE, ext))
                .await?;
        }
        Ok(())
    }

    /// Whether `analyzer:<q>` exists.
    pub async fn exists(&self, q: &str) -> Result<bool, QueueError> {
        Ok(self.meta.query(&Cmd::exists(meta::queue(q))).await?)
    }
}
