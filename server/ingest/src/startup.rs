//! What `d4-server` writes at start (spec §2.1), and the clean-up of live-connection
//! state left by a previous run.
//!
//! Upstream never cleaned (spec §9 item 12): after a crash with the STREAM store still
//! running, stale `active_connection:<type>` members refused reconnecting sensors as
//! duplicates. At start ([`crate::lease::start`]) this server finishes its own sessions
//! of a previous run and those of dead servers; only when no other server holds a live
//! lease are all remaining live-connection keys deleted ([`clean_live_state`]) and every
//! listed session marked ended (so the workers drain and finish it).
//! `--keep-connection-state` keeps those unowned keys (a server without leases, e.g.
//! upstream's, shares the store).
//!
//! The types accepted by default come from the type registry
//! ([`d4_proto::accepted_by_default`]); they are added at every start, never removed.

use d4_core::config::ServerConfig;
use d4_core::keys::{self, meta, stream};
use d4_core::store::{cmd, pipe, Cmd, Store, StoreError};
use tracing::info;

/// Extended types accepted by default.
const DEFAULT_ACCEPTED_EXTENDED_TYPES: &[&str] = &["ja3-jl"];

/// The types of [`d4_proto::accepted_by_default`], as `server:accepted_type` members.
fn default_accepted_types() -> Vec<String> {
    d4_proto::accepted_by_default()
        .map(|t| t.to_string())
        .collect()
}

/// `SET server:hmac_default_key`, seed the accepted types, set `first_date` if absent;
/// one round trip.
pub async fn seed(meta_db: &Store, cfg: &ServerConfig) -> Result<(), StoreError> {
    let today = keys::date_key(chrono::Local::now());
    let mut first_date = cmd("SET");
    first_date.arg(meta::FIRST_DATE).arg(today).arg("NX");
    let mut p = pipe();
    p.set(meta::HMAC_DEFAULT_KEY, &cfg.default_hmac_key)
        .ignore()
        .sadd(meta::ACCEPTED_TYPE, default_accepted_types())
        .ignore()
        .sadd(
            meta::ACCEPTED_EXTENDED_TYPE,
            DEFAULT_ACCEPTED_EXTENDED_TYPES,
        )
        .ignore()
        .add_command(first_date)
        .ignore();
    meta_db.run(&p).await
}

async fn keys_matching(db: &Store, pattern: &str) -> Result<Vec<String>, StoreError> {
    db.query(&Cmd::keys(pattern)).await
}

/// Deletes stale live-connection state and marks its sessions ended. Returns how many
/// keys were deleted.
pub async fn clean_live_state(stream_db: &Store) -> Result<usize, StoreError> {
    let mut stale_keys: Vec<String> = Vec::new();
    for pattern in stream::LIVE_STATE_PATTERNS {
        stale_keys.extend(keys_matching(stream_db, pattern).await?);
    }
    // Sessions that handed data to the workers; they must be finished by them.
    let mut sessions: Vec<String> = Vec::new();
    for key in keys_matching(stream_db, stream::SESSION_UUID_PATTERN).await? {
        sessions.extend(stream_db.query::<Vec<String>>(&Cmd::smembers(key)).await?);
    }
    stale_keys.push(stream::ACTIVE_CONNECTION.to_string());
    stale_keys.push(stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE.to_string());
    let mut deleted = 0;
    for chunk in stale_keys.chunks(1000) {
        deleted += stream_db.query::<usize>(&Cmd::del(chunk)).await?;
    }
    if !sessions.is_empty() {
        let ended = Cmd::sadd(stream::ENDED_SESSION, &sessions);
        let () = stream_db.query(&ended).await?;
    }
    if deleted > 0 || !sessions.is_empty() {
        info!(
            deleted,
            sessions = sessions.len(),
            "Cleaned live-connection state of a previous run."
        );
    }
    Ok(deleted)
}
