//! Golden tests: one row per key family of spec `d4-core-server.md` §3 and `d4-core-web.md` §2.1.

use super::*;

const U: &str = "ff7ba400e76c4053982dfeec42bdef38";
const S: &str = "6b1d9a4e-1c2f-4a3b-9c8d-0e1f2a3b4c5d";
const Q: &str = "3b6b4a7e-86a5-4c2b-a1c5-2e3f4a5b6c7d";

#[test]
fn stream_keys() {
    assert_eq!(stream::stream(8, S), format!("stream:8:{S}"));
    assert_eq!(stream::session_uuid(8), "session_uuid:8");
    assert_eq!(
        stream::working_session_uuid(254),
        "working_session_uuid:254"
    );
    assert_eq!(stream::active_connection(8), "active_connection:8");
    assert_eq!(
        stream::active_connection_by_uuid(U),
        format!("active_connection_by_uuid:{U}")
    );
    assert_eq!(
        stream::active_uuid_type(2, U),
        format!("active_uuid_type2:{U}")
    );
    assert_eq!(
        stream::active_uuid_type(254, U),
        format!("active_uuid_type254:{U}")
    );
    assert_eq!(
        stream::sessions_of_sensor(U),
        format!("map:active_connection-uuid-session_uuid:{U}")
    );
    assert_eq!(
        stream::active_connection_extended_type(U),
        format!("active_connection_extended_type:{U}")
    );
    assert_eq!(
        stream::temp_blacklist_uuid(U),
        format!("temp_blacklist_uuid:{U}")
    );
    assert_eq!(stream::data_in_process(S), format!("data_in_process:{S}"));
    assert_eq!(
        stream::map_type_session_uuid(8),
        "map-type:session_uuid-uuid:8"
    );
    assert_eq!(stream::ENDED_SESSION, "ended_session");
    assert_eq!(stream::ERROR_INCORRECT_TYPE, "Error:IncorrectType");
    assert_eq!(
        stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE,
        "map:session-uuid_active_extended_type"
    );
    assert_eq!(stream::SENSOR_TO_KICK, "server:sensor_to_kick");
}

#[test]
fn meta_keys() {
    assert_eq!(meta::metadata_uuid(U), format!("metadata_uuid:{U}"));
    assert_eq!(
        meta::metadata_type_by_uuid(U, 8),
        format!("metadata_type_by_uuid:{U}:8")
    );
    assert_eq!(
        meta::metadata_extended_type_by_uuid(U, "ja3-jl"),
        format!("metadata_extended_type_by_uuid:{U}:ja3-jl")
    );
    assert_eq!(meta::all_types_by_uuid(U), format!("all_types_by_uuid:{U}"));
    assert_eq!(meta::list_uuid_ip(U), format!("list_uuid_ip:{U}"));
    assert_eq!(
        meta::stat_uuid_ip("20231223", U),
        format!("stat_uuid_ip:20231223:{U}")
    );
    assert_eq!(
        meta::stat_ip_uuid("20231223", "1.2.3.4"),
        "stat_ip_uuid:20231223:1.2.3.4"
    );
    assert_eq!(meta::daily_uuid("20231223"), "daily_uuid:20231223");
    assert_eq!(meta::daily_ip("20231223"), "daily_ip:20231223");
    assert_eq!(meta::daily_type("20231223"), "daily_type:20231223");
    assert_eq!(
        meta::stat_type_uuid("20231223", 8),
        "stat_type_uuid:20231223:8"
    );
    assert_eq!(
        meta::stat_uuid_type("20231223", U),
        format!("stat_uuid_type:20231223:{U}")
    );
    assert_eq!(meta::to_monitor_sensor(U), format!("to_monitor:sensor:{U}"));
    assert_eq!(meta::HMAC_DEFAULT_KEY, "server:hmac_default_key");
    assert_eq!(meta::ACCEPTED_TYPE, "server:accepted_type");
    assert_eq!(
        meta::ACCEPTED_EXTENDED_TYPE,
        "server:accepted_extended_type"
    );
    assert_eq!(
        meta::SENSORS_MONITORING_ERRORS,
        "sensors_monitoring:sensors_error"
    );
    assert_eq!(meta::STREAM_MAX_SIZE_BY_UUID, "stream_max_size_by_uuid");
}

#[test]
fn queue_keys() {
    assert_eq!(meta::queue(Q), format!("analyzer:{Q}"));
    assert_eq!(meta::queues_of_type(8), "analyzer:8");
    assert_eq!(
        meta::queues_of_extended_type("ja3-jl"),
        "analyzer:254:ja3-jl"
    );
    assert_eq!(meta::group_queues_of_type(8), "analyzer_uuid_group:8");
    assert_eq!(
        meta::group_queues_of_extended_type("ja3-jl"),
        "analyzer_uuid_group:254:ja3-jl"
    );
    assert_eq!(
        meta::queue_sensor_group(Q),
        format!("analyzer_sensor_group:{Q}")
    );
    assert_eq!(meta::sensor_queues(8, U), format!("sensor:queues:8:{U}"));
    assert_eq!(
        meta::all_queues_by_format_type(8),
        "all:analyzer:by:format_type:8"
    );
    assert_eq!(
        meta::all_queues_by_extended_type("ja3-jl"),
        "all:analyzer:by:extended_type:ja3-jl"
    );
    assert_eq!(analyzer::queue(8, Q), format!("analyzer:8:{Q}"));
    assert_eq!(analyzer::queue("ja3-jl", Q), format!("analyzer:ja3-jl:{Q}"));
}

#[test]
fn web_keys() {
    assert_eq!(serv::USER_ALL, "user:all");
    assert_eq!(serv::USER_TOKENS, "user:tokens");
    assert_eq!(serv::ALL_ROLES, "d4:all_role");
    assert_eq!(
        serv::user_metadata("admin@admin.test"),
        "user_metadata:admin@admin.test"
    );
    assert_eq!(serv::user_role("admin"), "user_role:admin");
    assert_eq!(
        cache::failed_login_ip("127.0.0.1"),
        "failed_login_ip:127.0.0.1"
    );
    assert_eq!(
        cache::failed_login_ip_api("127.0.0.1"),
        "failed_login_ip_api:127.0.0.1"
    );
    assert_eq!(
        cache::failed_login_user_id("a@b"),
        "failed_login_user_id:a@b"
    );
}

#[test]
fn dated_values() {
    use chrono::TimeZone;
    let t = chrono::Local
        .with_ymd_and_hms(2023, 12, 23, 17, 5, 9)
        .single()
        .unwrap();
    assert_eq!(date_key(t), "20231223");
    assert_eq!(
        meta::list_uuid_ip_entry("1.2.3.4", t),
        "1.2.3.4-20231223170509"
    );
}

#[test]
fn live_state_patterns_match_their_key_families() {
    let keys = [
        stream::active_connection(8),
        stream::active_connection_by_uuid(U),
        stream::active_uuid_type(2, U),
        stream::active_uuid_type(254, U),
        stream::sessions_of_sensor(U),
        stream::active_connection_extended_type(U),
    ];
    for (k, p) in keys.iter().zip(stream::LIVE_STATE_PATTERNS) {
        assert!(k.starts_with(p.trim_end_matches('*')), "{k} vs {p}");
    }
}

#[test]
fn d4rs_lease_and_session_keys() {
    assert_eq!(stream::worker_claim(8, S), format!("worker_claim:8:{S}"));
    assert_eq!(stream::SERVER_IDS, "server_ids");
    assert_eq!(stream::server_lease("h:4443"), "server_lease:h:4443");
    assert_eq!(stream::server_sessions("h:4443"), "server_sessions:h:4443");
    assert_eq!(cache::web_session("ab"), "web_session:ab");
    assert_eq!(
        cache::web_sessions_of_user("a@b.c"),
        "web_sessions_of_user:a@b.c"
    );
}
