//! Sensors: status rows, detail, actions, monitoring and registration (web spec §3.1-3.2,
//! §3.6, §4.2, §5.2-5.3; server spec §6). Reads are pipelined so a page with a thousand
//! sensors costs a couple of round trips.

use super::StoreResult;
use crate::util::{fmt_epoch, last_days};
use d4_core::keys::{meta, stream};
use d4_core::store::value::{flag, members, text};
use d4_core::store::{cmd, pipe, Cmd, FromRedisValue, Store, Value};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Default per-sensor stream size shown when none is set (upstream constant).
pub(crate) const DEFAULT_STREAM_MAX_SIZE: i64 = 10_000;

/// One badge of the types column.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TypeBadge {
    /// Type number or extended type name.
    pub name: String,
    /// Connected with this type now.
    pub active: bool,
    /// Hover text (type.json description).
    pub description: String,
}

/// One row of the sensors status / registered tables.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SensorRow {
    /// Sensor uuid as listed.
    pub uuid: String,
    /// Free text.
    pub description: String,
    /// Local time or `-`.
    pub first_seen: String,
    /// Local time or `-`.
    pub last_seen: String,
    /// Types, ascending, then extended types.
    pub types: Vec<TypeBadge>,
    /// Error text (blacklists override the stored `Error`), empty when OK.
    pub error: String,
    /// In STREAM `active_connection`.
    pub connected: bool,
}

fn s(v: Value) -> Option<String> {
    text(v)
}

fn strings(v: Value) -> Vec<String> {
    members(v)
}

fn boolean(v: Value) -> bool {
    flag(&v)
}

/// Members of `daily_uuid:<date>` (sensors that sent data that day), ascending by count.
pub(crate) async fn daily_uuids(meta_db: &Store, date: &str) -> StoreResult<Vec<String>> {
    meta_db
        .query(&Cmd::zrange(meta::daily_uuid(date), 0, -1))
        .await
}

/// STREAM `active_connection`: sensors with a live session.
pub(crate) async fn connected(stream_db: &Store) -> StoreResult<HashSet<String>> {
    stream_db
        .query(&Cmd::smembers(stream::ACTIVE_CONNECTION))
        .await
}

/// Builds status rows for `uuids` (any order in, sorted by uuid out).
pub(crate) async fn status_rows(
    meta_db: &Store,
    stream_db: &Store,
    uuids: &[String],
    describe: &dyn Fn(&str) -> String,
) -> StoreResult<Vec<SensorRow>> {
    let live = connected(stream_db).await?;
    let mut p = pipe();
    for u in uuids {
        p.hmget(
            meta::metadata_uuid(u),
            &[
                meta::field::FIRST_SEEN,
                meta::field::LAST_SEEN,
                meta::field::DESCRIPTION,
                meta::field::ERROR,
            ],
        )
        .smembers(meta::all_types_by_uuid(u))
        .smembers(meta::all_extended_types_by_uuid(u))
        .sismember(meta::BLACKLIST_IP_BY_UUID, u)
        .sismember(meta::BLACKLIST_UUID, u);
    }
    let values: Vec<Value> = if uuids.is_empty() {
        Vec::new()
    } else {
        meta_db.run(&p).await?
    };
    let mut it = values.into_iter();
    let mut raw = Vec::with_capacity(uuids.len());
    let mut all_types: HashSet<String> = HashSet::new();
    for u in uuids {
        let fields = strings_opt(it.next().unwrap_or(Value::Nil));
        let mut types = strings(it.next().unwrap_or(Value::Nil));
        types.sort_by_key(|t| t.parse::<i64>().unwrap_or(i64::MAX));
        let mut ext = strings(it.next().unwrap_or(Value::Nil));
        ext.sort();
        let bl_ip = boolean(it.next().unwrap_or(Value::Nil));
        let bl_uuid = boolean(it.next().unwrap_or(Value::Nil));
        all_types.extend(types.iter().cloned());
        raw.push((u, fields, types, ext, bl_ip, bl_uuid));
    }
    // Connected-by-type sets, one SMEMBERS per type seen.
    let mut active_by_type: HashMap<String, HashSet<String>> = HashMap::new();
    for t in &all_types {
        let set: HashSet<String> = stream_db
            .query(&Cmd::smembers(stream::active_connection(t)))
            .await?;
        active_by_type.insert(t.clone(), set);
    }
    let mut rows = Vec::with_capacity(raw.len());
    for (u, f, types, ext, bl_ip, bl_uuid) in raw {
        let connected = live.contains(u);
        let ext_active: HashSet<String> = if connected && types.iter().any(|t| t == "254") {
            stream_db
                .query(&Cmd::smembers(stream::active_connection_extended_type(u)))
                .await?
        } else {
            HashSet::new()
        };
        let mut badges: Vec<TypeBadge> = types
            .iter()
            .map(|t| TypeBadge {
                active: active_by_type.get(t).is_some_and(|s| s.contains(u)),
                description: describe(t),
                name: t.clone(),
            })
            .collect();
        if types.iter().any(|t| t == "254") {
            badges.extend(ext.iter().map(|e| TypeBadge {
                active: ext_active.contains(e),
                description: String::new(),
                name: e.clone(),
            }));
        }
        let get = |i: usize| f.get(i).cloned().flatten();
        rows.push(SensorRow {
            uuid: u.clone(),
            first_seen: get(0)
                .and_then(|v| fmt_epoch(&v))
                .unwrap_or_else(|| "-".into()),
            last_seen: get(1)
                .and_then(|v| fmt_epoch(&v))
                .unwrap_or_else(|| "-".into()),
            description: get(2).unwrap_or_default(),
            error: status_error(bl_ip, bl_uuid, get(3)),
            types: badges,
            connected,
        });
    }
    rows.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    Ok(rows)
}

fn strings_opt(v: Value) -> Vec<Option<String>> {
    match v {
        Value::Array(items) => items.into_iter().map(s).collect(),
        _ => Vec::new(),
    }
}

/// The status text: IP-by-uuid blacklist, then uuid blacklist, then the stored `Error`.
pub(crate) fn status_error(bl_ip: bool, bl_uuid: bool, error: Option<String>) -> String {
    if bl_ip {
        "All IP using this UUID are Blacklisted".into()
    } else if bl_uuid {
        "Blacklisted UUID".into()
    } else {
        error.unwrap_or_default()
    }
}

/// A type row of the detail page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TypeSeen {
    /// Type number.
    pub ty: String,
    /// Local time or `-`.
    pub first_seen: String,
    /// Local time or `-`.
    pub last_seen: String,
}

/// One entry of the last-IP list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IpSeen {
    /// Peer address.
    pub ip: String,
    /// `YYYY-MM-DD HH:MM:SS` when parseable, else the raw suffix.
    pub date: String,
}

/// Everything the sensor detail page shows.
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct SensorDetail {
    /// Undashed uuid.
    pub uuid: String,
    /// Description text.
    pub description: String,
    /// Local time or `-`.
    pub first_seen: String,
    /// Local time or `-`.
    pub last_seen: String,
    /// Error text (empty = OK).
    pub error: String,
    /// Live session now.
    pub connected: bool,
    /// Kicked less than 30 s ago.
    pub temp_blacklisted: bool,
    /// In `blacklist_uuid`.
    pub blacklisted_uuid: bool,
    /// In `blacklist_ip_by_uuid`.
    pub blacklisted_ip_by_uuid: bool,
    /// In `to_monitor:sensors`.
    pub monitored: bool,
    /// Monitoring delta in seconds, when monitored.
    pub monitoring_delta: Option<String>,
    /// In `sensors_monitoring:sensors_error`.
    pub monitoring_error: bool,
    /// Stream max size (default 10000).
    pub stream_max_size: i64,
    /// Per-sensor key, or the server default key.
    pub hmac_key: String,
    /// Whether `hmac_key` is the server default.
    pub hmac_is_default: bool,
    /// Types with first/last seen.
    pub types: Vec<TypeSeen>,
    /// Newest first.
    pub ips: Vec<IpSeen>,
    /// Whether `metadata_uuid:<u>` exists at all.
    pub known: bool,
    /// Registration mail, if any.
    pub user_mail: String,
}

/// Reads the detail page data of an (undashed) sensor uuid.
pub(crate) async fn detail(
    meta_db: &Store,
    stream_db: &Store,
    u: &str,
) -> StoreResult<SensorDetail> {
    let m: HashMap<String, String> = meta_db.query(&Cmd::hgetall(meta::metadata_uuid(u))).await?;
    let mut p = pipe();
    p.sismember(meta::BLACKLIST_UUID, u)
        .sismember(meta::BLACKLIST_IP_BY_UUID, u)
        .sismember(meta::TO_MONITOR_SENSORS, u)
        .hget(meta::to_monitor_sensor(u), meta::field::DELTA_TIME)
        .hget(meta::STREAM_MAX_SIZE_BY_UUID, u)
        .get(meta::HMAC_DEFAULT_KEY)
        .smembers(meta::all_types_by_uuid(u))
        .lrange(meta::list_uuid_ip(u), 0, -1)
        .sismember(meta::SENSORS_MONITORING_ERRORS, u);
    let v: Vec<Value> = meta_db.run(&p).await?;
    let mut it = v.into_iter();
    let mut next = || it.next().unwrap_or(Value::Nil);
    let (bl_uuid, bl_ip, monitored) = (boolean(next()), boolean(next()), boolean(next()));
    let delta = s(next());
    let max_size = s(next()).and_then(|v| v.parse().ok());
    let default_key = s(next()).unwrap_or_default();
    let mut types = strings(next());
    types.sort_by_key(|t| t.parse::<i64>().unwrap_or(i64::MAX));
    let ips = strings(next()).iter().map(|e| parse_ip_entry(e)).collect();
    let monitoring_error = boolean(next());
    let mut p = pipe();
    p.sismember(stream::ACTIVE_CONNECTION, u)
        .exists(stream::temp_blacklist_uuid(u));
    let (connected, temp): (bool, bool) = stream_db.run(&p).await?;
    let mut seen = Vec::with_capacity(types.len());
    for t in types {
        let f: Vec<Option<String>> = meta_db
            .query(&Cmd::hmget(
                meta::metadata_type_by_uuid(u, &t),
                &[meta::field::FIRST_SEEN, meta::field::LAST_SEEN],
            ))
            .await?;
        let at = |i: usize| {
            f.get(i)
                .cloned()
                .flatten()
                .and_then(|v| fmt_epoch(&v))
                .unwrap_or_else(|| "-".into())
        };
        seen.push(TypeSeen {
            first_seen: at(0),
            last_seen: at(1),
            ty: t,
        });
    }
    let hmac = m.get(meta::field::HMAC_KEY).cloned();
    Ok(SensorDetail {
        uuid: u.to_string(),
        known: !m.is_empty(),
        description: m.get(meta::field::DESCRIPTION).cloned().unwrap_or_default(),
        first_seen: epoch_field(&m, meta::field::FIRST_SEEN),
        last_seen: epoch_field(&m, meta::field::LAST_SEEN),
        error: status_error(bl_ip, bl_uuid, m.get(meta::field::ERROR).cloned()),
        user_mail: m.get(meta::field::USER_MAIL).cloned().unwrap_or_default(),
        connected,
        temp_blacklisted: temp,
        blacklisted_uuid: bl_uuid,
        blacklisted_ip_by_uuid: bl_ip,
        monitored,
        monitoring_delta: delta,
        monitoring_error,
        stream_max_size: max_size.unwrap_or(DEFAULT_STREAM_MAX_SIZE),
        hmac_is_default: hmac.is_none(),
        hmac_key: hmac.unwrap_or(default_key),
        types: seen,
        ips,
    })
}

fn epoch_field(m: &HashMap<String, String>, f: &str) -> String {
    m.get(f)
        .and_then(|v| fmt_epoch(v))
        .unwrap_or_else(|| "-".into())
}

/// `<ip>-<YYYYmmddHHMMSS>` → ip and a readable date (upstream's display bug not kept).
pub(crate) fn parse_ip_entry(e: &str) -> IpSeen {
    match e.rsplit_once('-') {
        Some((ip, d)) if d.len() == 14 && d.bytes().all(|b| b.is_ascii_digit()) => IpSeen {
            ip: ip.to_string(),
            date: format!(
                "{}-{}-{} {}:{}:{}",
                &d[0..4],
                &d[4..6],
                &d[6..8],
                &d[8..10],
                &d[10..12],
                &d[12..14]
            ),
        },
        _ => IpSeen {
            ip: e.to_string(),
            date: String::new(),
        },
    }
}

/// Packets per type per day for the last 7 days (`stat_uuid_type:<date>:<uuid>`):
/// (day labels oldest first, type → counts).
pub(crate) async fn type_history(
    meta_db: &Store,
    u: &str,
) -> StoreResult<(Vec<String>, BTreeMap<String, Vec<f64>>)> {
    let days = last_days(7);
    let mut p = pipe();
    for (k, _) in &days {
        p.zrange_withscores(meta::stat_uuid_type(k, u), 0, -1);
    }
    let v: Vec<Value> = meta_db.run(&p).await?;
    Ok(collect_series(&days, v))
}

/// Turns per-day `(member, score)` lists into a series map.
pub(crate) fn collect_series(
    days: &[(String, String)],
    v: Vec<Value>,
) -> (Vec<String>, BTreeMap<String, Vec<f64>>) {
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (i, day) in v.into_iter().enumerate() {
        let pairs = Vec::<(String, f64)>::from_redis_value(day).unwrap_or_default();
        for (member, score) in pairs {
            let e = series
                .entry(member)
                .or_insert_with(|| vec![0.0; days.len()]);
            if let Some(slot) = e.get_mut(i) {
                *slot = score;
            }
        }
    }
    (days.iter().map(|(_, l)| l.clone()).collect(), series)
}

/// HSET `metadata_uuid:<u> description`.
pub(crate) async fn set_description(meta_db: &Store, u: &str, d: &str) -> StoreResult<()> {
    meta_db
        .query(&Cmd::hset(
            meta::metadata_uuid(u),
            meta::field::DESCRIPTION,
            d,
        ))
        .await
}

/// HSET `stream_max_size_by_uuid <u> <n>`.
pub(crate) async fn set_stream_max_size(meta_db: &Store, u: &str, n: u64) -> StoreResult<()> {
    meta_db
        .query(&Cmd::hset(meta::STREAM_MAX_SIZE_BY_UUID, u, n.to_string()))
        .await
}

/// HSET `metadata_uuid:<u> hmac_key` (already escaped and cut).
pub(crate) async fn set_hmac_key(meta_db: &Store, u: &str, key: &str) -> StoreResult<()> {
    meta_db
        .query(&Cmd::hset(
            meta::metadata_uuid(u),
            meta::field::HMAC_KEY,
            key,
        ))
        .await
}

/// SADD STREAM `server:sensor_to_kick`.
pub(crate) async fn kick(stream_db: &Store, u: &str) -> StoreResult<()> {
    stream_db.query(&Cmd::sadd(stream::SENSOR_TO_KICK, u)).await
}

/// Monitoring on: set, delta, last_updated, clear error (server spec §6).
pub(crate) async fn monitor_add(meta_db: &Store, u: &str, delta: u64) -> StoreResult<()> {
    meta_db
        .query::<()>(&Cmd::sadd(meta::TO_MONITOR_SENSORS, u))
        .await?;
    meta_db
        .query::<()>(&Cmd::hset(
            meta::to_monitor_sensor(u),
            meta::field::DELTA_TIME,
            delta.to_string(),
        ))
        .await?;
    touch_monitoring(meta_db, u).await
}

/// Monitoring off (only if monitored).
pub(crate) async fn monitor_delete(meta_db: &Store, u: &str) -> StoreResult<bool> {
    let removed: i64 = meta_db
        .query(&Cmd::srem(meta::TO_MONITOR_SENSORS, u))
        .await?;
    if removed == 0 {
        return Ok(false);
    }
    meta_db
        .query::<()>(&Cmd::del(meta::to_monitor_sensor(u)))
        .await?;
    touch_monitoring(meta_db, u).await?;
    Ok(true)
}

async fn touch_monitoring(meta_db: &Store, u: &str) -> StoreResult<()> {
    let now = chrono::Utc::now().timestamp().to_string();
    meta_db
        .query::<()>(&Cmd::set(meta::SENSORS_MONITORING_LAST_UPDATED, now))
        .await?;
    meta_db
        .query(&Cmd::srem(meta::SENSORS_MONITORING_ERRORS, u))
        .await
}

/// Sensors currently in monitoring error.
pub(crate) async fn monitoring_errors(meta_db: &Store) -> StoreResult<Vec<String>> {
    let mut v: Vec<String> = meta_db
        .query(&Cmd::smembers(meta::SENSORS_MONITORING_ERRORS))
        .await?;
    v.sort();
    Ok(v)
}

/// What the monitor reports about analyzer queues: those at their size limit and those
/// nothing consumes (sets kept by the `d4-workers` monitor; empty when it does not run).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct QueueAlerts {
    /// Queue uuids at their size limit.
    pub full: Vec<String>,
    /// Queue uuids whose items nobody pops.
    pub not_consumed: Vec<String>,
}

/// Reads [`QueueAlerts`].
pub(crate) async fn queue_alerts(meta_db: &Store) -> StoreResult<QueueAlerts> {
    let mut full: Vec<String> = meta_db
        .query(&Cmd::smembers(meta::SENSORS_MONITORING_QUEUE_FULL))
        .await?;
    let mut not_consumed: Vec<String> = meta_db
        .query(&Cmd::smembers(meta::SENSORS_MONITORING_QUEUE_NOT_CONSUMED))
        .await?;
    full.sort();
    not_consumed.sort();
    Ok(QueueAlerts { full, not_consumed })
}

/// A pending sensor row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingRow {
    /// Sensor uuid.
    pub uuid: String,
    /// Description (empty when none).
    pub description: String,
    /// Registration mail (empty when none).
    pub mail: String,
}

/// Sorted members of a META set.
pub(crate) async fn sorted_members(meta_db: &Store, key: &str) -> StoreResult<Vec<String>> {
    let mut v: Vec<String> = meta_db.query(&Cmd::smembers(key)).await?;
    v.sort();
    Ok(v)
}

/// Pending registrations with description and mail.
pub(crate) async fn pending(meta_db: &Store) -> StoreResult<Vec<PendingRow>> {
    let ids = sorted_members(meta_db, meta::SENSOR_PENDING_REGISTRATION).await?;
    let mut rows = Vec::with_capacity(ids.len());
    for u in ids {
        let f: Vec<Option<String>> = meta_db
            .query(&Cmd::hmget(
                meta::metadata_uuid(&u),
                &[meta::field::DESCRIPTION, meta::field::USER_MAIL],
            ))
            .await?;
        rows.push(PendingRow {
            description: f.first().cloned().flatten().unwrap_or_default(),
            mail: f.get(1).cloned().flatten().unwrap_or_default(),
            uuid: u,
        });
    }
    Ok(rows)
}

/// Why an approval or deletion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistrationRefusal {
    /// Already in `registered_uuid`.
    AlreadyApproved,
    /// Not in `sensor_pending_registration`.
    NotPending,
    /// Not in `registered_uuid`.
    NotRegistered,
    /// `metadata_uuid:<u>` already exists (API register).
    AlreadyRegistered,
}

/// Approves a sensor (any valid uuid, as upstream): SADD registered, SREM pending.
pub(crate) async fn approve(
    meta_db: &Store,
    u: &str,
) -> StoreResult<Result<(), RegistrationRefusal>> {
    let already: bool = meta_db
        .query(&Cmd::sismember(meta::REGISTERED_UUID, u))
        .await?;
    if already {
        return Ok(Err(RegistrationRefusal::AlreadyApproved));
    }
    meta_db
        .query::<()>(&Cmd::sadd(meta::REGISTERED_UUID, u))
        .await?;
    meta_db
        .query::<()>(&Cmd::srem(meta::SENSOR_PENDING_REGISTRATION, u))
        .await?;
    Ok(Ok(()))
}

/// Drops a pending registration.
pub(crate) async fn delete_pending(
    meta_db: &Store,
    u: &str,
) -> StoreResult<Result<(), RegistrationRefusal>> {
    let n: i64 = meta_db
        .query(&Cmd::srem(meta::SENSOR_PENDING_REGISTRATION, u))
        .await?;
    Ok(if n == 0 {
        Err(RegistrationRefusal::NotPending)
    } else {
        Ok(())
    })
}

/// Drops an approval (metadata kept).
pub(crate) async fn delete_registered(
    meta_db: &Store,
    u: &str,
) -> StoreResult<Result<(), RegistrationRefusal>> {
    let n: i64 = meta_db.query(&Cmd::srem(meta::REGISTERED_UUID, u)).await?;
    Ok(if n == 0 {
        Err(RegistrationRefusal::NotRegistered)
    } else {
        Ok(())
    })
}

/// Whether `metadata_uuid:<u>` exists (the sensor ever connected or registered).
pub(crate) async fn is_known(meta_db: &Store, u: &str) -> StoreResult<bool> {
    meta_db.query(&Cmd::exists(meta::metadata_uuid(u))).await
}

/// API registration (server spec §6): refuses known sensors, stores the key, mail and
/// third-party flag (as the string `True`), then queues the sensor for approval.
pub(crate) async fn register(
    meta_db: &Store,
    u: &str,
    hmac_key: &str,
    mail: Option<&str>,
    third_party: bool,
) -> StoreResult<Result<(), RegistrationRefusal>> {
    let key = meta::metadata_uuid(u);
    let exists: bool = meta_db.query(&Cmd::exists(&key)).await?;
    if exists {
        return Ok(Err(RegistrationRefusal::AlreadyRegistered));
    }
    let mut fields: Vec<(&str, &str)> = vec![(meta::field::HMAC_KEY, hmac_key)];
    if let Some(m) = mail {
        fields.push((meta::field::USER_MAIL, m));
    }
    if third_party {
        fields.push((meta::field::THIRD_PARTY, "True"));
    }
    meta_db
        .query::<()>(cmd("HSET").arg(&key).arg(&fields))
        .await?;
    meta_db
        .query::<()>(&Cmd::sadd(meta::SENSOR_PENDING_REGISTRATION, u))
        .await?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_entries_parse_or_pass_through() {
        let e = parse_ip_entry("127.0.0.1-20240102030405");
        assert_eq!(
            (e.ip.as_str(), e.date.as_str()),
            ("127.0.0.1", "2024-01-02 03:04:05")
        );
        let e = parse_ip_entry("::1-20240102030405");
        assert_eq!(e.ip, "::1");
        assert_eq!(parse_ip_entry("garbage").ip, "garbage");
    }

    #[test]
    fn blacklists_override_errors() {
        assert_eq!(
            status_error(true, true, Some("x".into())),
            "All IP using this UUID are Blacklisted"
        );
        assert_eq!(
            status_error(false, true, Some("x".into())),
            "Blacklisted UUID"
        );
        assert_eq!(status_error(false, false, Some("x".into())), "x");
        assert_eq!(status_error(false, false, None), "");
    }
}
