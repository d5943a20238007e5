//! Clients blocked in `BLPOP`/`BRPOP`/`BLMOVE`/`BRPOPLPUSH`/`XREAD BLOCK`.
//!
//! A blocked command registers a [`Waiter`] under the store lock, so no push can slip
//! between "found nothing" and "registered". Commands that add to a list or stream mark
//! the key ready; right after that command (still under the lock) the waiters of ready
//! keys are served in the order they blocked, like Redis: the element goes straight to
//! the blocked client and the pusher never sees it. Waiters whose connection has gone
//! away are dropped without consuming anything.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::hash::Map;
use super::types::StreamId;
use crate::protocol::reply::Reply;

/// What a waiter wants.
#[derive(Debug, Clone)]
pub(crate) enum BlockKind {
    /// `BLPOP` (left) / `BRPOP`.
    Pop {
        /// Pop from the head.
        left: bool,
    },
    /// `BLMOVE` / `BRPOPLPUSH`.
    Move {
        /// Destination list.
        dst: Bytes,
        /// Pop from the head of the source.
        from_left: bool,
        /// Push to the head of the destination.
        to_left: bool,
    },
    /// `XREAD BLOCK`: entries after these IDs (one per key).
    XRead {
        /// Stream keys, in request order.
        keys: Vec<Bytes>,
        /// Last seen ID per key.
        ids: Vec<StreamId>,
        /// `COUNT`.
        count: Option<usize>,
    },
}

/// A blocked client.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// Database of the keys.
    pub db: usize,
    /// Keys waited on.
    pub keys: Vec<Bytes>,
    /// The operation.
    pub kind: BlockKind,
    /// Reply channel.
    pub tx: oneshot::Sender<Reply>,
    /// Reply in RESP3 shapes.
    pub resp3: bool,
    /// Blocked connection (`CLIENT UNBLOCK`).
    pub client: u64,
    /// Reply when unblocked by timeout.
    pub on_timeout: Reply,
}

/// The registry of blocked clients.
#[derive(Debug, Default)]
pub(crate) struct Blocking {
    next: u64,
    /// Waiters by id.
    pub waiters: Map<u64, Waiter>,
    /// Waiter ids per key, in blocking order.
    pub by_key: Map<(usize, Bytes), VecDeque<u64>>,
    /// Keys that got new elements and have waiters.
    pub ready: VecDeque<(usize, Bytes)>,
}

impl Blocking {
    /// Registers a waiter; returns its id.
    pub(crate) fn register(&mut self, w: Waiter) -> u64 {
        self.next += 1;
        let id = self.next;
        for k in &w.keys {
            let q = self.by_key.entry((w.db, k.clone())).or_default();
            if !q.contains(&id) {
                q.push_back(id);
            }
        }
        self.waiters.insert(id, w);
        id
    }

    /// Unregisters a waiter; returns it if it was still waiting.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.keys {
            let slot = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(w)
    }

    /// Marks a key ready if someone waits on it.
    pub(crate) fn signal(&mut self, db: usize, key: &Bytes) {
        if self.by_key.is_empty() {
            return;
        }
        let slot = (db, key.clone());
        if self.by_key.contains_key(&slot) && !self.ready.contains(&slot) {
            self.ready.push_back(slot);
        }
    }

    /// Unblocks a client's waiter (`CLIENT UNBLOCK`): replies its timeout reply, or the
    /// given error. False if that client is not blocked.
    pub(crate) fn unblock_client(&mut self, client: u64, error: Option<Reply>) -> bool {
        let Some(id) = self
            .waiters
            .iter()
            .find(|(_, w)| w.client == client)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        match self.remove(id) {
            Some(w) => {
                let r = error.unwrap_or(w.on_timeout);
                w.tx.send(r).is_ok()
            }
            None => false,
        }
    }

    /// Waiter ids on a key, in order.
    pub(crate) fn queue(&self, db: usize, key: &Bytes) -> Vec<u64> {
        self.by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}
