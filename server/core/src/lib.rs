//! d4-core: what the D4 daemons (`d4-server`, `d4-workers`, `pdns-*`) and the web admin share.
//!
//! - [`config`]: `server.conf` (Python configparser INI) into typed settings.
//! - [`keys`]: every Redis key name and value format of the D4 server stores.
//! - [`metrics`]: Prometheus text of a registry and the `--metrics` HTTP listener.
//! - [`queues`]: analyzer-queue management (create, edit, flush, remove, deliver).
//! - [`runtime`]: tracing set-up, signals, the shutdown token and deadline of every daemon.
//! - [`tls`]: the TLS certificate loader of the servers (ingest and web).
//! - [`store`]: the store facade: connect, timeouts, retries, error classes, back-off.
//!
//! The wire protocol lives in `d4-proto`, re-exported here as [`proto`].

pub mod config;
pub mod keys;
pub mod metrics;
pub mod queues;
pub mod runtime;
pub mod store;
pub mod tls;

pub use d4_proto as proto;
