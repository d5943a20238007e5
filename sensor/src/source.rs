//! Data sources of the D4 client (`source` file): stdin or a file (a byte stream cut
//! by the [`Chunker`]), or an analyzer queue of another D4 server's Redis (the folder
//! source is [`crate::folder`]). Every source pushes signed packets into the sender's bounded
//! channel and waits when it is full.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use d4_core::config::RedisEndpoint;
use d4_core::store::{cmd, Backoff, Policy, Store, StoreError};
use d4_proto::DataType;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::packetizer::{now_secs, Chunker, Signer};
use crate::stats::Stats;

/// Why a source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading the input failed.
    #[error("reading {what}: {source}")]
    Read {
        /// Which input.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The D4 server's Redis (d4server source) refused the connection.
    #[error("redis {endpoint}: {source}")]
    Redis {
        /// `redis://host:port/db`.
        endpoint: String,
        /// What went wrong.
        source: StoreError,
    },
    /// The sender is gone (it failed); nothing more can be delivered.
    #[error("the sender stopped")]
    SenderGone,
}

/// Turns payloads into packets of one type and hands them to the sender.
#[derive(Clone)]
pub struct Emitter {
    /// Signs packets.
    pub signer: Signer,
    /// Type byte of data packets.
    pub data_type: DataType,
    /// The sender's queue.
    pub tx: crate::queue::QueueSender,
    /// Counters.
    pub stats: Arc<Stats>,
}

impl Emitter {
    /// Signs and queues every payload (waits while the channel is full).
    pub async fn emit(&self, payloads: &mut Vec<Vec<u8>>) -> Result<(), SourceError> {
        let ts = now_secs();
        for p in payloads.drain(..) {
            let pkt = self.signer.packet(self.data_type, ts, &p);
            self.tx
                .send(pkt)
                .await
                .map_err(|_| SourceError::SenderGone)?;
        }
        Ok(())
    }
}

/// Streams a reader to the end: every read goes through the chunker.
pub async fn copy_stream<R: AsyncRead + Unpin>(
    mut r: R,
    what: &str,
    snaplen: usize,
    em: &Emitter,
) -> Result<(), SourceError> {
    let mut chunker = Chunker::new(snaplen, em.data_type.is_line_based());
    let mut buf = vec![0u8; snaplen.max(64 * 1024)];
    let mut out = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(SourceError::Read {
                    what: what.to_string(),
                    source,
                })
            }
        };
        Stats::add(&em.stats.source_bytes, n as u64);
        chunker.push(buf.get(..n).unwrap_or_default(), &mut out);
        em.emit(&mut out).await?;
    }
    chunker.finish(&mut out);
    if chunker.split_lines > 0 {
        tracing::warn!(
            lines = chunker.split_lines,
            snaplen,
            "Lines longer than snaplen were split across packets."
        );
    }
    em.emit(&mut out).await
}

/// Reads a whole file once.
pub async fn copy_file(path: &Path, snaplen: usize, em: &Emitter) -> Result<(), SourceError> {
    let what = path.display().to_string();
    let f = tokio::fs::File::open(path)
        .await
        .map_err(|source| SourceError::Read {
            what: what.clone(),
            source,
        })?;
    copy_stream(f, &what, snaplen, em).await
}

/// goclient's d4server source: `LPOP queue` in a loop on the configured database; every
/// element plus `\n` is one payload (split at snaplen instead of goclient's silent
/// truncation). Waits `poll` when the queue is empty; a failing Redis is retried with the
/// store facade's back-off. Runs until `stop` is cancelled (then `Ok`).
pub async fn pop_queue(
    redis: &RedisEndpoint,
    queue: &str,
    poll: Duration,
    snaplen: usize,
    em: &Emitter,
    stop: &CancellationToken,
) -> Result<(), SourceError> {
    let refused = |source| SourceError::Redis {
        endpoint: redis.url(),
        source,
    };
    let Some(store) = Store::connect_until(redis, Policy::DAEMON, "d4server source", stop)
        .await
        .map_err(refused)?
    else {
        return Ok(());
    };
    tracing::info!(endpoint = %redis.url(), queue, "Forwarding a D4 server queue.");
    let lpop = cmd("LPOP").arg(queue).to_owned();
    let mut backoff = Backoff::default();
    let mut out = Vec::new();
    loop {
        let popped = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = store.query::<Option<Vec<u8>>>(&lpop) => r,
        };
        match popped {
            Ok(Some(mut line)) => {
                backoff.reset();
                Stats::add(&em.stats.source_bytes, line.len() as u64);
                line.push(b'\n');
                out.extend(line.chunks(snaplen.max(1)).map(<[u8]>::to_vec));
                em.emit(&mut out).await?;
            }
            Ok(None) => {
                backoff.reset();
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(poll.max(Duration::from_millis(10))) => {}
                }
            }
            Err(e) => {
                tracing::warn!(endpoint = %redis.url(), queue, error = %e, retry_in = ?backoff.delay(), "LPOP failed; retrying.");
                if !backoff.wait(stop).await {
                    return Ok(());
                }
            }
        }
    }
}
