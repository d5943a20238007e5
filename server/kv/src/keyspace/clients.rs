//! The client registry entry: what `CLIENT LIST` and `INFO clients` show about one
//! connection. The registry (`Store::clients`) lives under the store lock; each
//! connection keeps its own copy in its state and writes it back when it changes.

/// What `CLIENT LIST` shows about one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientInfo {
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
