//! The per-type manager loop: one tokio task per worker family ([`Kind`]: types 1,
//! 2/254, 3, 4, 8) that claims and adopts the sessions listed in `session_uuid:<type>`
//! (one worker per session when several share the store, see [`claim`]), reads all
//! their streams with one blocking `XREAD` (on the family's own STREAM connection, no
//! sleep-polling), hands entries to each session's worker, delivers the lines, and only
//! then `XDEL`s the entries.
//!
//! Per loop: one `XREAD` round trip, one delivery round trip for all the sessions with
//! data (per session, [`Router`]: ANALYZER and META pipelines; all sessions' in flight
//! together), one `XDEL` pipeline for all sessions.
//! While a loop delivers, the next loop's `XREAD` is already sent, so the STREAM and the
//! ANALYZER stores work at the same time.
//! Every [`REFRESH`] the session list is re-read; a session that is in `ended_session`
//! with all its streams empty is finished (last line pushed, file gzipped, keys cleaned).
//! With each `XDEL` of delivered entries the session's unfinished last line is saved in
//! `worker_tail:<type>:<session>`, so a worker taking the session over after a crash
//! goes on with it.
//!
//! Store failures are retried with the one [`Backoff`], which ends at once on shutdown.
//! Shutdown loses nothing that was read: entries are deleted only once their lines are
//! queued. A batch whose lines cannot be queued before the stop (analyzer store down)
//! keeps its entries, and the session's worker saves its state from before that batch, so
//! the next run reads the batch again (the session's files may then hold those bytes
//! twice; the queues get each line once). A delivery still unanswered [`STOP_GRACE`]
//! after the stop is abandoned the same way (if the store did apply it, those lines are
//! queued twice). The unfinished last line is saved and restored by the next run; open
//! files are closed and gzipped, and the claims given up. Known gap: the last line of a session that ends while the analyzer store is
//! down and the worker is stopped is logged as lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::claim;
use super::dispatch::Kind;
use super::entry::{parse_xread, Entry};
use super::flow::Flow;
use super::session::Worker;
use crate::ctx::Ctx;
use d4_core::keys::stream;
use d4_core::queues::{QueueKind, Router};
use d4_core::store::{cmd, pipe, value, Backoff, Cmd, Policy, Store, StoreError, Value};
use d4_proto::DataType;

/// How often the session list is re-read.
pub(crate) const REFRESH: Duration = Duration::from_millis(250);
/// Most entries read per stream per `XREAD`.
const XREAD_COUNT: u64 = 512;
/// Most entries per `XREAD` over all streams (entries can be up to 1 MB each).
const XREAD_BUDGET: u64 = 1024;
/// `XREAD BLOCK` time.
const XREAD_BLOCK: Duration = Duration::from_millis(250);
/// How long a delivery already sent may still take once shutdown is requested: long
/// enough for a live store, short enough to leave the rest of the shutdown deadline.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Least time between two "queues full" warnings.
const TRIM_REPORT_EVERY: Duration = Duration::from_secs(60);

struct Sess {
    worker: Option<Worker>,
    last_ids: HashMap<u8, String>,
    /// A tail saved by a previous run, restored into the worker when it is made.
    tail: Option<Bytes>,
    /// Set when a batch's lines could not be queued before shutdown: the worker state
    /// from before that batch, saved instead of the current one (its entries stay).
    rollback: Option<Option<Bytes>>,
}

/// Lines a session produced, to deliver before its entries are deleted.
struct Batch {
    session: String,
    sensor: String,
    kind: Option<QueueKind>,
    /// Shared with the push in flight ([`Family::push_at_once`]), not copied.
    lines: Arc<Vec<Bytes>>,
    dels: Vec<(String, Vec<String>)>,
    /// The worker's state before this batch.
    checkpoint: Option<Bytes>,
    /// The worker's state after this batch, saved with the deletion of its entries.
    after: Option<Bytes>,
}

/// Which session and stream type each stream key of an `XREAD` belongs to.
type Owners = HashMap<String, (String, u8)>;

/// An `XREAD` of every session stream from the last ids read, and the owners of its keys.
struct Read {
    cmd: Cmd,
    owners: Owners,
}

/// A worker family: the manager type (`session_uuid:<ty>`) and its sessions.
pub(crate) struct Family {
    kind: Kind,
    ty: u8,
    ctx: Arc<Ctx>,
    router: Router,
    sessions: BTreeMap<String, Sess>,
    /// Entries whose lines are queued but whose `XDEL` failed; deleted first next loop.
    pending_dels: Vec<(String, Vec<String>)>,
    /// Unfinished last line of each session after its delivered batches, saved with
    /// [`Self::pending_dels`].
    pending_tails: HashMap<String, Option<Bytes>>,
    /// When the claims were last renewed.
    last_renew: Instant,
    /// Items dropped by full queues since the last report, and when that was.
    trimmed: (u64, Option<Instant>),
    /// The reply of the `XREAD` sent while the previous batch was delivered, not yet
    /// processed (its entries are still in the streams).
    prefetched: Option<(Value, Owners)>,
}

impl Family {
    /// A family of `kind`.
    pub(crate) fn new(ctx: Arc<Ctx>, kind: Kind) -> Self {
        let router = Router::new(ctx.queues.clone(), ctx.target_ttl);
        Family {
            kind,
            ty: kind.ty(),
            ctx,
            router,
            sessions: BTreeMap::new(),
            pending_dels: Vec::new(),
            pending_tails: HashMap::new(),
            last_renew: Instant::now(),
            trimmed: (0, None),
            prefetched: None,
        }
    }

    /// Runs until `stop`; then suspends every session. Fails only if the stream reader
    /// cannot connect for a reason other than the store being down.
    pub(crate) async fn run(mut self, stop: CancellationToken) -> Result<(), StoreError> {
        let policy = Policy::blocking(XREAD_BLOCK);
        let ep = self.ctx.stream_endpoint.clone();
        let Some(reader) = Store::connect_until(&ep, policy, "Redis_STREAM reader", &stop).await?
        else {
            return Ok(());
        };
        info!(ty = self.ty, worker_id = %self.ctx.worker_id, "Worker family started.");
        let mut last_refresh: Option<Instant> = None;
        let mut backoff = Backoff::default();
        while !stop.is_cancelled() {
            match self.step(&reader, &mut last_refresh, &stop).await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    warn!(ty = self.ty, error = %e, retry_in = ?backoff.delay(), "Worker store error, retrying.");
                    backoff.wait(&stop).await;
                }
            }
        }
        self.suspend_all().await;
        info!(ty = self.ty, "Worker family stopped.");
        Ok(())
    }

    /// One loop: pending deletes, the session list when due, one read and its delivery.
    async fn step(
        &mut self,
        reader: &Store,
        last_refresh: &mut Option<Instant>,
        stop: &CancellationToken,
    ) -> Result<(), StoreError> {
        self.flush_dels().await?;
        if last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.refresh(stop).await?;
            *last_refresh = Some(Instant::now());
        }
        self.read_once(reader, stop).await
    }

    /// Renews the claims when due, claims and adopts new sessions, and finishes ended,
    /// drained ones.
    async fn refresh(&mut self, stop: &CancellationToken) -> Result<(), StoreError> {
        if self.last_renew.elapsed() >= claim::RENEW {
            self.renew_claims().await?;
        }
        let listed: Vec<String> = self
            .ctx
            .stream
            .query(&Cmd::smembers(stream::session_uuid(self.ty)))
            .await?;
        let new: Vec<String> = listed
            .into_iter()
            .filter(|s| !self.sessions.contains_key(s))
            .collect();
        let me = self.ctx.worker_id.as_str();
        for s in claim::take(&self.ctx.stream, self.ty, me, new).await? {
            self.adopt(s).await?;
        }
        let names: Vec<String> = self.sessions.keys().cloned().collect();
        if names.is_empty() {
            return Ok(());
        }
        let types = self.kind.streams();
        let mut p = pipe();
        for s in &names {
            p.sismember(stream::ENDED_SESSION, s.as_str());
            for ty in &types {
                p.cmd("XLEN").arg(stream::stream(ty, s));
            }
        }
        let replies: Vec<Value> = self.ctx.stream.run(&p).await?;
        for (s, r) in names.iter().zip(replies.chunks(1 + types.len())) {
            let ended = r.first().is_some_and(value::flag);
            let sess = self.sessions.get(s);
            let drained = types.iter().zip(r.iter().skip(1)).all(|(ty, v)| {
                value::int(v).unwrap_or(0) <= sess.map_or(0, |x| x.kept(*ty)) as i64
            });
            if ended && drained {
                self.finish(s, stop).await?;
            }
        }
        Ok(())
    }

    /// Renews this worker's claims; a session whose claim was lost (this worker stalled
    /// past the claim, another took it over) is dropped without saving anything.
    async fn renew_claims(&mut self) -> Result<(), StoreError> {
        let held: Vec<String> = self.sessions.keys().cloned().collect();
        let me = self.ctx.worker_id.as_str();
        let lost = claim::renew(&self.ctx.stream, self.ty, me, &held).await?;
        self.last_renew = Instant::now();
        if !lost.is_empty() {
            // A prefetched reply may hold entries of a lost session, read from where this
            // worker was; if the session came back, it must read from its claim again.
            self.prefetched = None;
        }
        for s in lost {
            warn!(ty = self.ty, session = %s, "Claim lost: another worker reads this session now.");
            self.sessions.remove(&s);
            self.pending_tails.remove(&s);
        }
        Ok(())
    }

    /// Starts reading a claimed session, with the unfinished line saved by its previous
    /// reader (kept in the store until the next batch replaces it).
    async fn adopt(&mut self, s: String) -> Result<(), StoreError> {
        let working = Cmd::sadd(stream::working_session_uuid(self.ty), s.as_str());
        self.ctx.stream.query::<()>(&working).await?;
        let tail_key = stream::worker_tail(self.ty, &s);
        let tail: Option<Vec<u8>> = self.ctx.stream.query(&Cmd::get(&tail_key)).await?;
        let last_ids = self
            .kind
            .streams()
            .into_iter()
            .map(|ty| (ty, "0".to_string()))
            .collect();
        let mut sess = Sess {
            worker: None,
            last_ids,
            tail: None,
            rollback: None,
        };
        sess.tail = tail.map(Bytes::from);
        self.sessions.insert(s, sess);
        Ok(())
    }

    /// One blocking `XREAD` over every session stream (or the reply prefetched by the
    /// previous loop), then processing and delivery. While a batch is delivered, the next
    /// `XREAD` is already on its way: the STREAM store reads the next entries while the
    /// ANALYZER store takes the lines, instead of one waiting for the other. Lines stay in
    /// order: a batch is processed only after the previous one was delivered, and entries
    /// are deleted only once their lines are queued.
    async fn read_once(
        &mut self,
        reader: &Store,
        stop: &CancellationToken,
    ) -> Result<(), StoreError> {
        self.ctx.metrics.sessions(self.ty, self.sessions.len());
        let (resp, owners) = match self.prefetched.take() {
            Some(p) => p,
            None => {
                let Some(read) = self.next_read() else {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(REFRESH) => {}
                    }
                    return Ok(());
                };
                (reader.query(&read.cmd).await?, read.owners)
            }
        };
        let mut batches = Vec::new();
        for (key, entries) in parse_xread(resp) {
            let Some((s, ty)) = owners.get(&key).cloned() else {
                continue;
            };
            if let Some(b) = self.process(&s, ty, &key, entries).await {
                batches.push(b);
            }
        }
        // Nothing read: the next loop refreshes the session list before it reads again.
        let next = if batches.is_empty() {
            None
        } else {
            self.next_read()
        };
        let Some(next) = next else {
            return self.deliver(batches, stop).await;
        };
        let (delivered, resp) = tokio::join!(
            self.deliver(batches, stop),
            reader.query::<Value>(&next.cmd)
        );
        delivered?;
        self.prefetched = Some((resp?, next.owners));
        Ok(())
    }

    /// The `XREAD` of every stream the sessions read now, from their last ids; `None`
    /// when there is no session.
    fn next_read(&self) -> Option<Read> {
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        let mut owners = Owners::new();
        for (s, sess) in &self.sessions {
            for ty in sess.reading(self.kind) {
                let key = stream::stream(ty, s);
                ids.push(
                    sess.last_ids
                        .get(&ty)
                        .cloned()
                        .unwrap_or_else(|| "0".into()),
                );
                owners.insert(key.clone(), (s.clone(), ty));
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return None;
        }
        let count = (XREAD_BUDGET / keys.len() as u64).clamp(1, XREAD_COUNT);
        let mut cmd = cmd("XREAD");
        cmd.arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(XREAD_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&keys)
            .arg(&ids);
        Some(Read { cmd, owners })
    }

    /// Runs a session's worker over new entries of its `ty` stream.
    async fn process(&mut self, s: &str, ty: u8, key: &str, entries: Vec<Entry>) -> Option<Batch> {
        let kind = self.kind;
        let ctx = self.ctx.clone();
        let sess = self.sessions.get_mut(s)?;
        let last = entries.last()?.id.clone();
        sess.last_ids.insert(ty, last);
        let sensor = entries.first().map(|e| e.uuid.clone()).unwrap_or_default();
        let worker = sess.worker_for(kind, &ctx, s, &sensor);
        let checkpoint = worker.checkpoint();
        let mut lines = Vec::new();
        let flow = worker.entries(&ctx, ty, &entries, &mut lines).await;
        let after = worker.checkpoint();
        ctx.metrics.processed(ty, entries.len(), lines.len());
        let queue = worker.queue_kind();
        if let Flow::Abort = flow {
            self.sessions.remove(s);
        }
        // The meta header entries stay until the session ends (see `meta`).
        let dels = if kind == Kind::Meta && ty == DataType::META_HEADER.0 {
            Vec::new()
        } else {
            vec![(key.to_string(), entries.into_iter().map(|e| e.id).collect())]
        };
        Some(Batch {
            session: s.to_string(),
            sensor,
            kind: queue,
            lines: Arc::new(lines),
            dels,
            checkpoint,
            after,
        })
    }

    /// Delivers every batch (retrying store errors until stop), then deletes the entries
    /// of the delivered ones. A batch not delivered at stop keeps its entries and rolls
    /// its session back (see the module docs).
    async fn deliver(
        &mut self,
        batches: Vec<Batch>,
        stop: &CancellationToken,
    ) -> Result<(), StoreError> {
        let Some(at_once) = self.push_at_once(&batches, stop).await else {
            // Abandoned at shutdown: nothing is deleted, every session rolls back.
            for b in batches {
                if let Some(sess) = self.sessions.get_mut(&b.session) {
                    sess.rollback.get_or_insert(b.checkpoint);
                }
            }
            warn!(ty = self.ty, "Queue delivery still waiting for the store at shutdown; abandoned, the entries are kept for the next run.");
            return Ok(());
        };
        for (b, queued) in batches.into_iter().zip(at_once) {
            if queued
                || self
                    .push_lines(&b.session, &b.sensor, b.kind.as_ref(), &b.lines, stop)
                    .await
            {
                self.pending_dels.extend(b.dels);
                self.pending_tails.insert(b.session, b.after);
            } else if let Some(sess) = self.sessions.get_mut(&b.session) {
                warn!(session = %b.session, lines = b.lines.len(), "Lines not queued at shutdown: their entries are kept for the next run.");
                sess.rollback.get_or_insert(b.checkpoint);
            }
        }
        self.flush_dels().await
    }

    /// One attempt at every batch's delivery, all in flight together: with many sessions,
    /// one round trip per loop instead of one per session (each session has one batch per
    /// loop, so its lines keep their order). Per batch, whether its lines are queued (a
    /// batch without queue or lines counts as queued); a batch that failed is retried on
    /// its own by [`Self::push_lines`]. `None` when still unanswered [`STOP_GRACE`] after
    /// the stop.
    async fn push_at_once(
        &mut self,
        batches: &[Batch],
        stop: &CancellationToken,
    ) -> Option<Vec<bool>> {
        let mut queued: Vec<bool> = batches
            .iter()
            .map(|b| b.kind.is_none() || b.lines.is_empty())
            .collect();
        let mut pushes = tokio::task::JoinSet::new();
        for (i, b) in batches.iter().enumerate() {
            let Some(kind) = b.kind.clone().filter(|_| !b.lines.is_empty()) else {
                continue;
            };
            // A failure here leaves the batch to push_lines, which retries it.
            let Ok(targets) = self.router.targets(&b.sensor, &kind).await else {
                continue;
            };
            let queues = self.router.queues().clone();
            let lines = b.lines.clone();
            pushes.spawn(async move {
                let r = queues.push(&kind, &targets, &lines).await;
                (i, kind, r)
            });
        }
        loop {
            let next = tokio::select! {
                r = pushes.join_next() => r,
                _ = grace_after(stop) => return None,
            };
            let Some(done) = next else {
                return Some(queued);
            };
            if let Ok((i, kind, Ok(d))) = done {
                self.ctx.metrics.delivered(&kind, d);
                self.note_trimmed(d.trimmed);
                if let Some(q) = queued.get_mut(i) {
                    *q = true;
                }
            }
        }
    }

    /// Deletes the entries whose lines are queued and saves their sessions' unfinished
    /// last lines, in one pipeline.
    async fn flush_dels(&mut self) -> Result<(), StoreError> {
        if self.pending_dels.is_empty() && self.pending_tails.is_empty() {
            return Ok(());
        }
        let mut p = pipe();
        for (key, ids) in &self.pending_dels {
            p.cmd("XDEL").arg(key).arg(ids).ignore();
        }
        for (s, tail) in &self.pending_tails {
            let key = stream::worker_tail(self.ty, s);
            match tail {
                Some(t) => p.set(key, t.as_ref()).ignore(),
                None => p.del(key).ignore(),
            };
        }
        self.ctx.stream.run::<()>(&p).await?;
        self.pending_dels.clear();
        self.pending_tails.clear();
        Ok(())
    }

    /// Queues `lines`, retrying with back-off until they are queued (true) or `stop`
    /// fires first (false; once stopped, one attempt is made).
    async fn push_lines(
        &mut self,
        session: &str,
        sensor: &str,
        kind: Option<&QueueKind>,
        lines: &[Bytes],
        stop: &CancellationToken,
    ) -> bool {
        let Some(kind) = kind else { return true };
        if lines.is_empty() {
            return true;
        }
        let mut backoff = Backoff::default();
        loop {
            let attempt = tokio::select! {
                r = self.router.deliver(sensor, kind, lines) => r,
                _ = grace_after(stop) => {
                    warn!(%session, "Queue delivery still waiting for the store at shutdown; abandoned.");
                    return false;
                }
            };
            match attempt {
                Ok(d) => {
                    self.ctx.metrics.delivered(kind, d);
                    self.note_trimmed(d.trimmed);
                    return true;
                }
                Err(e) if stop.is_cancelled() => {
                    warn!(%session, error = %e, "Queue delivery failed at shutdown.");
                    return false;
                }
                Err(e) => {
                    warn!(%session, error = %e, retry_in = ?backoff.delay(), "Queue delivery failed, retrying.");
                    if !backoff.wait(stop).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Counts items dropped by full queues; warns at most once a minute.
    fn note_trimmed(&mut self, n: u64) {
        self.trimmed.0 += n;
        let due = self
            .trimmed
            .1
            .is_none_or(|t| t.elapsed() >= TRIM_REPORT_EVERY);
        if self.trimmed.0 > 0 && due {
            warn!(
                ty = self.ty,
                dropped = self.trimmed.0,
                "Analyzer queues full: oldest items dropped."
            );
            self.trimmed = (0, Some(Instant::now()));
        }
    }

    /// End of a session: final lines, files, and key cleanup. If `stop` fires before the
    /// final lines are queued, the keys stay (the next run cleans them up).
    async fn finish(&mut self, s: &str, stop: &CancellationToken) -> Result<(), StoreError> {
        let Some(mut sess) = self.sessions.remove(s) else {
            return Ok(());
        };
        self.pending_tails.remove(s);
        if let Some(w) = sess.worker.as_mut() {
            let mut lines = Vec::new();
            w.finish(&self.ctx, &mut lines).await;
            let kind = w.queue_kind();
            let sensor = w.sensor().to_string();
            if !self
                .push_lines(s, &sensor, kind.as_ref(), &lines, stop)
                .await
            {
                error!(session = %s, lost = lines.len(), "Last lines of the session not queued at shutdown.");
                return Ok(());
            }
        } else if sess.tail.is_some() {
            // Only the entries carry the sensor uuid the queues are chosen by.
            error!(session = %s, "Unfinished last line dropped: no entry left to name its sensor.");
        }
        let mut p = pipe();
        p.srem(stream::ENDED_SESSION, s)
            .ignore()
            .srem(stream::working_session_uuid(self.ty), s)
            .ignore()
            .del(stream::worker_tail(self.ty, s))
            .ignore()
            .del(stream::worker_claim(self.ty, s))
            .ignore();
        for ty in self.kind.streams() {
            p.srem(stream::session_uuid(ty), s)
                .ignore()
                .hdel(stream::map_type_session_uuid(ty), s)
                .ignore()
                .del(stream::stream(ty, s))
                .ignore();
        }
        self.ctx.stream.run::<()>(&p).await?;
        info!(ty = self.ty, session = %s, "Session finished.");
        Ok(())
    }

    /// Worker stop: close files, save each session's unfinished data (or, for a session
    /// rolled back, its state before the batch that was not queued).
    async fn suspend_all(&mut self) {
        // Best effort: deletes left over from a failed XDEL.
        if let Err(e) = self.flush_dels().await {
            warn!(ty = self.ty, error = %e, "Delivered entries not deleted: the next run reads them again.");
        }
        // Shutdown: one attempt per delivery, then log what could not be queued.
        let stopped = CancellationToken::new();
        stopped.cancel();
        let sessions = std::mem::take(&mut self.sessions);
        for (s, mut sess) in sessions {
            let tail = match sess.worker.as_mut() {
                Some(w) => {
                    let mut items = Vec::new();
                    let tail = w.suspend(&mut items).await;
                    let (kind, sensor) = (w.queue_kind(), w.sensor().to_string());
                    if !self
                        .push_lines(&s, &sensor, kind.as_ref(), &items, &stopped)
                        .await
                    {
                        error!(session = %s, lost = items.len(), "Items not queued at shutdown.");
                    }
                    sess.rollback.take().unwrap_or(tail)
                }
                // Adopted but nothing read yet: the saved tail goes back.
                None => sess.tail.take(),
            };
            if let Some(tail) = tail {
                let key = stream::worker_tail(self.ty, &s);
                let r = self
                    .ctx
                    .stream
                    .query::<()>(&Cmd::set(&key, tail.as_ref()))
                    .await;
                if let Err(e) = r {
                    error!(session = %s, error = %e, "Unfinished line lost at shutdown.");
                }
            }
            let me = self.ctx.worker_id.as_str();
            if let Err(e) = claim::give_up(&self.ctx.stream, self.ty, me, &s).await {
                warn!(session = %s, error = %e, "Claim not given up: another worker takes the session when it expires.");
            }
        }
    }
}

/// Fires [`STOP_GRACE`] after `stop`.
async fn grace_after(stop: &CancellationToken) {
    stop.cancelled().await;
    tokio::time::sleep(STOP_GRACE).await;
}

impl Sess {
    fn kept(&self, ty: u8) -> u64 {
        self.worker.as_ref().map_or(0, |w| w.kept(ty))
    }

    fn reading(&self, kind: Kind) -> Vec<u8> {
        match &self.worker {
            Some(w) => w.reading(),
            None => vec![kind.ty()],
        }
    }

    fn worker_for(&mut self, kind: Kind, ctx: &Ctx, session: &str, sensor: &str) -> &mut Worker {
        let w = self
            .worker
            .get_or_insert_with(|| Worker::new(kind, ctx, session, sensor));
        if let Some(t) = self.tail.take() {
            w.restore(&t);
        }
        w
    }
}
