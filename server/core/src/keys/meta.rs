//! METADATA store (`Redis_METADATA`, 6380 db 0): sensors, blacklists, daily statistics,
//! monitoring and analyzer-queue metadata (spec §3.2). Persisted.

use std::fmt::Display;

/// STRING default HMAC key, rewritten from `server.conf` at every server start.
pub const HMAC_DEFAULT_KEY: &str = "server:hmac_default_key";
/// SET of accepted D4 types (decimal).
pub const ACCEPTED_TYPE: &str = "server:accepted_type";
/// SET of accepted extended type names.
pub const ACCEPTED_EXTENDED_TYPE: &str = "server:accepted_extended_type";
/// STRING `YYYYmmdd` of the first server start.
pub const FIRST_DATE: &str = "first_date";
/// SET of blacklisted peer IPs.
pub const BLACKLIST_IP: &str = "blacklist_ip";
/// SET of sensor uuids whose peer IP gets blacklisted on connect.
pub const BLACKLIST_IP_BY_UUID: &str = "blacklist_ip_by_uuid";
/// SET of blacklisted sensor uuids.
pub const BLACKLIST_UUID: &str = "blacklist_uuid";
/// SET of approved sensor uuids (registration mode).
pub const REGISTERED_UUID: &str = "registered_uuid";
/// SET of sensors waiting for approval.
pub const SENSOR_PENDING_REGISTRATION: &str = "sensor_pending_registration";
/// HASH sensor uuid → per-sensor stream max size.
pub const STREAM_MAX_SIZE_BY_UUID: &str = "stream_max_size_by_uuid";
/// SET of monitored sensor uuids.
pub const TO_MONITOR_SENSORS: &str = "to_monitor:sensors";
/// STRING int epoch of the last monitoring change.
pub const SENSORS_MONITORING_LAST_UPDATED: &str = "sensors_monitoring:last_updated";
/// SET of monitored sensors currently in error.
pub const SENSORS_MONITORING_ERRORS: &str = "sensors_monitoring:sensors_error";
/// d4-rs: SET of analyzer queue uuids at their size limit (items being trimmed), kept by
/// the monitor of `d4-workers`; a member leaves when the queue drops to half its limit.
pub const SENSORS_MONITORING_QUEUE_FULL: &str = "sensors_monitoring:queue_full";
/// d4-rs: SET of analyzer queue uuids holding items whose length has not decreased for
/// `[Notifications] queue_not_consumed_delay` (nothing pops them), kept by the monitor.
pub const SENSORS_MONITORING_QUEUE_NOT_CONSUMED: &str = "sensors_monitoring:queue_not_consumed";

/// Fields of `metadata_uuid:<uuid>`.
pub mod field {
    /// int epoch of the first accepted packet.
    pub const FIRST_SEEN: &str = "first_seen";
    /// int epoch of the last accepted packet.
    pub const LAST_SEEN: &str = "last_seen";
    /// Last rejection message shown by the web.
    pub const ERROR: &str = "Error";
    /// Per-sensor HMAC key.
    pub const HMAC_KEY: &str = "hmac_key";
    /// Contact mail given at registration.
    pub const USER_MAIL: &str = "user_mail";
    /// Free text description.
    pub const DESCRIPTION: &str = "description";
    /// Registration flag (stored by the Python API as a bool).
    pub const THIRD_PARTY: &str = "third_party";
    /// `to_monitor:sensor:<uuid>` field: allowed silence in seconds.
    pub const DELTA_TIME: &str = "delta_time";
}

/// Fields of the analyzer queue hash `analyzer:<queue_uuid>`.
pub mod queue_field {
    /// Decimal type (254 for extended).
    pub const TYPE: &str = "type";
    /// Extended type name (254 queues only).
    pub const METATYPE: &str = "metatype";
    /// Free text.
    pub const DESCRIPTION: &str = "description";
    /// Queue length limit (int > 0).
    pub const MAX_SIZE: &str = "max_size";
    /// Float epoch of the last push.
    pub const LAST_UPDATED: &str = "last_updated";
}

/// HASH `metadata_uuid:<uuid>` (fields in [`field`]).
pub fn metadata_uuid(uuid: &str) -> String {
    format!("metadata_uuid:{uuid}")
}

/// HASH `metadata_type_by_uuid:<uuid>:<type>` (`first_seen`, `last_seen`).
pub fn metadata_type_by_uuid(uuid: &str, ty: impl Display) -> String {
    format!("metadata_type_by_uuid:{uuid}:{ty}")
}

/// HASH `metadata_extended_type_by_uuid:<uuid>:<ext>` (`first_seen`, `last_seen`).
pub fn metadata_extended_type_by_uuid(uuid: &str, ext: &str) -> String {
    format!("metadata_extended_type_by_uuid:{uuid}:{ext}")
}

/// SET `all_types_by_uuid:<uuid>`: every type a sensor ever sent.
pub fn all_types_by_uuid(uuid: &str) -> String {
    format!("all_types_by_uuid:{uuid}")
}

/// SET `all_extended_types_by_uuid:<uuid>`.
pub fn all_extended_types_by_uuid(uuid: &str) -> String {
    format!("all_extended_types_by_uuid:{uuid}")
}

/// LIST `list_uuid_ip:<uuid>` of `<ip>-<YYYYmmddHHMMSS>`, newest first, 16 kept.
pub fn list_uuid_ip(uuid: &str) -> String {
    format!("list_uuid_ip:{uuid}")
}

/// The `list_uuid_ip` entry for a connection.
pub fn list_uuid_ip_entry(ip: &str, t: chrono::DateTime<chrono::Local>) -> String {
    format!("{ip}-{}", t.format("%Y%m%d%H%M%S"))
}

/// ZSET `stat_uuid_ip:<date>:<uuid>` member ip.
pub fn stat_uuid_ip(date: &str, uuid: &str) -> String {
    format!("stat_uuid_ip:{date}:{uuid}")
}

/// ZSET `stat_ip_uuid:<date>:<ip>` member uuid.
pub fn stat_ip_uuid(date: &str, ip: &str) -> String {
    format!("stat_ip_uuid:{date}:{ip}")
}

/// ZSET `daily_uuid:<date>` member uuid.
pub fn daily_uuid(date: &str) -> String {
    format!("daily_uuid:{date}")
}

/// ZSET `daily_ip:<date>` member ip.
pub fn daily_ip(date: &str) -> String {
    format!("daily_ip:{date}")
}

/// ZSET `daily_type:<date>` member type.
pub fn daily_type(date: &str) -> String {
    format!("daily_type:{date}")
}

/// ZSET `stat_type_uuid:<date>:<type>` member uuid.
pub fn stat_type_uuid(date: &str, ty: impl Display) -> String {
    format!("stat_type_uuid:{date}:{ty}")
}

/// ZSET `stat_uuid_type:<date>:<uuid>` member type.
pub fn stat_uuid_type(date: &str, uuid: &str) -> String {
    format!("stat_uuid_type:{date}:{uuid}")
}

/// HASH `to_monitor:sensor:<uuid>` (`delta_time`).
pub fn to_monitor_sensor(uuid: &str) -> String {
    format!("to_monitor:sensor:{uuid}")
}

/// SET of every queue uuid.
pub const ALL_ANALYZER_QUEUES: &str = "all_analyzer_queues";
/// SET of types having at least one queue (254 for extended).
pub const ALL_ANALYZER_FORMAT_TYPE: &str = "all:analyzer:format_type";
/// SET of extended types having at least one queue.
pub const ALL_ANALYZER_EXTENDED_TYPE: &str = "all:analyzer:extended_type";

/// HASH `analyzer:<queue_uuid>` (fields in [`queue_field`]).
pub fn queue(q: &str) -> String {
    format!("analyzer:{q}")
}

/// SET `analyzer:<type>` of non-group queues of a plain type.
pub fn queues_of_type(ty: impl Display) -> String {
    format!("analyzer:{ty}")
}

/// SET `analyzer:254:<ext>` of non-group queues of an extended type.
pub fn queues_of_extended_type(ext: &str) -> String {
    format!("analyzer:254:{ext}")
}

/// SET `analyzer_uuid_group:<type>` of sensor-group queues of a plain type.
pub fn group_queues_of_type(ty: impl Display) -> String {
    format!("analyzer_uuid_group:{ty}")
}

/// SET `analyzer_uuid_group:254:<ext>` of sensor-group queues of an extended type.
pub fn group_queues_of_extended_type(ext: &str) -> String {
    format!("analyzer_uuid_group:254:{ext}")
}

/// SET `analyzer_sensor_group:<queue_uuid>`: sensors of a group queue.
pub fn queue_sensor_group(q: &str) -> String {
    format!("analyzer_sensor_group:{q}")
}

/// SET `sensor:queues:<type-or-ext>:<sensor>`: group queues that receive a sensor's data.
pub fn sensor_queues(type_or_ext: impl Display, sensor: &str) -> String {
    format!("sensor:queues:{type_or_ext}:{sensor}")
}

/// SET `all:analyzer:by:format_type:<type>`.
pub fn all_queues_by_format_type(ty: impl Display) -> String {
    format!("all:analyzer:by:format_type:{ty}")
}

/// SET `all:analyzer:by:extended_type:<ext>`.
pub fn all_queues_by_extended_type(ext: &str) -> String {
    format!("all:analyzer:by:extended_type:{ext}")
}
