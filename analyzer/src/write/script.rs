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
//! The script takes any number of keys sharing one expiry: first the `s:` keys, then the `l:`
//! keys; every key it touches is named in `KEYS`. Per key it reads the stored value (`GET`),
//! then sends one more command only when needed: `SET` (with the expiry, `EX`) when the time
//! changes or the key is new, else `EXPIRE` when the type expires, else nothing. On a Redis
//! Cluster each call names one key (so it runs on that key's node); on a single server one
//! call updates a whole chunk of the batch's keys, which costs the server far less than a call
//! per key. It is called by hash (`EVALSHA`) in
//! the batch's one pipeline and loaded once ([`Scripting::sha`]); a store that forgot it
//! (restart, `SCRIPT FLUSH`, fail-over) answers `NOSCRIPT` to those calls only, and the writer
//! loads it again and repeats just them ([`Scripting::reload`]). A key holding another type
//! fails the call with the store's `WRONGTYPE` and the key's name. A store without scripting
//! (our `d4-kv`, a server whose `SCRIPT` command is disabled or not permitted) refuses
//! `SCRIPT LOAD`: the writer then falls back to the read-compare-write path for the life of the
//! process and says once that only a single writer is safe on that store.

use d4_core::store::{cmd, Pipeline, Store, StoreError};
use tokio::sync::OnceCell;

/// `ARGV[1]` is the seconds until every key expires (`0`: never), `ARGV[2]` how many of the
/// `KEYS` are first-seen keys (kept at the minimum; the others are last-seen keys, kept at the
/// maximum), `ARGV[2 + i]` the batch's time for `KEYS[i]`. Returns the number of keys.
const FIRST_LAST: &str = r"local ttl = tonumber(ARGV[1])
local firsts = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local cur = redis.pcall('GET', key)
  if type(cur) == 'table' and cur.err then
    return redis.error_reply(cur.err .. ' (key ' .. key .. ')')
  end
  cur = tonumber(cur)
  local arg = ARGV[2 + i]
  local new = tonumber(arg)
  if cur == nil or (i <= firsts and new < cur) or (i > firsts and new > cur) then
    if ttl > 0 then
      redis.call('SET', key, arg, 'EX', ttl)
    else
      redis.call('SET', key, arg)
      if ttl < 0 then redis.call('EXPIRE', key, ttl) end
    end
  elseif ttl ~= 0 then
    redis.call('EXPIRE', key, ttl)
  end
end
return #KEYS
";

/// The first- and last-seen keys of one script call, with the batch's times, and their
/// expiry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// The type's expiry (seconds), shared by every key of the call.
    pub(crate) expiry: Option<i64>,
    /// `s:` keys and the batch's earliest time for each.
    pub(crate) firsts: Vec<(String, u64)>,
    /// `l:` keys and the batch's latest time for each.
    pub(crate) lasts: Vec<(String, u64)>,
}

impl Call {
    /// Keys in the call.
    pub(crate) fn len(&self) -> usize {
        self.firsts.len() + self.lasts.len()
    }
}

/// Queues one script call updating the keys of `call` atomically.
pub(crate) fn queue(pipe: &mut Pipeline, sha: &str, call: &Call) {
    let c = pipe.cmd("EVALSHA").arg(sha).arg(call.len());
    for (k, _) in call.firsts.iter().chain(&call.lasts) {
        c.arg(k);
    }
    c.arg(call.expiry.unwrap_or(0)).arg(call.firsts.len());
    for (_, t) in call.firsts.iter().chain(&call.lasts) {
        c.arg(*t);
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
        let call = Call {
            expiry: Some(60),
            firsts: vec![("s:a.org:x:16".into(), 100)],
            lasts: vec![("l:a.org:x:16".into(), 200)],
        };
        queue(&mut pipe, "abc", &call);
        let wire = String::from_utf8_lossy(&pipe.get_packed_pipeline()).into_owned();
        assert_eq!(
            wire,
            "*9\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$12\r\ns:a.org:x:16\r\n\
             $12\r\nl:a.org:x:16\r\n$2\r\n60\r\n$1\r\n1\r\n$3\r\n100\r\n$3\r\n200\r\n"
        );
    }
}
