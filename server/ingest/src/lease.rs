//! Live-connection state with an owner and a lease, so several `d4-server`s can share
//! one STREAM store and a dead one does not leave its sensors locked out.
//!
//! Each server has an id (`--server-id`, by default `<hostname>:<port>`). It keeps
//! `server_lease:<id>` alive with an expiry of [`LEASE_SECONDS`], refreshed every
//! [`HEARTBEAT`], is listed in `server_ids`, and records every session it holds in
//! `server_sessions:<id>` (session → `<sensor>:<type>`, written with the claim of the
//! session's identity). These are d4-rs key families; the upstream live-connection keys
//! are unchanged.
//!
//! A server whose lease expired is dead. The first live server to notice (at its
//! heartbeat, or at its start) finishes each of the dead server's sessions: it removes
//! the session from the dead server's hash (one `HDEL`, so exactly one server goes on),
//! adds it to `ended_session` if it handed data to the workers, and removes it from the
//! upstream live-connection sets. Its sensors are then accepted again by any server,
//! at most [`LEASE_SECONDS`] + [`HEARTBEAT`] after the crash.
//!
//! A server that finds its own lease gone (it could not reach the store for longer than
//! the lease) cancels its sessions: another server may already have finished them, and
//! their sensors reconnect.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::effects::{clear_live, parse_held};
use crate::registry::Registry;
use d4_core::keys::stream;
use d4_core::store::{cmd, pipe, value, Cmd, Store, StoreError, Value};
use d4_proto::DataType;

/// How often a server refreshes its lease and looks for dead peers.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Seconds a lease lives without a heartbeat.
pub const LEASE_SECONDS: u64 = 10;

/// The default server id, `<hostname>:<port>` (stable across restarts, so a restarted
/// server finishes its own previous sessions at once); a random uuid when the host has
/// no name. The second value says which.
pub fn default_id(port: u16) -> (String, &'static str) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => (format!("{h}:{port}"), "hostname:port"),
        None => (uuid::Uuid::new_v4().to_string(), "random"),
    }
}

/// `SET server_lease:<id> <id> EX <lease> [XX]`.
fn lease_cmd(id: &str, only_if_held: bool) -> Cmd {
    let mut c = cmd("SET");
    c.arg(stream::server_lease(id))
        .arg(id)
        .arg("EX")
        .arg(LEASE_SECONDS);
    if only_if_held {
        c.arg("XX");
    }
    c
}

/// Takes (or retakes) the lease of server `id` and lists it in `server_ids`.
pub async fn register(stream_db: &Store, id: &str) -> Result<(), StoreError> {
    let mut p = pipe();
    p.add_command(lease_cmd(id, false))
        .ignore()
        .sadd(stream::SERVER_IDS, id)
        .ignore();
    stream_db.run(&p).await
}

/// Refreshes the lease; `false` if it had expired (it is taken again).
async fn renew(stream_db: &Store, id: &str) -> Result<bool, StoreError> {
    let mut p = pipe();
    p.add_command(lease_cmd(id, true))
        .sadd(stream::SERVER_IDS, id)
        .ignore();
    let (held,): (Option<String>,) = stream_db.run(&p).await?;
    if held.is_none() {
        register(stream_db, id).await?;
    }
    Ok(held.is_some())
}

/// Gives the lease up at a clean stop: whatever session is still recorded is finished by
/// the next live server's heartbeat instead of after the expiry.
pub async fn retire(stream_db: &Store, id: &str) -> Result<(), StoreError> {
    stream_db.query(&Cmd::del(stream::server_lease(id))).await
}

/// The other servers listed in `server_ids`: (live, dead).
pub async fn peers(stream_db: &Store, me: &str) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let ids: Vec<String> = stream_db
        .query::<Vec<String>>(&Cmd::smembers(stream::SERVER_IDS))
        .await?
        .into_iter()
        .filter(|id| id != me)
        .collect();
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut p = pipe();
    for id in &ids {
        p.exists(stream::server_lease(id));
    }
    let alive: Vec<bool> = stream_db.run(&p).await?;
    let (live, dead): (Vec<_>, Vec<_>) = ids.into_iter().zip(alive).partition(|(_, a)| *a);
    let ids = |v: Vec<(String, bool)>| v.into_iter().map(|(id, _)| id).collect();
    Ok((ids(live), ids(dead)))
}

/// Finishes every session recorded for server `id` (dead, or this server's previous
/// run); returns how many this call finished. A dead peer with nothing left is dropped
/// from `server_ids` (a peer that comes back lists itself again at its heartbeat).
pub async fn reap(stream_db: &Store, id: &str, me: &str) -> Result<usize, StoreError> {
    let hash = stream::server_sessions(id);
    let held: HashMap<String, String> = stream_db.query(&Cmd::hgetall(&hash)).await?;
    let mut finished = 0;
    for (session, v) in held {
        let taken: i64 = stream_db.query(&Cmd::hdel(&hash, &session)).await?;
        let Some((uuid, ty)) = parse_held(&v).filter(|_| taken == 1) else {
            continue;
        };
        if handed_data(stream_db, &session, ty).await? {
            let () = stream_db
                .query(&Cmd::sadd(stream::ENDED_SESSION, &session))
                .await?;
        }
        clear_live(stream_db, uuid, Some(ty), &session).await?;
        finished += 1;
    }
    if id != me {
        let mut p = pipe();
        p.exists(stream::server_lease(id)).exists(&hash);
        let (alive, left): (bool, bool) = stream_db.run(&p).await?;
        if !alive && !left {
            let () = stream_db.query(&Cmd::srem(stream::SERVER_IDS, id)).await?;
        }
    }
    Ok(finished)
}

/// Whether `session` (of type `ty`) handed data to the workers: listed in
/// `session_uuid:<type>` (a 254 session under its starting type 2).
async fn handed_data(stream_db: &Store, session: &str, ty: DataType) -> Result<bool, StoreError> {
    let mut p = pipe();
    p.sismember(stream::session_uuid(ty), session);
    if ty == DataType::EXTENDED {
        p.sismember(stream::session_uuid(DataType::META_HEADER), session);
    }
    let listed: Vec<Value> = stream_db.run(&p).await?;
    Ok(listed.iter().any(value::flag))
}

/// Whether a live server other than `me` holds one of `sessions`.
pub async fn held_by_live_peer(
    stream_db: &Store,
    me: &str,
    sessions: &[String],
) -> Result<bool, StoreError> {
    if sessions.is_empty() {
        return Ok(false);
    }
    let (live, _) = peers(stream_db, me).await?;
    if live.is_empty() {
        return Ok(false);
    }
    let mut p = pipe();
    for id in &live {
        for s in sessions {
            p.hexists(stream::server_sessions(id), s);
        }
    }
    let held: Vec<bool> = stream_db.run(&p).await?;
    Ok(held.into_iter().any(|h| h))
}

/// Start-up: takes this server's lease, finishes its own sessions of a previous run and
/// those of dead servers; then, only when no other server is alive and `keep` is false,
/// deletes every live-connection key left (state of servers that kept no lease: an
/// upstream server, or one that crashed before any d4-rs lease existed).
pub async fn start(stream_db: &Store, me: &str, keep: bool) -> Result<(), StoreError> {
    register(stream_db, me).await?;
    let own = reap(stream_db, me, me).await?;
    let (live, dead) = peers(stream_db, me).await?;
    let mut others = 0;
    for id in &dead {
        others += reap(stream_db, id, me).await?;
    }
    if own + others > 0 {
        info!(
            own,
            dead_servers = others,
            "Finished sessions left by a previous run and by dead servers."
        );
    }
    if live.is_empty() && !keep {
        crate::startup::clean_live_state(stream_db).await?;
    }
    Ok(())
}

/// Heartbeat until `stop`: refreshes the lease (cancelling every session if it had been
/// lost) and finishes the sessions of dead servers.
pub async fn run(stream_db: Store, registry: Registry, stop: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // A store that is down makes a call wait for the command timeout: shutdown must
        // not wait for it.
        let r = tokio::select! {
            _ = stop.cancelled() => return,
            r = heartbeat(&stream_db, &registry) => r,
        };
        if let Err(error) = r {
            warn!(%error, "Lease heartbeat failed.");
        }
    }
}

/// One heartbeat: renew, then reap dead peers.
async fn heartbeat(stream_db: &Store, registry: &Registry) -> Result<(), StoreError> {
    let me = registry.owner();
    if !renew(stream_db, me).await? {
        let cancelled = registry.cancel_all();
        warn!(
            server_id = me,
            cancelled, "Lease had expired (store unreachable too long): sessions closed."
        );
    }
    let (_, dead) = peers(stream_db, me).await?;
    for id in dead {
        let n = reap(stream_db, &id, me).await?;
        if n > 0 {
            info!(server_id = %id, sessions = n, "Finished the sessions of a dead server.");
        }
    }
    Ok(())
}
