//! d4-kv: the embedded Redis-compatible store, so the stack runs with no external Redis.
//!
//! Modules, lower layers first (each uses only modules listed above it; the test
//! `tests/kv_common/modules.rs` checks that the module graph has no cycle):
//! - `util`: glob patterns and exact decimal sums, with Redis's text semantics.
//! - `protocol`: request framing (RESP multibulk and inline), replies (RESP2/RESP3),
//!   argument parsing and Redis's error texts.
//! - `config`: redis.conf-style configuration and command-line options.
//! - `keyspace`: databases, values, expiry, sorted sets and streams, blocked clients,
//!   WATCH, the append-only feed and client registry: everything under the store lock.
//! - `persistence`: append-only file, rewrite, snapshots, recovery (design note inside).
//! - `shared`: server-wide state (the locked keyspace, live config, stop signal).
//! - `cmd`: the command table, dispatch, and one file per command family.
//! - `net`: listener, start-up, shutdown, and one task per client connection.
//!
//! **Add a Redis command:** write its handler `fn(&mut Ctx, &[Bytes]) -> Reply` in the
//! family file under `cmd/` (`strings.rs`, `lists.rs`, ... or a new file listed in
//! `cmd/table.rs`) and add one `spec!` line (name, arity, flags, key positions) to that
//! file's `SPECS`. Argument helpers and error texts are in `protocol::args`; if the
//! command writes, the dispatcher logs it to the append-only file (call
//! `ctx.propagate(...)` when the effect form differs, e.g. relative deadlines).
//!
//! **Why not the `redis-protocol` crate.** The design card names it (6.x; fred used it).
//! d4-kv keeps its own framing and encoder, for reasons of behaviour first: a server must
//! accept inline commands (`PING\r\n` from telnet, old redis-cli, the Tcl test suite)
//! split with `sdssplitargs` quoting, which the crate does not parse; protocol errors
//! must carry Redis's exact texts and limits (`invalid multibulk length`, `too big inline
//! request`, `proto-max-bulk-len`), which the differential tests compare with real
//! redis-server, while the crate reports its own error kinds; and a request is wanted as
//! a flat list of arguments, not a frame tree to walk and re-check. The crate's
//! zero-copy decoder (`decode_bytes_mut`) would still need a conversion from its frames
//! to arguments per request, and its encoder a `BytesFrame` built per reply before
//! encoding, where `Reply::encode` appends straight to the batch's output buffer (with
//! RESP3 types degraded to RESP2 as Redis does). That is extra work on the hot path for
//! no gain in coverage, so it was not adopted; no side-by-side measurement of the crate
//! was made. `tests/bench/kv/run.sh` measures the current decoder and encoder against
//! redis-server in the same run.

#![deny(missing_docs)]

pub(crate) mod cmd;
pub(crate) mod config;
pub(crate) mod keyspace;
pub(crate) mod net;
pub(crate) mod persistence;
pub(crate) mod protocol;
pub(crate) mod shared;
pub(crate) mod util;

pub use config::{ConfigError, Fsync, KvConfig};
pub use net::server::{run, ServerError};
pub use persistence::aof::AofError;

/// Default runtime worker count: half the CPUs, at least one. The keyspace is behind one
/// lock, so extra workers only parallelise socket I/O and the clients share the host.
pub fn half_the_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
