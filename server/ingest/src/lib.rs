//! The TLS ingest server (`d4-server`): sensors stream D4 packets on port 4443; each
//! accepted packet becomes an entry of `stream:<type>:<session>` for the workers.
//!
//! - [`admission`]: connection slots, per-address caps and the buffer budget of peers
//!   that have not authenticated yet.
//! - [`server`]: TLS settings, binding, accept loop, TLS handshake, keepalive, shutdown.
//! - [`connection`]: one connection's socket loop, driving the session and its effects.
//! - `session`: the sans-I/O session: bytes and store answers in, actions out.
//! - [`effects`]: the batched store reads and writes behind each session action.
//! - [`reject`]: rejection reasons and upstream's `Error` strings.
//! - [`registry`]: this server's id and live sessions.
//! - [`kick`]: kick requests from the web.
//! - [`lease`]: this server's lease and the sessions of dead servers sharing the store.
//! - [`startup`]: keys written at start and clean-up of stale connection state.
//! - [`connected`]: which sensors are connected now (for the web and monitoring).
//! - [`metrics`]: the Prometheus counters served by `--metrics`.
//!
//! Every key comes from [`d4_core::keys`]; no store key is formatted here. Every store
//! call goes through the facade [`d4_core::store`].

pub mod admission;
pub mod connected;
pub mod connection;
pub mod effects;
pub mod kick;
pub mod lease;
pub mod metrics;
pub mod registry;
pub mod reject;
pub mod server;
mod session;
pub mod startup;
