//! The ingestion loop: pop a batch, write it, repeat (STYLE §9).
//!
//! A popped batch is written before the next pop. A store error is retried with capped backoff
//! (reset after a success) for as long as it takes; the lines stay in memory meanwhile. On
//! shutdown an unwritten batch is pushed back to the tail of the queue, so it is read first
//! again later. Bad lines are counted in `stats:rejected` and logged once per batch.

use std::time::{Duration, Instant};

use fred::prelude::*;
use tokio::sync::watch;

use crate::batch::Batch;
use crate::config::AnalyzerConfig;
use crate::queue::Queue;
use crate::store::{self, StoreError};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 2000,
            idle: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            drain: false,
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

/// A capped exponential backoff that also wakes on shutdown.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(50),
            max,
        }
    }
    /// Sleeps; returns false if shutdown was requested meanwhile.
    async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        sleep_or_stop(d, stop).await
    }
}

/// Sleeps `d`; false when shutdown was requested.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

/// Runs until `stop` becomes true (or the queue is empty with `opts.drain`).
pub async fn run(
    cfg: &AnalyzerConfig,
    queue: &mut Queue,
    store_client: &Client,
    opts: &Options,
    mut stop: watch::Receiver<bool>,
) -> Totals {
    let mut totals = Totals::default();
    let mut last_log = Instant::now();
    let mut logged = Totals::default();
    loop {
        let Some(lines) = pop(queue, opts, &mut stop).await else {
            break;
        };
        if lines.is_empty() {
            if opts.drain || !sleep_or_stop(opts.idle, &mut stop).await {
                break;
            }
            continue;
        }
        let batch = Batch::from_lines(lines.iter().map(Vec::as_slice), cfg);
        report_rejects(&batch);
        if !write(cfg, store_client, &batch, opts, &mut stop).await {
            give_back(queue, &lines).await;
            break;
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
    totals
}

/// Pops with retry; `None` on shutdown.
async fn pop(
    queue: &mut Queue,
    opts: &Options,
    stop: &mut watch::Receiver<bool>,
) -> Option<Vec<Vec<u8>>> {
    let mut backoff = Backoff::new(opts.max_backoff);
    loop {
        if *stop.borrow() {
            return None;
        }
        match queue.pop(opts.batch).await {
            Ok(lines) => return Some(lines),
            Err(e) => {
                tracing::warn!(queue = queue.key(), error = %e, "Cannot pop the analyzer queue, retrying.");
                if !backoff.wait(stop).await {
                    return None;
                }
            }
        }
    }
}

/// Writes with retry until success; false if shutdown came first.
async fn write(
    cfg: &AnalyzerConfig,
    client: &Client,
    b: &Batch,
    opts: &Options,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Backoff::new(opts.max_backoff);
    loop {
        match store::write_batch(client, b, cfg).await {
            Ok(rep) => {
                tracing::debug!(commands = rep.commands, refused = rep.refused, first = ?b.tuples.first().map(|t| &t.q), "Batch written.");
                return true;
            }
            Err(e @ StoreError::Refused(_)) => {
                tracing::error!(error = %e, lines = b.processed, "Batch dropped: the store refused it.");
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, lines = b.processed, "Cannot write a batch to the pDNS store, retrying.");
                if !backoff.wait(stop).await {
                    return false;
                }
            }
        }
    }
}

async fn give_back(queue: &Queue, lines: &[Vec<u8>]) {
    match queue.give_back(lines).await {
        Ok(()) => tracing::info!(
            lines = lines.len(),
            "Unwritten batch pushed back to the queue tail."
        ),
        Err(e) => {
            tracing::error!(lines = lines.len(), error = %e, "Unwritten batch lost: cannot push it back.")
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
