//! d4-kv: the embedded Redis-compatible store, so the stack runs with no external Redis.
//!
//! Layout (after mini-redis, with replies batched per read):
//! - [`frame`]: request framing (RESP multibulk and inline) with Redis's limits.
//! - [`reply`]: reply values and their RESP2 / RESP3 encodings.
//! - [`args`]: argument parsing with Redis's error texts.
//! - [`cmd`]: the command table, dispatch, and one file per command family.
//! - [`decimal`]: exact decimal sums for INCRBYFLOAT / HINCRBYFLOAT.
//! - [`store`]: databases, values, expiry; [`types`]: sorted sets and streams.
//! - [`blocking`]: clients blocked in BLPOP/BRPOP/BLMOVE/XREAD.
//! - [`watch`]: WATCH bookkeeping for optimistic transactions.
//! - [`aof`]: append-only file, rewrite, snapshots, recovery (design note inside).
//! - [`config`]: redis.conf-style configuration and command-line options.
//! - [`connection`]: one client: read, apply batch, persist, reply.
//! - [`server`]: listener, shared state, cron, shutdown.

pub mod aof;
pub mod args;
pub mod blocking;
pub mod client;
pub mod cmd;
pub mod config;
pub mod connection;
pub mod decimal;
pub mod frame;
pub mod glob;
pub mod reply;
pub mod server;
pub mod store;
pub mod types;
pub mod watch;

pub use config::KvConfig;
pub use server::run;

/// Default runtime worker count: half the CPUs, at least one. The keyspace is behind one
/// lock, so extra workers only parallelise socket I/O and the clients share the host.
pub fn half_the_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
