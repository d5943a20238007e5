//! What the monitor reports: one [`Event`] per state change, never one per check.

use serde_json::json;

/// A state change worth telling the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A monitored sensor sent nothing for longer than its delay.
    SensorDown,
    /// A sensor reported down sends again.
    SensorRecovered,
    /// An analyzer queue reached its size limit: new items push old ones out.
    QueueFull,
    /// A full queue went back under half its limit.
    QueueFullCleared,
    /// A non-empty queue's length did not decrease for the configured delay.
    QueueNotConsumed,
    /// A queue reported not consumed is being read again (or is empty).
    QueueConsumed,
}

impl EventKind {
    /// The name used in JSON (`event`), syslog and mail subjects.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::SensorDown => "sensor_down",
            EventKind::SensorRecovered => "sensor_recovered",
            EventKind::QueueFull => "queue_full",
            EventKind::QueueFullCleared => "queue_full_cleared",
            EventKind::QueueNotConsumed => "queue_not_consumed",
            EventKind::QueueConsumed => "queue_consumed",
        }
    }

    /// Whether the event is a problem (logged at WARN, syslog warning) or its end.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            EventKind::SensorDown | EventKind::QueueFull | EventKind::QueueNotConsumed
        )
    }

    /// `sensor` or `queue`: what [`Event::subject`] names.
    fn subject_kind(self) -> &'static str {
        match self {
            EventKind::SensorDown | EventKind::SensorRecovered => "sensor",
            _ => "queue",
        }
    }
}

/// One notification: what happened, to which sensor or queue, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The sensor uuid or queue uuid.
    pub subject: String,
    /// A sentence for humans.
    pub message: String,
    /// Unix time of the check that saw it.
    pub time: i64,
}

impl Event {
    /// The webhook body: `{"event", "sensor"|"queue", "message", "time", "host", "source"}`.
    pub fn to_json(&self, host: &str) -> String {
        let mut v = json!({
            "event": self.kind.name(),
            "message": self.message,
            "time": self.time,
            "host": host,
            "source": "d4-workers",
        });
        v[self.kind.subject_kind()] = json!(self.subject);
        v.to_string()
    }

    /// A one-line summary for mail subjects and syslog.
    pub fn summary(&self) -> String {
        format!("D4 {}: {}", self.kind.name(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_the_subject_by_its_kind() {
        let e = Event {
            kind: EventKind::QueueFull,
            subject: "q1".into(),
            message: "m".into(),
            time: 5,
        };
        let v: serde_json::Value = serde_json::from_str(&e.to_json("h")).unwrap();
        assert_eq!(v["event"], "queue_full");
        assert_eq!(v["queue"], "q1");
        assert_eq!(v["host"], "h");
        assert!(v.get("sensor").is_none());
    }
}
