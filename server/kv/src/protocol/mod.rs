//! The RESP protocol as d4-kv speaks it, with no knowledge of the keyspace or sockets.
//!
//! - [`frame`]: request framing (RESP multibulk and inline) with Redis's limits, and the
//!   encoder of requests that the append-only file stores.
//! - [`reply`]: reply values and their RESP2 / RESP3 encodings.
//! - [`args`]: argument parsing and Redis's exact error texts.

pub(crate) mod args;
pub(crate) mod frame;
pub(crate) mod reply;
