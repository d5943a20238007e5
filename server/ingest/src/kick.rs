//! Kick requests from the web (spec §2.9); the live sessions are in [`Registry`].
//!
//! The web asks for a kick with `SADD server:sensor_to_kick <uuid>` (STREAM). Upstream
//! acted only when some connection received data; here [`poll_kicks`] looks every
//! [`KICK_POLL`] whatever the traffic (less often while the store fails). For a sensor
//! with live sessions on this server it sets `temp_blacklist_uuid:<uuid>` for 30 s and cancels this
//! process's sessions of that sensor. The request is removed once no other live
//! `d4-server` sharing the store holds a session of that sensor (it kicks its own); a
//! session of a dead server keeps nothing ([`crate::lease`] finishes it).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::lease;
pub use crate::registry::Registry;
use d4_core::keys::stream;
use d4_core::store::{cmd, Backoff, Cmd, Store, StoreError};

/// How often kick requests are looked at.
pub const KICK_POLL: Duration = Duration::from_secs(1);

/// Longest pause between polls while the store fails.
const KICK_POLL_MAX: Duration = Duration::from_secs(10);

/// Runs kick requests until `stop` is cancelled: every [`KICK_POLL`], backing off up to
/// [`KICK_POLL_MAX`] while the store fails.
pub async fn poll_kicks(stream_db: Store, registry: Registry, stop: CancellationToken) {
    let mut backoff = Backoff::new(KICK_POLL, KICK_POLL_MAX);
    while backoff.wait(&stop).await {
        // A store that is down makes a poll wait for the command timeout: shutdown must
        // not wait for it.
        let r = tokio::select! {
            _ = stop.cancelled() => return,
            r = kick_once(&stream_db, &registry) => r,
        };
        match r {
            Ok(()) => backoff.reset(),
            Err(error) => warn!(%error, retry_in = ?backoff.delay(), "Kick poll failed."),
        }
    }
}

/// Handles the current kick requests once: this server's sessions of each sensor are
/// cancelled (after the temporary blacklist is set); the request stays while another
/// live server holds a session of that sensor. Sessions of dead servers are the lease
/// reaper's, so they neither renew the blacklist nor keep the request.
pub async fn kick_once(stream_db: &Store, registry: &Registry) -> Result<(), StoreError> {
    let wanted: Vec<String> = stream_db
        .query(&Cmd::smembers(stream::SENSOR_TO_KICK))
        .await?;
    for uuid in wanted {
        let sessions: Vec<String> = stream_db
            .query(&Cmd::smembers(stream::sessions_of_sensor(&uuid)))
            .await?;
        let (local, remote): (Vec<String>, Vec<String>) =
            sessions.into_iter().partition(|s| registry.holds(s));
        if !local.is_empty() {
            let () = stream_db.query(&temp_blacklist(&uuid)).await?;
        }
        for s in &local {
            if registry.cancel(s) {
                info!(%uuid, session = %s, "Sensor kicked.");
            }
        }
        if !lease::held_by_live_peer(stream_db, registry.owner(), &remote).await? {
            let done = Cmd::srem(stream::SENSOR_TO_KICK, &uuid);
            let () = stream_db.query(&done).await?;
        }
    }
    Ok(())
}

/// `SET temp_blacklist_uuid:<uuid> ... EX 30`.
fn temp_blacklist(uuid: &str) -> Cmd {
    let mut c = cmd("SET");
    c.arg(stream::temp_blacklist_uuid(uuid))
        .arg(stream::TEMP_BLACKLIST_VALUE)
        .arg("EX")
        .arg(stream::TEMP_BLACKLIST_SECONDS);
    c
}
