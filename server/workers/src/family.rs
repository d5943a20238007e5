//! The per-type manager loop: one tokio task per worker family (types 1, 2/254, 3, 4,
//! 8) that adopts the sessions listed in `session_uuid:<type>`, reads all their
//! streams with one blocking `XREAD` (no sleep-polling), hands entries to each
//! session's worker, delivers the lines, and only then `XDEL`s the entries.
//!
//! Per loop: one `XREAD` round trip, per session with data one delivery round trip
//! (ANALYZER and META pipelines at once), one `XDEL` pipeline for all sessions.
//! Every [`REFRESH`] the session list is re-read; a session that is in `ended_session`
//! with all its streams empty is finished (last line pushed, file gzipped, keys cleaned).
//!
//! Shutdown loses nothing: entries are deleted only once their lines are queued; an
//! unfinished last line is saved in `worker_tail:<type>:<session>` and restored by the
//! next run; open files are closed and gzipped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fred::prelude::*;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::session::{Flow, Worker};
use super::Ctx;
use d4_core::keys::stream;
use d4_core::queues::{QueueKind, Router};

/// How often the session list is re-read.
pub const REFRESH: Duration = Duration::from_millis(250);
/// Most entries read per stream per `XREAD`.
const XREAD_COUNT: u64 = 512;
/// Most entries per `XREAD` over all streams (entries can be up to 1 MB each).
const XREAD_BUDGET: u64 = 1024;
/// `XREAD BLOCK` time in milliseconds.
const XREAD_BLOCK_MS: u64 = 250;
/// Longest pause between retries after a store error.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One stream entry as the workers see it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Stream id.
    pub id: String,
    /// Sensor uuid field.
    pub uuid: String,
    /// Payload.
    pub message: Bytes,
}

struct Sess {
    worker: Option<Worker>,
    last_ids: HashMap<u8, String>,
    tail: Option<Bytes>,
}

/// Lines a session produced, to deliver before its entries are deleted.
struct Batch {
    session: String,
    sensor: String,
    kind: Option<QueueKind>,
    lines: Vec<Bytes>,
    dels: Vec<(String, Vec<String>)>,
}

/// A worker family: the manager type (`session_uuid:<ty>`) and how to make workers.
pub struct Family {
    /// Manager type.
    pub ty: u8,
    ctx: Arc<Ctx>,
    router: Router,
    sessions: BTreeMap<String, Sess>,
    /// Items dropped by full queues since the last report, and when that was.
    trimmed: (u64, Option<Instant>),
}

/// Least time between two "queues full" warnings.
const TRIM_REPORT_EVERY: Duration = Duration::from_secs(60);

impl Family {
    /// A family for manager type `ty`.
    pub fn new(ctx: Arc<Ctx>, ty: u8) -> Self {
        let router = Router::new(ctx.queues.clone(), ctx.target_ttl);
        Family {
            ty,
            ctx,
            router,
            sessions: BTreeMap::new(),
            trimmed: (0, None),
        }
    }

    /// Runs until `stop`; then suspends every session.
    pub async fn run(mut self, stop: CancellationToken) {
        let Some(reader) = self.connect_reader(&stop).await else {
            return;
        };
        let _: Result<(), _> = self
            .ctx
            .stream
            .del(stream::working_session_uuid(self.ty))
            .await;
        info!(ty = self.ty, "Worker family started.");
        let mut last_refresh: Option<Instant> = None;
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            let result = async {
                if last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
                    self.refresh().await?;
                    last_refresh = Some(Instant::now());
                }
                self.read_once(&reader, &stop).await
            }
            .await;
            match result {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    warn!(ty = self.ty, error = %e, "Worker store error, retrying.");
                    sleep_or_stop(backoff, &stop).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.suspend_all().await;
        let _ = reader.quit().await;
        info!(ty = self.ty, "Worker family stopped.");
    }

    async fn connect_reader(&self, stop: &CancellationToken) -> Option<Client> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.ctx.stream_endpoint.connect().await {
                Ok(c) => return Some(c),
                Err(e) => warn!(ty = self.ty, error = %e, "Cannot connect the stream reader."),
            }
            if sleep_or_stop(backoff, stop).await {
                return None;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Adopts new sessions and finishes ended, drained ones.
    async fn refresh(&mut self) -> Result<(), fred::error::Error> {
        let listed: Vec<String> = self
            .ctx
            .stream
            .smembers(stream::session_uuid(self.ty))
            .await?;
        for s in listed {
            if !self.sessions.contains_key(&s) {
                self.adopt(s).await?;
            }
        }
        let names: Vec<String> = self.sessions.keys().cloned().collect();
        if names.is_empty() {
            return Ok(());
        }
        let p = self.ctx.stream.pipeline();
        for s in &names {
            let _: () = p.sismember(stream::ENDED_SESSION, s.as_str()).await?;
            for ty in Worker::all_types(self.ty) {
                let _: () = p.xlen(stream::stream(ty, s)).await?;
            }
        }
        let replies: Vec<Value> = p.all().await?;
        let per = 1 + Worker::all_types(self.ty).len();
        for (s, r) in names.iter().zip(replies.chunks(per)) {
            let ended = r.first().and_then(Value::as_bool).unwrap_or(false);
            let sess = self.sessions.get(s);
            let drained = Worker::all_types(self.ty)
                .into_iter()
                .zip(r.iter().skip(1))
                .all(|(ty, v)| v.as_u64().unwrap_or(0) <= sess.map_or(0, |x| x.kept(ty)));
            if ended && drained {
                self.finish(s).await?;
            }
        }
        Ok(())
    }

    async fn adopt(&mut self, s: String) -> Result<(), fred::error::Error> {
        let _: () = self
            .ctx
            .stream
            .sadd(stream::working_session_uuid(self.ty), s.as_str())
            .await?;
        let tail_key = stream::worker_tail(self.ty, &s);
        let tail: Option<Bytes> = self.ctx.stream.get(&tail_key).await?;
        let mut last_ids = HashMap::new();
        for ty in Worker::all_types(self.ty) {
            last_ids.insert(ty, "0".to_string());
        }
        let mut sess = Sess {
            worker: None,
            last_ids,
            tail: None,
        };
        if let Some(t) = tail {
            sess.pending_tail(t);
            let _: () = self.ctx.stream.del(&tail_key).await?;
        }
        self.sessions.insert(s, sess);
        Ok(())
    }

    /// One blocking `XREAD` over every session stream, then processing and delivery.
    async fn read_once(
        &mut self,
        reader: &Client,
        stop: &CancellationToken,
    ) -> Result<(), fred::error::Error> {
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        let mut owner: HashMap<String, (String, u8)> = HashMap::new();
        for (s, sess) in &self.sessions {
            for ty in sess.reading(self.ty) {
                let key = stream::stream(ty, s);
                ids.push(
                    sess.last_ids
                        .get(&ty)
                        .cloned()
                        .unwrap_or_else(|| "0".into()),
                );
                owner.insert(key.clone(), (s.clone(), ty));
                keys.push(key);
            }
        }
        if keys.is_empty() {
            sleep_or_stop(REFRESH, stop).await;
            return Ok(());
        }
        let count = (XREAD_BUDGET / keys.len() as u64).clamp(1, XREAD_COUNT);
        let resp: Value = reader
            .xread(Some(count), Some(XREAD_BLOCK_MS), keys, ids)
            .await?;
        let mut batches = Vec::new();
        for (key, entries) in parse_xread(resp) {
            let Some((s, ty)) = owner.get(&key).cloned() else {
                continue;
            };
            if let Some(b) = self.process(&s, ty, &key, entries).await {
                batches.push(b);
            }
        }
        self.deliver(batches, stop).await
    }

    /// Runs a session's worker over new entries of its `ty` stream.
    async fn process(&mut self, s: &str, ty: u8, key: &str, entries: Vec<Entry>) -> Option<Batch> {
        let family = self.ty;
        let ctx = self.ctx.clone();
        let sess = self.sessions.get_mut(s)?;
        let last = entries.last()?.id.clone();
        sess.last_ids.insert(ty, last);
        let sensor = entries.first().map(|e| e.uuid.clone()).unwrap_or_default();
        let worker = sess.worker_for(family, &ctx, s, &sensor);
        let mut lines = Vec::new();
        let flow = worker.entries(&ctx, ty, &entries, &mut lines).await;
        let kind = worker.queue_kind();
        if let Flow::Abort = flow {
            self.sessions.remove(s);
        }
        // The meta header entries stay until the session ends (see `meta`).
        let dels = if family == 2 && ty == 2 {
            Vec::new()
        } else {
            vec![(key.to_string(), entries.into_iter().map(|e| e.id).collect())]
        };
        Some(Batch {
            session: s.to_string(),
            sensor,
            kind,
            lines,
            dels,
        })
    }

    /// Delivers every batch (retrying store errors until stop), then deletes the entries.
    async fn deliver(
        &mut self,
        batches: Vec<Batch>,
        stop: &CancellationToken,
    ) -> Result<(), fred::error::Error> {
        if batches.is_empty() {
            return Ok(());
        }
        for b in &batches {
            self.push_lines(&b.session, &b.sensor, b.kind.as_ref(), &b.lines, stop)
                .await;
        }
        let p = self.ctx.stream.pipeline();
        for b in &batches {
            for (key, ids) in &b.dels {
                let _: () = p.xdel(key.as_str(), ids.clone()).await?;
            }
        }
        let _: Vec<Value> = p.all().await?;
        Ok(())
    }

    async fn push_lines(
        &mut self,
        session: &str,
        sensor: &str,
        kind: Option<&QueueKind>,
        lines: &[Bytes],
        stop: &CancellationToken,
    ) {
        let Some(kind) = kind else { return };
        if lines.is_empty() {
            return;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.router.deliver(sensor, kind, lines).await {
                Ok(d) => {
                    self.note_trimmed(d.trimmed);
                    return;
                }
                Err(e) if stop.is_cancelled() => {
                    error!(%session, error = %e, lost = lines.len(), "Lines not queued at shutdown.");
                    return;
                }
                Err(e) => {
                    warn!(%session, error = %e, "Queue delivery failed, retrying.");
                    sleep_or_stop(backoff, stop).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
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

    /// End of a session: final lines, files, and key cleanup.
    async fn finish(&mut self, s: &str) -> Result<(), fred::error::Error> {
        let Some(mut sess) = self.sessions.remove(s) else {
            return Ok(());
        };
        if let Some(w) = sess.worker.as_mut() {
            let mut lines = Vec::new();
            w.finish(&self.ctx, &mut lines).await;
            let kind = w.queue_kind();
            let sensor = w.sensor().to_string();
            let never = CancellationToken::new();
            self.push_lines(s, &sensor, kind.as_ref(), &lines, &never)
                .await;
        }
        let p = self.ctx.stream.pipeline();
        let _: () = p.srem(stream::ENDED_SESSION, s).await?;
        let _: () = p.srem(stream::working_session_uuid(self.ty), s).await?;
        let _: () = p.del(stream::worker_tail(self.ty, s)).await?;
        for ty in Worker::all_types(self.ty) {
            let _: () = p.srem(stream::session_uuid(ty), s).await?;
            let _: () = p.hdel(stream::map_type_session_uuid(ty), s).await?;
            let _: () = p.del(stream::stream(ty, s)).await?;
        }
        let _: Vec<Value> = p.all().await?;
        info!(ty = self.ty, session = %s, "Session finished.");
        Ok(())
    }

    /// Worker stop: save unfinished lines, close files.
    async fn suspend_all(&mut self) {
        let sessions = std::mem::take(&mut self.sessions);
        for (s, mut sess) in sessions {
            let Some(w) = sess.worker.as_mut() else {
                continue;
            };
            let mut items = Vec::new();
            let tail = w.suspend(&mut items).await;
            let (kind, sensor) = (w.queue_kind(), w.sensor().to_string());
            // Shutdown: one attempt, then log what could not be queued.
            let stopped = CancellationToken::new();
            stopped.cancel();
            self.push_lines(&s, &sensor, kind.as_ref(), &items, &stopped)
                .await;
            if let Some(tail) = tail {
                let key = stream::worker_tail(self.ty, &s);
                let r: Result<(), _> = self.ctx.stream.set(&key, tail, None, None, false).await;
                if let Err(e) = r {
                    error!(session = %s, error = %e, "Unfinished line lost at shutdown.");
                }
            }
        }
    }
}

impl Sess {
    fn kept(&self, ty: u8) -> u64 {
        self.worker.as_ref().map_or(0, |w| w.kept(ty))
    }

    fn reading(&self, family: u8) -> Vec<u8> {
        match &self.worker {
            Some(w) => w.reading(),
            None => vec![Worker::first_type(family)],
        }
    }

    fn worker_for(&mut self, family: u8, ctx: &Ctx, session: &str, sensor: &str) -> &mut Worker {
        let w = self
            .worker
            .get_or_insert_with(|| Worker::new(family, ctx, session, sensor));
        if let Some(t) = self.tail.take() {
            w.restore(&t);
        }
        w
    }

    fn pending_tail(&mut self, t: Bytes) {
        self.tail = Some(t);
    }
}

/// Parses an `XREAD` reply (RESP2 arrays or RESP3 maps) into (stream key, entries).
/// Malformed parts are skipped, never a panic.
pub fn parse_xread(v: Value) -> Vec<(String, Vec<Entry>)> {
    let streams: Vec<(Value, Value)> = match v {
        Value::Array(items) => items.into_iter().filter_map(pair).collect(),
        Value::Map(m) => m
            .inner()
            .into_iter()
            .map(|(k, v)| (Value::Bytes(k.into_bytes()), v))
            .collect(),
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = key.as_string()?;
            let Value::Array(entries) = entries else {
                return Some((key, Vec::new()));
            };
            Some((key, entries.into_iter().filter_map(parse_entry).collect()))
        })
        .collect()
}

fn pair(v: Value) -> Option<(Value, Value)> {
    match v {
        Value::Array(mut a) if a.len() == 2 => {
            let second = a.pop()?;
            let first = a.pop()?;
            Some((first, second))
        }
        _ => None,
    }
}

fn parse_entry(v: Value) -> Option<Entry> {
    let (id, fields) = pair(v)?;
    let mut e = Entry {
        id: id.as_string()?,
        uuid: String::new(),
        message: Bytes::new(),
    };
    let flat: Vec<(Value, Value)> = match fields {
        Value::Array(a) => {
            let mut it = a.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }
        Value::Map(m) => m
            .inner()
            .into_iter()
            .map(|(k, v)| (Value::Bytes(k.into_bytes()), v))
            .collect(),
        _ => Vec::new(),
    };
    for (k, v) in flat {
        match k.as_bytes() {
            Some(b) if b == stream::FIELD_MESSAGE.as_bytes() => {
                e.message = v.into_bytes().unwrap_or_default();
            }
            Some(b) if b == stream::FIELD_UUID.as_bytes() => {
                e.uuid = v.as_string().unwrap_or_default();
            }
            _ => {}
        }
    }
    Some(e)
}

/// Sleeps `d` unless `stop` fires first; true if stopped.
pub async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
