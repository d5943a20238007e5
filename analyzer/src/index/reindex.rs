//! `pdns-reindex`: builds the search indexes of an existing store (written by the upstream
//! Python ingestion or an older d4-rs) from its forward sets.
//!
//! It walks the store with `SCAN <cursor> MATCH r:* COUNT n`; for each forward set
//! `r:<q>:<t>` of a served type it reads the answers (`SMEMBERS`) and their last seen
//! (`MGET l:`/`s:`), then writes the index entries with `ZADD GT` (see the parent module),
//! so running it while `pdns-ingestion` writes, or twice, gives the same indexes. After each
//! step the `SCAN` cursor and the counters are saved in `ix:reindex`: a stopped run resumes
//! where it was (`SCAN` returns every key present for the whole walk at least once). On a
//! cluster, `SCAN` walks one node: run it against each primary.

use d4_core::store::{self, value, Store, StoreError, Value};

use super::{indexed, queue_record};
use crate::model::keys;

/// Progress of a walk, as saved in `ix:reindex`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// `SCAN` cursor of the next step (0 = start, or finished when `finished`).
    pub cursor: u64,
    /// Forward sets read so far.
    pub sets: u64,
    /// Records indexed so far.
    pub records: u64,
    /// Whether the walk reached the end.
    pub finished: bool,
}

/// Reads the saved progress (a fresh start when there is none or it finished).
pub async fn resume_point(store: &Store) -> Result<Progress, StoreError> {
    let mut pipe = store::tolerant_pipe();
    pipe.cmd("HMGET")
        .arg(keys::REINDEX_STATE)
        .arg(&["cursor", "sets", "records", "finished"][..]);
    let replies: Vec<Value> = store.run(&pipe).await?;
    let vals = match replies.into_iter().next() {
        Some(Value::Array(v)) => v,
        _ => Vec::new(),
    };
    let int = |i: usize| vals.get(i).and_then(value::int).unwrap_or(0).max(0) as u64;
    if int(3) > 0 && int(0) == 0 {
        return Ok(Progress::default());
    }
    Ok(Progress {
        cursor: int(0),
        sets: int(1),
        records: int(2),
        finished: false,
    })
}

/// Forgets any saved progress (`--restart`).
pub async fn reset(store: &Store) -> Result<(), StoreError> {
    store
        .query::<Value>(store::cmd("DEL").arg(keys::REINDEX_STATE))
        .await
        .map(drop)
}

/// One walk step: `SCAN` from `p.cursor`, index the forward sets it returns, save the new
/// progress. Returns it (`finished` once the cursor is back to 0).
pub async fn step(store: &Store, p: Progress, count: usize) -> Result<Progress, StoreError> {
    let (next, found): (u64, Vec<String>) = store
        .query(
            store::cmd("SCAN")
                .arg(p.cursor)
                .arg("MATCH")
                .arg(keys::FORWARD_PATTERN)
                .arg("COUNT")
                .arg(count),
        )
        .await?;
    let sets: Vec<(String, u16)> = found.iter().filter_map(|k| forward_key(k)).collect();
    let records = index_sets(store, &sets).await?;
    let p = Progress {
        cursor: next,
        sets: p.sets + sets.len() as u64,
        records: p.records + records,
        finished: next == 0,
    };
    save(store, p).await?;
    Ok(p)
}

/// `(q, t)` of a forward set key `r:<q>:<t>` of an indexed type (the type is after the last
/// `:`; a name holding `:` stays whole).
pub fn forward_key(key: &str) -> Option<(String, u16)> {
    let (q, t) = key.strip_prefix("r:")?.rsplit_once(':')?;
    let t: u16 = t.parse().ok()?;
    (indexed(t) && !q.is_empty() && keys::forward(q, t) == key).then(|| (q.to_string(), t))
}

/// Indexes every answer of the given forward sets (three round trips); returns how many.
async fn index_sets(store: &Store, sets: &[(String, u16)]) -> Result<u64, StoreError> {
    if sets.is_empty() {
        return Ok(0);
    }
    let mut pipe = store::tolerant_pipe();
    for (q, t) in sets {
        pipe.smembers(keys::forward(q, *t));
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    let mut records: Vec<(&str, String, u16)> = Vec::new();
    for ((q, t), reply) in sets.iter().zip(replies) {
        records.extend(
            value::members(reply)
                .into_iter()
                .map(|v| (q.as_str(), v, *t)),
        );
    }
    if records.is_empty() {
        return Ok(0);
    }
    let mut pipe = store::tolerant_pipe();
    for chunk in records.chunks(1000) {
        let mut ks = Vec::with_capacity(chunk.len() * 2);
        for (q, v, t) in chunk {
            ks.push(keys::last_seen(q, v, *t));
            ks.push(keys::first_seen(q, v, *t));
        }
        pipe.mget(ks);
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    let mut times: Vec<Value> = Vec::with_capacity(records.len() * 2);
    for r in replies {
        if let Value::Array(v) = r {
            times.extend(v);
        }
    }
    let mut pipe = store::tolerant_pipe();
    let mut n = 0;
    for ((q, v, t), pair) in records.iter().zip(times.chunks(2)) {
        // Last seen, else first seen; a record with neither is not served: not indexed.
        let Some(last) = pair.iter().find_map(value::int) else {
            continue;
        };
        queue_record(&mut pipe, q, v, *t, last.max(0) as u64);
        n += 1;
    }
    if !pipe.is_empty() {
        let replies: Vec<Value> = store.run(&pipe).await?;
        super::check_replies(&replies)?;
    }
    Ok(n)
}

/// Saves the progress in `ix:reindex`.
async fn save(store: &Store, p: Progress) -> Result<(), StoreError> {
    let finished = if p.finished {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs().max(1))
    } else {
        0
    };
    let mut cmd = store::cmd("HSET");
    cmd.arg(keys::REINDEX_STATE)
        .arg("cursor")
        .arg(p.cursor)
        .arg("sets")
        .arg(p.sets)
        .arg("records")
        .arg(p.records)
        .arg("finished")
        .arg(finished);
    store.query::<Value>(&cmd).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_keys_give_name_and_type() {
        assert_eq!(
            forward_key("r:www.example.com:1"),
            Some(("www.example.com".into(), 1))
        );
        assert_eq!(
            forward_key("r:a:b.example:28"),
            Some(("a:b.example".into(), 28))
        );
        assert_eq!(
            forward_key("r:1.2.3.4.in-addr.arpa:12"),
            None,
            "PTR not indexed"
        );
        assert_eq!(forward_key("r::1"), None);
        assert_eq!(forward_key("v:1.2.3.4:1"), None);
        assert_eq!(forward_key("r:x:notanumber"), None);
    }
}
