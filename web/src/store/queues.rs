//! Analyzer queues for the web pages (placeholder until `d4_core::queues` lands).

use fred::prelude::*;

/// Queue access for handlers.
#[derive(Clone)]
pub struct QueueStore {
    /// META client.
    pub meta: Client,
    /// ANALYZER client.
    pub analyzer: Client,
    /// Default max size.
    pub default_max: u64,
}

impl QueueStore {
    /// Wraps clients.
    pub fn new(meta: Client, analyzer: Client, default_max: u64) -> Self {
        QueueStore {
            meta,
            analyzer,
            default_max,
        }
    }
}
