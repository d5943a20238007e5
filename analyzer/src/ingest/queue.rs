//! The D4 analyzer queue `analyzer:8:<uuid>` (db 2) and this ingestion's processing list
//! `analyzer:8:<uuid>:processing:<id>` beside it: crash-safe batched FIFO pops.
//!
//! The producer `LPUSH`es at the head, so the oldest line is at the tail, and every consumer
//! (ours and upstream's Python analyzers) takes from the tail. A pop ([`Queue::pop`]) moves up
//! to `n` lines from the queue's tail to the processing list's head with one pipeline of
//! `LMOVE queue processing RIGHT LEFT` (`RPOPLPUSH` on servers older than Redis 6.2), plus an
//! `LLEN` of the queue that sizes the next pop, so an idle queue costs two commands per poll,
//! not `n`. Each move is atomic, so at every instant a line is either in the queue or in the
//! processing list: a `kill -9` loses nothing.
//!
//! Once its batch is written, [`Queue::ack`] deletes the processing list. At start (and after
//! a failed pop, whose moves may have partly happened) [`Queue::recover`] reads what the
//! processing list still holds: that batch is written again before anything new is popped. A
//! crash between a write and its ack therefore writes that one batch twice (its counters count
//! twice; sets and times are idempotent). Both lists keep the queue's orientation (oldest at
//! the tail).

use d4_core::store::{self, cmd, value, Store, StoreError, Value};

use crate::model::keys;

/// A type-8 analyzer queue on the D4 server and this ingestion's processing list.
pub(crate) struct Queue {
    store: Store,
    key: String,
    processing: String,
    lmove_supported: bool,
    /// Queue length after the last pop: the next pop moves at most this many (at least one).
    backlog: usize,
    /// The last move pipeline and its size: a busy queue is popped with the same `n` moves
    /// every time, so it is built once.
    moves: Option<(usize, store::Pipeline)>,
}

impl Queue {
    /// Wraps a store connected to the queue db (2) for the queue of `uuid`, with the
    /// processing list of ingestion `id`.
    pub(crate) fn new(store: Store, uuid: &str, id: &str) -> Queue {
        Queue {
            store,
            key: keys::queue(uuid),
            processing: keys::processing(uuid, id),
            lmove_supported: true,
            backlog: usize::MAX,
            moves: None,
        }
    }

    /// The queue key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The queue's length after the last pop (`usize::MAX` before the first).
    pub(crate) fn backlog(&self) -> usize {
        self.backlog
    }

    /// The processing list key.
    pub(crate) fn processing_key(&self) -> &str {
        &self.processing
    }

    /// Lines left in the processing list by an interrupted batch, oldest first.
    pub(crate) async fn recover(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let range: Value = self
            .store
            .query(cmd("LRANGE").arg(&self.processing).arg(0).arg(-1))
            .await?;
        let mut out = items(range);
        out.reverse();
        Ok(out)
    }

    /// Moves up to `n` lines, oldest first, from the queue to the processing list (one round
    /// trip). The processing list must be empty (acknowledged or recovered) before.
    pub(crate) async fn pop(&mut self, n: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let k = self.backlog.clamp(1, n.max(1));
        match self.move_batch(k).await {
            Err(e) if self.lmove_supported && unknown_command(&e) => {
                tracing::info!(error = %e, "LMOVE unsupported, using RPOPLPUSH.");
                self.lmove_supported = false;
                self.moves = None;
                self.move_batch(k).await
            }
            other => other,
        }
    }

    async fn move_batch(&mut self, k: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        if self.moves.as_ref().is_none_or(|(n, _)| *n != k) {
            self.moves = Some((k, self.move_pipeline(k)));
        }
        let Some((_, p)) = &self.moves else {
            return Ok(Vec::new());
        };
        let mut replies: Vec<Value> = self.store.run(p).await?;
        let left = replies.pop().as_ref().and_then(value::int).unwrap_or(0);
        self.backlog = usize::try_from(left).unwrap_or(0);
        Ok(replies.into_iter().filter_map(line).collect())
    }

    /// `k` moves from the queue to the processing list, then the queue's length.
    fn move_pipeline(&self, k: usize) -> store::Pipeline {
        let mut p = store::pipe();
        for _ in 0..k {
            if self.lmove_supported {
                p.cmd("LMOVE")
                    .arg(&self.key)
                    .arg(&self.processing)
                    .arg("RIGHT")
                    .arg("LEFT");
            } else {
                p.cmd("RPOPLPUSH").arg(&self.key).arg(&self.processing);
            }
        }
        p.cmd("LLEN").arg(&self.key);
        p
    }

    /// Forgets the processing list once its batch is written (idempotent).
    pub(crate) async fn ack(&self) -> Result<(), StoreError> {
        self.store
            .query::<Value>(cmd("DEL").arg(&self.processing))
            .await?;
        Ok(())
    }

    /// Puts an unwritten batch (oldest first) back at the queue's tail, so the next pop (of
    /// any consumer) returns it first, and empties the processing list, in one transaction.
    pub(crate) async fn give_back(&self, lines: &[Vec<u8>]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut trx = store::pipe();
        trx.atomic();
        let rpush = trx.cmd("RPUSH").arg(&self.key);
        for l in lines.iter().rev() {
            rpush.arg(l.as_slice());
        }
        trx.ignore().cmd("DEL").arg(&self.processing).ignore();
        self.store.run::<Value>(&trx).await?;
        Ok(())
    }
}

/// Whether a refusal says the server does not know the command.
fn unknown_command(e: &StoreError) -> bool {
    !e.is_transient()
        && e.to_string()
            .to_ascii_lowercase()
            .contains("unknown command")
}

/// The lines of an `LRANGE` reply (an array) or nil.
fn items(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(a) => a.into_iter().filter_map(line).collect(),
        _ => Vec::new(),
    }
}

/// One moved line (`None` for the nil of an empty queue).
fn line(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::Int(i) => Some(i.to_string().into_bytes()),
        other => value::bytes(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_lines_and_nil_is_nothing() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            items(Value::Array(vec![bulk("a"), bulk("b")])),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert!(items(Value::Nil).is_empty());
        assert_eq!(line(bulk("one")), Some(b"one".to_vec()));
        assert_eq!(line(Value::Nil), None);
    }
}
