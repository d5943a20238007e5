//! First and last seen as atomic per-key updates: the `s:`/`l:` script of the write path.
//!
//! Several `pdns-ingestion`s (or an ingestion and an import) may write the same tuple at the
//! same time. A read-compare-write from the client (`MGET`, then `MSET`) loses updates there:
//! both read "absent" or the same old value and the last writer wins. Instead, each `s:` and
//! `l:` key is updated by one small Lua script run inside the store: keep the minimum (`s:`)
//! or the maximum (`l:`) of the stored value and the batch's, set the key when it is absent
//! or not a number, then re-apply the type's expiry. Minimum and maximum do not depend on the
//! order in which batches arrive, so any number of writers give the same store as one.
//!
//! The script takes any number of keys, each with its own time, direction and expiry; every
//! key it touches is named in `KEYS`. On a Redis Cluster each call names one key (so it runs
//! on that key's node); on a single server one call updates a whole chunk of the batch's keys,
//! which costs the server far less than a call per key. It is called by hash (`EVALSHA`) in
//! the batch's one pipeline and loaded once ([`Scripting::sha`]); a store that forgot it
//! (restart, `SCRIPT FLUSH`, fail-over) answers `NOSCRIPT` to those calls only, and the writer
//! loads it again and repeats just them ([`Scripting::reload`]). A key holding another type
//! fails the call with the store's `WRONGTYPE` and the key's name. A store without scripting
//! (our `d4-kv`, a server whose `SCRIPT` command is disabled or not permitted) refuses
//! `SCRIPT LOAD`: the writer then falls back to the read-compare-write path for the life of the
//! process and says once that only a single writer is safe on that store.

use d4_core::store::{cmd, Pipeline, Store, StoreError};
use tokio::sync::OnceCell;

/// For each `KEYS[i]` (an `s:` or `l:` key), `ARGV[3i-2]` is the batch's time, `ARGV[3i-1]`
/// `min` (first seen) or `max` (last seen), `ARGV[3i]` the seconds until the key expires (`0`:
/// never). Returns the number of keys.
const FIRST_LAST: &str = r"for i, key in ipairs(KEYS) do
  local cur = redis.pcall('GET', key)
  if type(cur) == 'table' and cur.err then
    return redis.error_reply(cur.err .. ' (key ' .. key .. ')')
  end
  cur = tonumber(cur)
  local new = tonumber(ARGV[3 * i - 2])
  local keep = ARGV[3 * i - 1]
  if cur == nil or (keep == 'min' and new < cur) or (keep == 'max' and new > cur) then
    redis.call('SET', key, ARGV[3 * i - 2])
  end
  if ARGV[3 * i] ~= '0' then
    redis.call('EXPIRE', key, ARGV[3 * i])
  end
end
return #KEYS
";

/// Which way a time is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// First seen: the earliest time.
    Min,
    /// Last seen: the latest time.
    Max,
}

impl Keep {
    fn arg(self) -> &'static str {
        match self {
            Keep::Min => "min",
            Keep::Max => "max",
        }
    }
}

/// One `s:` or `l:` key to update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    /// The key.
    pub(crate) key: String,
    /// The batch's time for it.
    pub(crate) time: u64,
    /// Earliest or latest.
    pub(crate) keep: Keep,
    /// The type's expiry.
    pub(crate) expiry: Option<i64>,
}

/// Queues one script call updating `updates` atomically.
pub(crate) fn queue(pipe: &mut Pipeline, sha: &str, updates: &[Update]) {
    let call = pipe.cmd("EVALSHA").arg(sha).arg(updates.len());
    for u in updates {
        call.arg(&u.key);
    }
    for u in updates {
        call.arg(u.time)
            .arg(u.keep.arg())
            .arg(u.expiry.unwrap_or(0));
    }
}

/// Whether the store runs the script, found out at the first write.
#[derive(Debug, Default)]
pub(crate) struct Scripting {
    /// The script's hash once loaded, `None` when the store has no scripting.
    sha: OnceCell<Option<String>>,
}

impl Scripting {
    /// The script's hash, loading it at the first call; `None` when the store refuses
    /// scripts (logged once). A transient failure is returned and the next call tries again.
    pub(crate) async fn sha(&self, store: &Store) -> Result<Option<&str>, StoreError> {
        let sha = self
            .sha
            .get_or_try_init(|| async {
                match load(store).await {
                    Ok(sha) => Ok(Some(sha)),
                    Err(e) if e.is_transient() => Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "The pDNS store refuses SCRIPT LOAD: first and last seen are written by read-compare-write (MGET, then MSET), which is only exact with a single writer. Run one pdns-ingestion (and no concurrent pdns-import) on this store, or use a store with scripting (Redis, Valkey) for several.");
                        Ok(None)
                    }
                }
            })
            .await?;
        Ok(sha.as_deref())
    }

    /// Loads the script again after the store answered `NOSCRIPT` (it forgot it). The hash
    /// does not change: it is the script's SHA-1.
    pub(crate) async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        load(store).await.map(drop)
    }
}

/// `SCRIPT LOAD` of the script; its hash.
async fn load(store: &Store) -> Result<String, StoreError> {
    store.query(cmd("SCRIPT").arg("LOAD").arg(FIRST_LAST)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_names_every_key_it_updates() {
        let mut pipe = d4_core::store::pipe();
        let up = |key: &str, time, keep, expiry| Update {
            key: key.into(),
            time,
            keep,
            expiry,
        };
        queue(
            &mut pipe,
            "abc",
            &[
                up("s:a.org:x:16", 100, Keep::Min, Some(60)),
                up("l:a.org:x:16", 200, Keep::Max, None),
            ],
        );
        let wire = String::from_utf8_lossy(&pipe.get_packed_pipeline()).into_owned();
        assert_eq!(
            wire,
            "*11\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$12\r\ns:a.org:x:16\r\n\
             $12\r\nl:a.org:x:16\r\n$3\r\n100\r\n$3\r\nmin\r\n$2\r\n60\r\n$3\r\n200\r\n\
             $3\r\nmax\r\n$1\r\n0\r\n"
        );
    }
}
