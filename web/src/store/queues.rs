//! Analyzer queues for the web pages: the rows the templates show, and the sample
//! preview. Every write goes through `d4_core::queues::Queues` (the core owns the queue
//! key layout); this module only adapts its results for display.

use super::StoreResult;
use crate::util::urlencode;
use d4_core::keys::analyzer;
use d4_core::queues::{QueueInfo, QueueKind, Queues};
use d4_core::store::{Cmd, Store};
use serde::Serialize;

/// One queue as the server management page and the editor show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueRow {
    /// Queue uuid as stored.
    pub uuid: String,
    /// Type number, or the extended type name.
    pub type_name: String,
    /// Format type (254 for extended).
    pub ty: u8,
    /// The `<type-or-ext>` of the list key `analyzer:<type-or-ext>:<q>`.
    pub list_type: String,
    /// `&metatype_name=<ext>` for extended queues (query suffix of action URLs).
    pub meta_q: String,
    /// Sensor-group queue.
    pub is_group: bool,
    /// Group sensors (undashed).
    pub sensors: Vec<String>,
    /// Description.
    pub description: String,
    /// `Never` or local time.
    pub last_updated: String,
    /// Limit in force.
    pub size_limit: u64,
    /// Current length.
    pub length: u64,
    /// Whether its type is currently accepted by the server.
    pub accepted: bool,
}

impl QueueRow {
    /// Builds the display row of a queue.
    pub(crate) fn from_info(q: &QueueInfo, accepted: bool) -> QueueRow {
        let ext = q.kind.extended().map(str::to_string);
        QueueRow {
            uuid: q.uuid.clone(),
            type_name: q.kind.to_string(),
            ty: q.kind.format_type(),
            list_type: q.kind.to_string(),
            meta_q: ext
                .map(|e| format!("&metatype_name={}", urlencode(&e)))
                .unwrap_or_default(),
            is_group: q.is_group,
            sensors: q.sensors.clone(),
            description: q.description.clone(),
            last_updated: q.last_updated_text(),
            size_limit: q.size_limit,
            length: q.length,
            accepted,
        }
    }
}

/// The newest `n` items of a queue's list (`LRANGE 0 n-1`), each cut to `max_len`
/// characters with ` [...]` appended, each followed by a newline (upstream's sample).
pub(crate) async fn sample(
    analyzer_db: &Store,
    kind: &QueueKind,
    q: &str,
    max_len: usize,
    n: i64,
) -> StoreResult<String> {
    let items: Vec<String> = analyzer_db
        .query(&Cmd::lrange(analyzer::queue(kind, q), 0, (n - 1) as isize))
        .await?;
    Ok(format_sample(&items, max_len))
}

/// Formats sample items as upstream does.
pub(crate) fn format_sample(items: &[String], max_len: usize) -> String {
    let mut out = String::new();
    for it in items {
        if it.chars().count() > max_len {
            out.extend(it.chars().take(max_len));
            out.push_str(" [...]");
        } else {
            out.push_str(it);
        }
        out.push('\n');
    }
    out
}

/// A `Queues` handle sharing the web's clients.
pub(crate) fn manager(meta: &Store, analyzer_db: &Store, default_max: u64) -> Queues {
    Queues::new(meta.clone(), analyzer_db.clone(), default_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_cut_like_upstream() {
        let items = vec!["abcdef".to_string(), "ab".to_string()];
        assert_eq!(format_sample(&items, 3), "abc [...]\nab\n");
        assert_eq!(format_sample(&[], 3), "");
    }
}
