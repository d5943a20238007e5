//! Sensor-down detection, as upstream's `sensors_manager.py`: a sensor in
//! `to_monitor:sensors` whose `last_seen` is older than its `delta_time` is put in
//! `sensors_monitoring:sensors_error`, and taken out when it sends again.
//!
//! Unlike upstream, a sensor that is merely disconnected is not in error before its delay
//! has passed (a reconnect within the delay is not an outage). The set's `SADD`/`SREM`
//! replies decide who notifies, so each transition is reported once even when several
//! monitors share the store.

use d4_core::keys::meta;
use d4_core::store::{pipe, Cmd, Store, StoreError};

use super::event::{Event, EventKind};

/// A monitored sensor as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watched {
    /// Sensor uuid.
    pub(crate) uuid: String,
    /// Allowed silence in seconds (`delta_time`); `None` when absent or not a number.
    pub(crate) delta: Option<i64>,
    /// Unix time of its last accepted packet (`last_seen`); `None` if it never sent.
    pub(crate) last_seen: Option<i64>,
}

impl Watched {
    /// Whether the sensor is silent for longer than its delay at `now` (upstream:
    /// `now - last_seen > delta_time`, a sensor that never sent counting as `last_seen = 0`).
    /// A sensor without a usable delay is not judged.
    pub(crate) fn is_down(&self, now: i64) -> Option<bool> {
        let delta = self.delta?;
        Some(now - self.last_seen.unwrap_or(0) > delta)
    }
}

/// Reads every monitored sensor with its delay and last packet time (two round trips).
pub(crate) async fn watched(meta_db: &Store) -> Result<Vec<Watched>, StoreError> {
    let mut uuids: Vec<String> = meta_db
        .query(&Cmd::smembers(meta::TO_MONITOR_SENSORS))
        .await?;
    uuids.sort();
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = pipe();
    for u in &uuids {
        p.hget(meta::to_monitor_sensor(u), meta::field::DELTA_TIME)
            .hget(meta::metadata_uuid(u), meta::field::LAST_SEEN);
    }
    let replies: Vec<Option<String>> = meta_db.run(&p).await?;
    let num = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<i64>().ok());
    Ok(uuids
        .into_iter()
        .zip(replies.chunks(2))
        .map(|(uuid, r)| Watched {
            uuid,
            delta: num(&r[0]),
            last_seen: num(&r[1]),
        })
        .collect())
}

/// Brings `sensors_monitoring:sensors_error` in line with `sensors` at `now` and returns
/// the transitions this call made (one round trip).
pub(crate) async fn check(
    meta_db: &Store,
    sensors: &[Watched],
    now: i64,
) -> Result<Vec<Event>, StoreError> {
    let judged: Vec<(&Watched, bool)> = sensors
        .iter()
        .filter_map(|s| s.is_down(now).map(|d| (s, d)))
        .collect();
    if judged.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = pipe();
    for (s, down) in &judged {
        if *down {
            p.sadd(meta::SENSORS_MONITORING_ERRORS, &s.uuid);
        } else {
            p.srem(meta::SENSORS_MONITORING_ERRORS, &s.uuid);
        }
    }
    let changed: Vec<i64> = meta_db.run(&p).await?;
    Ok(judged
        .into_iter()
        .zip(changed)
        .filter(|(_, n)| *n == 1)
        .map(|((s, down), _)| event(s, down, now))
        .collect())
}

/// The notification for a sensor that just went down (or came back).
fn event(s: &Watched, down: bool, now: i64) -> Event {
    let delta = s.delta.unwrap_or_default();
    let (kind, message) = if down {
        let silence = match s.last_seen {
            Some(t) => format!("sent nothing for {} s", now - t),
            None => "never sent anything".to_string(),
        };
        let msg = format!(
            "sensor {} is down: it {silence} (allowed: {delta} s)",
            s.uuid
        );
        (EventKind::SensorDown, msg)
    } else {
        let msg = format!("sensor {} recovered: it sends again", s.uuid);
        (EventKind::SensorRecovered, msg)
    };
    Event {
        kind,
        subject: s.uuid.clone(),
        message,
        time: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(delta: Option<i64>, last_seen: Option<i64>) -> Watched {
        Watched {
            uuid: "u".into(),
            delta,
            last_seen,
        }
    }

    #[test]
    fn down_only_after_more_than_the_delay() {
        assert_eq!(w(Some(10), Some(100)).is_down(110), Some(false));
        assert_eq!(w(Some(10), Some(100)).is_down(111), Some(true));
    }

    #[test]
    fn never_seen_is_down_and_no_delay_is_not_judged() {
        assert_eq!(w(Some(10), None).is_down(1_000), Some(true));
        assert_eq!(w(None, Some(1)).is_down(1_000), None);
    }
}
