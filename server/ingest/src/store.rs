//! Every store operation of the ingest server, batched.
//!
//! - [`fetch_checks`]: one round trip (a META and a STREAM pipeline at once) gathers what
//!   the §2.5 checks of a batch of packets need.
//! - [`write_accepted`]: one round trip writes a batch of accepted packets: `XADD`s,
//!   daily stats (`ZINCRBY` by the batch's packet count: the same totals as one
//!   increment per packet), first/last seen, `list_uuid_ip`, `session_uuid:<type>`.
//! - [`claim_identity`], [`switch_to_254`], [`release`]: the live-connection sets of a
//!   session's start, 2 → 254 switch and end (spec §2.5 i-m, §2.8).
//! - [`apply_reject`]: the store side effects of a rejection (`Error` field, ...).

use bytes::Bytes;
use fred::prelude::*;

use super::reject::Reject;
use d4_core::config::ServerMode;
use d4_core::keys::{self, meta, stream};
use d4_proto::Header;

/// Default `stream_max_size` (upstream `default_max_entries_by_stream`).
pub const DEFAULT_STREAM_MAX_SIZE: u64 = 10_000;

/// The store connections of the ingest server.
#[derive(Clone)]
pub struct Stores {
    /// `Redis_STREAM`.
    pub stream: Client,
    /// `Redis_METADATA`.
    pub meta: Client,
}

/// What the checks of one batch (same uuid and type) found.
#[derive(Debug, Default, Clone)]
pub struct Checks {
    /// `blacklist_ip` contains the peer IP.
    pub ip_blacklisted: bool,
    /// `blacklist_ip_by_uuid` contains the uuid.
    pub ip_by_uuid: bool,
    /// `blacklist_uuid` contains the uuid.
    pub uuid_blacklisted: bool,
    /// `registered_uuid` contains the uuid.
    pub registered: bool,
    /// `temp_blacklist_uuid:<uuid>` exists.
    pub temp_blacklisted: bool,
    /// `Error:IncorrectType` contains the session.
    pub incorrect_type: bool,
    /// `server:accepted_type` contains the type.
    pub type_accepted: bool,
    /// Entries waiting in `stream:<type>:<session>`.
    pub xlen: u64,
    /// HMAC key (per-sensor or default), when asked for.
    pub hmac_key: Option<Vec<u8>>,
    /// `stream_max_size_by_uuid` or the default, when asked for.
    pub max_entries: Option<u64>,
}

impl Checks {
    /// The first failing check of spec §2.5 a-h (IP blacklist first, as upstream checks
    /// it on every chunk), or `None`.
    pub fn first_failure(&self, mode: ServerMode, ip: &str, h: &Header) -> Option<Reject> {
        let uuid = h.uuid_hex();
        if self.ip_blacklisted {
            return Some(Reject::BlacklistedIp { ip: ip.into() });
        }
        if self.ip_by_uuid {
            return Some(Reject::BlacklistedIpByUuid { uuid });
        }
        if self.uuid_blacklisted {
            return Some(Reject::BlacklistedUuid { uuid });
        }
        if mode == ServerMode::Registration && !self.registered {
            return Some(Reject::NotRegistered { uuid });
        }
        if self.temp_blacklisted {
            return Some(Reject::TempBlacklisted);
        }
        if self.incorrect_type {
            return Some(Reject::IncorrectType);
        }
        if !d4_proto::is_valid_uuid_v4(&h.uuid) {
            return Some(Reject::InvalidUuid { uuid });
        }
        if !self.type_accepted {
            return Some(Reject::TypeNotAccepted { ty: h.data_type.0 });
        }
        None
    }
}

fn flag(v: Option<Value>) -> bool {
    v.and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Gathers the checks of a batch of packets with `h`'s uuid and type, in one round trip.
pub async fn fetch_checks(
    st: &Stores,
    ip: &str,
    h: &Header,
    session: &str,
    want_key: bool,
) -> Result<Checks, fred::error::Error> {
    let uuid = h.uuid_hex();
    let ty = h.data_type.0;
    let m = st.meta.pipeline();
    let _: () = m.sismember(meta::BLACKLIST_IP, ip).await?;
    let _: () = m
        .sismember(meta::BLACKLIST_IP_BY_UUID, uuid.as_str())
        .await?;
    let _: () = m.sismember(meta::BLACKLIST_UUID, uuid.as_str()).await?;
    let _: () = m.sismember(meta::REGISTERED_UUID, uuid.as_str()).await?;
    let _: () = m.sismember(meta::ACCEPTED_TYPE, ty.to_string()).await?;
    if want_key {
        let _: () = m
            .hget(meta::metadata_uuid(&uuid), meta::field::HMAC_KEY)
            .await?;
        let _: () = m.get(meta::HMAC_DEFAULT_KEY).await?;
        let _: () = m.hget(meta::STREAM_MAX_SIZE_BY_UUID, uuid.as_str()).await?;
    }
    let s = st.stream.pipeline();
    let _: () = s.exists(stream::temp_blacklist_uuid(&uuid)).await?;
    let _: () = s.sismember(stream::ERROR_INCORRECT_TYPE, session).await?;
    let _: () = s.xlen(stream::stream(ty, session)).await?;
    let (m, s) = tokio::join!(m.all::<Vec<Value>>(), s.all::<Vec<Value>>());
    let mut m = m?.into_iter();
    let mut s = s?.into_iter();
    let mut c = Checks {
        ip_blacklisted: flag(m.next()),
        ip_by_uuid: flag(m.next()),
        uuid_blacklisted: flag(m.next()),
        registered: flag(m.next()),
        type_accepted: flag(m.next()),
        temp_blacklisted: flag(s.next()),
        incorrect_type: flag(s.next()),
        xlen: s.next().and_then(|v| v.as_u64()).unwrap_or(0),
        ..Default::default()
    };
    if want_key {
        let own = m.next().and_then(|v| v.into_bytes());
        let default = m.next().and_then(|v| v.into_bytes());
        c.hmac_key = Some(own.or(default).map(|b| b.to_vec()).unwrap_or_default());
        c.max_entries = Some(
            m.next()
                .and_then(|v| v.as_string())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(DEFAULT_STREAM_MAX_SIZE),
        );
    }
    Ok(c)
}

/// Store side effects of a rejection: the `Error` field, and what §2.5 a/f also do.
pub async fn apply_reject(
    st: &Stores,
    r: &Reject,
    uuid: &str,
    ip: &str,
    ty: u8,
    session: &str,
) -> Result<(), fred::error::Error> {
    match r {
        Reject::BlacklistedIpByUuid { .. } => {
            let _: () = st.meta.sadd(meta::BLACKLIST_IP, ip).await?;
        }
        Reject::IncorrectType => {
            let p = st.stream.pipeline();
            let _: () = p.del(stream::stream(ty, session)).await?;
            let _: () = p.srem(stream::ERROR_INCORRECT_TYPE, session).await?;
            let _: Vec<Value> = p.all().await?;
        }
        _ => {}
    }
    if let Some(e) = r.error_field() {
        let target = match r {
            Reject::UuidChange { new } => new.as_str(),
            _ => uuid,
        };
        let _: () = st
            .meta
            .hset(meta::metadata_uuid(target), (meta::field::ERROR, e))
            .await?;
    }
    Ok(())
}

/// Starts a session's identity (spec §2.5 i-l). `Some(reject)` for a 254 start or a
/// duplicate uuid+type; nothing is written then. The duplicate test is the `SADD`
/// itself, so two racing connections cannot both win.
pub async fn claim_identity(
    st: &Stores,
    uuid: &str,
    ty: u8,
    session: &str,
) -> Result<Option<Reject>, fred::error::Error> {
    match ty {
        254 => return Ok(Some(Reject::Type254First)),
        2 => {
            let _: () = st
                .stream
                .sadd(stream::active_uuid_type(2, uuid), session)
                .await?;
        }
        _ => {
            let added: i64 = st.stream.sadd(stream::active_connection(ty), uuid).await?;
            if added == 0 {
                return Ok(Some(Reject::Duplicate { ty }));
            }
        }
    }
    let p = st.stream.pipeline();
    let _: () = p.sadd(stream::active_connection(ty), uuid).await?;
    let _: () = p
        .sadd(stream::active_connection_by_uuid(uuid), ty.to_string())
        .await?;
    let _: () = p.sadd(stream::ACTIVE_CONNECTION, uuid).await?;
    let _: () = p.sadd(stream::sessions_of_sensor(uuid), session).await?;
    let (r, m) = tokio::join!(
        p.all::<Vec<Value>>(),
        st.meta
            .sadd::<(), _, _>(meta::all_types_by_uuid(uuid), ty.to_string())
    );
    r?;
    m?;
    Ok(None)
}

/// The meta-header → data switch of a session (spec §2.5 m, type 2 → 254).
pub async fn switch_to_254(
    st: &Stores,
    uuid: &str,
    session: &str,
) -> Result<(), fred::error::Error> {
    let _: () = st
        .stream
        .srem(stream::active_uuid_type(2, uuid), session)
        .await?;
    let still: bool = st.stream.exists(stream::active_uuid_type(2, uuid)).await?;
    let p = st.stream.pipeline();
    if !still {
        let _: () = p.srem(stream::active_connection(2), uuid).await?;
        let _: () = p.srem(stream::active_connection_by_uuid(uuid), "2").await?;
    }
    let _: () = p.sadd(stream::active_connection(254), uuid).await?;
    let _: () = p
        .sadd(stream::active_connection_by_uuid(uuid), "254")
        .await?;
    let _: () = p.sadd(stream::ACTIVE_CONNECTION, uuid).await?;
    let _: () = p.sadd(stream::active_uuid_type(254, uuid), session).await?;
    let (r, m) = tokio::join!(
        p.all::<Vec<Value>>(),
        st.meta
            .sadd::<(), _, _>(meta::all_types_by_uuid(uuid), "254")
    );
    r?;
    m?;
    Ok(())
}

/// One batch of accepted packets of a session (same uuid and type).
pub struct Accepted<'a> {
    /// Sensor uuid.
    pub uuid: &'a str,
    /// Peer IP.
    pub ip: &'a str,
    /// D4 type.
    pub ty: u8,
    /// Session uuid.
    pub session: &'a str,
    /// Header and payload of each packet, in order.
    pub packets: &'a [(Header, Bytes)],
    /// First accepted packet of the connection is in this batch.
    pub first: bool,
    /// First packet of the session or after a 2 → 254 switch is in this batch.
    pub type_first_seen: bool,
}

/// Writes a batch of accepted packets (spec §2.6 step 5) in one round trip.
pub async fn write_accepted(st: &Stores, a: &Accepted<'_>) -> Result<(), fred::error::Error> {
    if a.packets.is_empty() {
        return Ok(());
    }
    let now = chrono::Local::now();
    let epoch = now.timestamp().to_string();
    let date = keys::date_key(now);
    let ty = a.ty.to_string();
    let n = a.packets.len() as f64;

    let s = st.stream.pipeline();
    let key = stream::stream(a.ty, a.session);
    for (h, payload) in a.packets {
        let fields: Vec<(&str, Value)> = vec![
            (stream::FIELD_MESSAGE, Value::Bytes(payload.clone())),
            (stream::FIELD_UUID, Value::from(a.uuid)),
            (
                stream::FIELD_TIMESTAMP,
                Value::from(h.timestamp.to_string()),
            ),
            (stream::FIELD_VERSION, Value::from(h.version.to_string())),
        ];
        let _: () = s.xadd(&key, false, None, "*", fields).await?;
    }
    if a.first {
        let _: () = s.sadd(stream::session_uuid(a.ty), a.session).await?;
    }

    let m = st.meta.pipeline();
    let md = meta::metadata_uuid(a.uuid);
    let mt = meta::metadata_type_by_uuid(a.uuid, a.ty);
    let _: () = m.hdel(&md, meta::field::ERROR).await?;
    let _: () = m
        .zincrby(meta::stat_uuid_ip(&date, a.uuid), n, a.ip)
        .await?;
    let _: () = m
        .zincrby(meta::stat_ip_uuid(&date, a.ip), n, a.uuid)
        .await?;
    let _: () = m.zincrby(meta::daily_uuid(&date), n, a.uuid).await?;
    let _: () = m.zincrby(meta::daily_ip(&date), n, a.ip).await?;
    let _: () = m.zincrby(meta::daily_type(&date), n, ty.as_str()).await?;
    let _: () = m
        .zincrby(meta::stat_type_uuid(&date, a.ty), n, a.uuid)
        .await?;
    let _: () = m
        .zincrby(meta::stat_uuid_type(&date, a.uuid), n, ty.as_str())
        .await?;
    let _: () = m
        .hsetnx(&md, meta::field::FIRST_SEEN, epoch.as_str())
        .await?;
    let _: () = m
        .hset(&md, (meta::field::LAST_SEEN, epoch.as_str()))
        .await?;
    let _: () = m
        .hset(&mt, (meta::field::LAST_SEEN, epoch.as_str()))
        .await?;
    if a.first {
        let list = meta::list_uuid_ip(a.uuid);
        let _: () = m.lpush(&list, meta::list_uuid_ip_entry(a.ip, now)).await?;
        let _: () = m.ltrim(&list, 0, 15).await?;
    }
    if a.type_first_seen {
        let _: () = m
            .hsetnx(&mt, meta::field::FIRST_SEEN, epoch.as_str())
            .await?;
    }
    let (s, m) = tokio::join!(s.all::<Vec<Value>>(), m.all::<Vec<Value>>());
    s?;
    m?;
    Ok(())
}

/// What [`release`] needs to know about an ending session.
pub struct Ending<'a> {
    /// Session uuid.
    pub session: &'a str,
    /// Sensor uuid, once a header was accepted.
    pub uuid: Option<&'a str>,
    /// Session type, once a header was accepted.
    pub ty: Option<u8>,
    /// The session was refused as a duplicate (its sets belong to another session).
    pub duplicate: bool,
    /// At least one packet was accepted (a worker will look for the session's end).
    pub data_saved: bool,
}

/// Disconnect cleanup (spec §2.8).
///
/// Only sessions that handed data to the workers are added to `ended_session` (the
/// workers remove them); upstream added every connection, and the set grew forever.
pub async fn release(st: &Stores, e: &Ending<'_>) -> Result<(), fred::error::Error> {
    if e.data_saved {
        let _: () = st.stream.sadd(stream::ENDED_SESSION, e.session).await?;
    }
    let Some(uuid) = e.uuid else {
        return Ok(());
    };
    if !e.duplicate {
        if let Some(ty) = e.ty {
            release_type(st, uuid, ty, e.session).await?;
        }
    }
    let _: () = st
        .stream
        .srem(stream::sessions_of_sensor(uuid), e.session)
        .await?;
    let live: bool = st
        .stream
        .exists(stream::active_connection_by_uuid(uuid))
        .await?;
    if !live {
        let _: () = st.stream.srem(stream::ACTIVE_CONNECTION, uuid).await?;
    }
    Ok(())
}

async fn release_type(
    st: &Stores,
    uuid: &str,
    ty: u8,
    session: &str,
) -> Result<(), fred::error::Error> {
    let mut drop_type = true;
    if ty == 2 || ty == 254 {
        let set = stream::active_uuid_type(ty, uuid);
        let _: () = st.stream.srem(&set, session).await?;
        drop_type = !st.stream.exists::<bool, _>(&set).await?;
    }
    if drop_type {
        let p = st.stream.pipeline();
        let _: () = p.srem(stream::active_connection(ty), uuid).await?;
        let _: () = p
            .srem(stream::active_connection_by_uuid(uuid), ty.to_string())
            .await?;
        let _: Vec<Value> = p.all().await?;
    }
    if ty == 2 || ty == 254 {
        let ext: Option<String> = st
            .stream
            .hget(stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE, session)
            .await?;
        if let Some(ext) = ext {
            let _: () = st
                .stream
                .hdel(stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE, session)
                .await?;
            let _: () = st
                .stream
                .srem(stream::active_connection_extended_type(uuid), ext)
                .await?;
        }
    }
    Ok(())
}
