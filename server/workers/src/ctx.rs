//! What every worker family shares: the stores, the queue manager, the data folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use d4_core::config::RedisEndpoint;
use d4_core::queues::Queues;
use d4_core::store::Store;

use crate::metrics::Metrics;

/// What every worker family shares.
pub struct Ctx {
    /// `Redis_STREAM` (pipelined commands; each family opens its own blocking reader).
    pub stream: Store,
    /// Where the blocking readers connect.
    pub stream_endpoint: RedisEndpoint,
    /// `Redis_METADATA`.
    pub meta: Store,
    /// Queue delivery.
    pub queues: Queues,
    /// `[Save_Directories]`.
    pub data_dir: PathBuf,
    /// How long queue targets are cached.
    pub target_ttl: Duration,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// This process's id in session claims (`worker_claim:<type>:<session>`).
    pub worker_id: String,
}
