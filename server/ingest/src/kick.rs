//! Live-session registry and the kick mechanism (spec §2.9).
//!
//! The web asks for a kick with `SADD server:sensor_to_kick <uuid>` (STREAM). Upstream
//! acted only when some connection received data; here [`poll_kicks`] looks every
//! [`KICK_POLL`] whatever the traffic (less often while the store fails). For a sensor
//! with live sessions it sets `temp_blacklist_uuid:<uuid>` for 30 s and cancels this
//! process's sessions of that sensor. The request is removed once every listed session was local (others belong to
//! another `d4-server` sharing the store, which kicks them itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use d4_core::keys::stream;
use d4_core::store::{cmd, Backoff, Cmd, Store, StoreError};

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

/// Handles the current kick requests once.
pub async fn kick_once(stream_db: &Store, registry: &Registry) -> Result<(), StoreError> {
    let wanted: Vec<String> = stream_db
        .query(&Cmd::smembers(stream::SENSOR_TO_KICK))
        .await?;
    for uuid in wanted {
        let sessions: Vec<String> = stream_db
            .query(&Cmd::smembers(stream::sessions_of_sensor(&uuid)))
            .await?;
        if !sessions.is_empty() {
            let () = stream_db.query(&temp_blacklist(&uuid)).await?;
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
