//! The TLS ingest server (`d4-server`): sensors stream D4 packets on port 4443; each
//! accepted packet becomes an entry of `stream:<type>:<session>` for the workers.
//!
//! - [`server`]: binding, accept loop, TLS handshake, keepalive, shutdown.
//! - [`session`]: one connection: reassembly, checks in spec order, acceptance.
//! - [`store`]: the batched store reads and writes of a session.
//! - [`reject`]: rejection reasons and upstream's `Error` strings.
//! - [`kick`]: the live-session registry and kick requests from the web.
//! - [`startup`]: keys written at start and clean-up of stale connection state.
//! - [`tls`]: certificate and key loading.
//! - [`connected`]: which sensors are connected now (for the web and monitoring).
//!
//! Every key comes from [`d4_core::keys`]; no store key is formatted here.

pub mod connected;
pub mod kick;
pub mod reject;
pub mod server;
pub mod session;
pub mod startup;
pub mod store;
pub mod tls;
