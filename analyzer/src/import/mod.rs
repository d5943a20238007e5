//! `pdns-import`: COF NDJSON (or a JSON array, as the legacy importer read), raw passivedns log
//! files (plain or gzip) and COF websocket streams into the pDNS store (spec `pdns.md` §3).
//!
//! - `source`: COF objects and passivedns lines into a batch; gzip detection (pure).
//! - `websocket`: COF messages from a `ws://` stream.
//! - [`Importer`]: reads files and streams batch by batch and writes each batch through the
//!   shared write path (`crate::write`), retrying a store outage for about a minute.

mod source;
mod websocket;

use std::fs::File;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use d4_core::store::{Backoff, Policy, Store};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

pub use source::Format;

use crate::model::config::AnalyzerConfig;
use crate::write::{Batch, Writer};
use websocket::{WsClient, WsError};

/// Reply timeout of the store connection (one batch pipeline).
const STORE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of one batch while the store is unavailable (about a minute with the back-off).
const FLUSH_ATTEMPTS: u32 = 30;
/// Rejected records logged one by one (then only counted).
const LOGGED_REJECTS: i64 = 10;
/// A websocket batch is written after this long without a new message.
const QUIET_FLUSH: Duration = Duration::from_secs(1);

/// Records of one import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records written.
    pub records: i64,
    /// Records rejected.
    pub rejected: i64,
    /// Records skipped by `[exclude]`.
    pub excluded: i64,
}

impl Summary {
    /// Adds another import's counts.
    pub fn add(&mut self, other: &Summary) {
        self.records += other.records;
        self.rejected += other.rejected;
        self.excluded += other.excluded;
    }
}

/// Writes files and streams into the pDNS store, `batch` records per round trip.
pub struct Importer {
    writer: Writer,
    cfg: AnalyzerConfig,
    batch: usize,
    stop: CancellationToken,
}

impl Importer {
    /// Connects to the store of `cfg`, waiting for it until `stop` fires (then `None`).
    pub async fn connect(
        cfg: AnalyzerConfig,
        batch: usize,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Importer>> {
        let policy = Policy::DAEMON.with_response_timeout(STORE_TIMEOUT);
        let store = Store::connect_until(&cfg.store, policy, "pDNS store", &stop)
            .await
            .context("pDNS store")?;
        Ok(store.map(|store| Importer {
            writer: Writer::new(store),
            cfg,
            batch: batch.max(1),
            stop,
        }))
    }

    /// Imports one file (plain or gzip); `format` `None` sniffs it from the first byte.
    /// A progress bar is drawn on stderr unless `quiet`.
    pub async fn file(
        &self,
        path: &Path,
        format: Option<Format>,
        quiet: bool,
    ) -> anyhow::Result<Summary> {
        let file = File::open(path)?;
        let pb = progress_bar(path, file.metadata().map(|m| m.len()).unwrap_or(0), quiet);
        let mut reader = source::open_reader(pb.wrap_read(file))?;
        let format = match format {
            Some(f) => f,
            None => source::sniff(reader.fill_buf()?),
        };
        let first = reader
            .fill_buf()?
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .copied();
        let mut sum = Summary::default();
        if format == Format::Cof && first == Some(b'[') {
            self.json_array(&mut reader, &mut sum).await?;
        } else {
            self.lines(&mut reader, format, &mut sum).await?;
        }
        pb.finish_and_clear();
        Ok(sum)
    }

    /// A legacy COF file: one JSON array of objects.
    async fn json_array(&self, reader: &mut dyn BufRead, sum: &mut Summary) -> anyhow::Result<()> {
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        let mut b = Batch::default();
        match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Err(e) = source::add_cof(&mut b, item, &self.cfg) {
                        note_reject(&mut b, i + 1, e.reason(), &e.to_string(), sum);
                    }
                }
            }
            Err(e) => note_reject(&mut b, 1, "cof-json", &e.to_string(), sum),
        }
        self.flush(&mut b, sum).await
    }

    /// One record per line (COF NDJSON or passivedns), a batch every `self.batch` lines.
    async fn lines(
        &self,
        reader: &mut dyn BufRead,
        format: Format,
        sum: &mut Summary,
    ) -> anyhow::Result<()> {
        let mut b = Batch::default();
        let mut buf = Vec::new();
        let mut lineno = 0usize;
        let mut in_batch = 0usize;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            lineno += 1;
            if let Err((reason, msg)) = self.add_line(&mut b, &buf, format) {
                // Blank lines in passivedns logs are not errors.
                if reason != "empty" {
                    note_reject(&mut b, lineno, reason, &msg, sum);
                }
            }
            in_batch += 1;
            if in_batch >= self.batch {
                self.flush(&mut b, sum).await?;
                b = Batch::default();
                in_batch = 0;
                anyhow::ensure!(!self.stop.is_cancelled(), "interrupted at line {lineno}");
            }
        }
        self.flush(&mut b, sum).await
    }

    fn add_line(
        &self,
        b: &mut Batch,
        raw: &[u8],
        format: Format,
    ) -> Result<(), (&'static str, String)> {
        match format {
            Format::Passivedns => source::add_passivedns_line(b, raw, &self.cfg)
                .map_err(|e| (e.reason(), e.to_string())),
            Format::Cof => source::add_cof_line(b, &String::from_utf8_lossy(raw), &self.cfg)
                .map_err(|e| (e.reason(), e.to_string())),
        }
    }

    /// Reads COF messages from a websocket until the server closes it or `stop` fires;
    /// writes every `batch` records or after `QUIET_FLUSH` without a message.
    pub async fn websocket(&self, url: &str) -> anyhow::Result<Summary> {
        let mut rx = spawn_reader(WsClient::connect(url).await?);
        tracing::info!(url, "Websocket connected.");
        let mut sum = Summary::default();
        let mut b = Batch::default();
        let mut n = 0usize;
        let mut pending = 0usize;
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep(QUIET_FLUSH), if pending > 0 => {
                    self.flush(&mut b, &mut sum).await?;
                    b = Batch::default();
                    pending = 0;
                    continue;
                }
                _ = self.stop.cancelled() => None,
            };
            let Some(msg) = msg else { break };
            let msg = msg?;
            n += 1;
            if let Err(e) = source::add_cof_line(&mut b, &String::from_utf8_lossy(&msg), &self.cfg)
            {
                note_reject(&mut b, n, e.reason(), &e.to_string(), &mut sum);
            }
            pending += 1;
            if pending >= self.batch {
                self.flush(&mut b, &mut sum).await?;
                b = Batch::default();
                pending = 0;
            }
        }
        self.flush(&mut b, &mut sum).await?;
        Ok(sum)
    }

    /// Writes a batch, retrying unavailability for up to about a minute.
    async fn flush(&self, b: &mut Batch, sum: &mut Summary) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut attempts = 0;
        loop {
            match self.writer.write(b, &self.cfg).await {
                Ok(_) => break,
                Err(e) if e.is_transient() && attempts < FLUSH_ATTEMPTS => {
                    attempts += 1;
                    tracing::warn!(error = %e, retry_in = ?backoff.delay(), "Store unavailable, retrying.");
                    anyhow::ensure!(
                        backoff.wait(&self.stop).await,
                        "interrupted while the store was unavailable: {e}"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        sum.records += b.processed;
        sum.excluded += b.excluded;
        Ok(())
    }
}

/// Reads the websocket on its own task (answering pings while a batch is written).
fn spawn_reader(mut ws: WsClient) -> tokio::sync::mpsc::Receiver<Result<Vec<u8>, WsError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    tokio::spawn(async move {
        loop {
            let msg = ws.next_message().await.transpose();
            let done = !matches!(msg, Some(Ok(_)));
            if let Some(m) = msg {
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            if done {
                return;
            }
        }
    });
    rx
}

fn progress_bar(path: &Path, len: u64, quiet: bool) -> ProgressBar {
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(path.display().to_string());
    pb
}

fn note_reject(b: &mut Batch, lineno: usize, reason: &'static str, msg: &str, sum: &mut Summary) {
    *b.rejected.entry(reason).or_default() += 1;
    if sum.rejected < LOGGED_REJECTS {
        tracing::warn!(line = lineno, reason, error = msg, "Record rejected.");
    }
    sum.rejected += 1;
}
