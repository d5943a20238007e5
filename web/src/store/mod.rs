//! Redis access for the web: one `fred` client per `server.conf` role, and the read/write
//! functions the handlers call, grouped by area. Key names come from `d4_core::keys` only.
//!
//! - [`users`]: users, roles, tokens (SERV) and login counters (CACHE).
//! - [`sensors`]: sensor metadata, status, monitoring, registration (META, STREAM).
//! - [`blacklist`]: IP / uuid / IP-by-uuid blacklists (META).
//! - [`server`]: accepted types, server mode counters, daily statistics (META).
//! - [`queues`]: analyzer queues, listing and actions (META, ANALYZER).

pub mod blacklist;
pub mod queues;
pub mod sensors;
pub mod server;
pub mod users;

use d4_core::config::{RedisEndpoint, ServerConfig};
use fred::prelude::*;
use std::time::Duration;

/// A store failure (connection lost, timeout, wrong type).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The Redis client reported an error (kept as text, not as a source, so error
    /// chains do not print it twice).
    #[error("redis: {0}")]
    Redis(fred::error::Error),
}

impl From<fred::error::Error> for StoreError {
    fn from(e: fred::error::Error) -> Self {
        StoreError::Redis(e)
    }
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The five Redis roles of `server.conf`, each its own client.
#[derive(Clone)]
pub struct Stores {
    /// `Redis_STREAM` (live connections, kicks).
    pub stream: Client,
    /// `Redis_METADATA` (sensors, blacklists, stats, queue metadata).
    pub meta: Client,
    /// `Redis_SERV` (users, roles, tokens).
    pub serv: Client,
    /// `Redis_ANALYZER` (queue lists).
    pub analyzer: Client,
    /// `Redis_CACHE` (login counters).
    pub cache: Client,
}

/// Builds and connects one client; reconnects forever with backoff, commands time out.
async fn connect(ep: &RedisEndpoint) -> StoreResult<Client> {
    let config = Config::from_url(&ep.url())?;
    let client = Builder::from_config(config)
        .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(5))
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(5);
            c.internal_command_timeout = Duration::from_secs(5);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build()?;
    client.init().await?;
    Ok(client)
}

impl Stores {
    /// Connects every role named in `server.conf`.
    pub async fn connect(cfg: &ServerConfig) -> StoreResult<Stores> {
        Ok(Stores {
            stream: connect(&cfg.redis_stream).await?,
            meta: connect(&cfg.redis_metadata).await?,
            serv: connect(&cfg.redis_serv).await?,
            analyzer: connect(&cfg.redis_analyzer).await?,
            cache: connect(&cfg.redis_cache).await?,
        })
    }

    /// Closes every connection.
    pub async fn quit(&self) {
        for c in [
            &self.stream,
            &self.meta,
            &self.serv,
            &self.analyzer,
            &self.cache,
        ] {
            let _ = c.quit().await;
        }
    }
}
