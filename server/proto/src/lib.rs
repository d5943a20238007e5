//! d4-proto: the D4 wire protocol, with no I/O (no tokio, no Redis, no TLS).
//!
//! - [`header`]: the 62-byte header, packet decoding with [`Limits`], HMAC-SHA256.
//! - [`types`]: the one D4 type registry (number, name, description, line-based or not,
//!   worker family, accepted by default).
//! - [`uuid`]: the version-4 uuid rules the server applies to sensors.
//!
//! The sensor (encoding) and the ingest server (decoding) both use this crate, and a
//! fuzz or property test can link it without the rest. Every parser of wire input here
//! denies `unwrap`, `expect` and indexing.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod header;
pub mod types;
pub mod uuid;

pub use header::*;
pub use types::{accepted_by_default, Handler, TypeInfo, REGISTRY};
pub use uuid::{is_valid_uuid_v4, is_valid_uuid_v4_str};
