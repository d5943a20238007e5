//! D4 core: everything the D4 server side shares.
//!
//! - [`proto`]: the D4 wire format (62-byte header, HMAC-SHA256); pure, no I/O.
//! - [`config`]: `server.conf` (Python configparser INI) into typed settings.
//! - [`keys`]: every Redis key name and value format of the D4 server stores.
//! - [`ingest`]: the TLS ingest server (`d4-server`).
//! - [`workers`]: the per-type workers (`d4-workers`).
//! - [`queues`]: analyzer-queue management (create, edit, flush, remove, deliver).
//! - [`kv`]: the embedded Redis-compatible store (`d4-kv`).
//! - [`logging`]: tracing setup and the shutdown signal of the daemons.

pub mod config;
pub mod ingest;
pub mod keys;
pub mod kv;
pub mod logging;
pub mod proto;
pub mod queues;
pub mod workers;
