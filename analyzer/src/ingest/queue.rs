//! The D4 analyzer queue `analyzer:8:<uuid>` (db 2): batched FIFO pops and give-backs.
//!
//! The producer `LPUSH`es at the head, so the oldest line is at the tail. [`Queue::pop`] uses
//! `RPOP key COUNT n` (Redis ≥ 6.2), falling back to `LRANGE -n -1` + `LTRIM 0 -(n+1)` in one
//! `MULTI` on servers without the count argument. Both return the oldest line first and cost
//! one round trip.

use d4_core::store::{self, cmd, value, Store, StoreError, Value};

use crate::model::keys;

/// A type-8 analyzer queue on the D4 server.
pub(crate) struct Queue {
    store: Store,
    key: String,
    count_supported: bool,
}

impl Queue {
    /// Wraps a store connected to the queue db (2) for the queue of `uuid`.
    pub(crate) fn new(store: Store, uuid: &str) -> Queue {
        Queue {
            store,
            key: keys::queue(uuid),
            count_supported: true,
        }
    }

    /// The queue key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Pops up to `n` lines, oldest first.
    pub(crate) async fn pop(&mut self, n: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        if self.count_supported {
            match self
                .store
                .query::<Value>(cmd("RPOP").arg(&self.key).arg(n.max(1)))
                .await
            {
                Ok(v) => return Ok(items(v)),
                Err(e) if !e.is_transient() && e.to_string().contains("arguments") => {
                    tracing::info!(error = %e, "RPOP COUNT unsupported, using LRANGE+LTRIM.");
                    self.count_supported = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.pop_with_transaction(n).await
    }

    async fn pop_with_transaction(&self, n: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX).max(1);
        let mut trx = store::pipe();
        trx.atomic()
            .cmd("LRANGE")
            .arg(&self.key)
            .arg(-n)
            .arg(-1)
            .cmd("LTRIM")
            .arg(&self.key)
            .arg(0)
            .arg(-(n + 1))
            .ignore();
        let (range,): (Value,) = self.store.run(&trx).await?;
        let mut out = items(range);
        out.reverse();
        Ok(out)
    }

    /// Puts lines (oldest first) back at the tail, so the next pop returns them first.
    pub(crate) async fn give_back(&self, lines: &[Vec<u8>]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut rpush = cmd("RPUSH");
        rpush.arg(&self.key);
        for l in lines.iter().rev() {
            rpush.arg(l.as_slice());
        }
        self.store.query::<Value>(&rpush).await?;
        Ok(())
    }
}

/// The lines of a pop reply: an array (with a count), one string (without) or nil.
fn items(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(a) => a.into_iter().filter_map(line).collect(),
        Value::Nil => Vec::new(),
        other => line(other).into_iter().collect(),
    }
}

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
    fn pop_replies_in_both_shapes() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            items(Value::Array(vec![bulk("a"), bulk("b")])),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(items(bulk("one")), vec![b"one".to_vec()]);
        assert!(items(Value::Nil).is_empty());
    }
}
