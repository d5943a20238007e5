//! `pdns-ingestion`: pop a batch from the D4 analyzer queue, write it, repeat (STYLE §9).
//!
//! - `queue`: crash-safe batched FIFO pops of `analyzer:8:<uuid>` through this ingestion's
//!   processing list, their acknowledgements and give-backs.
//! - [`run`]: connects both stores, then runs the loop until shutdown.
//!
//! A popped batch sits in the processing list until it is written, then is acknowledged
//! (the list deleted) before the next pop; a batch left there by a crash is written first at
//! the next start. A transient store error (connection, timeout, `LOADING`, `MISCONF`...) is
//! retried with capped backoff (reset after a success) for as long as it takes; the lines stay
//! in memory meanwhile. A command the store refuses (`WRONGTYPE`, `CROSSSLOT`, `NOPERM`...)
//! would be refused again: the ingestion logs it at ERROR with the command, its key and what
//! to fix, leaves the batch in the processing list (written first at the next start, nothing
//! is dropped) and stops with [`StoreRefused`] (`pdns-ingestion` exits with
//! [`EXIT_STORE_REFUSED`]). On shutdown an unwritten batch is pushed back to the tail of the
//! queue, so it is read first again later. Bad lines are counted in `stats:rejected` and
//! logged once per batch.

pub mod metrics;
mod queue;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use d4_core::store::{Backoff, Policy, Store};
use tokio_util::sync::CancellationToken;

use crate::model::config::AnalyzerConfig;
use crate::write::{Batch, WriteError, Writer};
use metrics::Metrics;
use queue::Queue;

/// Reply timeout of both connections: short enough that a write stuck on a dead store ends
/// well within the shutdown deadline, so an unwritten batch can still be given back.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// First delay of the retry back-off.
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// Ingestion id when neither `--id` nor `[global] ingestion-id` names one.
pub const DEFAULT_ID: &str = "default";

/// Exit status of `pdns-ingestion` after [`StoreRefused`]: restarting it without fixing the
/// store gives the same refusal (a service manager should not restart it on this status).
pub const EXIT_STORE_REFUSED: i32 = 3;

/// The store refused a batch: the ingestion stopped with the batch in its processing list.
#[derive(Debug, thiserror::Error)]
#[error("the pDNS store refused a batch; it stays in {processing} and is written first at the next start. What to do: {hint}")]
pub struct StoreRefused {
    /// The processing list holding the batch.
    processing: String,
    /// What the operator can do.
    hint: &'static str,
    source: WriteError,
}

/// Tunables of the loop.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lines per pop.
    pub batch: usize,
    /// Sleep when the queue is empty.
    pub idle: Duration,
    /// Longest backoff between retries.
    pub max_backoff: Duration,
    /// Stop when the queue is empty (for imports and benchmarks) instead of waiting.
    pub drain: bool,
    /// Names this ingestion's processing list; ingestions sharing a queue need distinct ids.
    pub id: String,
    /// How often the queue's registration on the D4 server is checked (`watch`).
    pub queue_check: Duration,
    /// Metrics to update (`--metrics`), if any.
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 2000,
            idle: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            drain: false,
            id: DEFAULT_ID.to_string(),
            queue_check: Duration::from_secs(60),
            metrics: None,
        }
    }
}

/// Running totals.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Lines popped.
    pub lines: u64,
    /// Records written.
    pub processed: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Lines excluded.
    pub excluded: u64,
}

/// Sleeps `d`; false when shutdown was requested.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => !stop.is_cancelled(),
        _ = stop.cancelled() => false,
    }
}

/// Connects to the D4 queue server and the pDNS store (waiting for each as long as it takes),
/// then ingests until `stop` fires (or the queue is empty with `opts.drain`).
pub async fn run(
    cfg: &AnalyzerConfig,
    opts: &Options,
    stop: &CancellationToken,
) -> anyhow::Result<Totals> {
    let (uuid, d4) = cfg.queue()?;
    let policy = Policy::DAEMON.with_response_timeout(STORE_TIMEOUT);
    let Some(d4_store) = Store::connect_until(d4, policy, "D4 server", stop).await? else {
        return Ok(Totals::default());
    };
    let Some(store) = Store::connect_until(&cfg.store, policy, "pDNS store", stop).await? else {
        return Ok(Totals::default());
    };
    if let Some(meta) = cfg.metadata_endpoint() {
        let watcher = stop.child_token();
        tokio::spawn(watch::watch(
            meta,
            uuid.to_string(),
            opts.queue_check,
            watcher,
        ));
    }
    let mut queue = Queue::new(d4_store, uuid, &opts.id);
    tracing::info!(queue = queue.key(), processing = queue.processing_key(), d4_server = %d4.url(), store = %cfg.store.url(), "Starting and using FIFO {} from D4 server.", queue.key());
    Ok(ingest(cfg, &mut queue, &Writer::new(store), opts, stop).await?)
}

/// Runs until `stop` fires (or the queue is empty with `opts.drain`), or until the store
/// refuses a batch.
async fn ingest(
    cfg: &AnalyzerConfig,
    queue: &mut Queue,
    writer: &Writer,
    opts: &Options,
    stop: &CancellationToken,
) -> Result<Totals, StoreRefused> {
    let mut totals = Totals::default();
    let mut last_log = Instant::now();
    let mut logged = Totals::default();
    // A batch left in the processing list by an interrupted run is written first.
    let mut recovering = true;
    loop {
        let Some(lines) = pop(queue, opts, stop, &mut recovering).await else {
            break;
        };
        if lines.is_empty() {
            if opts.drain || !sleep_or_stop(opts.idle, stop).await {
                break;
            }
            continue;
        }
        let batch = Batch::from_lines(lines.iter().map(Vec::as_slice), cfg);
        report_rejects(&batch);
        let started = Instant::now();
        match write(cfg, writer, &batch, opts, stop).await {
            Written::Yes => {}
            Written::Stopped => {
                give_back(queue, &lines).await;
                break;
            }
            Written::Refused(e) => return Err(refused(queue, e, opts)),
        }
        if !ack(queue, opts, stop).await {
            break;
        }
        if let Some(m) = &opts.metrics {
            m.batch_written(lines.len(), &batch, started.elapsed());
        }
        totals.lines += lines.len() as u64;
        totals.processed += batch.processed as u64;
        totals.rejected += batch.rejected_total() as u64;
        totals.excluded += batch.excluded as u64;
        if last_log.elapsed() >= Duration::from_secs(10) {
            log_rate(&totals, &logged, last_log.elapsed());
            logged = totals.clone();
            last_log = Instant::now();
        }
    }
    Ok(totals)
}

/// Pops with retry; `None` on shutdown. While `recovering` (at start and after a failed pop,
/// whose moves may have partly happened) the processing list is read first; when it is empty
/// the pop goes on to the queue.
async fn pop(
    queue: &mut Queue,
    opts: &Options,
    stop: &CancellationToken,
    recovering: &mut bool,
) -> Option<Vec<Vec<u8>>> {
    let mut backoff = Backoff::new(MIN_BACKOFF, opts.max_backoff);
    loop {
        if stop.is_cancelled() {
            return None;
        }
        let res = if *recovering {
            queue.recover().await
        } else {
            queue.pop(opts.batch).await
        };
        match res {
            Ok(lines) if *recovering => {
                *recovering = false;
                if !lines.is_empty() {
                    tracing::warn!(
                        lines = lines.len(),
                        processing = queue.processing_key(),
                        "Writing again the batch of an interrupted run."
                    );
                    return Some(lines);
                }
            }
            Ok(lines) => {
                if let Some(m) = &opts.metrics {
                    m.queue_length(queue.backlog());
                }
                return Some(lines);
            }
            Err(e) => {
                tracing::warn!(queue = queue.key(), error = %e, retry_in = ?backoff.delay(), "Cannot pop the analyzer queue, retrying.");
                *recovering = true;
                if !backoff.wait(stop).await {
                    return None;
                }
            }
        }
    }
}

/// Acknowledges a written batch with retry; false if shutdown came first (the batch stays in
/// the processing list and is written again at the next start).
async fn ack(queue: &Queue, opts: &Options, stop: &CancellationToken) -> bool {
    let mut backoff = Backoff::new(MIN_BACKOFF, opts.max_backoff);
    loop {
        match queue.ack().await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(processing = queue.processing_key(), error = %e, retry_in = ?backoff.delay(), "Cannot acknowledge a written batch, retrying.");
                if !backoff.wait(stop).await {
                    tracing::warn!(
                        processing = queue.processing_key(),
                        "Written batch not acknowledged: it is written again at the next start."
                    );
                    return false;
                }
            }
        }
    }
}

/// How [`write()`] ended.
enum Written {
    /// The batch is in the store.
    Yes,
    /// Shutdown came first.
    Stopped,
    /// The store refused it (permanent).
    Refused(WriteError),
}

/// Writes with retry of transient errors until success, shutdown or a refusal.
async fn write(
    cfg: &AnalyzerConfig,
    writer: &Writer,
    b: &Batch,
    opts: &Options,
    stop: &CancellationToken,
) -> Written {
    let mut backoff = Backoff::new(MIN_BACKOFF, opts.max_backoff);
    loop {
        match writer.write(b, cfg).await {
            Ok(rep) => {
                tracing::debug!(commands = rep.commands, first = ?b.tuples.first().map(|t| &t.q), "Batch written.");
                return Written::Yes;
            }
            Err(e) if !e.is_transient() => return Written::Refused(e),
            Err(e) => {
                if let Some(m) = &opts.metrics {
                    m.store_error(false);
                }
                tracing::warn!(error = %e, lines = b.processed, retry_in = ?backoff.delay(), "Cannot write a batch to the pDNS store, retrying.");
                if !backoff.wait(stop).await {
                    return Written::Stopped;
                }
            }
        }
    }
}

/// Counts and logs a refused batch, which stays in the processing list, and builds the
/// error that stops the ingestion.
fn refused(queue: &Queue, e: WriteError, opts: &Options) -> StoreRefused {
    if let Some(m) = &opts.metrics {
        m.store_error(true);
    }
    let hint = e.hint();
    tracing::error!(error = %e, code = e.code().unwrap_or("-"), processing = queue.processing_key(), hint, "The pDNS store refused a batch: stopping. Nothing is dropped: the batch stays in the processing list and is written first at the next start; retrying it unchanged would be refused again.");
    StoreRefused {
        processing: queue.processing_key().to_string(),
        hint,
        source: e,
    }
}

async fn give_back(queue: &Queue, lines: &[Vec<u8>]) {
    match queue.give_back(lines).await {
        Ok(()) => tracing::info!(
            lines = lines.len(),
            "Unwritten batch pushed back to the queue tail."
        ),
        Err(e) => {
            tracing::warn!(lines = lines.len(), processing = queue.processing_key(), error = %e, "Cannot push an unwritten batch back: it stays in the processing list for the next start.")
        }
    }
}

fn report_rejects(b: &Batch) {
    if let Some((line, err)) = &b.first_error {
        tracing::warn!(rejected = b.rejected_total(), first = %line, error = %err, "Rejected malformed passivedns lines.");
    }
}

fn log_rate(now: &Totals, before: &Totals, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(0.001);
    tracing::info!(
        lines = now.lines,
        processed = now.processed,
        rejected = now.rejected,
        excluded = now.excluded,
        lines_per_sec = ((now.lines - before.lines) as f64 / secs) as u64,
        "Ingestion progress."
    );
}
