//! Persistence: everything that touches data files. The design note (constraints, record
//! layout, fsync policy, rewrite, recovery) is in [`aof`].
//!
//! - [`aof`]: the append-only file, its fsync policy and rewrite, snapshot files, loading.
//! - [`snapshot`]: the keyspace serialised as the commands that rebuild it.
//! - [`background`](mod@background): the persistence thread (everysec fsync, rewrites, `save` rules,
//!   retries after failures).
//! - [`status`]: whether the files can be written; the `MISCONF` refusal and its logging.

pub(crate) mod aof;
pub(crate) mod background;
pub(crate) mod snapshot;
pub(crate) mod status;

pub(crate) use aof::{parse_file, AofError, Persistence};
pub(crate) use background::{background, bgsave, run_rewrite};
pub(crate) use snapshot::serialize;
