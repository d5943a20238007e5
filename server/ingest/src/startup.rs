//! What `d4-server` writes at start (spec §2.1), and the clean-up of live-connection
//! state left by a previous run.
//!
//! Upstream never cleaned (spec §9 item 12): after a crash with the STREAM store still
//! running, stale `active_connection:<type>` members refused reconnecting sensors as
//! duplicates. At start no session of this server can be alive, so every per-sensor
//! live-connection key is deleted and every listed session is marked ended (so the
//! workers drain and finish it). Deployments running several `d4-server`s on one store
//! disable this with `--keep-connection-state`.

use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand, Expiration, SetOptions};
use tracing::info;

use d4_core::config::ServerConfig;
use d4_core::keys::{self, meta, stream};

/// Types accepted by default (added, never removed).
pub const DEFAULT_ACCEPTED_TYPES: &[&str] = &["1", "2", "4", "8", "254"];
/// Extended types accepted by default.
pub const DEFAULT_ACCEPTED_EXTENDED_TYPES: &[&str] = &["ja3-jl"];

/// `SET server:hmac_default_key`, seed the accepted types, set `first_date` if absent.
pub async fn seed(meta_db: &Client, cfg: &ServerConfig) -> Result<(), fred::error::Error> {
    let p = meta_db.pipeline();
    let _: () = p
        .set(
            meta::HMAC_DEFAULT_KEY,
            cfg.default_hmac_key.as_str(),
            None,
            None,
            false,
        )
        .await?;
    let _: () = p
        .sadd(meta::ACCEPTED_TYPE, DEFAULT_ACCEPTED_TYPES.to_vec())
        .await?;
    let _: () = p
        .sadd(
            meta::ACCEPTED_EXTENDED_TYPE,
            DEFAULT_ACCEPTED_EXTENDED_TYPES.to_vec(),
        )
        .await?;
    let today = keys::date_key(chrono::Local::now());
    let _: () = p
        .set(
            meta::FIRST_DATE,
            today,
            None::<Expiration>,
            Some(SetOptions::NX),
            false,
        )
        .await?;
    let _: Vec<Value> = p.all().await?;
    Ok(())
}

async fn keys_matching(db: &Client, pattern: &str) -> Result<Vec<String>, fred::error::Error> {
    let cmd = CustomCommand::new_static("KEYS", ClusterHash::FirstKey, false);
    db.custom(cmd, vec![pattern]).await
}

/// Deletes stale live-connection state and marks its sessions ended. Returns how many
/// keys were deleted.
pub async fn clean_live_state(stream_db: &Client) -> Result<usize, fred::error::Error> {
    let mut stale_keys: Vec<String> = Vec::new();
    for pattern in stream::LIVE_STATE_PATTERNS {
        stale_keys.extend(keys_matching(stream_db, pattern).await?);
    }
    // Sessions that handed data to the workers; they must be finished by them.
    let mut sessions: Vec<String> = Vec::new();
    for key in keys_matching(stream_db, stream::SESSION_UUID_PATTERN).await? {
        sessions.extend(stream_db.smembers::<Vec<String>, _>(key).await?);
    }
    stale_keys.push(stream::ACTIVE_CONNECTION.to_string());
    stale_keys.push(stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE.to_string());
    let mut deleted = 0;
    for chunk in stale_keys.chunks(1000) {
        deleted += stream_db.del::<usize, _>(chunk.to_vec()).await?;
    }
    if !sessions.is_empty() {
        let _: () = stream_db
            .sadd(stream::ENDED_SESSION, sessions.clone())
            .await?;
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
