//! Analyzer-queue alerts: *full* (length at its size limit, so new items push the oldest
//! out) and *not consumed* (items waiting and the length not decreasing for a while).
//!
//! State lives in two META sets (`sensors_monitoring:queue_full`,
//! `sensors_monitoring:queue_not_consumed`); as for sensors, the `SADD`/`SREM` replies
//! decide who notifies, so an alert is sent once per episode, never once per batch.
//! A full queue stays reported until it drops to half its limit, so a consumer that pops
//! a few items now and then does not make the alert flap.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use d4_core::keys::meta;
use d4_core::queues::read::QueueInfo;
use d4_core::store::{pipe, Store, StoreError};

use super::event::{Event, EventKind};

/// What the monitor decided for one queue at one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `Some(true)`: full; `Some(false)`: clearly not full; `None`: between (keep state).
    pub(crate) full: Option<bool>,
    /// Whether nothing consumed it for the configured delay.
    pub(crate) stalled: bool,
}

/// The full rule with its hysteresis.
pub(crate) fn full_state(length: u64, limit: u64) -> Option<bool> {
    if length >= limit {
        Some(true)
    } else if length <= limit / 2 {
        Some(false)
    } else {
        None
    }
}

/// Per-queue memory of the last length and when it last decreased (or was empty).
#[derive(Debug, Default)]
pub(crate) struct StallTracker {
    seen: HashMap<String, (u64, Instant)>,
}

impl StallTracker {
    /// Records `length` for `q` at `now`; true when it holds items and has not decreased
    /// (nor been empty) for `delay`. A queue seen for the first time starts its clock now.
    pub(crate) fn observe(&mut self, q: &str, length: u64, now: Instant, delay: Duration) -> bool {
        let entry = self.seen.entry(q.to_string()).or_insert((length, now));
        if length == 0 || length < entry.0 {
            entry.1 = now;
        }
        entry.0 = length;
        length > 0 && now.duration_since(entry.1) >= delay
    }

    /// Forgets queues that no longer exist.
    pub(crate) fn retain(&mut self, live: &[QueueInfo]) {
        self.seen.retain(|q, _| live.iter().any(|i| &i.uuid == q));
    }
}

/// Brings both queue sets in line with `verdicts` and returns the transitions made.
pub(crate) async fn apply(
    meta_db: &Store,
    verdicts: &[(&QueueInfo, Verdict)],
    now: i64,
) -> Result<Vec<Event>, StoreError> {
    let mut p = pipe();
    let mut asked: Vec<(&QueueInfo, EventKind)> = Vec::new();
    for (q, v) in verdicts {
        if let Some(full) = v.full {
            let kind = if full {
                p.sadd(meta::SENSORS_MONITORING_QUEUE_FULL, &q.uuid);
                EventKind::QueueFull
            } else {
                p.srem(meta::SENSORS_MONITORING_QUEUE_FULL, &q.uuid);
                EventKind::QueueFullCleared
            };
            asked.push((q, kind));
        }
        let kind = if v.stalled {
            p.sadd(meta::SENSORS_MONITORING_QUEUE_NOT_CONSUMED, &q.uuid);
            EventKind::QueueNotConsumed
        } else {
            p.srem(meta::SENSORS_MONITORING_QUEUE_NOT_CONSUMED, &q.uuid);
            EventKind::QueueConsumed
        };
        asked.push((q, kind));
    }
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let changed: Vec<i64> = meta_db.run(&p).await?;
    Ok(asked
        .into_iter()
        .zip(changed)
        .filter(|(_, n)| *n == 1)
        .map(|((q, kind), _)| event(q, kind, now))
        .collect())
}

/// Takes removed queues out of both alert sets (without a notice): the web must not show
/// a queue that no longer exists as full.
pub(crate) async fn forget_removed(meta_db: &Store, live: &[QueueInfo]) -> Result<(), StoreError> {
    let sets = [
        meta::SENSORS_MONITORING_QUEUE_FULL,
        meta::SENSORS_MONITORING_QUEUE_NOT_CONSUMED,
    ];
    let mut p = pipe();
    for set in sets {
        p.smembers(set);
    }
    let members: Vec<Vec<String>> = meta_db.run(&p).await?;
    let mut p = pipe();
    let mut any = false;
    for (set, ids) in sets.into_iter().zip(members) {
        for id in ids.iter().filter(|id| !live.iter().any(|q| &q.uuid == *id)) {
            p.srem(set, id).ignore();
            any = true;
        }
    }
    if any {
        meta_db.run::<()>(&p).await?;
    }
    Ok(())
}

/// The notification for one queue transition.
fn event(q: &QueueInfo, kind: EventKind, now: i64) -> Event {
    let (id, len, limit) = (&q.uuid, q.length, q.size_limit);
    let message = match kind {
        EventKind::QueueFull => {
            format!(
                "analyzer queue {id} is full ({len}/{limit} items): the oldest items are dropped"
            )
        }
        EventKind::QueueFullCleared => {
            format!("analyzer queue {id} is no longer full ({len}/{limit} items)")
        }
        EventKind::QueueNotConsumed => {
            format!("analyzer queue {id} is not consumed: {len} items wait and nothing reads them")
        }
        _ => format!("analyzer queue {id} is consumed again ({len} items)"),
    };
    Event {
        kind,
        subject: id.clone(),
        message,
        time: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_has_hysteresis() {
        assert_eq!(full_state(10, 10), Some(true));
        assert_eq!(full_state(9, 10), None);
        assert_eq!(full_state(5, 10), Some(false));
        assert_eq!(full_state(0, 10), Some(false));
    }

    #[test]
    fn stalled_only_after_the_delay_without_a_decrease() {
        let mut t = StallTracker::default();
        let d = Duration::from_secs(5);
        let t0 = Instant::now();
        assert!(!t.observe("q", 3, t0, d));
        assert!(!t.observe("q", 4, t0 + Duration::from_secs(4), d));
        assert!(t.observe("q", 4, t0 + Duration::from_secs(5), d));
        // A pop restarts the clock; an empty queue is never stalled.
        assert!(!t.observe("q", 2, t0 + Duration::from_secs(6), d));
        assert!(!t.observe("q", 0, t0 + Duration::from_secs(20), d));
    }
}
