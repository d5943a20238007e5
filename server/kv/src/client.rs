//! Per-connection state (selected db, protocol, auth, name, transaction queue) and the
//! public summary of it kept in the store for `CLIENT LIST` and `INFO clients`.

use bytes::Bytes;

/// What `CLIENT LIST` shows about one connection.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Peer address.
    pub addr: String,
    /// Local address.
    pub laddr: String,
    /// `CLIENT SETNAME`.
    pub name: String,
    /// Selected db.
    pub db: usize,
    /// Connect time (ms).
    pub since: u64,
    /// Last command name.
    pub last_cmd: String,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: String,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: String,
    /// 2 or 3.
    pub resp: u8,
    /// True while blocked.
    pub blocked: bool,
}

/// State of one connection.
#[derive(Debug)]
pub struct ClientState {
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
    /// A new connection.
    pub fn new(id: u64, addr: String, laddr: String, authed: bool) -> ClientState {
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
                since: super::store::now_ms(),
                resp: 2,
                ..Default::default()
            },
        }
    }
}
