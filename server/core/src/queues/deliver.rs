//! Delivering lines to analyzer queues (upstream `Analyzer_Queue.add_data_to_queue`).
//!
//! Targets of a sensor's data of one kind = the type queues (`analyzer:<type>` or
//! `analyzer:254:<ext>`) ∪ the sensor's group queues (`sensor:queues:<kind>:<sensor>`),
//! each queue once even if listed in both (upstream pushed it twice).
//!
//! A batch of lines goes out as one ANALYZER pipeline (per queue: one multi-value
//! `LPUSH`, one `LTRIM 0 max_size-1`) and, concurrently, one META pipeline (`HSET
//! analyzer:<q> last_updated`). The list keeps exactly `max_size` newest items
//! (upstream's `LTRIM 0 max_size` kept one more). Trimming drops the oldest data; that
//! is the queue's documented overflow policy, and [`Delivered::trimmed`] counts it.
//!
//! [`Router`] caches targets for a short time so a steady stream costs one round trip
//! per batch, not three; a queue created or edited takes effect within that time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::store::{pipe, value, Value};
use bytes::Bytes;

use super::{float_epoch_now, QueueError, QueueKind, Queues};
use crate::keys::meta;

/// One queue to push to, with the limit in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Queue uuid as stored.
    pub queue: String,
    /// Items kept in the list.
    pub max_size: u64,
}

/// What one delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Queues written.
    pub queues: usize,
    /// Lines pushed to each queue.
    pub lines: usize,
    /// Items dropped by trimming, summed over queues.
    pub trimmed: u64,
}

impl Queues {
    /// The queues that must receive `sensor`'s data of `kind`, in a stable order.
    pub async fn targets(&self, sensor: &str, kind: &QueueKind) -> Result<Vec<Target>, QueueError> {
        let mut p = pipe();
        p.smembers(kind.type_queues_key())
            .smembers(kind.sensor_queues_key(sensor));
        let (mut typed, group): (Vec<String>, Vec<String>) = self.meta.run(&p).await?;
        typed.sort();
        let mut group: Vec<String> = group.into_iter().filter(|q| !typed.contains(q)).collect();
        group.sort();
        typed.extend(group);
        if typed.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = pipe();
        for q in &typed {
            p.hget(meta::queue(q), meta::queue_field::MAX_SIZE);
        }
        let sizes: Vec<Value> = self.meta.run(&p).await?;
        Ok(typed
            .into_iter()
            .zip(sizes.into_iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(queue, size)| Target {
                max_size: size
                    .and_then(value::text)
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .filter(|n| *n > 0)
                    .unwrap_or(self.default_max),
                queue,
            })
            .collect())
    }

    /// Pushes `lines` (in order; empty ones skipped) to every target in one ANALYZER
    /// pipeline, and updates `last_updated` in one META pipeline, both at once.
    pub async fn push(
        &self,
        kind: &QueueKind,
        targets: &[Target],
        lines: &[Bytes],
    ) -> Result<Delivered, QueueError> {
        let values: Vec<&[u8]> = lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.as_ref())
            .collect();
        if values.is_empty() || targets.is_empty() {
            return Ok(Delivered::default());
        }
        let mut data = pipe();
        let mut stamps = pipe();
        let now = float_epoch_now();
        for t in targets {
            let key = kind.list_key(&t.queue);
            let keep = isize::try_from(t.max_size).unwrap_or(isize::MAX);
            data.lpush(&key, &values).ltrim(&key, 0, keep - 1).ignore();
            stamps
                .hset(meta::queue(&t.queue), meta::queue_field::LAST_UPDATED, &now)
                .ignore();
        }
        let (pushed, stamped) = tokio::join!(
            self.analyzer.run::<Vec<u64>>(&data),
            self.meta.run::<()>(&stamps)
        );
        let pushed = pushed?;
        stamped?;
        let trimmed = targets
            .iter()
            .zip(pushed.iter())
            .map(|(t, len)| len.saturating_sub(t.max_size))
            .sum();
        Ok(Delivered {
            queues: targets.len(),
            lines: values.len(),
            trimmed,
        })
    }

    /// Resolves the targets and pushes (no caching; see [`Router`] for hot paths).
    pub async fn deliver(
        &self,
        sensor: &str,
        kind: &QueueKind,
        lines: &[Bytes],
    ) -> Result<Delivered, QueueError> {
        let targets = self.targets(sensor, kind).await?;
        self.push(kind, &targets, lines).await
    }
}

/// Delivery with a per-(kind, sensor) target cache that lives `ttl`.
pub struct Router {
    queues: Queues,
    ttl: Duration,
    cache: HashMap<(QueueKind, String), Cached>,
}

/// Targets resolved at an instant.
type Cached = (Instant, Arc<[Target]>);

/// How long cached targets are trusted by default.
pub const DEFAULT_TARGET_TTL: Duration = Duration::from_secs(1);

impl Router {
    /// A router over `queues` whose cached targets expire after `ttl` (zero: no cache).
    pub fn new(queues: Queues, ttl: Duration) -> Self {
        Router {
            queues,
            ttl,
            cache: HashMap::new(),
        }
    }

    /// The queue manager behind this router.
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Pushes `lines` to every queue that must receive `sensor`'s data of `kind`.
    pub async fn deliver(
        &mut self,
        sensor: &str,
        kind: &QueueKind,
        lines: &[Bytes],
    ) -> Result<Delivered, QueueError> {
        if lines.is_empty() {
            return Ok(Delivered::default());
        }
        let targets = self.targets(sensor, kind).await?;
        self.queues.push(kind, &targets, lines).await
    }

    /// The queues that must receive `sensor`'s data of `kind`, from the cache while it
    /// is fresh.
    pub async fn targets(
        &mut self,
        sensor: &str,
        kind: &QueueKind,
    ) -> Result<Arc<[Target]>, QueueError> {
        let key = (kind.clone(), sensor.to_string());
        if let Some((at, t)) = self.cache.get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(t.clone());
            }
        }
        let t: Arc<[Target]> = self.queues.targets(sensor, kind).await?.into();
        self.cache.insert(key, (Instant::now(), t.clone()));
        Ok(t)
    }
}
