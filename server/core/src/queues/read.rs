//! Reading queue metadata for listings (upstream `get_queue_metadata` and the server
//! management page): type, description, size limit, last update, length, group members.
//!
//! Many queues are read with three pipelines in total (hashes, group membership, list
//! lengths), never one round trip per field.

use std::collections::HashMap;

use crate::store::{pipe, value, Cmd, Value};

use super::{kind_from_fields, QueueError, QueueKind, Queues};
use crate::keys::meta;

/// Everything the web shows about one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    /// Queue uuid as stored (dashed or not).
    pub uuid: String,
    /// What it carries.
    pub kind: QueueKind,
    /// `description` (empty when unset).
    pub description: String,
    /// `max_size` if stored.
    pub max_size: Option<u64>,
    /// The limit in force: `max_size` or the configured default.
    pub size_limit: u64,
    /// `last_updated` float epoch, if the queue ever received data.
    pub last_updated: Option<f64>,
    /// Current list length (`LLEN`).
    pub length: u64,
    /// Whether it is a sensor-group queue.
    pub is_group: bool,
    /// Sensors of the group (sorted; empty for type queues).
    pub sensors: Vec<String>,
}

impl QueueInfo {
    /// `last_updated` as upstream displays it: `Never` or local `%Y-%m-%d %H:%M:%S`.
    pub fn last_updated_text(&self) -> String {
        use chrono::TimeZone;
        self.last_updated
            .and_then(|t| chrono::Local.timestamp_opt(t.trunc() as i64, 0).single())
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "Never".to_string())
    }
}

impl Queues {
    /// Every queue uuid (`all_analyzer_queues`), sorted.
    pub async fn uuids(&self) -> Result<Vec<String>, QueueError> {
        let mut v: Vec<String> = self
            .meta
            .query(&Cmd::smembers(meta::ALL_ANALYZER_QUEUES))
            .await?;
        v.sort();
        Ok(v)
    }

    /// Metadata of every queue, sorted by kind then uuid. Queues whose hash is gone are skipped.
    pub async fn list(&self) -> Result<Vec<QueueInfo>, QueueError> {
        let uuids = self.uuids().await?;
        let mut v = self.get_many(&uuids).await?;
        v.sort_by(|a, b| (&a.kind, &a.uuid).cmp(&(&b.kind, &b.uuid)));
        Ok(v)
    }

    /// Metadata of one queue; `None` if it does not exist.
    pub async fn get(&self, q: &str) -> Result<Option<QueueInfo>, QueueError> {
        Ok(self.get_many(&[q.to_string()]).await?.into_iter().next())
    }

    /// Metadata of several queues in three pipelined round trips.
    pub async fn get_many(&self, uuids: &[String]) -> Result<Vec<QueueInfo>, QueueError> {
        if uuids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = pipe();
        for q in uuids {
            p.hgetall(meta::queue(q));
        }
        let replies: Vec<Value> = self.meta.run(&p).await?;
        let hashes = replies
            .into_iter()
            .map(|v| value::pairs(v).into_iter().collect::<HashMap<_, _>>());
        let found: Vec<(String, HashMap<String, String>, QueueKind)> = uuids
            .iter()
            .zip(hashes)
            .filter_map(|(q, h)| {
                let kind = kind_from_fields(
                    h.get(meta::queue_field::TYPE).map(String::as_str),
                    h.get(meta::queue_field::METATYPE).map(String::as_str),
                )?;
                Some((q.clone(), h, kind))
            })
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let groups = self.group_info(&found).await?;
        let lengths = self.lengths(&found).await?;
        Ok(found
            .into_iter()
            .zip(groups)
            .zip(lengths)
            .map(|(((uuid, h, kind), (is_group, sensors)), length)| {
                self.info(uuid, &h, kind, is_group, sensors, length)
            })
            .collect())
    }

    fn info(
        &self,
        uuid: String,
        h: &HashMap<String, String>,
        kind: QueueKind,
        is_group: bool,
        sensors: Vec<String>,
        length: u64,
    ) -> QueueInfo {
        let max_size = h
            .get(meta::queue_field::MAX_SIZE)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0);
        QueueInfo {
            uuid,
            kind,
            description: h
                .get(meta::queue_field::DESCRIPTION)
                .cloned()
                .unwrap_or_default(),
            max_size,
            size_limit: max_size.unwrap_or(self.default_max),
            last_updated: h
                .get(meta::queue_field::LAST_UPDATED)
                .and_then(|v| v.trim().parse().ok()),
            length,
            is_group,
            sensors,
        }
    }

    /// Per queue: member of its group index set? and its sorted sensor group.
    async fn group_info(
        &self,
        found: &[(String, HashMap<String, String>, QueueKind)],
    ) -> Result<Vec<(bool, Vec<String>)>, QueueError> {
        let mut p = pipe();
        for (q, _, kind) in found {
            p.sismember(kind.group_queues_key(), q)
                .smembers(meta::queue_sensor_group(q));
        }
        let replies: Vec<Value> = self.meta.run(&p).await?;
        let mut out = Vec::with_capacity(found.len());
        let mut replies = replies.into_iter();
        while let (Some(member), Some(group)) = (replies.next(), replies.next()) {
            let is_group = value::flag(&member);
            let mut sensors = value::members(group);
            sensors.sort();
            out.push((is_group || !sensors.is_empty(), sensors));
        }
        Ok(out)
    }

    /// `LLEN` of each queue's list.
    async fn lengths(
        &self,
        found: &[(String, HashMap<String, String>, QueueKind)],
    ) -> Result<Vec<u64>, QueueError> {
        let mut p = pipe();
        for (q, _, kind) in found {
            p.llen(kind.list_key(q));
        }
        let v: Vec<Value> = self.analyzer.run(&p).await?;
        Ok(v.iter()
            .map(|x| {
                value::int(x)
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0)
            })
            .chain(std::iter::repeat(0))
            .take(found.len())
            .collect())
    }
}
