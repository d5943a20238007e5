//! The write path shared by `pdns-ingestion` and `pdns-import`: a [`Batch`] of records becomes
//! two round trips to the pDNS store.
//!
//! - `batch`: lines or COF observations aggregated into the writes they cause (pure, no I/O).
//! - [`write_batch`]: one pipeline of `MGET`s of the tuples' `s:`/`l:` keys (first and last seen
//!   are read-compare-write), then one pipeline of every write.
//!
//! Errors follow the store facade's one classification ([`StoreError::class`]): a transient
//! failure (connection, timeout, `LOADING`, `MISCONF`, ...) fails the whole call and the caller
//! retries the batch; a command the store refuses (e.g. `WRONGTYPE`) is counted and logged once
//! per batch, and the rest of the batch stands.

pub(crate) mod batch;

use d4_core::store::{self, value, Pipeline, Store, StoreError, Value};

pub(crate) use batch::{Batch, Observation, Tuple};

use crate::model::config::AnalyzerConfig;
use crate::model::keys;

/// Tuples per `MGET` (two keys each), keeping single commands of a large batch small.
const MGET_TUPLES: usize = 1000;
/// Key/value pairs per `MSET`.
const MSET_PAIRS: usize = 1000;

/// Result of writing one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WriteReport {
    /// Commands sent in the write pipeline.
    pub(crate) commands: usize,
    /// Commands the store refused (logged once per batch).
    pub(crate) refused: usize,
}

/// Writes one batch in two round trips: the `MGET`s of the tuples' `s:`/`l:` keys, then one
/// pipeline (`SADD` per set, one `MSET` per chunk of `s:`/`l:` to change, `INCRBY o:` per tuple,
/// `EXPIRE`s, counters). Like upstream, `s:`/`l:` are check-then-set (not atomic across several
/// writers). Idempotent except for the counters (a retried batch may count twice).
pub(crate) async fn write_batch(
    store: &Store,
    b: &Batch,
    cfg: &AnalyzerConfig,
) -> Result<WriteReport, StoreError> {
    let seen = current_seen(store, b).await?;
    let pipe = write_pipeline(b, cfg, &seen);
    if pipe.is_empty() {
        return Ok(WriteReport::default());
    }
    let replies: Vec<Value> = store.run(&pipe).await?;
    let refused = refused(replies)?;
    Ok(WriteReport {
        commands: pipe.len(),
        refused,
    })
}

/// Every write of a batch, given the current `(s:, l:)` values of its tuples.
fn write_pipeline(b: &Batch, cfg: &AnalyzerConfig, seen: &[Seen]) -> Pipeline {
    let mut pipe = store::tolerant_pipe();
    let (fwd, rev) = b.sets();
    for ((q, t), members) in &fwd {
        sadd_expire(&mut pipe, keys::forward(q, *t), members, cfg.expiry(*t));
    }
    for ((v, t), members) in &rev {
        sadd_expire(&mut pipe, keys::reverse(v, *t), members, cfg.expiry(*t));
    }
    let mut mset: Vec<(String, String)> = Vec::new();
    let mut expire: Vec<(String, i64)> = Vec::new();
    for (tu, seen) in b.tuples.iter().zip(seen) {
        let writes = TupleWrites::new(tu, b.min_first, *seen);
        writes.queue(&mut pipe, &mut mset, &mut expire, cfg.expiry(tu.t));
    }
    for chunk in mset.chunks(MSET_PAIRS) {
        let cmd = pipe.cmd("MSET");
        for (k, v) in chunk {
            cmd.arg(k).arg(v);
        }
    }
    // After the MSET, which clears TTLs of the keys it sets.
    for (k, e) in expire {
        pipe.cmd("EXPIRE").arg(k).arg(e);
    }
    counters(&mut pipe, b);
    pipe
}

/// Current first and last seen of one tuple (`None` when absent or not an integer).
type Seen = (Option<i64>, Option<i64>);

/// What one tuple changes: `s:`/`l:` to set (if any) and `o:`.
struct TupleWrites<'a> {
    tuple: &'a Tuple,
    first: Option<u64>,
    last: Option<u64>,
}

impl<'a> TupleWrites<'a> {
    fn new(tuple: &'a Tuple, min_first: bool, (first, last): Seen) -> Self {
        // Upstream: first seen = first line processed (set only if absent); imports: the minimum.
        let set_first = first.is_none_or(|f| min_first && f > tuple.first as i64);
        let set_last = last.is_none_or(|old| old < tuple.last as i64);
        TupleWrites {
            tuple,
            first: set_first.then_some(tuple.first),
            last: set_last.then_some(tuple.last),
        }
    }

    /// Collects the `s:`/`l:` values to set and the keys to expire, and queues `o:`.
    fn queue(
        self,
        pipe: &mut Pipeline,
        mset: &mut Vec<(String, String)>,
        expire: &mut Vec<(String, i64)>,
        expiry: Option<i64>,
    ) {
        let tu = self.tuple;
        let s = keys::first_seen(&tu.q, &tu.v, tu.t);
        let l = keys::last_seen(&tu.q, &tu.v, tu.t);
        let o = keys::occurrences(&tu.q, &tu.v, tu.t);
        if let Some(first) = self.first {
            mset.push((s.clone(), first.to_string()));
        }
        if let Some(last) = self.last {
            mset.push((l.clone(), last.to_string()));
        }
        match tu.set_count {
            Some(c) => mset.push((o.clone(), c.to_string())),
            None => {
                pipe.cmd("INCRBY").arg(&o).arg(tu.count);
            }
        }
        if let Some(e) = expiry {
            // Upstream re-expires r: instead of l: (spec §1.5 #10); we expire the right keys.
            expire.extend([s, l, o].map(|k| (k, e)));
        }
    }
}

/// Counts the refused commands of a write pipeline; a transient error fails the batch.
fn refused(replies: Vec<Value>) -> Result<usize, StoreError> {
    let mut refused = 0;
    let mut first: Option<StoreError> = None;
    for reply in replies {
        let Value::ServerError(_) = reply else {
            continue;
        };
        let Err(e) = reply.extract_error() else {
            continue;
        };
        let e = StoreError::from(e);
        if e.is_transient() {
            return Err(e);
        }
        refused += 1;
        first.get_or_insert(e);
    }
    if let Some(e) = first {
        tracing::error!(refused, error = %e, "Store refused commands of a batch.");
    }
    Ok(refused)
}

fn sadd_expire(pipe: &mut Pipeline, key: String, members: &[&str], e: Option<i64>) {
    pipe.cmd("SADD").arg(&key).arg(members);
    if let Some(e) = e {
        pipe.cmd("EXPIRE").arg(&key).arg(e);
    }
}

/// The `dist:*`, `stats:*` and `sensors:seen` counters of a batch.
fn counters(pipe: &mut Pipeline, b: &Batch) {
    for (key, map) in [
        (keys::DIST_TTL, &b.dist_ttl),
        (keys::DIST_CLASS, &b.dist_class),
        (keys::DIST_TYPE, &b.dist_type),
    ] {
        for (field, inc) in map {
            pipe.cmd("HINCRBY").arg(key).arg(field).arg(*inc);
        }
    }
    for (reason, inc) in &b.rejected {
        pipe.cmd("HINCRBY")
            .arg(keys::STATS_REJECTED)
            .arg(*reason)
            .arg(*inc);
    }
    if b.processed > 0 {
        pipe.cmd("INCRBY")
            .arg(keys::STATS_PROCESSED)
            .arg(b.processed);
    }
    for (id, count) in &b.sensors {
        pipe.cmd("ZINCRBY")
            .arg(keys::STATS_SENSORS)
            .arg(*count)
            .arg(id);
        pipe.cmd("SADD").arg(keys::SENSORS_SEEN).arg(id);
    }
}

/// Current `(s:, l:)` values of the batch's tuples, in one round trip (one `MGET` per chunk).
async fn current_seen(store: &Store, b: &Batch) -> Result<Vec<Seen>, StoreError> {
    if b.tuples.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = store::pipe();
    for chunk in b.tuples.chunks(MGET_TUPLES) {
        let cmd = pipe.cmd("MGET");
        for t in chunk {
            cmd.arg(keys::first_seen(&t.q, &t.v, t.t))
                .arg(keys::last_seen(&t.q, &t.v, t.t));
        }
    }
    let replies: Vec<Vec<Value>> = store.run(&pipe).await?;
    Ok(replies
        .iter()
        .flat_map(|vals| vals.chunks(2))
        .map(|p| {
            (
                p.first().and_then(value::int),
                p.get(1).and_then(value::int),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use d4_core::config::Ini;

    fn cfg(text: &str) -> AnalyzerConfig {
        AnalyzerConfig::from_ini(&Ini::parse(text).expect("ini"), &|_| None).expect("cfg")
    }

    /// A pipeline as the bytes it sends (RESP), as text.
    fn wire(pipe: &Pipeline) -> String {
        String::from_utf8_lossy(&pipe.get_packed_pipeline()).into_owned()
    }

    #[test]
    fn a_new_tuple_sets_first_last_and_expires_them_after_the_mset() {
        let b = Batch::from_lines(
            [b"100||c||s||IN||a.org||TXT||x||60||1".as_slice()],
            &cfg("[expiration]\n16 = 24000\n"),
        );
        let pipe = write_pipeline(&b, &cfg("[expiration]\n16 = 24000\n"), &[(None, None)]);
        let got = wire(&pipe);
        for want in ["SADD", "EXPIRE", "INCRBY", "MSET", "HINCRBY"] {
            assert!(got.contains(&format!("\r\n{want}\r\n")), "{want}: {got}");
        }
        let mset = got.find("\r\nMSET\r\n").expect("MSET");
        assert!(
            got[mset..].contains("\r\nEXPIRE\r\n$12\r\ns:a.org:x:16"),
            "{got}"
        );
    }

    #[test]
    fn first_seen_is_kept_unless_importing_an_older_one() {
        let tu = Tuple {
            q: "a.org".into(),
            v: "x".into(),
            t: 1,
            first: 50,
            last: 60,
            count: 1,
            set_count: None,
        };
        let w = TupleWrites::new(&tu, false, (Some(100), Some(70)));
        assert_eq!((w.first, w.last), (None, None));
        let w = TupleWrites::new(&tu, true, (Some(100), Some(10)));
        assert_eq!((w.first, w.last), (Some(50), Some(60)));
        let w = TupleWrites::new(&tu, false, (None, None));
        assert_eq!((w.first, w.last), (Some(50), Some(60)));
    }
}
