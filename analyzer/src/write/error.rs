//! Why a batch was not written, split the one way every caller needs: worth retrying or not.
//!
//! A transient failure (lost connection, timeout, `LOADING`, `MISCONF`, `MOVED`...) is a
//! [`WriteError::Store`] the caller retries with back-off. A command the store refused
//! (`WRONGTYPE`, `CROSSSLOT`, `NOPERM`, an unknown command, `NOSCRIPT` after a reload) is
//! permanent: the same batch would be refused again, so the caller must stop and say what to
//! fix ([`WriteError::hint`]) instead of retrying it forever or dropping it.

use d4_core::store::{ErrorClass, StoreError};

/// A batch that was not (completely) written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// The whole call failed (transient, or refused as a whole).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The store refused commands of the batch's pipeline.
    #[error(
        "the pDNS store refused {refused} command(s) of the batch, the first `{command}`: {source}"
    )]
    Refused {
        /// The first refused command and its key.
        command: String,
        /// Refused commands in the pipeline.
        refused: usize,
        /// The store's answer to the first one.
        source: StoreError,
    },
}

impl WriteError {
    /// Whether retrying the same batch later can succeed.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            WriteError::Store(e) => e.class() == ErrorClass::Transient,
            WriteError::Refused { .. } => false,
        }
    }

    /// The store's error code (`WRONGTYPE`, `CROSSSLOT`...), if it answered one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            WriteError::Store(e) | WriteError::Refused { source: e, .. } => e.code(),
        }
    }

    /// What the operator can do about a permanent error.
    pub(crate) fn hint(&self) -> &'static str {
        match self.code() {
            Some("WRONGTYPE") => "a key of the pDNS layout holds another type: [store] points at a database other programs write to, or the key was written by hand; use a database for the pDNS store only, or delete that key",
            Some("CROSSSLOT") => "the store is a cluster but a multi-key command reached it as one: configure [store] as a cluster endpoint",
            Some("NOPERM") => "the store's ACL user may not run this command: grant it (pdns-ingestion needs SADD, SET, GET, INCRBY, EXPIRE, HINCRBY, ZINCRBY, EVALSHA, SCRIPT LOAD, MGET, MSET)",
            Some("NOSCRIPT") => "the store forgets scripts right after loading them (script cache flushed, or a proxy in front of several servers): fix the store, or remove scripting so the single-writer path is used",
            _ => "the store refuses a command the ingestion needs: check that [store] names a Redis-compatible server (Redis, Valkey, d4-kv) and its database",
        }
    }
}
