//! Delivers signed D4 packets to the destination: stdout, or a D4 server over TLS
//! (or plain TCP with `-ce=false`), reconnecting after any failure.
//!
//! D4 has no acknowledgements, so after a drop the sender cannot know which bytes the
//! server processed. It keeps a **replay window** of the packets it wrote most recently
//! — at most `replay_bytes` and none older than `replay_age` — and re-sends that window
//! on the next connection, right after the meta header (types 2/254). Packets the
//! server had already processed become duplicates; their number per reconnect is
//! bounded by the window. Meanwhile the source keeps filling a bounded channel and
//! blocks when it is full (backpressure), so nothing is dropped while disconnected.
//!
//! The connection is also *read*: the server never sends D4 data, so EOF or an error on
//! the read side means it is gone and is noticed before the next write. TLS 1.3 session
//! tickets are consumed that way too.
//!
//! A server that rejects the sensor closes the connection right after its first packet;
//! [`crate::reject`] tells that from ordinary drops and decides when to give up. At the
//! end of the input a connection younger than the policy's `accept_wait` is watched for
//! that close first, so a short input to a rejecting server does not end as a success.
//!
//! At the end of the input the sender flushes, sends TLS close_notify and shuts its
//! write side, then reads until the server closes (bounded by `drain_timeout`). Closing
//! with unread input would make the kernel reset the connection and the server could
//! lose what it had not read yet. A reset during that drain counts as a drop.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::packetizer::{now_secs, Signer};
use crate::queue::QueueReceiver;
use crate::reject::{RejectPolicy, RejectTracker, Rejected};
use crate::stats::Stats;

/// A bidirectional byte stream (TLS or plain TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to reach and talk to a D4 server.
#[derive(Clone)]
pub struct NetOptions {
    /// Host (name or address, no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS connector; `None` for plain TCP.
    pub tls: Option<TlsConnector>,
    /// Dial timeout (`-ct`); `None` = the OS default.
    pub connect_timeout: Option<Duration>,
    /// TCP keepalive period (`-cka`); `None` = disabled.
    pub keepalive: Option<Duration>,
    /// Longest pause between reconnection attempts (`-rt`).
    pub retry_max: Duration,
    /// Replay window size in bytes.
    pub replay_bytes: usize,
    /// Replay window age.
    pub replay_age: Duration,
    /// How long to wait for the server to close after our close_notify.
    pub drain_timeout: Duration,
    /// How rejections are detected and reported, and whether to give up.
    pub reject: RejectPolicy,
}

/// What goes first on every new connection: the meta header of types 2/254.
#[derive(Clone)]
pub struct SessionStart {
    /// Signs the meta packets (with the connection time).
    pub signer: Signer,
    /// Raw `metaheader.json`, if any.
    pub meta: Option<Vec<u8>>,
    /// snaplen used to chunk the meta header.
    pub snaplen: usize,
}

impl SessionStart {
    fn packets(&self) -> Vec<Vec<u8>> {
        match &self.meta {
            Some(m) => self.signer.meta_packets(m, self.snaplen, now_secs()),
            None => Vec::new(),
        }
    }
}

/// Why delivery stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Writing to stdout failed.
    #[error("stdout: {0}")]
    Stdout(std::io::Error),
    /// The final graceful close kept failing.
    #[error("connection reset while closing, {attempts} attempts: {last}")]
    Close {
        /// Attempts made.
        attempts: u32,
        /// Last error.
        last: std::io::Error,
    },
    /// The server kept closing the connection right after the first packet.
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

/// Unacknowledged data older than this fails the connection (TCP_USER_TIMEOUT).
const USER_TIMEOUT: Duration = Duration::from_secs(60);

/// First pause between connection attempts (doubles up to `-rt`).
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(5);

/// Most queue elements written in one batch (one flush).
const BATCH: usize = 256;
/// A batch stops growing past this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// rustls' limit on encrypted bytes waiting for the socket (default 64 KiB): with more,
/// each `writev` carries up to this many bytes of TLS records instead of 64 KiB.
const TLS_BUFFER: usize = 1 << 20;

/// Writes every packet from `rx` to stdout; returns at the end of the input.
pub async fn run_stdout(
    mut rx: QueueReceiver,
    start: SessionStart,
    stats: Arc<Stats>,
) -> Result<(), SendError> {
    let mut out = tokio::io::stdout();
    for p in start.packets() {
        out.write_all(&p).await.map_err(SendError::Stdout)?;
    }
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        collect_batch(&mut rx, first, &mut batch);
        for e in batch.drain(..) {
            out.write_all(&e).await.map_err(SendError::Stdout)?;
            Stats::add(&stats.d4_packets, count_packets(&e));
            Stats::add(&stats.d4_bytes, e.len() as u64);
        }
        out.flush().await.map_err(SendError::Stdout)?;
    }
    out.flush().await.map_err(SendError::Stdout)
}

/// Puts `first` and the elements immediately available into `batch` (up to [`BATCH`]
/// elements or about [`BATCH_BYTES`]): they are written with one flush at the end.
fn collect_batch(rx: &mut QueueReceiver, first: Vec<u8>, batch: &mut Vec<Vec<u8>>) {
    let mut bytes = first.len();
    batch.push(first);
    while batch.len() < BATCH && bytes < BATCH_BYTES {
        match rx.try_recv() {
            Some(e) => {
                bytes += e.len();
                batch.push(e);
            }
            None => break,
        }
    }
}

/// The network sender: one connection at a time, plus the replay window.
pub struct NetSender {
    opts: NetOptions,
    start: SessionStart,
    stats: Arc<Stats>,
    window: VecDeque<(Instant, Vec<u8>)>,
    window_bytes: usize,
    connected_once: bool,
    /// When the current connection got its first packet (`None`: nothing written yet).
    first_write: Option<Instant>,
    rejects: RejectTracker,
}

/// Result of one attempt to close gracefully.
enum CloseOutcome {
    Done,
    Reset(std::io::Error),
}

impl NetSender {
    /// A sender for `opts`; nothing is connected yet.
    pub fn new(opts: NetOptions, start: SessionStart, stats: Arc<Stats>) -> NetSender {
        let rejects = RejectTracker::new(opts.reject.clone());
        NetSender {
            opts,
            start,
            stats,
            window: VecDeque::new(),
            window_bytes: 0,
            connected_once: false,
            first_write: None,
            rejects,
        }
    }

    /// Delivers everything from `rx`; returns after the graceful close at its end.
    pub async fn run(mut self, mut rx: QueueReceiver) -> Result<(), SendError> {
        let mut conn: Option<Box<dyn Io>> = None;
        let mut backoff = MIN_BACKOFF;
        let mut up_since: Option<Instant> = None;
        let mut close_attempts = 0u32;
        let mut scratch = vec![0u8; 4096];
        let mut batch = Vec::new();
        loop {
            let Some(c) = conn.as_mut() else {
                // A server that accepts and then drops us at once (rejected uuid or type,
                // one connection per sensor) must not be hammered: only a connection that
                // stayed up resets the backoff.
                if let Some(t) = up_since.take() {
                    if t.elapsed() >= STABLE_AFTER {
                        backoff = MIN_BACKOFF;
                    } else {
                        tokio::time::sleep(backoff).await;
                        backoff = self.next_backoff(backoff);
                    }
                }
                match self.open().await {
                    Ok(c) => {
                        conn = Some(c);
                        up_since = Some(Instant::now());
                    }
                    Err(e) => {
                        Stats::add(&self.stats.connect_failures, 1);
                        tracing::warn!(error = %e, retry_in = ?backoff, "Cannot connect to the D4 server.");
                        tokio::time::sleep(backoff).await;
                        backoff = self.next_backoff(backoff);
                    }
                }
                continue;
            };
            tokio::select! {
                biased;
                r = c.read(&mut scratch) => {
                    if let Ok(n @ 1..) = r {
                        tracing::debug!(bytes = n, "Ignoring data from the server.");
                        continue;
                    }
                    self.server_closed(&read_end(&r))?;
                    conn = None;
                }
                p = rx.recv() => match p {
                    Some(first) => {
                        collect_batch(&mut rx, first, &mut batch);
                        if let Err(e) = self.write_batch(c, &mut batch).await {
                            self.server_closed(&e.to_string())?;
                            conn = None;
                        }
                    }
                    None => {
                        if let Some(why) = self.watch_before_close(c, &mut scratch).await {
                            self.server_closed(&why)?;
                            conn = None;
                            continue;
                        }
                        match close(c, self.opts.drain_timeout).await {
                            CloseOutcome::Done => return Ok(()),
                            CloseOutcome::Reset(e) => {
                                close_attempts += 1;
                                tracing::warn!(error = %e, "Connection reset while closing; re-sending the replay window.");
                                if close_attempts >= 3 {
                                    return Err(SendError::Close { attempts: close_attempts, last: e });
                                }
                                conn = None;
                            }
                        }
                    }
                },
            }
        }
    }

    /// The server closed the connection (or a write failed): logs it and counts it as a
    /// rejection when it came right after the first packet. `Err` when giving up.
    fn server_closed(&mut self, why: &str) -> Result<(), Rejected> {
        let early = RejectTracker::is_early(self.first_write.take());
        if early {
            tracing::warn!(
                result = why,
                "Server closed the connection right after the first packet; reconnecting."
            );
        } else {
            tracing::warn!(result = why, "Server closed the connection; reconnecting.");
        }
        self.rejects.server_closed(early)
    }

    /// At the end of the input, before closing: a connection that got its first packet
    /// less than `accept_wait` ago is watched until then, since a rejecting server closes
    /// it by itself. Returns why the server closed it, or `None` if it stayed open.
    async fn watch_before_close(
        &mut self,
        c: &mut Box<dyn Io>,
        scratch: &mut [u8],
    ) -> Option<String> {
        let left = self
            .opts
            .reject
            .accept_wait
            .checked_sub(self.first_write?.elapsed())?;
        let closed = tokio::time::timeout(left, async {
            loop {
                match c.read(scratch).await {
                    Ok(1..) => continue,
                    r => return read_end(&r),
                }
            }
        })
        .await;
        match closed {
            Ok(why) => Some(why),
            Err(_) => {
                self.rejects.accepted();
                None
            }
        }
    }

    fn next_backoff(&self, b: Duration) -> Duration {
        (b * 2).min(self.opts.retry_max.max(MIN_BACKOFF))
    }

    /// Writes the elements of `batch` (emptying it) with one flush at the end. They go
    /// into the replay window (moved, not copied) before anything is written: if the
    /// write fails, their bytes are replayed.
    async fn write_batch(
        &mut self,
        c: &mut Box<dyn Io>,
        batch: &mut Vec<Vec<u8>>,
    ) -> std::io::Result<()> {
        self.first_write.get_or_insert_with(Instant::now);
        let now = Instant::now();
        let first = self.window.len();
        for e in batch.drain(..) {
            Stats::add(&self.stats.d4_packets, count_packets(&e));
            Stats::add(&self.stats.d4_bytes, e.len() as u64);
            self.window_bytes += e.len();
            self.window.push_back((now, e));
        }
        for (_, e) in self.window.range(first..) {
            c.write_all(e).await?;
        }
        c.flush().await?;
        self.prune_window();
        Ok(())
    }

    /// Drops entries that the server has surely read: more than `replay_bytes` were
    /// written after them, or they are older than `replay_age`.
    fn prune_window(&mut self) {
        let now = Instant::now();
        while let Some((t, front)) = self.window.front() {
            let after = self.window_bytes - front.len();
            if after > self.opts.replay_bytes || now.duration_since(*t) > self.opts.replay_age {
                self.window_bytes -= front.len();
                self.window.pop_front();
            } else {
                break;
            }
        }
    }

    /// Connects, sends the meta header and replays the window.
    async fn open(&mut self) -> std::io::Result<Box<dyn Io>> {
        let mut c = dial(&self.opts).await?;
        self.first_write = None;
        let packets = self.start.packets();
        if !packets.is_empty() || !self.window.is_empty() {
            self.first_write = Some(Instant::now());
        }
        for p in packets {
            c.write_all(&p).await?;
        }
        let replay: usize = self.window.iter().map(|(_, b)| b.len()).sum();
        if self.connected_once {
            Stats::add(&self.stats.reconnects, 1);
            if replay > 0 {
                let packets: u64 = self.window.iter().map(|(_, b)| count_packets(b)).sum();
                Stats::add(&self.stats.replayed_packets, packets);
                Stats::add(&self.stats.replayed_bytes, replay as u64);
                tracing::info!(packets, bytes = replay, "Re-sending the replay window.");
            }
        }
        for (_, b) in &self.window {
            c.write_all(b).await?;
        }
        c.flush().await?;
        // The window was just rewritten on this connection: restart its clock.
        let now = Instant::now();
        self.window.iter_mut().for_each(|(t, _)| *t = now);
        self.connected_once = true;
        Ok(c)
    }
}

/// Connects to the D4 server of `opts` (TCP options, then the TLS handshake unless plain
/// TCP). Also used by `--check`.
pub async fn dial(opts: &NetOptions) -> std::io::Result<Box<dyn Io>> {
    let addr = (opts.host.as_str(), opts.port);
    let tcp = match opts.connect_timeout {
        Some(t) if !t.is_zero() => tokio::time::timeout(t, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timeout"))??,
        _ => TcpStream::connect(addr).await?,
    };
    tcp.set_nodelay(true)?;
    let sock = socket2::SockRef::from(&tcp);
    if let Some(k) = opts.keepalive {
        let ka = socket2::TcpKeepalive::new().with_time(k).with_interval(k);
        sock.set_tcp_keepalive(&ka)?;
    }
    // A peer that vanished without a FIN/RST (power loss, partition) would otherwise
    // block writes for the kernel's ~15 min retransmission limit.
    sock.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    let peer = tcp.peer_addr()?;
    let Some(tls) = &opts.tls else {
        tracing::info!(%peer, tls = false, "Connected to the D4 server.");
        return Ok(Box::new(tcp));
    };
    let name = crate::tls::server_name(&opts.host)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stream = tls.connect(name, tcp).await?;
    stream.get_mut().1.set_buffer_limit(Some(TLS_BUFFER));
    tracing::info!(%peer, tls = true, "Connected to the D4 server.");
    Ok(Box::new(stream))
}

/// How a read that ended the connection ended, in a few words for the log.
fn read_end(r: &std::io::Result<usize>) -> String {
    match r {
        Ok(_) => "closed".into(),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "closed without TLS close_notify".into()
        }
        Err(e) => e.to_string(),
    }
}

/// Number of D4 packets in a batch (walks the size fields).
fn count_packets(mut b: &[u8]) -> u64 {
    let mut n = 0;
    while let Some(h) = d4_proto::Header::parse(b) {
        n += 1;
        b = b.get(h.packet_len()..).unwrap_or_default();
    }
    n
}

/// close_notify + write shutdown, then read until the server closes.
async fn close(c: &mut Box<dyn Io>, drain: Duration) -> CloseOutcome {
    if let Err(e) = c.flush().await {
        return CloseOutcome::Reset(e);
    }
    if let Err(e) = c.shutdown().await {
        return CloseOutcome::Reset(e);
    }
    let mut buf = [0u8; 4096];
    let drained = tokio::time::timeout(drain, async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                // A FIN without close_notify: the server read everything and left.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match drained {
        Ok(Ok(())) => CloseOutcome::Done,
        Ok(Err(e)) => CloseOutcome::Reset(e),
        Err(_) => {
            tracing::info!(timeout = ?drain, "The server did not close after close_notify; leaving.");
            CloseOutcome::Done
        }
    }
}
