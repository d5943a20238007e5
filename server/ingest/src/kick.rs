//! Live-session registry and the kick mechanism (spec §2.9).
//!
//! The web asks for a kick with `SADD server:sensor_to_kick <uuid>` (STREAM). Upstream
//! acted only when some connection received data; here [`poll_kicks`] looks every
//! [`KICK_POLL`] whatever the traffic. For a sensor with live sessions it sets
//! `temp_blacklist_uuid:<uuid>` for 30 s and cancels this process's sessions of that
//! sensor. The request is removed once every listed session was local (others belong to
//! another `d4-server` sharing the store, which kicks them itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fred::prelude::*;
use fred::types::Expiration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use d4_core::keys::stream;

/// How often kick requests are looked at.
pub const KICK_POLL: Duration = Duration::from_secs(1);

/// Session uuid → cancel token of every live session of this process.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<String, CancellationToken>>>);

impl Registry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a live session.
    pub fn insert(&self, session: &str, token: CancellationToken) {
        self.map().insert(session.to_string(), token);
    }

    /// Forgets an ended session.
    pub fn remove(&self, session: &str) {
        self.map().remove(session);
    }

    /// Cancels a session; false if it is not one of ours.
    pub fn cancel(&self, session: &str) -> bool {
        match self.map().get(session) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether there is no live session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs kick requests until `stop` is cancelled.
pub async fn poll_kicks(stream_db: Client, registry: Registry, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(KICK_POLL) => {}
        }
        // A store that is down makes a poll wait for the command timeout: shutdown must
        // not wait for it.
        tokio::select! {
            _ = stop.cancelled() => return,
            r = kick_once(&stream_db, &registry) => if let Err(error) = r {
                warn!(%error, "Kick poll failed.");
            },
        }
    }
}

/// Handles the current kick requests once.
pub async fn kick_once(stream_db: &Client, registry: &Registry) -> Result<(), fred::error::Error> {
    let wanted: Vec<String> = stream_db.smembers(stream::SENSOR_TO_KICK).await?;
    for uuid in wanted {
        let sessions: Vec<String> = stream_db
            .smembers(stream::sessions_of_sensor(&uuid))
            .await?;
        if !sessions.is_empty() {
            let _: () = stream_db
                .set(
                    stream::temp_blacklist_uuid(&uuid),
                    stream::TEMP_BLACKLIST_VALUE,
                    Some(Expiration::EX(stream::TEMP_BLACKLIST_SECONDS)),
                    None,
                    false,
                )
                .await?;
        }
        let mut all_local = true;
        for s in &sessions {
            if registry.cancel(s) {
                info!(%uuid, session = %s, "Sensor kicked.");
            } else {
                all_local = false;
            }
        }
        if all_local {
            let _: () = stream_db
                .srem(stream::SENSOR_TO_KICK, uuid.as_str())
                .await?;
        }
    }
    Ok(())
}
