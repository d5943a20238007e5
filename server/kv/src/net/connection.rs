//! One client connection: read, parse every complete request, apply the batch under one
//! lock, make the append-only file durable as configured, write all replies at once.
//! When the file cannot take the batch's records, the replies that acknowledge writes
//! become `MISCONF` errors before anything is sent.
//!
//! A blocking command that finds nothing parks the connection: later requests in the
//! buffer wait (as in Redis), the socket is still watched so a client that goes away is
//! unregistered before anything is handed to it, and the timeout is honoured.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{self, Blocked, ClientState, Ctx};
use crate::config::Fsync;
use crate::keyspace::now_ms;
use crate::protocol::frame::{parse_request, FrameError};
use crate::protocol::reply::Reply;
use crate::shared::Shared;

/// Read buffer bound while a client is blocked (requests are only buffered then).
const MAX_BLOCKED_BUFFER: usize = 64 * 1024 * 1024;

/// Whether this task runs on a multi-thread runtime (`block_in_place` is allowed).
fn multi_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// Serves a connection until it closes or the server stops.
pub(crate) async fn serve(sh: Arc<Shared>, mut sock: TcpStream, peer: SocketAddr) {
    let id = sh
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let authed = sh.config.read().requirepass.is_none();
    let mut client = ClientState::new(id, peer.to_string(), local, authed);
    {
        let mut st = sh.store.lock();
        st.clients.insert(id, client.info.clone());
        st.stats.connections += 1;
    }
    let mut conn = Conn {
        sh: sh.clone(),
        buf: BytesMut::with_capacity(16 * 1024),
        out: Vec::with_capacity(16 * 1024),
        pending: VecDeque::new(),
        proto_err: None,
    };
    if let Err(e) = conn.run(&mut sock, &mut client).await {
        tracing::debug!(client = id, error = %e, "Connection closed with error.");
    }
    let mut st = sh.store.lock();
    st.clients.remove(&id);
    st.watches.unwatch(id, &client.watching);
}

struct Conn {
    sh: Arc<Shared>,
    buf: BytesMut,
    out: Vec<u8>,
    pending: VecDeque<Vec<Bytes>>,
    proto_err: Option<FrameError>,
}

impl Conn {
    async fn run(&mut self, sock: &mut TcpStream, client: &mut ClientState) -> std::io::Result<()> {
        // No shutdown branch on the hot path: at shutdown the runtime drops idle
        // connections, and a batch in progress always completes under the lock.
        let idle = self.sh.config.read().timeout;
        loop {
            let n = if idle == 0 {
                sock.read_buf(&mut self.buf).await?
            } else {
                tokio::select! {
                    r = sock.read_buf(&mut self.buf) => r?,
                    _ = tokio::time::sleep(Duration::from_secs(idle)) => return Ok(()),
                }
            };
            if n == 0 {
                return Ok(());
            }
            self.process(sock, client).await?;
            if client.close {
                return Ok(());
            }
        }
    }

    /// Parses what is buffered and runs it; returns after the replies are written.
    async fn process(
        &mut self,
        sock: &mut TcpStream,
        client: &mut ClientState,
    ) -> std::io::Result<()> {
        loop {
            if self.proto_err.is_none() {
                self.proto_err = self.parse();
            }
            if self.pending.is_empty() {
                if let Some(e) = self.proto_err.take() {
                    Reply::Error(e.to_string()).encode(&mut self.out, client.resp3);
                    sock.write_all(&self.out).await?;
                    client.close = true;
                }
                return Ok(());
            }
            let blocked = self.run_batch(client);
            if !self.out.is_empty() {
                sock.write_all(&self.out).await?;
                self.out.clear();
            }
            if let Some(b) = blocked {
                let Some(reply) = self.wait(sock, client, b).await? else {
                    client.close = true;
                    return Ok(());
                };
                // The pop that served this client is only acknowledged once persisted.
                let reply = if self.flush_aof_all() || reply.is_nil() {
                    reply
                } else {
                    self.misconf()
                };
                reply.encode(&mut self.out, client.resp3);
                sock.write_all(&self.out).await?;
                self.out.clear();
            }
            if client.close {
                return Ok(());
            }
        }
    }

    fn parse(&mut self) -> Option<FrameError> {
        loop {
            match parse_request(&mut self.buf) {
                Ok(Some(a)) if a.is_empty() => continue,
                Ok(Some(a)) => self.pending.push_back(a),
                Ok(None) => return None,
                Err(e) => {
                    self.buf.clear();
                    return Some(e);
                }
            }
        }
    }

    /// Applies pending requests under one lock; stops early at a blocking command.
    fn run_batch(&mut self, client: &mut ClientState) -> Option<Blocked> {
        let sh = self.sh.clone();
        let mut st = sh.store.lock();
        let before = st.aof.seq;
        let now = now_ms();
        let mut blocked = None;
        let mut last_cmd = None;
        // Where the replies acknowledging writes are in `out`, in case the append-only
        // file cannot take their records.
        let mut acks: Vec<(usize, usize)> = Vec::new();
        while let Some(a) = self.pending.pop_front() {
            let fed = st.aof.seq;
            let mut ctx = Ctx::new(&mut st, client, &sh, now, false);
            let r = cmd::exec(&mut ctx, &a);
            let block = ctx.block.take();
            let acks_write = ctx.acks_write;
            if !client.info.last_cmd.as_bytes().eq_ignore_ascii_case(&a[0]) {
                last_cmd = Some(String::from_utf8_lossy(&a[0]).to_ascii_lowercase());
            }
            if let Some(b) = block {
                blocked = Some(b);
                break;
            }
            if !std::mem::take(&mut client.skip_reply) {
                let start = self.out.len();
                r.encode(&mut self.out, client.resp3);
                if acks_write && st.aof.seq > fed && !r.is_error() {
                    acks.push((start, self.out.len()));
                }
            }
            if client.close {
                break;
            }
        }
        let after = st.aof.seq;
        // Keep CLIENT LIST current without touching the map on every batch.
        if client.info.db != client.db
            || client.info.blocked != blocked.is_some()
            || last_cmd.is_some()
        {
            client.info.db = client.db;
            client.info.blocked = blocked.is_some();
            if let Some(c) = last_cmd {
                client.info.last_cmd = c;
            }
            if let Some(info) = st.clients.get_mut(&client.id) {
                info.db = client.info.db;
                info.blocked = client.info.blocked;
                info.last_cmd.clone_from(&client.info.last_cmd);
            }
        }
        drop(st);
        if after > before {
            // fsync (`always`) blocks for milliseconds: let a multi-thread runtime move
            // the other connections to another thread meanwhile. A plain write(2) is
            // cheap; a current-thread runtime waits, as redis-server's event loop does.
            let durable = if *sh.persist.fsync.lock() == Fsync::Always && multi_thread() {
                tokio::task::block_in_place(|| sh.persist.flush(&sh.store, after))
            } else {
                sh.persist.flush(&sh.store, after)
            };
            if !durable {
                self.refuse_acks(&acks, client.resp3);
            }
        }
        blocked
    }

    /// Replaces the replies at `acks` in `out` with the `MISCONF` error: their writes
    /// are applied in memory and pending for the file, but not persisted, so they must
    /// not be acknowledged.
    fn refuse_acks(&mut self, acks: &[(usize, usize)], resp3: bool) {
        let mut out = Vec::with_capacity(self.out.len());
        let mut at = 0;
        for &(start, end) in acks {
            out.extend_from_slice(&self.out[at..start]);
            self.misconf().encode(&mut out, resp3);
            at = end;
        }
        out.extend_from_slice(&self.out[at..]);
        self.out = out;
    }

    /// The current `MISCONF` refusal (append-only failure).
    fn misconf(&self) -> Reply {
        let text = self.sh.persist.status.refusal(|| false);
        Reply::Error(text.unwrap_or_else(|| "MISCONF Errors writing to the AOF file".into()))
    }

    /// Makes everything fed so far durable; false when the file cannot take it.
    fn flush_aof_all(&self) -> bool {
        let seq = self.sh.store.lock().aof.seq;
        self.sh.persist.flush(&self.sh.store, seq)
    }

    /// Waits for a blocked command's reply; `None` when the client disconnected.
    async fn wait(
        &mut self,
        sock: &mut TcpStream,
        client: &mut ClientState,
        b: Blocked,
    ) -> std::io::Result<Option<Reply>> {
        let Blocked {
            id,
            mut rx,
            timeout,
            on_timeout,
        } = b;
        let sleep = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(100 * 365 * 86400)));
        tokio::pin!(sleep);
        let mut stop = self.sh.stop_rx();
        loop {
            tokio::select! {
                r = &mut rx => return Ok(Some(r.unwrap_or(on_timeout))),
                _ = &mut sleep => return Ok(Some(self.unblock(id, rx, on_timeout))),
                _ = stop.changed() => {
                    self.sh.store.lock().blocking.remove(id);
                    return Ok(None);
                }
                r = sock.read_buf(&mut self.buf) => {
                    let gone = !matches!(r, Ok(n) if n > 0) || self.buf.len() > MAX_BLOCKED_BUFFER;
                    if gone {
                        let served = self.unblock(id, rx, Reply::Nil);
                        if !served.is_nil() {
                            tracing::warn!(client = client.id, "Client left right after being served a blocked pop.");
                        }
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Unregisters a waiter; if it was served meanwhile, returns that reply instead.
    fn unblock(
        &self,
        id: u64,
        mut rx: tokio::sync::oneshot::Receiver<Reply>,
        fallback: Reply,
    ) -> Reply {
        let removed = self.sh.store.lock().blocking.remove(id).is_some();
        if removed {
            return fallback;
        }
        rx.try_recv().unwrap_or(fallback)
    }
}
