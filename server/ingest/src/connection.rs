//! One sensor connection: the socket loop that drives the pure `session` and runs its
//! actions with [`effects`].
//!
//! Each read appends to the session's buffer; then every action the session asks for is
//! run against the stores, one round trip each (the checks of a batch, its write), until
//! the session needs more bytes or is rejected. Once the session has authenticated, the
//! next read runs while those round trips do (the sensor's bytes are decrypted while the
//! store works), and its bytes go to the session after them. The loop ends on EOF, a rejection, a read
//! error, a store error (the sensor reconnects and resends), a kick, an eviction or
//! shutdown, or the deadline of a connection that has not authenticated yet; an
//! authenticated idle connection keeps its partial packet. The disconnect clean-up runs
//! whatever the end.
//!
//! Until it authenticates, a connection holds a pending [`Ticket`]: it must authenticate
//! by the ticket's deadline (counted from accept, not restarted by each byte), and the
//! payload it buffers is reserved from the shared budget before it is read.
//!
//! [`run`] is generic over the reader so tests can feed it any byte sequence.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use d4_core::config::ServerMode;
use d4_core::store::StoreError;
use d4_proto::Limits;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::admission::{Admission, Ticket};
use crate::effects::{self, Stores};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::reject::Reject;
use crate::session::{Action, Reply, Session};

/// Settings shared by all sessions.
#[derive(Clone)]
pub struct Ctx {
    /// Store connections.
    pub stores: Stores,
    /// Registration or shared-secret.
    pub mode: ServerMode,
    /// Payload size limit.
    pub limits: Limits,
    /// Connection slots, deadlines and the buffer budget of unauthenticated peers.
    pub admission: Arc<Admission>,
    /// Live sessions, for kicks.
    pub registry: Registry,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The peer closed the connection.
    Eof,
    /// A check failed.
    Rejected(Reject),
    /// Kicked, evicted or server shutdown.
    Cancelled,
    /// Not authenticated by the deadline.
    Timeout,
    /// Read or TLS error.
    Io(std::io::Error),
    /// The store failed; the connection is dropped so the sensor retries.
    Store(StoreError),
}

impl End {
    /// The `end` label of the `d4_server_connection_ends_total` metric.
    pub fn label(&self) -> &'static str {
        match self {
            End::Eof => "eof",
            End::Rejected(_) => "rejected",
            End::Cancelled => "cancelled",
            End::Timeout => "timeout",
            End::Io(_) => "io_error",
            End::Store(_) => "store_error",
        }
    }
}

/// Who is on the other end, as the stores key it.
struct Peer {
    session: String,
    ip: String,
}

/// The address as the server keys it: IPv4-mapped IPv6 becomes plain IPv4; IPv6 has
/// no zone (upstream `extract_ip`).
pub fn peer_ip(peer: &SocketAddr) -> String {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_canonical().to_string(),
        ip => ip.to_string(),
    }
}

/// Serves one admitted connection until it ends, then runs the disconnect cleanup.
/// `cancel` is the token given to [`Admission::admit`] for `ticket`.
pub async fn run<S: AsyncRead + Unpin>(
    mut io: S,
    ctx: &Ctx,
    mut ticket: Ticket,
    cancel: CancellationToken,
) -> End {
    let who = Peer {
        session: uuid::Uuid::new_v4().to_string(),
        ip: peer_ip(&ticket.peer()),
    };
    let mut session = Session::new(who.session.clone(), who.ip.clone(), ctx.mode, ctx.limits);
    ctx.metrics.connection();
    ctx.registry.insert(&who.session, cancel.clone());
    let end = serve(&mut io, ctx, &who, &mut session, &mut ticket, &cancel).await;
    ctx.registry.remove(&who.session);
    if let Err(error) = effects::release(&ctx.stores, ctx.registry.owner(), &session.ending()).await
    {
        warn!(session = %who.session, %error, "Disconnect cleanup failed.");
    }
    log_end(&who, session.uuid(), &end);
    ctx.metrics.ended(end.label());
    end
}

/// Rejections logged at WARN per minute; past that they go to INFO, so that a flood of bad
/// peers cannot flood the log while a misconfigured sensor is still seen by the operator.
static REJECTION_WARNINGS: WarnBudget = WarnBudget::new(20);

/// A number of log lines allowed per wall-clock minute.
struct WarnBudget {
    per_minute: u32,
    /// The current minute (seconds since the epoch / 60) and the lines logged in it.
    used: Mutex<(u64, u32)>,
}

impl WarnBudget {
    const fn new(per_minute: u32) -> Self {
        WarnBudget {
            per_minute,
            used: Mutex::new((0, 0)),
        }
    }

    /// Whether one more line fits in this minute's budget (and takes it).
    fn allow(&self) -> bool {
        let minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.0 != minute {
            *used = (minute, 0);
        }
        let allowed = used.1 < self.per_minute;
        if allowed {
            used.1 += 1;
        }
        allowed
    }
}

fn log_end(who: &Peer, uuid: Option<&str>, end: &End) {
    let (session, ip, uuid) = (&who.session, &who.ip, uuid.unwrap_or("-"));
    match end {
        End::Rejected(r) if REJECTION_WARNINGS.allow() => {
            warn!(%session, %ip, uuid, reason = r.kind(), "Sensor rejected: {r}.")
        }
        End::Rejected(r) => {
            info!(%session, %ip, uuid, reason = r.kind(), "Sensor rejected: {r}.")
        }
        End::Store(error) => {
            warn!(%session, uuid, %error, "Store error, connection dropped.")
        }
        End::Timeout => info!(%ip, "Timeout, not authenticated in time, connection closed."),
        other => debug!(%session, uuid, end = ?other, "Connection closed."),
    }
}

async fn serve<S: AsyncRead + Unpin>(
    io: &mut S,
    ctx: &Ctx,
    who: &Peer,
    session: &mut Session,
    ticket: &mut Ticket,
    cancel: &CancellationToken,
) -> End {
    let deadline = tokio::time::Instant::from_std(ticket.deadline());
    loop {
        if !ticket.reserve(session.unauthenticated_bytes()) {
            return End::Cancelled;
        }
        let pending = !ticket.is_authenticated();
        let mut buf = session.read_buffer();
        let read = tokio::select! {
            biased;
            _ = cancel.cancelled() => return End::Cancelled,
            _ = tokio::time::sleep_until(deadline), if pending => return End::Timeout,
            r = io.read_buf(&mut buf) => r,
        };
        match read {
            Ok(0) => return End::Eof,
            Ok(_) => {}
            Err(e) => return End::Io(e),
        }
        match drive(ctx, who, session).await {
            Ok(None) => {}
            Ok(Some(r)) => return End::Rejected(r),
            Err(e) => return End::Store(e),
        }
        if session.is_authenticated() {
            if !ticket.authenticate() {
                return End::Cancelled;
            }
            return streamed(io, ctx, who, session, cancel).await;
        }
    }
}

/// Bytes read ahead per socket read of an authenticated session.
const READ_AHEAD: usize = 256 * 1024;

/// The loop of an authenticated session: the next bytes are read (and decrypted) while
/// the store round trips of the bytes before them run, instead of after. Order is kept:
/// bytes read ahead go to the session only once it handled everything before them. A
/// cancel is seen between two store writes, never in the middle of one.
async fn streamed<S: AsyncRead + Unpin>(
    io: &mut S,
    ctx: &Ctx,
    who: &Peer,
    session: &mut Session,
    cancel: &CancellationToken,
) -> End {
    let mut ahead = BytesMut::with_capacity(READ_AHEAD);
    loop {
        let read = {
            let read = async {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => None,
                    r = io.read_buf(&mut ahead) => Some(r),
                }
            };
            let driving = drive(ctx, who, session);
            tokio::pin!(read, driving);
            let mut done = None;
            let driven = loop {
                tokio::select! {
                    d = &mut driving => break d,
                    r = &mut read, if done.is_none() => done = Some(r),
                }
            };
            // A rejection or a store error ends the session at once, read or not.
            match driven {
                Ok(None) => {}
                Ok(Some(r)) => return End::Rejected(r),
                Err(e) => return End::Store(e),
            }
            match done {
                Some(r) => r,
                None => read.await,
            }
        };
        match read {
            None => return End::Cancelled,
            Some(Ok(0)) => return End::Eof,
            Some(Ok(_)) => {}
            Some(Err(e)) => return End::Io(e),
        }
        session.read_buffer().put_slice(&ahead);
        ahead.clear();
    }
}

/// Runs the session's actions until it needs more bytes (`None`) or is rejected.
async fn drive(ctx: &Ctx, who: &Peer, session: &mut Session) -> Result<Option<Reject>, StoreError> {
    let (st, ip, id) = (&ctx.stores, who.ip.as_str(), who.session.as_str());
    let owner = ctx.registry.owner();
    loop {
        match session.poll() {
            Action::Read => return Ok(None),
            Action::FetchChecks { header, want_key } => {
                let checks = effects::fetch_checks(st, ip, header, id, want_key).await?;
                session.reply(Reply::Checks(checks));
            }
            Action::Claim { uuid, ty } => {
                let won = effects::claim_identity(st, owner, uuid, ty, id).await?;
                if won {
                    tracing::Span::current().record("uuid", uuid);
                }
                session.reply(Reply::Claimed(won));
            }
            Action::Switch254 { uuid } => {
                effects::switch_to_254(st, owner, uuid, id).await?;
                session.reply(Reply::Switched);
            }
            Action::Accept(accepted) => {
                effects::write_accepted(st, ip, id, accepted).await?;
                let bytes = accepted.packets.iter().map(|(_, p)| p.len() as u64).sum();
                let packets = accepted.packets.len() as u64;
                ctx.metrics
                    .accepted(&accepted.uuid, accepted.ty, packets, bytes);
                session.reply(Reply::Written);
            }
            Action::Reject(r) => {
                effects::apply_reject(st, r, ip, id).await?;
                ctx.metrics.rejected(r.reject.kind(), r.ty);
                return Ok(Some(r.reject.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_is_keyed_as_ipv4() {
        let p: SocketAddr = "[::ffff:1.2.3.4]:5".parse().unwrap();
        assert_eq!(peer_ip(&p), "1.2.3.4");
        let p: SocketAddr = "[2001:db8::1]:5".parse().unwrap();
        assert_eq!(peer_ip(&p), "2001:db8::1");
        let p: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert_eq!(peer_ip(&p), "127.0.0.1");
        let p: SocketAddr = "[::1]:5".parse().unwrap();
        assert_eq!(peer_ip(&p), "::1");
    }

    #[test]
    fn the_warning_budget_allows_its_lines_then_refuses() {
        let budget = WarnBudget::new(3);
        let allowed = (0..10).filter(|_| budget.allow()).count();
        // Three, or a few more if the minute turned during the loop.
        assert!((3..=6).contains(&allowed), "{allowed}");
    }
}
