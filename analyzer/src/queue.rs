//! The D4 analyzer queue `analyzer:8:<uuid>` (db 2): batched FIFO pops and give-backs.
//!
//! The producer `LPUSH`es at the head, so the oldest line is at the tail. [`Queue::pop`] uses
//! `RPOP key COUNT n` (Redis ≥ 6.2), falling back to `LRANGE -n -1` + `LTRIM 0 -(n+1)` in one
//! `MULTI` on servers without the count argument. Both return the oldest line first.

use fred::prelude::*;
use fred::types::Value;

use crate::keys;
use crate::store::StoreError;

/// A type-8 analyzer queue on the D4 server.
pub struct Queue {
    client: Client,
    key: String,
    count_supported: bool,
}

impl Queue {
    /// Wraps a connected client (db 2) for the queue of `uuid`.
    pub fn new(client: Client, uuid: &str) -> Queue {
        Queue {
            client,
            key: keys::queue(uuid),
            count_supported: true,
        }
    }

    /// The queue key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Pops up to `n` lines, oldest first.
    pub async fn pop(&mut self, n: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        if self.count_supported {
            match self
                .client
                .rpop::<Value, _>(self.key.as_str(), Some(n))
                .await
            {
                Ok(v) => return Ok(items(v)),
                Err(e) if !crate::store::is_transient(&e) && e.details().contains("arguments") => {
                    tracing::info!(error = %e, "RPOP COUNT unsupported, using LRANGE+LTRIM.");
                    self.count_supported = false;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.pop_with_transaction(n).await
    }

    async fn pop_with_transaction(&self, n: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX).max(1);
        let trx = self.client.multi();
        let _: () = trx.lrange(self.key.as_str(), -n, -1).await?;
        let _: () = trx.ltrim(self.key.as_str(), 0, -(n + 1)).await?;
        let (range, _): (Value, Value) = trx.exec(true).await?;
        let mut out = items(range);
        out.reverse();
        Ok(out)
    }

    /// Puts lines (oldest first) back at the tail, so the next pop returns them first.
    pub async fn give_back(&self, lines: &[Vec<u8>]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let newest_first: Vec<Value> = lines
            .iter()
            .rev()
            .map(|l| Value::Bytes(l.clone().into()))
            .collect();
        let _: () = self.client.rpush(self.key.as_str(), newest_first).await?;
        Ok(())
    }
}

fn items(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(a) => a.into_iter().filter_map(bytes).collect(),
        Value::Null => Vec::new(),
        other => bytes(other).into_iter().collect(),
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) => Some(b.to_vec()),
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}
