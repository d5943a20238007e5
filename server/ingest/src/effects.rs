//! The store effects of the ingest session, batched: what each
//! `session::Action` of the pure session does to the stores.
//!
//! - `fetch_checks`: one round trip (a META and a STREAM pipeline at once) gathers what
//!   the §2.5 checks of a batch of packets need.
//! - `write_accepted`: one round trip writes a batch of accepted packets: `XADD`s,
//!   daily stats (`ZINCRBY` by the batch's packet count: the same totals as one
//!   increment per packet), first/last seen, `list_uuid_ip`, `session_uuid:<type>`.
//! - `claim_identity`, `switch_to_254`, `release`: the live-connection sets of a
//!   session's start, 2 → 254 switch and end (spec §2.5 i-m, §2.8).
//! - `apply_reject`: the store side effects of a rejection (`Error` field, ...). A peer
//!   that has not authenticated writes `Error` only into a sensor hash that already
//!   exists: upstream created `metadata_uuid:<uuid>` for every uuid anyone sent with a
//!   bad HMAC, without bound (and such a hash blocks that uuid's later registration).
//!
//! Nothing here decides whether a packet is accepted: that is the session's job.

use d4_core::keys::{self, meta, stream};
use d4_core::store::value::{bytes, flag, int, text};
use d4_core::store::{cmd, pipe, Cmd, Pipeline, Store, StoreError, Value};
use d4_proto::{DataType, Header};

use crate::reject::Reject;
use crate::session::{Accepted, Checks, Ending, Rejection, DEFAULT_STREAM_MAX_SIZE};

/// The store connections of the ingest server.
#[derive(Clone)]
pub struct Stores {
    /// `Redis_STREAM`.
    pub stream: Store,
    /// `Redis_METADATA`.
    pub meta: Store,
}

/// Gathers the checks of a batch of packets with `h`'s uuid and type, in one round trip.
pub(crate) async fn fetch_checks(
    st: &Stores,
    ip: &str,
    h: &Header,
    session: &str,
    want_key: bool,
) -> Result<Checks, StoreError> {
    let uuid = h.uuid_hex();
    let ty = h.data_type;
    let mut m = pipe();
    m.sismember(meta::BLACKLIST_IP, ip)
        .sismember(meta::BLACKLIST_IP_BY_UUID, &uuid)
        .sismember(meta::BLACKLIST_UUID, &uuid)
        .sismember(meta::REGISTERED_UUID, &uuid)
        .sismember(meta::ACCEPTED_TYPE, ty.0);
    if want_key {
        m.hget(meta::metadata_uuid(&uuid), meta::field::HMAC_KEY)
            .get(meta::HMAC_DEFAULT_KEY)
            .hget(meta::STREAM_MAX_SIZE_BY_UUID, &uuid);
    }
    let mut s = pipe();
    s.exists(stream::temp_blacklist_uuid(&uuid))
        .sismember(stream::ERROR_INCORRECT_TYPE, session)
        .add_command(xlen(&stream::stream(ty, session)));
    let (m, s) = tokio::join!(
        st.meta.run::<Vec<Value>>(&m),
        st.stream.run::<Vec<Value>>(&s)
    );
    let mut m = m?.into_iter();
    let mut s = s?.into_iter();
    let mut c = Checks {
        ip_blacklisted: next_flag(&mut m),
        ip_by_uuid: next_flag(&mut m),
        uuid_blacklisted: next_flag(&mut m),
        registered: next_flag(&mut m),
        type_accepted: next_flag(&mut m),
        temp_blacklisted: next_flag(&mut s),
        incorrect_type: next_flag(&mut s),
        xlen: s
            .next()
            .and_then(|v| int(&v))
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        ..Default::default()
    };
    if want_key {
        let own = m.next().and_then(bytes);
        let default = m.next().and_then(bytes);
        c.hmac_key = Some(own.or(default).unwrap_or_default());
        c.max_entries = Some(
            m.next()
                .and_then(text)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(DEFAULT_STREAM_MAX_SIZE),
        );
    }
    Ok(c)
}

fn next_flag(replies: &mut impl Iterator<Item = Value>) -> bool {
    replies.next().is_some_and(|v| flag(&v))
}

fn xlen(key: &str) -> Cmd {
    let mut c = cmd("XLEN");
    c.arg(key);
    c
}

/// Store side effects of a rejection: the `Error` field (into an existing hash only when
/// the peer has not authenticated), and what §2.5 a/f also do.
pub(crate) async fn apply_reject(
    st: &Stores,
    r: &Rejection,
    ip: &str,
    session: &str,
) -> Result<(), StoreError> {
    match &r.reject {
        Reject::BlacklistedIpByUuid { .. } => {
            let () = st.meta.query(&Cmd::sadd(meta::BLACKLIST_IP, ip)).await?;
        }
        Reject::IncorrectType => {
            let mut p = pipe();
            p.del(stream::stream(r.ty, session))
                .ignore()
                .srem(stream::ERROR_INCORRECT_TYPE, session)
                .ignore();
            let () = st.stream.run(&p).await?;
        }
        _ => {}
    }
    if let Some(e) = r.reject.error_field() {
        let target = match &r.reject {
            Reject::UuidChange { new } => new.as_str(),
            _ => r.uuid.as_str(),
        };
        let hash = meta::metadata_uuid(target);
        if r.authenticated || st.meta.query::<bool>(&Cmd::exists(&hash)).await? {
            let () = st
                .meta
                .query(&Cmd::hset(&hash, meta::field::ERROR, e))
                .await?;
        }
    }
    Ok(())
}

/// Starts a session's identity (spec §2.5 i-l); `false` for a duplicate uuid+type, and
/// nothing is written then. The duplicate test is the `SADD` itself, so two racing
/// connections cannot both win. Type 2 sessions may run side by side. The session is
/// recorded as held by the server `owner` (its lease, [`crate::lease`]).
pub(crate) async fn claim_identity(
    st: &Stores,
    owner: &str,
    uuid: &str,
    ty: DataType,
    session: &str,
) -> Result<bool, StoreError> {
    if ty == DataType::META_HEADER {
        let add = Cmd::sadd(stream::active_uuid_type(ty, uuid), session);
        let () = st.stream.query(&add).await?;
    } else {
        let added: i64 = st
            .stream
            .query(&Cmd::sadd(stream::active_connection(ty), uuid))
            .await?;
        if added == 0 {
            return Ok(false);
        }
    }
    let mut p = pipe();
    p.sadd(stream::active_connection(ty), uuid)
        .ignore()
        .sadd(stream::active_connection_by_uuid(uuid), ty.0)
        .ignore()
        .sadd(stream::ACTIVE_CONNECTION, uuid)
        .ignore()
        .sadd(stream::sessions_of_sensor(uuid), session)
        .ignore()
        .hset(stream::server_sessions(owner), session, held(uuid, ty))
        .ignore();
    let types = Cmd::sadd(meta::all_types_by_uuid(uuid), ty.0);
    let (r, m) = tokio::join!(st.stream.run::<()>(&p), st.meta.query::<()>(&types));
    r?;
    m?;
    Ok(true)
}

/// The value of a session in `server_sessions:<owner>`: its sensor and type.
fn held(uuid: &str, ty: DataType) -> String {
    format!("{uuid}:{}", ty.0)
}

/// Sensor uuid and type of a `server_sessions:<owner>` value; `None` if malformed.
pub(crate) fn parse_held(v: &str) -> Option<(&str, DataType)> {
    let (uuid, ty) = v.split_once(':')?;
    Some((uuid, DataType(ty.parse().ok()?)))
}

/// The meta-header → data switch of a session (spec §2.5 m, type 2 → 254).
pub(crate) async fn switch_to_254(
    st: &Stores,
    owner: &str,
    uuid: &str,
    session: &str,
) -> Result<(), StoreError> {
    let (meta_ty, ext) = (DataType::META_HEADER, DataType::EXTENDED);
    let meta_set = stream::active_uuid_type(meta_ty, uuid);
    let () = st.stream.query(&Cmd::srem(&meta_set, session)).await?;
    let still: bool = st.stream.query(&Cmd::exists(&meta_set)).await?;
    let mut p = pipe();
    if !still {
        p.srem(stream::active_connection(meta_ty), uuid)
            .ignore()
            .srem(stream::active_connection_by_uuid(uuid), meta_ty.0)
            .ignore();
    }
    p.sadd(stream::active_connection(ext), uuid)
        .ignore()
        .sadd(stream::active_connection_by_uuid(uuid), ext.0)
        .ignore()
        .sadd(stream::ACTIVE_CONNECTION, uuid)
        .ignore()
        .sadd(stream::active_uuid_type(ext, uuid), session)
        .ignore()
        .hset(stream::server_sessions(owner), session, held(uuid, ext))
        .ignore();
    let types = Cmd::sadd(meta::all_types_by_uuid(uuid), ext.0);
    let (r, m) = tokio::join!(st.stream.run::<()>(&p), st.meta.query::<()>(&types));
    r?;
    m?;
    Ok(())
}

/// Writes a batch of accepted packets (spec §2.6 step 5) in one round trip.
pub(crate) async fn write_accepted(
    st: &Stores,
    ip: &str,
    session: &str,
    a: &Accepted,
) -> Result<(), StoreError> {
    if a.packets.is_empty() {
        return Ok(());
    }
    let now = chrono::Local::now();
    let s = stream_writes(a, session);
    let m = meta_writes(a, ip, now);
    let (s, m) = tokio::join!(st.stream.run::<()>(&s), st.meta.run::<()>(&m));
    s?;
    m?;
    Ok(())
}

/// The `XADD`s of a batch, and `session_uuid:<type>` on the connection's first batch.
fn stream_writes(a: &Accepted, session: &str) -> Pipeline {
    let mut s = pipe();
    let key = stream::stream(a.ty, session);
    for (h, payload) in &a.packets {
        s.cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg(stream::FIELD_MESSAGE)
            .arg(payload.as_ref())
            .arg(stream::FIELD_UUID)
            .arg(&a.uuid)
            .arg(stream::FIELD_TIMESTAMP)
            .arg(h.timestamp)
            .arg(stream::FIELD_VERSION)
            .arg(h.version)
            .ignore();
    }
    if a.first {
        s.sadd(stream::session_uuid(a.ty), session).ignore();
    }
    s
}

/// Stats, first/last seen and `list_uuid_ip` of a batch.
fn meta_writes(a: &Accepted, ip: &str, now: chrono::DateTime<chrono::Local>) -> Pipeline {
    let epoch = now.timestamp();
    let date = keys::date_key(now);
    let (uuid, ty, n) = (a.uuid.as_str(), a.ty.0, a.packets.len());
    let md = meta::metadata_uuid(uuid);
    let mt = meta::metadata_type_by_uuid(uuid, a.ty);
    let mut m = pipe();
    m.hdel(&md, meta::field::ERROR)
        .ignore()
        .zincr(meta::stat_uuid_ip(&date, uuid), ip, n)
        .ignore()
        .zincr(meta::stat_ip_uuid(&date, ip), uuid, n)
        .ignore()
        .zincr(meta::daily_uuid(&date), uuid, n)
        .ignore()
        .zincr(meta::daily_ip(&date), ip, n)
        .ignore()
        .zincr(meta::daily_type(&date), ty, n)
        .ignore()
        .zincr(meta::stat_type_uuid(&date, a.ty), uuid, n)
        .ignore()
        .zincr(meta::stat_uuid_type(&date, uuid), ty, n)
        .ignore()
        .hset_nx(&md, meta::field::FIRST_SEEN, epoch)
        .ignore()
        .hset(&md, meta::field::LAST_SEEN, epoch)
        .ignore()
        .hset(&mt, meta::field::LAST_SEEN, epoch)
        .ignore();
    if a.first {
        let list = meta::list_uuid_ip(uuid);
        m.lpush(&list, meta::list_uuid_ip_entry(ip, now))
            .ignore()
            .ltrim(&list, 0, 15)
            .ignore();
    }
    if a.type_first_seen {
        m.hset_nx(&mt, meta::field::FIRST_SEEN, epoch).ignore();
    }
    m
}

/// Disconnect cleanup (spec §2.8) of a session of the server `owner`.
///
/// Only sessions that handed data to the workers are added to `ended_session` (the
/// workers remove them); upstream added every connection, and the set grew forever. The
/// live-connection sets are cleaned by whoever removes the session from
/// `server_sessions:<owner>`: here, or another server that found this one's lease expired
/// (then the sets may already belong to the sensor's next session, and are left alone).
pub(crate) async fn release(st: &Stores, owner: &str, e: &Ending<'_>) -> Result<(), StoreError> {
    if e.data_saved {
        let () = st
            .stream
            .query(&Cmd::sadd(stream::ENDED_SESSION, e.session))
            .await?;
    }
    let Some(uuid) = e.uuid else {
        return Ok(());
    };
    let owned: i64 = st
        .stream
        .query(&Cmd::hdel(stream::server_sessions(owner), e.session))
        .await?;
    if owned == 0 {
        return Ok(());
    }
    let ty = e.ty.filter(|_| !e.duplicate);
    clear_live(&st.stream, uuid, ty, e.session).await
}

/// Removes a finished session from the live-connection sets of its sensor.
pub(crate) async fn clear_live(
    stream_db: &Store,
    uuid: &str,
    ty: Option<DataType>,
    session: &str,
) -> Result<(), StoreError> {
    if let Some(ty) = ty {
        release_type(stream_db, uuid, ty, session).await?;
    }
    let sessions = stream::sessions_of_sensor(uuid);
    let () = stream_db.query(&Cmd::srem(sessions, session)).await?;
    let live: bool = stream_db
        .query(&Cmd::exists(stream::active_connection_by_uuid(uuid)))
        .await?;
    if !live {
        let () = stream_db
            .query(&Cmd::srem(stream::ACTIVE_CONNECTION, uuid))
            .await?;
    }
    Ok(())
}

async fn release_type(
    stream_db: &Store,
    uuid: &str,
    ty: DataType,
    session: &str,
) -> Result<(), StoreError> {
    let meta_or_ext = ty == DataType::META_HEADER || ty == DataType::EXTENDED;
    let mut drop_type = true;
    if meta_or_ext {
        let set = stream::active_uuid_type(ty, uuid);
        let () = stream_db.query(&Cmd::srem(&set, session)).await?;
        drop_type = !stream_db.query::<bool>(&Cmd::exists(&set)).await?;
    }
    if drop_type {
        let mut p = pipe();
        p.srem(stream::active_connection(ty), uuid)
            .ignore()
            .srem(stream::active_connection_by_uuid(uuid), ty.0)
            .ignore();
        let () = stream_db.run(&p).await?;
    }
    if meta_or_ext {
        let map = stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE;
        let ext: Option<String> = stream_db.query(&Cmd::hget(map, session)).await?;
        if let Some(ext) = ext {
            let () = stream_db.query(&Cmd::hdel(map, session)).await?;
            let set = stream::active_connection_extended_type(uuid);
            let () = stream_db.query(&Cmd::srem(set, ext)).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_session_value_reads_back() {
        let v = held("ff7ba400e76c4053982dfeec42bdef38", DataType::EXTENDED);
        assert_eq!(v, "ff7ba400e76c4053982dfeec42bdef38:254");
        assert_eq!(
            parse_held(&v),
            Some(("ff7ba400e76c4053982dfeec42bdef38", DataType::EXTENDED))
        );
        assert_eq!(parse_held("no-type"), None);
        assert_eq!(parse_held("u:x"), None);
    }
}
