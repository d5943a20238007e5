//! One command's static description ([`Spec`]: name, arity, flags, key positions,
//! handler) and the flag bits the dispatcher and `COMMAND` read.

use bytes::Bytes;

use super::ctx::Ctx;
use crate::protocol::reply::Reply;

/// Handler signature.
pub(crate) type Handler = fn(&mut Ctx, &[Bytes]) -> Reply;

/// Modifies data: propagated to the append-only file.
pub(crate) const WRITE: u16 = 1;
/// May grow memory: refused over `maxmemory`.
pub(crate) const DENYOOM: u16 = 2;
/// Allowed before `AUTH`.
pub(crate) const NOAUTH: u16 = 4;
/// Runs immediately even inside `MULTI`.
pub(crate) const NOMULTI: u16 = 8;
/// Read-only data command.
pub(crate) const READONLY: u16 = 16;
/// May block.
pub(crate) const BLOCKING: u16 = 32;
/// Administrative.
pub(crate) const ADMIN: u16 = 64;
/// Fast (O(1)) command.
pub(crate) const FAST: u16 = 128;
/// Protected (Redis 7's `DEBUG`): refused unless `enable-debug-command` allows the client.
pub(crate) const PROTECTED: u16 = 256;

/// One command's static description.
pub(crate) struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: exact count if positive, minimum if negative (name included).
    pub arity: i32,
    /// Flag bits.
    pub flags: u16,
    /// First key, last key, key step (for `COMMAND`).
    pub keys: (i32, i32, i32),
    /// Implementation.
    pub run: Handler,
}

/// Builds a `Spec` table entry.
macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $run:expr) => {
        $crate::cmd::spec::Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            run: $run,
        }
    };
}
pub(crate) use spec;
