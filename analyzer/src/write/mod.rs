//! The write path shared by `pdns-ingestion` and `pdns-import`: a [`Batch`] of records becomes
//! one pipeline of writes to the pDNS store, through a [`Writer`].
//!
//! - `batch`: lines or COF observations aggregated into the writes they cause (pure, no I/O).
//! - `script`: first and last seen as atomic per-key updates (a Lua script by `EVALSHA`).
//! - `error`: why a batch was not written: transient (retry) or refused (stop and say why).
//! - [`Writer`]: one pipeline per batch: the search indexes' writes first
//!   ([`crate::index::Queued`]), then `SADD` per set, `INCRBY`/`SET` of `o:`, script calls
//!   updating `s:` and `l:` (the earliest and the latest time, atomically, so several writers
//!   give the same store as one; up to [`SCRIPT_KEYS`] keys per call on a single server, one on
//!   a cluster), `EXPIRE`s, the counters. On a store without scripting (`d4-kv`) first and
//!   last seen are read first (`MGET`) and written with `MSET` in the pipeline: exact with one
//!   writer only. A batch with newly observed records then appends their feed entries
//!   ([`crate::index::feed`], two more round trips).
//!
//! Errors: a transient failure (connection, timeout, `LOADING`, `MISCONF`, ...) in the call or
//! in any reply fails the batch and the caller retries it; a command the store refuses
//! (`WRONGTYPE`, `CROSSSLOT`...) is a permanent [`WriteError::Refused`] naming the command and
//! its key, which the caller must not retry forever. A batch written twice (a retry) sets the
//! same sets and times; only its counters count twice.

pub(crate) mod batch;
mod error;
mod script;

use std::collections::HashMap;

use d4_core::store::{self, value, Pipeline, Store, StoreError, Value};

pub(crate) use batch::{Batch, Observation, Tuple};
pub(crate) use error::WriteError;
use script::{Call, Scripting};

use crate::index::{self, Sighting};
use crate::model::config::AnalyzerConfig;
use crate::model::keys;

/// Tuples per `MGET` (two keys each), keeping single commands of a large batch small.
const MGET_TUPLES: usize = 1000;
/// Key/value pairs per `MSET`.
const MSET_PAIRS: usize = 1000;
/// Keys per script call on a single server (on a cluster: one).
const SCRIPT_KEYS: usize = 1000;

/// Result of writing one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WriteReport {
    /// Commands sent in the write pipeline.
    pub(crate) commands: usize,
}

/// Writes batches to one pDNS store; knows whether that store runs scripts.
pub(crate) struct Writer {
    store: Store,
    scripting: Scripting,
}

/// How a pipeline writes first and last seen.
enum SeenWrites<'a> {
    /// With the script of this hash (atomic, any number of writers), updating up to this many
    /// keys per call.
    Script(&'a str, usize),
    /// Compared with these current `(s:, l:)` values, one per tuple (one writer only).
    Compared(Vec<Seen>),
}

/// Current first and last seen of one tuple (`None` when absent or not an integer).
type Seen = (Option<i64>, Option<i64>);

impl Writer {
    /// A writer to `store`; whether it runs scripts is found out at the first batch.
    pub(crate) fn new(store: Store) -> Writer {
        Writer {
            store,
            scripting: Scripting::default(),
        }
    }

    /// Writes one batch (one round trip with scripting; two without: the `MGET` of the
    /// tuples' `s:`/`l:`, then the writes; two more when it has newly observed records: the
    /// feed). Idempotent except for the counters.
    pub(crate) async fn write(
        &self,
        b: &Batch,
        cfg: &AnalyzerConfig,
    ) -> Result<WriteReport, WriteError> {
        // Search indexes and the newly observed feed (d4-rs) beside the upstream keys.
        let sightings: Vec<Sighting<'_>> = b
            .tuples
            .iter()
            .map(|tu| Sighting {
                q: &tu.q,
                v: &tu.v,
                t: tu.t,
                first: tu.first,
                last: tu.last,
            })
            .collect();
        let seen = match self.scripting.sha(&self.store).await? {
            Some(sha) => {
                // A cluster runs each call on one node: one key per call there.
                let per_call = if self.store.is_cluster() {
                    1
                } else {
                    SCRIPT_KEYS
                };
                SeenWrites::Script(sha, per_call)
            }
            None => SeenWrites::Compared(current_seen(&self.store, b).await?),
        };
        let mut pipe = store::tolerant_pipe();
        let queued = index::queue(&mut pipe, &sightings);
        let upstream = pipe.len();
        let forward = write_pipeline(&mut pipe, b, cfg, &seen);
        if pipe.is_empty() {
            return Ok(WriteReport::default());
        }
        let replies: Vec<Value> = self.store.run(&pipe).await?;
        let fresh = queued.fresh(&sightings, &replies)?;
        let checked = check(&pipe, &replies, upstream, true);
        // The feed first: a retried batch finds its records in the indexes, no longer new.
        if !fresh.is_empty() {
            let added: HashMap<(&str, u16), i64> = forward
                .iter()
                .map(|&(k, at)| (k, replies.get(at).and_then(value::int).unwrap_or(0)))
                .collect();
            index::feed(&self.store, &fresh, |q, t| {
                added.get(&(q, t)).copied().unwrap_or(0)
            })
            .await?;
        }
        let forgotten = checked?;
        if !forgotten.is_empty() {
            self.rerun_forgotten(&pipe, &forgotten).await?;
        }
        Ok(WriteReport {
            commands: pipe.len(),
        })
    }

    /// Loads the script again and repeats the calls the store answered `NOSCRIPT` (it lost
    /// its script cache between two batches); a second `NOSCRIPT` is a refusal.
    async fn rerun_forgotten(
        &self,
        pipe: &Pipeline,
        forgotten: &[usize],
    ) -> Result<(), WriteError> {
        tracing::info!(
            calls = forgotten.len(),
            "The pDNS store forgot the first/last-seen script: loading it again."
        );
        self.scripting.reload(&self.store).await?;
        let mut again = store::tolerant_pipe();
        for (i, c) in pipe.cmd_iter().enumerate() {
            if forgotten.contains(&i) {
                again.add_command(c.clone());
            }
        }
        let replies: Vec<Value> = self.store.run(&again).await?;
        check(&again, &replies, 0, false).map(drop)
    }
}

/// Queues every upstream write of a batch; returns the forward sets `(q, t)` and the
/// positions of their `SADD`s in the pipeline.
fn write_pipeline<'b>(
    pipe: &mut Pipeline,
    b: &'b Batch,
    cfg: &AnalyzerConfig,
    seen: &SeenWrites<'_>,
) -> Vec<((&'b str, u16), usize)> {
    let (fwd, rev) = b.sets();
    let mut forward = Vec::with_capacity(fwd.len());
    for ((q, t), members) in &fwd {
        forward.push(((*q, *t), pipe.len()));
        sadd_expire(pipe, keys::forward(q, *t), members, cfg.expiry(*t));
    }
    for ((v, t), members) in &rev {
        sadd_expire(pipe, keys::reverse(v, *t), members, cfg.expiry(*t));
    }
    match seen {
        SeenWrites::Script(sha, per_call) => scripted_tuples(pipe, b, sha, *per_call, cfg),
        SeenWrites::Compared(current) => compared_tuples(pipe, b, current, cfg),
    }
    counters(pipe, b);
    forward
}

/// Every tuple's writes with the script: `o:` and its expiry per tuple, then the `s:` and
/// `l:` updates of the tuples sharing an expiry, `per_call` keys per script call (each key
/// re-expired by the script).
fn scripted_tuples(
    pipe: &mut Pipeline,
    b: &Batch,
    sha: &str,
    per_call: usize,
    cfg: &AnalyzerConfig,
) {
    // Tuples per call: half the keys are `s:`, half `l:`; on a cluster one key per call.
    let tuples_per_call = (per_call / 2).max(1);
    let mut calls: Vec<Call> = Vec::new();
    // Expiry -> the call being filled for it.
    let mut open: HashMap<Option<i64>, usize> = HashMap::new();
    for tu in &b.tuples {
        let expiry = cfg.expiry(tu.t);
        let o = keys::occurrences(&tu.q, &tu.v, tu.t);
        occurrences(pipe, &o, tu);
        if let Some(e) = expiry {
            pipe.cmd("EXPIRE").arg(o).arg(e);
        }
        let at = match open.get(&expiry) {
            Some(&at) if calls[at].firsts.len() < tuples_per_call => at,
            _ => {
                calls.push(Call {
                    expiry,
                    ..Call::default()
                });
                open.insert(expiry, calls.len() - 1);
                calls.len() - 1
            }
        };
        let call = &mut calls[at];
        call.firsts
            .push((keys::first_seen(&tu.q, &tu.v, tu.t), tu.first));
        call.lasts
            .push((keys::last_seen(&tu.q, &tu.v, tu.t), tu.last));
    }
    for call in &calls {
        if per_call > 1 {
            script::queue(pipe, sha, call);
            continue;
        }
        // One key per call: each key on its own (cluster) node.
        for (k, t) in &call.firsts {
            script::queue(
                pipe,
                sha,
                &Call {
                    expiry: call.expiry,
                    firsts: vec![(k.clone(), *t)],
                    lasts: Vec::new(),
                },
            );
        }
        for (k, t) in &call.lasts {
            script::queue(
                pipe,
                sha,
                &Call {
                    expiry: call.expiry,
                    firsts: Vec::new(),
                    lasts: vec![(k.clone(), *t)],
                },
            );
        }
    }
}

/// Every tuple's writes given the current `(s:, l:)` values: `o:` per tuple, the changed
/// times in `MSET`s, then the expiries (after the `MSET`, which clears them).
fn compared_tuples(pipe: &mut Pipeline, b: &Batch, current: &[Seen], cfg: &AnalyzerConfig) {
    let mut mset: Vec<(String, String)> = Vec::new();
    let mut expire: Vec<(String, i64)> = Vec::new();
    for (tu, seen) in b.tuples.iter().zip(current) {
        let s = keys::first_seen(&tu.q, &tu.v, tu.t);
        let l = keys::last_seen(&tu.q, &tu.v, tu.t);
        let o = keys::occurrences(&tu.q, &tu.v, tu.t);
        let (first, last) = changed(tu, *seen);
        if let Some(first) = first {
            mset.push((s.clone(), first.to_string()));
        }
        if let Some(last) = last {
            mset.push((l.clone(), last.to_string()));
        }
        occurrences(pipe, &o, tu);
        if let Some(e) = cfg.expiry(tu.t) {
            // Upstream re-expires r: instead of l: (spec §1.5 #10); we expire the right keys.
            expire.extend([s, l, o].map(|k| (k, e)));
        }
    }
    for chunk in mset.chunks(MSET_PAIRS) {
        let cmd = pipe.cmd("MSET");
        for (k, v) in chunk {
            cmd.arg(k).arg(v);
        }
    }
    for (k, e) in expire {
        pipe.cmd("EXPIRE").arg(k).arg(e);
    }
}

/// The first and last seen a tuple sets, given the stored ones: the earliest and the latest
/// time (what the script does inside the store).
fn changed(tu: &Tuple, (first, last): Seen) -> (Option<u64>, Option<u64>) {
    let set_first = first.is_none_or(|f| f > tu.first as i64);
    let set_last = last.is_none_or(|l| l < tu.last as i64);
    (set_first.then_some(tu.first), set_last.then_some(tu.last))
}

/// `INCRBY o:` by the batch's lines, or `SET o:` to a source's own count (COF import).
fn occurrences(pipe: &mut Pipeline, o: &str, tu: &Tuple) {
    match tu.set_count {
        Some(c) => pipe.cmd("SET").arg(o).arg(c),
        None => pipe.cmd("INCRBY").arg(o).arg(tu.count),
    };
}

/// Checks the replies of a write pipeline from its command `from` on. Returns the
/// positions of script calls the store answered `NOSCRIPT` (when `noscript_ok`); a refused
/// command is a [`WriteError::Refused`] (whatever else happened), else a transient refusal
/// fails the batch for a retry.
fn check(
    pipe: &Pipeline,
    replies: &[Value],
    from: usize,
    noscript_ok: bool,
) -> Result<Vec<usize>, WriteError> {
    let mut forgotten = Vec::new();
    let mut transient: Option<StoreError> = None;
    let mut refused: Option<(usize, StoreError)> = None;
    let mut count = 0;
    for (i, reply) in replies.iter().enumerate().skip(from) {
        let Value::ServerError(_) = reply else {
            continue;
        };
        let Err(e) = reply.clone().extract_error() else {
            continue;
        };
        let e = StoreError::from(e);
        if noscript_ok && e.code() == Some("NOSCRIPT") {
            forgotten.push(i);
        } else if e.is_transient() {
            transient.get_or_insert(e);
        } else {
            count += 1;
            refused.get_or_insert((i, e));
        }
    }
    if let Some((i, source)) = refused {
        return Err(WriteError::Refused {
            command: describe(pipe, i),
            refused: count,
            source,
        });
    }
    match transient {
        Some(e) => Err(e.into()),
        None => Ok(forgotten),
    }
}

/// `<COMMAND> <key>` of the `i`-th command of a pipeline, for the log (a script call shows
/// its key, not its hash).
fn describe(pipe: &Pipeline, i: usize) -> String {
    let args = pipe
        .cmd_iter()
        .nth(i)
        .map(|c| leading_args(&c.get_packed_command(), 4))
        .unwrap_or_default();
    let name = args.first().map_or("?", String::as_str);
    let key = if name.eq_ignore_ascii_case("EVALSHA") {
        args.get(3)
    } else {
        args.get(1)
    };
    let key: String = key.map_or("", String::as_str).chars().take(200).collect();
    format!("{name} {key}")
}

/// The first `n` arguments of a command as the client sends it (a RESP array of bulk
/// strings), as text.
fn leading_args(packed: &[u8], n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = packed;
    // Skip the array header `*<count>\r\n`, then read `$<len>\r\n<bytes>\r\n` items.
    let next_line = |rest: &mut &[u8]| -> Option<usize> {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let len = std::str::from_utf8(rest.get(1..end)?).ok()?.parse().ok();
        *rest = rest.get(end + 2..)?;
        len
    };
    next_line(&mut rest);
    while out.len() < n {
        let Some(len) = next_line(&mut rest) else {
            break;
        };
        let Some(arg) = rest.get(..len) else { break };
        out.push(String::from_utf8_lossy(arg).into_owned());
        rest = rest.get(len + 2..).unwrap_or_default();
    }
    out
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
    ] {
        for (field, inc) in map {
            pipe.cmd("HINCRBY").arg(key).arg(field).arg(*inc);
        }
    }
    for (t, inc) in &b.dist_type {
        pipe.cmd("HINCRBY").arg(keys::DIST_TYPE).arg(*t).arg(*inc);
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

    /// The upstream writes of a batch, alone in a pipeline.
    fn upstream(b: &Batch, c: &AnalyzerConfig, seen: &SeenWrites<'_>) -> Pipeline {
        let mut pipe = store::tolerant_pipe();
        write_pipeline(&mut pipe, b, c, seen);
        pipe
    }

    fn txt_batch() -> Batch {
        Batch::from_lines(
            [b"100||c||s||IN||a.org||TXT||x||60||1".as_slice()],
            &cfg("[expiration]\n16 = 24000\n"),
        )
    }

    #[test]
    fn without_scripting_a_new_tuple_is_set_and_expired_after_the_mset() {
        let c = cfg("[expiration]\n16 = 24000\n");
        let pipe = upstream(&txt_batch(), &c, &SeenWrites::Compared(vec![(None, None)]));
        let got = wire(&pipe);
        for want in ["SADD", "EXPIRE", "INCRBY", "MSET", "HINCRBY"] {
            assert!(got.contains(&format!("\r\n{want}\r\n")), "{want}: {got}");
        }
        assert!(!got.contains("EVALSHA"), "{got}");
        let mset = got.find("\r\nMSET\r\n").expect("MSET");
        assert!(
            got[mset..].contains("\r\nEXPIRE\r\n$12\r\ns:a.org:x:16"),
            "{got}"
        );
    }

    #[test]
    fn with_scripting_first_and_last_seen_are_script_calls_of_one_key() {
        let c = cfg("[expiration]\n16 = 24000\n");
        let pipe = upstream(&txt_batch(), &c, &SeenWrites::Script("f00", 1));
        let got = wire(&pipe);
        assert!(!got.contains("MGET") && !got.contains("MSET"), "{got}");
        assert!(
            got.contains("EVALSHA\r\n$3\r\nf00\r\n$1\r\n1\r\n$12\r\ns:a.org:x:16\r\n$5\r\n24000\r\n$1\r\n1\r\n$3\r\n100\r\n"),
            "{got}"
        );
        assert!(
            got.contains("l:a.org:x:16\r\n$5\r\n24000\r\n$1\r\n0\r\n$3\r\n100\r\n"),
            "{got}"
        );
        let incr = got
            .find("\r\nINCRBY\r\n$12\r\no:a.org:x:16")
            .expect("INCRBY o:");
        assert!(
            got[incr..].contains("\r\nEXPIRE\r\n$12\r\no:a.org:x:16"),
            "{got}"
        );
    }

    #[test]
    fn on_a_single_server_one_script_call_updates_a_chunk_of_keys() {
        let c = cfg("");
        let pipe = upstream(&txt_batch(), &c, &SeenWrites::Script("f00", SCRIPT_KEYS));
        let got = wire(&pipe);
        assert_eq!(got.matches("EVALSHA").count(), 1, "{got}");
        assert!(
            got.contains(
                "EVALSHA\r\n$3\r\nf00\r\n$1\r\n2\r\n$12\r\ns:a.org:x:16\r\n$12\r\nl:a.org:x:16\r\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn first_seen_is_the_earliest_and_last_seen_the_latest() {
        let tu = Tuple {
            q: "a.org".into(),
            v: "x".into(),
            t: 1,
            first: 50,
            last: 60,
            count: 1,
            set_count: None,
        };
        assert_eq!(changed(&tu, (Some(40), Some(70))), (None, None));
        assert_eq!(changed(&tu, (Some(100), Some(10))), (Some(50), Some(60)));
        assert_eq!(changed(&tu, (None, None)), (Some(50), Some(60)));
    }

    /// The value a server error reply `-<text>` becomes.
    fn refusal(text: &str) -> Value {
        redis_value(&format!("-{text}\r\n"))
    }

    fn redis_value(resp: &str) -> Value {
        redis::parse_redis_value(resp.as_bytes()).expect("a RESP reply")
    }

    #[test]
    fn a_refused_command_is_permanent_and_names_its_key() {
        let c = cfg("[expiration]\n16 = 24000\n");
        let pipe = upstream(&txt_batch(), &c, &SeenWrites::Script("f00", 1));
        let mut replies: Vec<Value> = (0..pipe.len()).map(|_| Value::Int(1)).collect();
        // The first script call (s:) refused, a later one transient: permanent wins.
        let s = pipe
            .cmd_iter()
            .position(|c| wire_cmd(c).contains("EVALSHA"))
            .expect("a script call");
        replies[s] = refusal("WRONGTYPE Operation against a key holding the wrong kind of value");
        replies[s + 1] = refusal("LOADING Redis is loading the dataset in memory");
        let err = check(&pipe, &replies, 0, true).expect_err("refused");
        assert!(!err.is_transient());
        assert_eq!(err.code(), Some("WRONGTYPE"));
        let text = err.to_string();
        assert!(text.contains("`EVALSHA s:a.org:x:16`"), "{text}");
        assert!(err.hint().contains("another type"), "{}", err.hint());
    }

    #[test]
    fn transient_refusals_retry_and_noscript_is_reloaded() {
        let c = cfg("");
        let pipe = upstream(&txt_batch(), &c, &SeenWrites::Script("f00", 1));
        let mut replies: Vec<Value> = (0..pipe.len()).map(|_| Value::Int(1)).collect();
        replies[0] = refusal("MISCONF Errors writing to the AOF file");
        assert!(check(&pipe, &replies, 0, true)
            .expect_err("transient")
            .is_transient());
        replies[0] = Value::Int(1);
        replies[2] = refusal("NOSCRIPT No matching script. Please use EVAL.");
        assert_eq!(check(&pipe, &replies, 0, true).expect("reload"), vec![2]);
        let again = check(&pipe, &replies, 0, false).expect_err("NOSCRIPT twice");
        assert_eq!(again.code(), Some("NOSCRIPT"));
    }

    fn wire_cmd(c: &d4_core::store::Cmd) -> String {
        String::from_utf8_lossy(&c.get_packed_command()).into_owned()
    }

    #[test]
    fn leading_args_reads_the_packed_command() {
        let mut c = d4_core::store::cmd("SADD");
        c.arg("r:a.org:1").arg("1.2.3.4");
        assert_eq!(
            leading_args(&c.get_packed_command(), 4),
            vec!["SADD", "r:a.org:1", "1.2.3.4"]
        );
        assert_eq!(
            leading_args(b"*1\r\n$20\r\ntruncated", 4),
            Vec::<String>::new()
        );
    }
}
