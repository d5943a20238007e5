//! Store errors and their one classification: transient (retry later, nothing was
//! refused) or refused (the server said no; retrying the same command will not help).

use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::config::RedisEndpoint;

/// Whether a failed store call is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The store is unreachable, restarting, loading, out of disk or memory, or moving
    /// slots: the same command can succeed later. Daemons back off and retry.
    Transient,
    /// The server refused the command (wrong type, bad argument, no permission, a
    /// malformed address): retrying it will not help.
    Refused,
}

/// A failed store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Could not open a connection to an endpoint.
    #[error("store {url}: {source}")]
    Connect {
        /// `redis://host:port/db`.
        url: String,
        /// What the client library reported.
        source: RedisError,
    },
    /// A cluster refused the configured database (a cluster has only db 0, except Valkey
    /// 9 with `cluster-databases`).
    #[error(
        "store {url}: the cluster refused db {db} ({source}); Redis Cluster has only db 0 \
         (Valkey 9 accepts more with `cluster-databases`): set db = 0 for this role, or \
         put it on a non-cluster server"
    )]
    ClusterDb {
        /// The seed nodes.
        url: String,
        /// The configured database.
        db: u8,
        /// What the server said.
        source: RedisError,
    },
    /// A command or pipeline failed.
    #[error("{0}")]
    Redis(#[from] RedisError),
}

impl StoreError {
    pub(crate) fn connect(ep: &RedisEndpoint, source: RedisError) -> StoreError {
        StoreError::Connect {
            url: ep.url(),
            source,
        }
    }

    /// The one classification every retry loop uses.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Connect { source, .. } => classify(source),
            StoreError::ClusterDb { .. } => ErrorClass::Refused,
            StoreError::Redis(e) => classify(e),
        }
    }

    /// Shorthand for `class() == ErrorClass::Transient`.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// The server's error code (`WRONGTYPE`, `MISCONF`, `CROSSSLOT`...), if the server
    /// answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Redis(e) => e.code(),
            StoreError::Connect { .. } | StoreError::ClusterDb { .. } => None,
        }
    }
}

/// Server error codes that mean "not now" rather than "no".
const TRANSIENT_CODES: &[&str] = &[
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
    "MOVED",
    "ASK",
    "MISCONF",
    "OOM",
    "NOREPLICAS",
];

fn classify(e: &RedisError) -> ErrorClass {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return ErrorClass::Transient;
    }
    match e.kind() {
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => ErrorClass::Transient,
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        ) => ErrorClass::Transient,
        _ if e.code().is_some_and(|c| TRANSIENT_CODES.contains(&c)) => ErrorClass::Transient,
        _ => ErrorClass::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error a server reply `-<text>` becomes.
    fn server_error(text: &str) -> StoreError {
        let reply = format!("-{text}\r\n");
        let v = redis::parse_redis_value(reply.as_bytes()).expect("a RESP error reply");
        StoreError::from(v.extract_error().expect_err("an error value"))
    }

    #[test]
    fn io_errors_are_transient() {
        let e: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into();
        assert_eq!(StoreError::from(e).class(), ErrorClass::Transient);
        let e: RedisError = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow").into();
        assert_eq!(StoreError::from(e).class(), ErrorClass::Transient);
    }

    #[test]
    fn refusals_are_not_retried() {
        let e: RedisError = (ErrorKind::Client, "bad").into();
        assert_eq!(StoreError::from(e).class(), ErrorClass::Refused);
        for text in [
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "ERR unknown command 'FOO'",
            "CROSSSLOT Keys in request don't hash to the same slot",
            "NOPERM this user has no permissions",
        ] {
            assert_eq!(server_error(text).class(), ErrorClass::Refused, "{text}");
        }
    }

    #[test]
    fn not_now_replies_are_transient() {
        for text in [
            "LOADING Redis is loading the dataset in memory",
            "MISCONF Errors writing to the AOF file: No space left on device",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "MOVED 3999 127.0.0.1:6381",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "READONLY You can't write against a read only replica.",
        ] {
            let e = server_error(text);
            assert_eq!(e.class(), ErrorClass::Transient, "{text}");
            assert!(e.is_transient());
        }
        assert_eq!(server_error("MISCONF x").code(), Some("MISCONF"));
    }
}
