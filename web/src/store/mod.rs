//! Redis access for the web: one `d4_core::store::Store` per `server.conf` role, connected
//! with [`Policy::INTERACTIVE`] (a person is waiting: a dead store is reported within 5 s),
//! and the read/write functions the handlers call, grouped by area. Key names come from
//! `d4_core::keys` only; the web names no client library type.
//!
//! - [`users`]: users, roles, tokens (SERV) and login counters (CACHE).
//! - `sensors`: sensor metadata, status, monitoring, registration (META, STREAM).
//! - `blacklist`: IP / uuid / IP-by-uuid blacklists (META).
//! - `server`: accepted types, server mode counters, daily statistics (META).
//! - `queues`: analyzer queues, listing and actions (META, ANALYZER).

pub(crate) mod blacklist;
pub(crate) mod queues;
pub(crate) mod sensors;
pub(crate) mod server;
pub mod users;

use d4_core::config::ServerConfig;
use d4_core::store::{Policy, Store};
use tokio_util::sync::CancellationToken;

pub use d4_core::store::StoreError;

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The five Redis roles of `server.conf`, each its own connection.
#[derive(Clone)]
pub struct Stores {
    /// `Redis_STREAM` (live connections, kicks).
    pub stream: Store,
    /// `Redis_METADATA` (sensors, blacklists, stats, queue metadata).
    pub meta: Store,
    /// `Redis_SERV` (users, roles, tokens).
    pub serv: Store,
    /// `Redis_ANALYZER` (queue lists).
    pub analyzer: Store,
    /// `Redis_CACHE` (login counters, sessions).
    pub cache: Store,
}

impl Stores {
    /// Connects every role named in `server.conf`; a store that is down is an error.
    pub async fn connect(cfg: &ServerConfig) -> StoreResult<Stores> {
        let connect = |ep| Store::connect(ep, Policy::INTERACTIVE);
        Ok(Stores {
            stream: connect(&cfg.redis_stream).await?,
            meta: connect(&cfg.redis_metadata).await?,
            serv: connect(&cfg.redis_serv).await?,
            analyzer: connect(&cfg.redis_analyzer).await?,
            cache: connect(&cfg.redis_cache).await?,
        })
    }

    /// Connects every role, waiting out stores that are still starting (logged, with
    /// back-off) until they answer or `stop` fires (`None`). A refused connection (bad
    /// address) is an error at once.
    pub async fn connect_until(
        cfg: &ServerConfig,
        stop: &CancellationToken,
    ) -> StoreResult<Option<Stores>> {
        let until = |ep, role| Store::connect_until(ep, Policy::INTERACTIVE, role, stop);
        let Some(stream) = until(&cfg.redis_stream, "Redis_STREAM").await? else {
            return Ok(None);
        };
        let Some(meta) = until(&cfg.redis_metadata, "Redis_METADATA").await? else {
            return Ok(None);
        };
        let Some(serv) = until(&cfg.redis_serv, "Redis_SERV").await? else {
            return Ok(None);
        };
        let Some(analyzer) = until(&cfg.redis_analyzer, "Redis_ANALYZER").await? else {
            return Ok(None);
        };
        let Some(cache) = until(&cfg.redis_cache, "Redis_CACHE").await? else {
            return Ok(None);
        };
        Ok(Some(Stores {
            stream,
            meta,
            serv,
            analyzer,
            cache,
        }))
    }
}
