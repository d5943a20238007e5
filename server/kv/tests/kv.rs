//! Integration tests of `d4-kv` (one binary, one module per topic). Every test starts the
//! real `d4-kv` binary on a free loopback port; interop and differential tests also use
//! real `redis-server`, `redis-cli`, redis-py and the `redis-rs` client.

#[path = "kv_common/mod.rs"]
mod common;

#[path = "kv_common/protocol.rs"]
mod protocol;

#[path = "kv_common/blocking.rs"]
mod blocking;

#[path = "kv_common/persistence.rs"]
mod persistence;

#[path = "kv_common/interop.rs"]
mod interop;

#[path = "kv_common/differential.rs"]
mod differential;

#[path = "kv_common/faults.rs"]
mod faults;
