//! This server's live sessions: its id (the owner of its lease, see [`crate::lease`]) and
//! the cancel token of each session, for kicks and a lost lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// This server's id and the cancel token of each of its live sessions (by session uuid).
/// Clones share the table.
#[derive(Clone)]
pub struct Registry {
    sessions: Arc<Mutex<HashMap<String, CancellationToken>>>,
    owner: Arc<str>,
}

impl Default for Registry {
    /// A registry under a random id (tests; a daemon names itself with [`Registry::owned_by`]).
    fn default() -> Self {
        Registry::owned_by(&uuid::Uuid::new_v4().to_string())
    }
}

impl Registry {
    /// An empty registry of the server `owner` (its lease id, see [`crate::lease`]).
    pub fn owned_by(owner: &str) -> Registry {
        Registry {
            sessions: Arc::default(),
            owner: owner.into(),
        }
    }

    /// The id of the server holding these sessions.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a live session.
    pub fn insert(&self, session: &str, token: CancellationToken) {
        self.map().insert(session.to_string(), token);
    }

    /// Forgets an ended session.
    pub fn remove(&self, session: &str) {
        self.map().remove(session);
    }

    /// Whether `session` is one of ours.
    pub fn holds(&self, session: &str) -> bool {
        self.map().contains_key(session)
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

    /// Cancels every live session (the lease was lost: others have finished them).
    pub fn cancel_all(&self) -> usize {
        let map = self.map();
        map.values().for_each(CancellationToken::cancel);
        map.len()
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
