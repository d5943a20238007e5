//! The TLS listener: its TLS settings, binding (dual-stack `::` by default), accepting
//! under the [`admission`](crate::admission) limits (a connection without a slot is
//! closed at once), the TLS handshake inside each connection's task within the
//! connection's authentication deadline, TCP keepalive, and graceful shutdown.
//!
//! Accept errors never stop the server: per-connection ones are skipped, resource
//! exhaustion (EMFILE, ENOBUFS...) is logged and retried after a short pause.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use d4_core::tls::TlsError;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use crate::admission::Ticket;
use crate::connection::{self, Ctx};
/// How long shutdown waits for sessions to finish their cleanup: inside the runtime's
/// shutdown deadline, so stuck sessions are aborted (and logged) before the process is.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// The TLS settings of the listener: the certificate and key loaded by
/// [`d4_core::tls::server_config`], without TLS 1.3 session tickets.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = d4_core::tls::server_config(cert, key)?;
    // The server must never send application-level bytes: sensors never read, and
    // unread TLS 1.3 session tickets in a sensor's receive buffer turn its close into a
    // TCP reset, which makes this side discard the sensor's last unread data.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// Binds `host:port`. `::` is a dual-stack socket (IPv4 peers appear as mapped
/// addresses); if IPv6 is unavailable it falls back to `0.0.0.0`.
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => {
            let mut addrs = tokio::net::lookup_host((host, port)).await?;
            addrs
                .next()
                .map(|a| a.ip())
                .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?
        }
    };
    if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        match bind_socket(SocketAddr::new(ip, port), true) {
            Ok(l) => return Ok(l),
            Err(e) => warn!(error = %e, "IPv6 unavailable, listening on 0.0.0.0 only."),
        }
        return bind_socket(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            false,
        );
    }
    bind_socket(SocketAddr::new(ip, port), false)
}

fn bind_socket(addr: SocketAddr, dual_stack: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Keepalive so dead peers are noticed within minutes, not the OS default of hours.
fn set_keepalive(tcp: &TcpStream) {
    let ka = TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    if let Err(e) = SockRef::from(tcp).set_tcp_keepalive(&ka) {
        debug!(error = %e, "Cannot set TCP keepalive.");
    }
}

fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12))
}

/// Accepts sensors until `shutdown` is cancelled, then closes every session and waits
/// (bounded) for their disconnect cleanup.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    ctx: Ctx,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let ctx = Arc::new(ctx);
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) if is_resource_error(&e) => {
                    warn!(error = %e, "Accept failed, retrying.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => {
                    debug!(error = %e, "Accept failed.");
                    continue;
                }
            },
        };
        let token = shutdown.child_token();
        // Refused: `tcp` is dropped here, which closes it.
        let Ok(ticket) = ctx.admission.admit(peer, token.clone()) else {
            continue;
        };
        set_keepalive(&tcp);
        let acceptor = acceptor.clone();
        let ctx = ctx.clone();
        let span = tracing::info_span!("conn", %peer, uuid = tracing::field::Empty);
        tasks.spawn(handle(acceptor, tcp, ticket, ctx, token).instrument(span));
    }
    drop(listener);
    info!(
        sessions = tasks.len(),
        "Shutting down: closing sensor connections."
    );
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        warn!("Sessions did not finish in time; aborting them.");
    }
}

/// One connection's task: the TLS handshake (by the authentication deadline), then the
/// session. The ticket's slot is freed when the task ends.
async fn handle(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    ticket: Ticket,
    ctx: Arc<Ctx>,
    token: CancellationToken,
) {
    let deadline = tokio::time::Instant::from_std(ticket.deadline());
    let tls = tokio::select! {
        _ = token.cancelled() => return,
        r = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => r,
    };
    match tls {
        Ok(Ok(stream)) => {
            connection::run(stream, &ctx, ticket, token).await;
        }
        Ok(Err(e)) => debug!(error = %e, "TLS handshake failed."),
        Err(_) => debug!("TLS handshake timed out."),
    }
}
