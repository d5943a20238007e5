//! Per-connection state that commands read and change: selected db, protocol, auth,
//! transaction queue, watched keys. Its public summary ([`ClientInfo`]) is mirrored into
//! the keyspace's client registry.

use bytes::Bytes;

use crate::keyspace::clients::ClientInfo;
use crate::keyspace::now_ms;

/// State of one connection.
#[derive(Debug)]
pub(crate) struct ClientState {
    /// Unique id (`CLIENT ID`).
    pub id: u64,
    /// Selected database.
    pub db: usize,
    /// True after `HELLO 3`.
    pub resp3: bool,
    /// True once authenticated (or when no password is set).
    pub authed: bool,
    /// Queued commands between `MULTI` and `EXEC`.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// An error was seen while queueing (EXEC will abort).
    pub multi_error: bool,
    /// Set by `QUIT` and `SHUTDOWN`: close after flushing.
    pub close: bool,
    /// Send no reply for the current command (SHUTDOWN closes instead).
    pub skip_reply: bool,
    /// Watched keys: (db, key, existed when watched).
    pub watching: Vec<(usize, Bytes, bool)>,
    /// Keys of the database being `SCAN`ned, sorted by scan position (db, keys): later
    /// calls of the same iteration continue from it instead of re-reading the keyspace.
    pub scan_snapshot: Option<(usize, Vec<(u64, Bytes)>)>,
    /// Mirror of the public info.
    pub info: ClientInfo,
}

impl ClientState {
    /// The peer's IP address (None for the internal replay client): decides what
    /// `enable-debug-command local` and `enable-protected-configs local` allow.
    pub(crate) fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.info
            .addr
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip())
    }

    /// A new connection.
    pub(crate) fn new(id: u64, addr: String, laddr: String, authed: bool) -> ClientState {
        ClientState {
            id,
            db: 0,
            resp3: false,
            authed,
            multi: None,
            multi_error: false,
            close: false,
            skip_reply: false,
            scan_snapshot: None,
            watching: Vec::new(),
            info: ClientInfo {
                addr,
                laddr,
                since: now_ms(),
                resp: 2,
                ..Default::default()
            },
        }
    }
}
