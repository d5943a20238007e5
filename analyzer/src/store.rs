//! Connections to Redis-compatible servers and the batch writer of the pDNS store.
//!
//! [`connect`] builds a `fred` client that reconnects forever; [`write_batch`] turns a [`Batch`]
//! into two round trips: one `MGET` of the `l:` keys (last seen is a read-compare-write) and one
//! pipeline of every write. Errors are split into transient ones (connection, timeout, `LOADING`,
//! ...: retry the whole batch) and per-command ones (e.g. `WRONGTYPE`: counted, the batch goes on).

use std::time::Duration;

use fred::prelude::*;
use fred::types::Value;

use crate::batch::{Batch, Tuple};
use crate::config::{AnalyzerConfig, Endpoint};
use crate::keys;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying: the server is unreachable, restarting or busy.
    #[error("store unavailable: {0}")]
    Transient(#[source] fred::error::Error),
    /// A command was refused (wrong key type, bad argument); retrying will not help.
    #[error("store refused a command: {0}")]
    Refused(#[source] fred::error::Error),
    /// A read of the COF server failed (see [`crate::reader`]).
    #[error("store read failed: {0}")]
    Read(#[source] redis::RedisError),
}

impl From<fred::error::Error> for StoreError {
    fn from(e: fred::error::Error) -> Self {
        if is_transient(&e) {
            StoreError::Transient(e)
        } else {
            StoreError::Refused(e)
        }
    }
}

/// Whether an error is about availability rather than the command itself. Only a server's
/// error reply that says the command is wrong (`ERR ...`, `WRONGTYPE ...`) is permanent;
/// everything else (I/O, timeouts, routing during reconnects, `LOADING`, `BUSY`, ...) is retried.
pub fn is_transient(e: &fred::error::Error) -> bool {
    use fred::error::ErrorKind as K;
    match e.kind() {
        K::InvalidArgument | K::InvalidCommand | K::Parse | K::Config | K::Url | K::Auth => false,
        K::Unknown => !["ERR ", "WRONGTYPE", "NOSCRIPT", "EXECABORT"]
            .iter()
            .any(|p| e.details().starts_with(p)),
        _ => true,
    }
}

/// Builds a client for `ep` that reconnects forever and times commands out after `timeout`,
/// then waits (retrying with backoff) until the first connection succeeds.
pub async fn connect(ep: &Endpoint, timeout: Duration) -> Result<Client, fred::error::Error> {
    let config = Config::from_url(&ep.url())?;
    let client = Builder::from_config(config)
        .with_performance_config(|p| p.default_command_timeout = timeout)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2000, 2))
        .build()?;
    let mut delay = Duration::from_millis(50);
    loop {
        match client.init().await {
            Ok(_task) => return Ok(client),
            Err(e)
                if e.kind() == &fred::error::ErrorKind::Config
                    || e.kind() == &fred::error::ErrorKind::Url =>
            {
                return Err(e)
            }
            Err(e) => {
                tracing::warn!(server = %ep.url(), error = %e, "Cannot connect yet, retrying.");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Result of writing one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Commands sent.
    pub commands: usize,
    /// Commands the store refused (logged once per batch).
    pub refused: usize,
}

/// Writes one batch in two round trips: `MGET` of the tuples' `s:`/`l:` keys, then one pipeline
/// (`SADD` per set, one `MSET` for every `s:`/`l:` to change, `INCRBY o:` per tuple, `EXPIRE`s,
/// counters). Like upstream, `s:`/`l:` are check-then-set (not atomic across several writers).
/// Idempotent except for the counters (a retried batch may count twice).
pub async fn write_batch(
    client: &Client,
    b: &Batch,
    cfg: &AnalyzerConfig,
) -> Result<WriteReport, StoreError> {
    let seen = current_seen(client, b).await?;
    let pipe = client.pipeline();
    let mut n = 0usize;
    let (fwd, rev) = b.sets();
    for ((q, t), members) in &fwd {
        n += sadd_expire(&pipe, keys::forward(q, *t), members, cfg.expiry(*t)).await?;
    }
    for ((v, t), members) in &rev {
        n += sadd_expire(&pipe, keys::reverse(v, *t), members, cfg.expiry(*t)).await?;
    }
    let mut mset: Vec<(String, String)> = Vec::new();
    let mut expire: Vec<(String, i64)> = Vec::new();
    for (tu, (first, last)) in b.tuples.iter().zip(seen) {
        n += write_tuple(
            &pipe,
            &mut mset,
            &mut expire,
            tu,
            b.min_first,
            first,
            last,
            cfg.expiry(tu.t),
        )
        .await?;
    }
    for chunk in mset.chunks(1000) {
        let _: () = pipe.mset(chunk.to_vec()).await?;
        n += 1;
    }
    // After the MSET, which clears TTLs of the keys it sets.
    for (k, e) in expire {
        let _: () = pipe.expire(k, e, None).await?;
        n += 1;
    }
    n += counters(&pipe, b).await?;
    let results: Vec<Result<Value, fred::error::Error>> = pipe.try_all().await;
    refused(results).map(|refused| WriteReport {
        commands: n,
        refused,
    })
}

/// Collects the `s:`/`l:` values to set and the keys to expire, and queues `o:`, of one tuple.
#[allow(clippy::too_many_arguments)]
async fn write_tuple(
    pipe: &fred::clients::Pipeline<Client>,
    mset: &mut Vec<(String, String)>,
    expire: &mut Vec<(String, i64)>,
    tu: &Tuple,
    min_first: bool,
    first: Option<i64>,
    last: Option<i64>,
    expiry: Option<i64>,
) -> Result<usize, fred::error::Error> {
    let s = keys::first_seen(&tu.q, &tu.v, tu.t);
    let l = keys::last_seen(&tu.q, &tu.v, tu.t);
    let o = keys::occurrences(&tu.q, &tu.v, tu.t);
    // Upstream: first seen = first line processed (set only if absent); imports: the minimum.
    if first.is_none_or(|f| min_first && f > tu.first as i64) {
        mset.push((s.clone(), tu.first.to_string()));
    }
    if last.is_none_or(|old| old < tu.last as i64) {
        mset.push((l.clone(), tu.last.to_string()));
    }
    match tu.set_count {
        Some(c) => mset.push((o.clone(), c.to_string())),
        None => pipe.incr_by::<(), _>(&o, tu.count).await?,
    }
    if let Some(e) = expiry {
        // Upstream re-expires r: instead of l: (spec §1.5 #10); we expire the right keys.
        expire.extend([s, l, o].map(|k| (k, e)));
    }
    Ok(1)
}

fn refused(results: Vec<Result<Value, fred::error::Error>>) -> Result<usize, StoreError> {
    let mut refused = 0;
    let mut first = None;
    for r in results {
        if let Err(e) = r {
            if is_transient(&e) {
                return Err(StoreError::Transient(e));
            }
            refused += 1;
            first.get_or_insert(e);
        }
    }
    if let Some(e) = first {
        tracing::error!(refused, error = %e, "Store refused commands of a batch.");
    }
    Ok(refused)
}

async fn sadd_expire(
    pipe: &fred::clients::Pipeline<Client>,
    key: String,
    members: &[&str],
    e: Option<i64>,
) -> Result<usize, fred::error::Error> {
    let members: Vec<&str> = members.to_vec();
    let _: () = pipe.sadd(&key, members).await?;
    if let Some(e) = e {
        let _: () = pipe.expire(&key, e, None).await?;
        return Ok(2);
    }
    Ok(1)
}

async fn counters(
    pipe: &fred::clients::Pipeline<Client>,
    b: &Batch,
) -> Result<usize, fred::error::Error> {
    let mut n = 0;
    for (key, map) in [
        (keys::DIST_TTL, &b.dist_ttl),
        (keys::DIST_CLASS, &b.dist_class),
        (keys::DIST_TYPE, &b.dist_type),
    ] {
        for (field, inc) in map {
            let _: () = pipe.hincrby(key, field.as_str(), *inc).await?;
            n += 1;
        }
    }
    for (reason, inc) in &b.rejected {
        let _: () = pipe.hincrby(keys::STATS_REJECTED, *reason, *inc).await?;
        n += 1;
    }
    if b.processed > 0 {
        let _: () = pipe.incr_by(keys::STATS_PROCESSED, b.processed).await?;
        n += 1;
    }
    for (id, count) in &b.sensors {
        let _: () = pipe
            .zincrby(keys::STATS_SENSORS, *count as f64, id.as_str())
            .await?;
        let _: () = pipe.sadd(keys::SENSORS_SEEN, id.as_str()).await?;
        n += 2;
    }
    Ok(n)
}

/// Current `(s:, l:)` values of the batch's tuples (`None` when absent or not an integer).
async fn current_seen(
    client: &Client,
    b: &Batch,
) -> Result<Vec<(Option<i64>, Option<i64>)>, StoreError> {
    let mut out = Vec::with_capacity(b.tuples.len());
    for chunk in b.tuples.chunks(1000) {
        let mut ks = Vec::with_capacity(chunk.len() * 2);
        for t in chunk {
            ks.push(keys::first_seen(&t.q, &t.v, t.t));
            ks.push(keys::last_seen(&t.q, &t.v, t.t));
        }
        let vals: Vec<Value> = client.mget(ks).await?;
        out.extend(
            vals.chunks(2)
                .map(|p| (p.first().and_then(int_value), p.get(1).and_then(int_value))),
        );
    }
    Ok(out)
}

/// An integer stored as text (`"17"`, or the legacy importer's `"17.0"`).
pub fn int_value(v: &Value) -> Option<i64> {
    let s = match v {
        Value::Integer(i) => return Some(*i),
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        _ => return None,
    };
    parse_int(&s)
}

/// Parses `"17"` or `"17.5"` (truncated) as upstream's `int(float(x))` would.
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
    })
}
