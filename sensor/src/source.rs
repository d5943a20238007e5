//! Data sources of the D4 client (`source` file): stdin or a file (a byte stream cut
//! by the [`Chunker`]), or an analyzer queue of another D4 server's Redis (the folder
//! source is [`crate::folder`]). Every source pushes signed packets into the sender's bounded
//! channel and waits when it is full.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use d4_core::config::RedisEndpoint;
use d4_core::store::{cmd, Backoff, Policy, Store, StoreError};
use d4_proto::DataType;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::packetizer::{now_secs, Chunker, PacketBuf, Signer};
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

    /// Queues the packets signed into `packets` as one element (waits while the
    /// channel is full).
    pub async fn emit_packets(&self, packets: &mut PacketBuf) -> Result<(), SourceError> {
        if packets.is_empty() {
            return Ok(());
        }
        self.tx
            .send(packets.take())
            .await
            .map_err(|_| SourceError::SenderGone)
    }
}

/// Largest read from a stream source. Reads return what is available, so this adds no
/// delay; on a file or a busy pipe it makes one read (and one hand-off from tokio's
/// blocking pool) per MiB instead of per 64 KiB.
const READ_SIZE: usize = 1 << 20;
/// Signed packets are handed to the sender in elements of about this size: large enough
/// that the queue's lock and wake-up cost nothing per packet, small enough that the
/// sender encrypts one while the next one is signed.
const ELEMENT_BYTES: usize = 256 << 10;

/// Cuts a byte stream into payloads, signs them into shared buffers and queues them
/// [`ELEMENT_BYTES`] at a time.
struct StreamPacker<'a> {
    em: &'a Emitter,
    snaplen: usize,
    chunker: Chunker,
    packets: PacketBuf,
    /// Slices of whole payloads, so a binary read is cut exactly as if in one piece.
    step: usize,
}

impl<'a> StreamPacker<'a> {
    fn new(em: &'a Emitter, snaplen: usize) -> StreamPacker<'a> {
        let snaplen = snaplen.max(1);
        StreamPacker {
            em,
            snaplen,
            chunker: Chunker::new(snaplen, em.data_type.is_line_based()),
            packets: PacketBuf::new(&em.signer, em.data_type),
            step: (ELEMENT_BYTES / snaplen).max(1) * snaplen,
        }
    }

    /// One read's worth of bytes: its packets are queued before this returns (a
    /// trailing partial line waits for the next read).
    async fn feed(&mut self, mut data: &[u8]) -> Result<(), SourceError> {
        Stats::add(&self.em.stats.source_bytes, data.len() as u64);
        let ts = now_secs();
        // In slices, so a full element is queued before the next slice is signed.
        while !data.is_empty() {
            let (slice, rest) = data.split_at(data.len().min(self.step));
            let packets = &mut self.packets;
            self.chunker
                .push_with(slice, &mut |p: &[u8]| packets.push(ts, p));
            data = rest;
            if self.packets.len() >= ELEMENT_BYTES {
                self.em.emit_packets(&mut self.packets).await?;
            }
        }
        self.em.emit_packets(&mut self.packets).await
    }

    /// End of the input: the partial line left, if any, goes out as is.
    async fn finish(mut self) -> Result<(), SourceError> {
        let ts = now_secs();
        let packets = &mut self.packets;
        self.chunker
            .finish_with(&mut |p: &[u8]| packets.push(ts, p));
        if self.chunker.split_lines > 0 {
            tracing::warn!(
                lines = self.chunker.split_lines,
                snaplen = self.snaplen,
                "Lines longer than snaplen were split across packets."
            );
        }
        self.em.emit_packets(&mut self.packets).await
    }
}

/// Streams a reader to the end: every read goes through the chunker.
pub async fn copy_stream<R: AsyncRead + Unpin>(
    mut r: R,
    what: &str,
    snaplen: usize,
    em: &Emitter,
) -> Result<(), SourceError> {
    let mut packer = StreamPacker::new(em, snaplen);
    let mut buf = vec![0u8; snaplen.max(READ_SIZE)];
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
        packer.feed(buf.get(..n).unwrap_or_default()).await?;
    }
    packer.finish().await
}

/// [`copy_stream`] for a blocking reader (stdin, a file): each read runs on tokio's
/// blocking pool straight into the buffer the chunker then reads (tokio's own stdin and
/// file types read into a buffer of theirs and copy it over, one more pass over every
/// byte).
pub async fn copy_blocking<R: Read + Send + 'static>(
    reader: R,
    what: &str,
    snaplen: usize,
    em: &Emitter,
) -> Result<(), SourceError> {
    let failed = |source| SourceError::Read {
        what: what.to_string(),
        source,
    };
    let mut packer = StreamPacker::new(em, snaplen);
    let mut state = (reader, vec![0u8; snaplen.max(READ_SIZE)]);
    loop {
        let (mut r, mut buf) = state;
        let (r, buf, n) = tokio::task::spawn_blocking(move || {
            let n = loop {
                match r.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    n => break n,
                }
            };
            (r, buf, n)
        })
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?;
        match n.map_err(failed)? {
            0 => break,
            n => packer.feed(buf.get(..n).unwrap_or_default()).await?,
        }
        state = (r, buf);
    }
    packer.finish().await
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
    copy_blocking(f.into_std().await, &what, snaplen, em).await
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
