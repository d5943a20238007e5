//! The cluster side of the store facade: a Redis Cluster / Valkey cluster behind the same
//! calls as one server.
//!
//! The facade routes by itself, over one multiplexed connection per node, rather than
//! through `redis-rs`'s cluster client, which has two traps under a live reshard: on any
//! redirect it re-sends a *whole* pipeline (running again the commands that had succeeded:
//! an `INCR` counted twice), and it follows `ASK` by sending `ASKING` and then the command
//! as two separate requests on a shared connection, so another request can slip in between
//! and take the `ASKING` (a write landing on the importing node, or the command bouncing
//! between the two nodes until it times out).
//!
//! How a pipeline runs ([`Cluster::pipeline`]): [`route::Plan`] cuts it into single-slot
//! commands (multi-key commands split per slot); the commands are grouped by the node
//! owning their slot and each group goes as one pipeline, all nodes concurrently (one
//! round trip when no slot moves). A command answered `MOVED` (slot map updated), `ASK`
//! (re-sent as `ASKING` + command in one write, so nothing slips in between) or
//! `TRYAGAIN`/`CLUSTERDOWN` (after a short wait) did not run, so it is sent again, in
//! pipeline order, up to [`ATTEMPTS`] times; it is never returned as a value. Replies go
//! back in pipeline order.
//!
//! An `XREAD BLOCK` of streams in several slots cannot block on one node: its per-slot
//! reads go without `BLOCK` and the whole round is repeated every [`POLL`] until a stream
//! has entries or the `BLOCK` time is over ([`Cluster::poll`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisResult, Value};

use super::error::{ErrorClass, StoreError};
use super::route::{Plan, SLOTS};
use crate::config::RedisEndpoint;

/// Attempts of one command while its slot moves (each redirect or `TRYAGAIN` is one).
/// One attempt wedged a client during a live reshard (issue 18); with waits up to
/// [`MAX_WAIT`], this many attempts outlast a slot migration or a failover.
const ATTEMPTS: u32 = 30;
/// Shortest and longest wait before re-sending commands answered `TRYAGAIN`/`CLUSTERDOWN`.
const MIN_WAIT: Duration = Duration::from_millis(10);
const MAX_WAIT: Duration = Duration::from_millis(500);
/// Interval between the rounds of a split `XREAD BLOCK` that found nothing (see
/// [`Cluster::poll`]): the most it adds to a line's latency.
const POLL: Duration = Duration::from_millis(25);
/// Keys asked per `SCAN` step.
const SCAN_COUNT: usize = 1000;

/// A connection to every node of a cluster. Clones share it.
#[derive(Clone)]
pub(super) struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    /// Seed nodes `host:port`, asked for the slot map when no known node answers.
    seeds: Vec<String>,
    /// The configured database (`SELECT` on each node connection when not 0).
    db: u8,
    /// Connect and reply timeouts of every node connection.
    config: AsyncConnectionConfig,
    /// Owner (`host:port`) of each slot; empty until the first refresh.
    slots: RwLock<Vec<Option<Arc<str>>>>,
    /// One multiplexed connection per node `host:port`.
    nodes: tokio::sync::Mutex<HashMap<Arc<str>, MultiplexedConnection>>,
}

/// The pieces sent to one node in one attempt: `(piece, after ASKING)`, in order.
type Group = (Arc<str>, Vec<(usize, bool)>);

/// Where a command goes next.
#[derive(Clone)]
enum Target {
    /// The owner of its slot in the slot map (any node for a command without a key).
    Owner,
    /// A node that accepts it after `ASKING` (slot being imported there).
    Asking(Arc<str>),
}

impl Cluster {
    /// Connects to the seed nodes of `ep` and reads the slot map.
    /// `config` sets the timeouts of each node connection.
    pub(super) async fn connect(
        ep: &RedisEndpoint,
        config: AsyncConnectionConfig,
    ) -> Result<Cluster, StoreError> {
        let c = Cluster::lazy(ep, config);
        c.refresh().await.map_err(|e| connect_error(ep, e))?;
        Ok(c)
    }

    /// A cluster connection made on first use.
    pub(super) fn lazy(ep: &RedisEndpoint, config: AsyncConnectionConfig) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                seeds: ep.cluster.iter().map(|(h, p)| address(h, *p)).collect(),
                db: ep.db,
                config,
                slots: RwLock::new(Vec::new()),
                nodes: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Runs one command (a multi-key command split per slot) and returns its reply,
    /// a refusal as [`Value::ServerError`].
    pub(super) async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut p = redis::pipe();
        p.add_command(cmd.clone());
        let mut replies = self.pipeline(&p, 0, 1).await?;
        Ok(replies.pop().unwrap_or(Value::Nil))
    }

    /// Runs a pipeline cut per slot (see the module doc) and returns the replies of its
    /// commands in order, refusals in place as [`Value::ServerError`]. A transaction
    /// (`MULTI`/`EXEC`) goes whole to the owner of its first key's slot (its keys must
    /// share that slot) and is not re-sent.
    pub(super) async fn pipeline(
        &self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        if self
            .inner
            .slots
            .read()
            .map(|s| s.is_empty())
            .unwrap_or(true)
        {
            self.refresh().await?;
        }
        if pipe.is_transaction() || offset != 0 || count != pipe.len() {
            let first = Plan::new(pipe.cmd_iter())
                .pieces
                .into_iter()
                .find_map(|p| p.slot);
            let addr = self.owner(first)?;
            let mut conn = self.node(&addr).await?;
            return conn.req_packed_commands(pipe, offset, count).await;
        }
        let plan = Plan::new(pipe.cmd_iter());
        let Some(block) = plan.block() else {
            return self.run(&plan).await;
        };
        self.poll(&plan, block).await
    }

    /// Runs a split `XREAD` until some stream has entries or `block` milliseconds (0: no
    /// limit) have passed, one round of per-slot reads every [`POLL`]: a single server
    /// would block instead, so entries are seen at most one interval later.
    async fn poll(&self, plan: &Plan, block: u64) -> RedisResult<Vec<Value>> {
        let deadline = (block > 0).then(|| Instant::now() + Duration::from_millis(block));
        loop {
            let replies = self.run(plan).await?;
            if !matches!(replies.as_slice(), [Value::Nil]) {
                return Ok(replies);
            }
            let pause = match deadline {
                None => POLL,
                Some(d) => match d.saturating_duration_since(Instant::now()) {
                    left if left.is_zero() => return Ok(replies),
                    left => left.min(POLL),
                },
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// Sends the pieces of `plan` until none is redirected and returns the replies of its
    /// commands in order.
    async fn run(&self, plan: &Plan) -> RedisResult<Vec<Value>> {
        let mut replies: Vec<Option<Value>> = vec![None; plan.pieces.len()];
        let mut pending: Vec<(usize, Target)> =
            (0..plan.pieces.len()).map(|i| (i, Target::Owner)).collect();
        let mut wait = MIN_WAIT;
        for _ in 0..ATTEMPTS {
            let (again, must_wait) = self.attempt(plan, &pending, &mut replies).await?;
            pending = again;
            if pending.is_empty() {
                return Ok(plan.merge(
                    replies
                        .into_iter()
                        .map(|r| r.unwrap_or(Value::Nil))
                        .collect(),
                ));
            }
            if must_wait {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_WAIT);
            }
        }
        Err(RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::TryAgain),
            "cluster: slots still moving",
            format!("{} commands redirected {ATTEMPTS} times", pending.len()),
        )))
    }

    /// Sends the `pending` pieces once, grouped by node; fills `replies` with final
    /// answers and returns the pieces to send again (in order) and whether to wait first.
    async fn attempt(
        &self,
        plan: &Plan,
        pending: &[(usize, Target)],
        replies: &mut [Option<Value>],
    ) -> RedisResult<(Vec<(usize, Target)>, bool)> {
        // A slot without a known owner (the map predates a failover): read the map again.
        let unowned = pending
            .iter()
            .any(|(i, t)| matches!(t, Target::Owner) && self.owner(plan.pieces[*i].slot).is_err());
        if unowned {
            self.refresh().await?;
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut add =
            |addr: Arc<str>, item: (usize, bool)| match groups.iter_mut().find(|(a, _)| *a == addr)
            {
                Some((_, g)) => g.push(item),
                None => groups.push((addr, vec![item])),
            };
        for (i, target) in pending {
            match target {
                Target::Owner if plan.pieces[*i].everywhere => {
                    for addr in self.primaries()? {
                        add(addr, (*i, false));
                    }
                }
                Target::Owner => add(self.owner(plan.pieces[*i].slot)?, (*i, false)),
                Target::Asking(a) => add(a.clone(), (*i, true)),
            }
        }
        let sends = groups
            .iter()
            .map(|(addr, group)| self.send(addr, plan, group));
        let results = join_all(sends).await;
        let mut again = Vec::new();
        let mut must_wait = false;
        for ((_, group), result) in groups.iter().zip(results) {
            for ((i, _), reply) in group.iter().zip(result?) {
                if plan.pieces[*i].everywhere {
                    replies[*i] = Some(combine(replies[*i].take(), reply));
                    continue;
                }
                match redirect(&reply) {
                    Some(Redirect::Moved(slot, addr)) => {
                        self.set_owner(slot, addr);
                        again.push((*i, Target::Owner));
                    }
                    Some(Redirect::Ask(addr)) => again.push((*i, Target::Asking(addr))),
                    Some(Redirect::Wait) => {
                        must_wait = true;
                        again.push((*i, Target::Owner));
                    }
                    None => replies[*i] = Some(reply),
                }
            }
        }
        again.sort_by_key(|(i, _)| *i);
        Ok((again, must_wait))
    }

    /// Sends one node's pieces as one pipeline (`ASKING` right before the pieces that need
    /// it) and returns their replies in order. A lost or refused connection is dropped so
    /// the next call reconnects, and the slot map is read again (a killed master's slots
    /// move to its replica: without a new map every later call would go to the dead node).
    async fn send(
        &self,
        addr: &Arc<str>,
        plan: &Plan,
        group: &[(usize, bool)],
    ) -> RedisResult<Vec<Value>> {
        let mut p = redis::pipe();
        for (i, asking) in group {
            if *asking {
                p.cmd("ASKING").ignore();
            }
            p.add_command(plan.pieces[*i].cmd.clone());
        }
        p.ignore_errors();
        let reply = match self.node(addr).await {
            Ok(mut conn) => p.query_async::<Vec<Value>>(&mut conn).await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.inner.nodes.lock().await.remove(addr);
                    // The node may be gone for good (a failover promoted its replica): read
                    // the slot map again so the next call goes to the new owner.
                    if let Err(refresh) = self.refresh().await {
                        tracing::debug!(error = %refresh, "Cluster slot map not refreshed.");
                    }
                }
                Err(e)
            }
        }
    }

    /// The node owning `slot` (any known node for `None`).
    fn owner(&self, slot: Option<u16>) -> RedisResult<Arc<str>> {
        let slots = self.inner.slots.read().map_err(|_| poisoned())?;
        let found = match slot {
            Some(s) => slots.get(usize::from(s)).cloned().flatten(),
            None => slots.iter().flatten().next().cloned(),
        };
        found.ok_or_else(|| {
            RedisError::from((
                ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
                "cluster: slot not served",
            ))
        })
    }

    /// Every primary (each node owning a slot).
    fn primaries(&self) -> RedisResult<Vec<Arc<str>>> {
        let mut all: Vec<Arc<str>> = self
            .inner
            .slots
            .read()
            .map_err(|_| poisoned())?
            .iter()
            .flatten()
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Records that `slot` now lives at `addr` (from a `MOVED` reply).
    fn set_owner(&self, slot: usize, addr: Arc<str>) {
        if let Ok(mut slots) = self.inner.slots.write() {
            if let Some(s) = slots.get_mut(slot) {
                *s = Some(addr);
            }
        }
    }

    /// The connection to `addr`, made on first use (with `SELECT db` when db is not 0).
    async fn node(&self, addr: &Arc<str>) -> RedisResult<MultiplexedConnection> {
        let mut nodes = self.inner.nodes.lock().await;
        if let Some(c) = nodes.get(addr) {
            return Ok(c.clone());
        }
        let url = format!("redis://{addr}/{}", self.inner.db);
        let conn = redis::Client::open(url)?
            .get_multiplexed_async_connection_with_config(&self.inner.config)
            .await?;
        nodes.insert(addr.clone(), conn.clone());
        Ok(conn)
    }

    /// Reads the slot map (`CLUSTER SLOTS`) from a known node, else from a seed.
    async fn refresh(&self) -> RedisResult<()> {
        let known: Vec<Arc<str>> = self.inner.nodes.lock().await.keys().cloned().collect();
        let seeds = self.inner.seeds.iter().map(|s| Arc::from(s.as_str()));
        let mut last = None;
        for addr in known.into_iter().chain(seeds) {
            let reply = match self.node(&addr).await {
                Ok(mut c) => {
                    redis::cmd("CLUSTER")
                        .arg("SLOTS")
                        .query_async::<Value>(&mut c)
                        .await
                }
                Err(e) => Err(e),
            };
            match reply.and_then(|v| parse_slots(v, &addr)) {
                Ok(map) => {
                    *self.inner.slots.write().map_err(|_| poisoned())? = map;
                    return Ok(());
                }
                // A refusal (SELECT of a db the cluster lacks, authentication) is final.
                Err(e) if e.code().is_some() && !is_transient(&e) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| (ErrorKind::InvalidClientConfig, "cluster: no seed node").into()))
    }

    /// Every key matching `pattern`, by `SCAN` on every primary. Keys of a slot that moves
    /// during the scan may be missed or listed twice (as `SCAN` on one server during a
    /// rehash); duplicates are removed.
    pub(super) async fn scan_match(&self, pattern: &str) -> RedisResult<Vec<String>> {
        self.refresh().await?;
        let mut keys = Vec::new();
        for addr in self.primaries()? {
            let mut conn = self.node(&addr).await?;
            scan_node(&mut conn, pattern, &mut keys).await?;
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }
}

/// Appends every key of one server matching the glob `pattern`, walking `SCAN` to its end
/// (one server's part of [`crate::store::Store::scan_match`]).
pub(super) async fn scan_node<C: ConnectionLike>(
    conn: &mut C,
    pattern: &str,
    keys: &mut Vec<String>,
) -> RedisResult<()> {
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(());
        }
    }
}

/// The reply of a command sent to every primary from the replies so far: a refusal wins,
/// counts add up (`DBSIZE`), otherwise the first reply (`OK`, the sha of `SCRIPT LOAD`).
fn combine(so_far: Option<Value>, reply: Value) -> Value {
    match (so_far, reply) {
        (None, r) => r,
        (Some(e @ Value::ServerError(_)), _) => e,
        (Some(_), e @ Value::ServerError(_)) => e,
        (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a + b),
        (Some(first), _) => first,
    }
}

/// What a redirect-class reply asks for.
enum Redirect {
    /// The slot (index) lives at this node now.
    Moved(usize, Arc<str>),
    /// Ask this node, once, after `ASKING`.
    Ask(Arc<str>),
    /// The slot is busy or the cluster is down: wait, then send again.
    Wait,
}

/// The redirect a reply carries, if any.
fn redirect(reply: &Value) -> Option<Redirect> {
    let Value::ServerError(e) = reply else {
        return None;
    };
    let mut detail = e.details().unwrap_or_default().split_ascii_whitespace();
    match e.code() {
        "MOVED" | "ASK" => {
            let slot: usize = detail.next()?.parse().ok()?;
            let addr: Arc<str> = Arc::from(detail.next()?);
            if e.code() == "MOVED" {
                Some(Redirect::Moved(slot, addr))
            } else {
                Some(Redirect::Ask(addr))
            }
        }
        "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" => Some(Redirect::Wait),
        _ => None,
    }
}

/// The slot map of a `CLUSTER SLOTS` reply: `[start, end, [host, port, ...], replicas...]`,
/// asked of the node at `asked` (`host:port`). A node that never met another reports its
/// own host as empty: it is the host that was asked.
fn parse_slots(v: Value, asked: &str) -> RedisResult<Vec<Option<Arc<str>>>> {
    let bad = || {
        RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "CLUSTER SLOTS: unexpected reply",
        ))
    };
    let Value::Array(ranges) = v.extract_error()? else {
        return Err(bad());
    };
    let mut map = vec![None; SLOTS];
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(bad());
        };
        let int = |i: usize| parts.get(i).and_then(super::value::int);
        let (Some(start), Some(end)) = (int(0), int(1)) else {
            return Err(bad());
        };
        let Some(Value::Array(node)) = parts.get(2) else {
            return Err(bad());
        };
        let host = node
            .first()
            .cloned()
            .and_then(super::value::text)
            .ok_or_else(bad)?;
        let host = if host.is_empty() {
            asked
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(asked)
                .trim_matches(['[', ']'])
                .to_string()
        } else {
            host
        };
        let port = node.get(1).and_then(super::value::int).ok_or_else(bad)?;
        let port = u16::try_from(port).map_err(|_| bad())?;
        let addr: Arc<str> = Arc::from(address(&host, port).as_str());
        let (start, end) = (
            usize::try_from(start).map_err(|_| bad())?,
            usize::try_from(end).map_err(|_| bad())?,
        );
        for slot in map.iter_mut().take(end.min(SLOTS - 1) + 1).skip(start) {
            *slot = Some(addr.clone());
        }
    }
    Ok(map)
}

/// `host:port`, an IPv6 host bracketed.
fn address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The error of a poisoned lock (a panic elsewhere while holding it).
fn poisoned() -> RedisError {
    (ErrorKind::Client, "cluster: slot map lock poisoned").into()
}

/// Whether an error may pass if retried.
fn is_transient(e: &RedisError) -> bool {
    StoreError::Redis(e.clone()).class() == ErrorClass::Transient
}

/// A failed cluster connection; a refused `SELECT` of a db other than 0 says why.
fn connect_error(ep: &RedisEndpoint, e: RedisError) -> StoreError {
    let refused = StoreError::connect(ep, e);
    if ep.db != 0 && refused.class() == ErrorClass::Refused {
        if let StoreError::Connect { url, source } = refused {
            return StoreError::ClusterDb {
                url,
                db: ep.db,
                source,
            };
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Value {
        redis::parse_redis_value(text.as_bytes()).unwrap()
    }

    #[test]
    fn redirects_are_read_from_replies() {
        let Some(Redirect::Moved(3999, a)) = redirect(&reply("-MOVED 3999 127.0.0.1:7001\r\n"))
        else {
            panic!("MOVED");
        };
        assert_eq!(&*a, "127.0.0.1:7001");
        let Some(Redirect::Ask(a)) = redirect(&reply("-ASK 12 127.0.0.1:7002\r\n")) else {
            panic!("ASK");
        };
        assert_eq!(&*a, "127.0.0.1:7002");
        assert!(matches!(
            redirect(&reply("-TRYAGAIN x\r\n")),
            Some(Redirect::Wait)
        ));
        assert!(matches!(
            redirect(&reply("-CLUSTERDOWN x\r\n")),
            Some(Redirect::Wait)
        ));
        assert!(redirect(&reply("-WRONGTYPE x\r\n")).is_none());
        assert!(redirect(&reply("-CROSSSLOT x\r\n")).is_none());
        assert!(redirect(&reply("+OK\r\n")).is_none());
    }

    #[test]
    fn broadcast_replies_combine() {
        let sha = || Value::BulkString(b"abc".to_vec());
        assert_eq!(combine(Some(sha()), sha()), sha());
        assert_eq!(combine(Some(Value::Int(2)), Value::Int(3)), Value::Int(5));
        let e = reply("-ERR no\r\n");
        assert_eq!(combine(Some(Value::Okay), e.clone()), e);
        assert_eq!(combine(None, Value::Okay), Value::Okay);
    }

    #[test]
    fn the_slot_map_covers_each_range() {
        let v = reply(
            "*2\r\n*3\r\n:0\r\n:99\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n*3\r\n:100\r\n:16383\r\n*2\r\n$3\r\n::1\r\n:7001\r\n",
        );
        let map = parse_slots(v, "10.0.0.9:7000").unwrap();
        assert_eq!(map[0].as_deref(), Some("127.0.0.1:7000"));
        assert_eq!(map[99].as_deref(), Some("127.0.0.1:7000"));
        assert_eq!(map[100].as_deref(), Some("[::1]:7001"));
        assert_eq!(map[16383].as_deref(), Some("[::1]:7001"));
        let alone = reply("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$0\r\n\r\n:7000\r\n");
        let map = parse_slots(alone, "[::1]:7000").unwrap();
        assert_eq!(map[5].as_deref(), Some("[::1]:7000"));
    }
}
