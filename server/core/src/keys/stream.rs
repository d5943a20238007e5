//! STREAM store (`Redis_STREAM`, 6379 db 0): session streams and live-connection state.
//! Not persisted upstream; the server and workers own these keys (spec §3.1).

use std::fmt::Display;

/// Stream entry field: raw payload bytes.
pub const FIELD_MESSAGE: &str = "message";
/// Stream entry field: sensor uuid (32 hex).
pub const FIELD_UUID: &str = "uuid";
/// Stream entry field: header timestamp (decimal).
pub const FIELD_TIMESTAMP: &str = "timestamp";
/// Stream entry field: header version (decimal).
pub const FIELD_VERSION: &str = "version";

/// SET of every session uuid whose connection ended.
pub const ENDED_SESSION: &str = "ended_session";
/// SET of session uuids whose data a worker rejected.
pub const ERROR_INCORRECT_TYPE: &str = "Error:IncorrectType";
/// SET of sensor uuids with at least one live session.
pub const ACTIVE_CONNECTION: &str = "active_connection";
/// HASH session uuid → extended type of its 254 stream.
pub const MAP_SESSION_ACTIVE_EXTENDED_TYPE: &str = "map:session-uuid_active_extended_type";
/// SET of sensor uuids the web asked to disconnect.
pub const SENSOR_TO_KICK: &str = "server:sensor_to_kick";
/// Value stored in `temp_blacklist_uuid:<uuid>` (upstream literal).
pub const TEMP_BLACKLIST_VALUE: &str = "some random string";
/// Seconds a kicked sensor stays blacklisted.
pub const TEMP_BLACKLIST_SECONDS: i64 = 30;

/// STREAM `stream:<type>:<session>`: one entry per accepted D4 packet.
pub fn stream(ty: impl Display, session: &str) -> String {
    format!("stream:{ty}:{session}")
}

/// SET `session_uuid:<type>`: sessions waiting for (or handled by) a worker.
pub fn session_uuid(ty: impl Display) -> String {
    format!("session_uuid:{ty}")
}

/// SET `working_session_uuid:<type>`: sessions a worker is processing.
pub fn working_session_uuid(ty: impl Display) -> String {
    format!("working_session_uuid:{ty}")
}

/// SET `active_connection:<type>`: sensor uuids connected with that type.
pub fn active_connection(ty: impl Display) -> String {
    format!("active_connection:{ty}")
}

/// SET `active_connection_by_uuid:<uuid>`: types a sensor is connected with.
pub fn active_connection_by_uuid(uuid: &str) -> String {
    format!("active_connection_by_uuid:{uuid}")
}

/// SET `active_uuid_type2:<uuid>` / `active_uuid_type254:<uuid>`: live 2/254 sessions of a sensor.
pub fn active_uuid_type(ty: impl Display, uuid: &str) -> String {
    format!("active_uuid_type{ty}:{uuid}")
}

/// SET `map:active_connection-uuid-session_uuid:<uuid>`: live sessions of a sensor (for kicks).
pub fn sessions_of_sensor(uuid: &str) -> String {
    format!("map:active_connection-uuid-session_uuid:{uuid}")
}

/// SET `active_connection_extended_type:<uuid>`: extended types a sensor streams now.
pub fn active_connection_extended_type(uuid: &str) -> String {
    format!("active_connection_extended_type:{uuid}")
}

/// STRING `temp_blacklist_uuid:<uuid>` with a 30 s expiry.
pub fn temp_blacklist_uuid(uuid: &str) -> String {
    format!("temp_blacklist_uuid:{uuid}")
}

/// STRING `data_in_process:<session>`: capture file being compressed (type 1).
pub fn data_in_process(session: &str) -> String {
    format!("data_in_process:{session}")
}

/// HASH `map-type:session_uuid-uuid:<type>` (legacy, only ever HDEL'd).
pub fn map_type_session_uuid(ty: impl Display) -> String {
    format!("map-type:session_uuid-uuid:{ty}")
}

/// Glob patterns (for `KEYS`/`SCAN`) of the per-sensor live-connection keys the ingest
/// server owns; a restarted server deletes them because no session survives a restart.
pub const LIVE_STATE_PATTERNS: &[&str] = &[
    "active_connection:*",
    "active_connection_by_uuid:*",
    "active_uuid_type2:*",
    "active_uuid_type254:*",
    "map:active_connection-uuid-session_uuid:*",
    "active_connection_extended_type:*",
];

/// Glob pattern of `map:active_connection-uuid-session_uuid:<uuid>`.
pub const SESSIONS_OF_SENSOR_PATTERN: &str = "map:active_connection-uuid-session_uuid:*";
/// Glob pattern of `session_uuid:<type>`.
pub const SESSION_UUID_PATTERN: &str = "session_uuid:*";

/// STRING `worker_tail:<type>:<session>` (d4-rs addition): the unfinished last line of a
/// session saved by a worker that stopped before the session ended, restored on restart.
pub fn worker_tail(ty: impl Display, session: &str) -> String {
    format!("worker_tail:{ty}:{session}")
}

/// STRING `worker_claim:<type>:<session>` (d4-rs addition): the id of the `d4-workers`
/// process that reads this session, set with `NX` and an expiry (the claim's lease), so
/// several workers sharing one stream store each read a session once.
pub fn worker_claim(ty: impl Display, session: &str) -> String {
    format!("worker_claim:{ty}:{session}")
}

/// SET `server_ids` (d4-rs addition): the ids of the `d4-server`s that ever registered a
/// lease on this store; a member without a live [`server_lease`] is dead.
pub const SERVER_IDS: &str = "server_ids";

/// STRING `server_lease:<id>` (d4-rs addition): a `d4-server`'s heartbeat, refreshed well
/// inside its expiry; once it expires the server's sessions are finished by the others.
pub fn server_lease(id: &str) -> String {
    format!("server_lease:{id}")
}

/// HASH `server_sessions:<id>` (d4-rs addition): session uuid → `<sensor uuid>:<type>`
/// of every live session that `d4-server` holds (the owner of each live-connection entry).
pub fn server_sessions(id: &str) -> String {
    format!("server_sessions:{id}")
}
