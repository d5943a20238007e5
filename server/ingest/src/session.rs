//! One sensor connection: reassembly, the checks of spec §2.5 in order, acceptance.
//!
//! The byte stream is decoded with [`d4_proto::decode`] into whole packets, however
//! the bytes were split or joined by TLS records (no minimum chunk size, unlike
//! upstream's <62-byte hold-back). Complete packets with the same uuid and type form a
//! *batch*: one round trip fetches every check the batch needs, the packets are
//! verified (HMAC, stream limit) one by one in order, and the accepted prefix is written
//! in one more round trip — before any rejection is acted on, so nothing already sent
//! and valid is lost. A partial packet stays buffered (bounded by the size limit) until
//! its bytes arrive; an idle authenticated connection keeps its buffer.
//!
//! [`run`] is generic over the reader so tests can feed it any byte sequence.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::kick::Registry;
use super::reject::Reject;
use super::store::{self, Accepted, Checks, Ending, Stores};
use d4_core::config::ServerMode;
use d4_proto::{decode, Decoded, Header, Limits, Packet, ProtoError, HEADER_SIZE};

/// Inactivity before an unauthenticated connection is closed (upstream `timeout_time`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most packets handled in one batch (bounds pipeline size).
const MAX_BATCH: usize = 4096;
/// Free space kept in the read buffer so one read can take many packets.
const READ_RESERVE: usize = 256 * 1024;

/// Settings shared by all sessions.
#[derive(Clone)]
pub struct Ctx {
    /// Store connections.
    pub stores: Stores,
    /// Registration or shared-secret.
    pub mode: ServerMode,
    /// Payload size limit.
    pub limits: Limits,
    /// Inactivity timeout.
    pub idle_timeout: Duration,
    /// Live sessions, for kicks.
    pub registry: Registry,
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The peer closed the connection.
    Eof,
    /// A check failed.
    Rejected(Reject),
    /// Kicked or server shutdown.
    Cancelled,
    /// No accepted header within the idle timeout.
    Timeout,
    /// Read or TLS error.
    Io(std::io::Error),
    /// The store failed; the connection is dropped so the sensor retries.
    Store(fred::error::Error),
}

/// Per-connection state (upstream `D4_Server.__init__`).
struct State {
    session: String,
    ip: String,
    uuid: Option<String>,
    ty: Option<u8>,
    duplicate: bool,
    data_saved: bool,
    type_first_seen: bool,
    hmac_key: Option<Vec<u8>>,
    max_entries: u64,
}

/// The address as the server keys it: IPv4-mapped IPv6 becomes plain IPv4; IPv6 has
/// no zone (upstream `extract_ip`).
pub fn peer_ip(peer: &SocketAddr) -> String {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_canonical().to_string(),
        ip => ip.to_string(),
    }
}

/// Serves one connection until it ends, then runs the disconnect cleanup.
pub async fn run<S: AsyncRead + Unpin>(
    mut io: S,
    ctx: &Ctx,
    peer: SocketAddr,
    cancel: CancellationToken,
) -> End {
    let mut st = State {
        session: uuid::Uuid::new_v4().to_string(),
        ip: peer_ip(&peer),
        uuid: None,
        ty: None,
        duplicate: false,
        data_saved: false,
        type_first_seen: true,
        hmac_key: None,
        max_entries: store::DEFAULT_STREAM_MAX_SIZE,
    };
    ctx.registry.insert(&st.session, cancel.clone());
    let end = serve(&mut io, ctx, &mut st, &cancel).await;
    ctx.registry.remove(&st.session);
    let ending = Ending {
        session: &st.session,
        uuid: st.uuid.as_deref(),
        ty: st.ty,
        duplicate: st.duplicate,
        data_saved: st.data_saved,
    };
    if let Err(error) = store::release(&ctx.stores, &ending).await {
        warn!(session = %st.session, %error, "Disconnect cleanup failed.");
    }
    log_end(&st, &end);
    end
}

fn log_end(st: &State, end: &End) {
    let uuid = st.uuid.as_deref().unwrap_or("-");
    match end {
        End::Rejected(r) => {
            info!(session = %st.session, ip = %st.ip, uuid, reason = r.kind(), "{r}.")
        }
        End::Store(error) => {
            warn!(session = %st.session, uuid, %error, "Store error, connection dropped.")
        }
        End::Timeout => info!(ip = %st.ip, "Timeout, no D4 header sent, connection closed."),
        other => debug!(session = %st.session, uuid, end = ?other, "Connection closed."),
    }
}

async fn serve<S: AsyncRead + Unpin>(
    io: &mut S,
    ctx: &Ctx,
    st: &mut State,
    cancel: &CancellationToken,
) -> End {
    let mut buf = BytesMut::with_capacity(READ_RESERVE);
    loop {
        if buf.capacity() - buf.len() < READ_RESERVE / 8 {
            buf.reserve(READ_RESERVE);
        }
        let read = tokio::select! {
            biased;
            _ = cancel.cancelled() => return End::Cancelled,
            r = tokio::time::timeout(ctx.idle_timeout, io.read_buf(&mut buf)) => r,
        };
        match read {
            Err(_) if st.uuid.is_none() => return End::Timeout,
            Err(_) => continue,
            Ok(Ok(0)) => return End::Eof,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return End::Io(e),
        }
        match process(&mut buf, ctx, st).await {
            Ok(None) => {}
            Ok(Some(r)) => return End::Rejected(r),
            Err(e) => return End::Store(e),
        }
    }
}

/// Handles every complete packet at the front of `buf`; `Some` when the connection must
/// be dropped.
async fn process(
    buf: &mut BytesMut,
    ctx: &Ctx,
    st: &mut State,
) -> Result<Option<Reject>, fred::error::Error> {
    loop {
        let (headers, len) = match collect_batch(buf, &ctx.limits) {
            Ok(b) => b,
            Err(h) => return oversize(ctx, st, &h).await.map(Some),
        };
        if headers.is_empty() {
            return Ok(None);
        }
        let chunk = buf.split_to(len).freeze();
        if let Some(r) = handle_batch(ctx, st, &headers, &chunk).await? {
            return Ok(Some(r));
        }
    }
}

/// The longest run of complete packets at the front of `buf` sharing the first one's
/// uuid and type, and their total length. `Err(header)` if the first header is oversize.
fn collect_batch(buf: &[u8], limits: &Limits) -> Result<(Vec<Header>, usize), Header> {
    let mut headers: Vec<Header> = Vec::new();
    let mut off = 0;
    while headers.len() < MAX_BATCH {
        let rest = buf.get(off..).unwrap_or_default();
        match decode(rest, limits) {
            Ok(Decoded::Packet(p)) => {
                if let Some(first) = headers.first() {
                    if first.uuid != p.header.uuid || first.data_type != p.header.data_type {
                        break;
                    }
                }
                off += p.raw.len();
                headers.push(p.header);
            }
            Ok(_) => break,
            Err(ProtoError::Oversize { .. }) if headers.is_empty() => {
                return Err(Header::parse(rest).unwrap_or_else(empty_header));
            }
            Err(_) => break,
        }
    }
    Ok((headers, off))
}

fn empty_header() -> Header {
    Header {
        version: 0,
        data_type: d4_proto::DataType(0),
        uuid: [0; 16],
        timestamp: 0,
        hmac: [0; 32],
        size: 0,
    }
}

/// An oversize header: checks a-d still come first (spec §2.5 order), then the size.
async fn oversize(ctx: &Ctx, st: &mut State, h: &Header) -> Result<Reject, fred::error::Error> {
    let checks = store::fetch_checks(&ctx.stores, &st.ip, h, &st.session, false).await?;
    let r = match checks.first_failure(ctx.mode, &st.ip, h) {
        Some(
            r @ (Reject::BlacklistedIp { .. }
            | Reject::BlacklistedIpByUuid { .. }
            | Reject::BlacklistedUuid { .. }
            | Reject::NotRegistered { .. }
            | Reject::TempBlacklisted),
        ) => r,
        _ => Reject::Oversize { size: h.size },
    };
    reject(ctx, st, h, r).await
}

async fn reject(
    ctx: &Ctx,
    st: &State,
    h: &Header,
    r: Reject,
) -> Result<Reject, fred::error::Error> {
    let uuid = match &r {
        Reject::TypeChange { .. } => st.uuid.clone().unwrap_or_else(|| h.uuid_hex()),
        _ => h.uuid_hex(),
    };
    store::apply_reject(&ctx.stores, &r, &uuid, &st.ip, h.data_type.0, &st.session).await?;
    Ok(r)
}

fn packet<'a>(chunk: &'a Bytes, off: usize, h: &Header) -> Packet<'a> {
    let raw = chunk.get(off..off + h.packet_len()).unwrap_or_default();
    Packet {
        header: h.clone(),
        raw,
    }
}

fn hmac_ok(st: &State, chunk: &Bytes, off: usize, h: &Header) -> bool {
    let key = st.hmac_key.as_deref().unwrap_or_default();
    packet(chunk, off, h).verify_hmac(key).is_ok()
}

/// Checks, then accepts, a batch of packets that share uuid and type.
async fn handle_batch(
    ctx: &Ctx,
    st: &mut State,
    headers: &[Header],
    chunk: &Bytes,
) -> Result<Option<Reject>, fred::error::Error> {
    let Some(h0) = headers.first() else {
        return Ok(None);
    };
    let want_key = st.hmac_key.is_none();
    let checks = store::fetch_checks(&ctx.stores, &st.ip, h0, &st.session, want_key).await?;
    if want_key {
        st.hmac_key = checks.hmac_key.clone();
        st.max_entries = checks.max_entries.unwrap_or(store::DEFAULT_STREAM_MAX_SIZE);
    }
    if let Some(r) = checks.first_failure(ctx.mode, &st.ip, h0) {
        return reject(ctx, st, h0, r).await.map(Some);
    }
    if let Some(r) = session_identity(ctx, st, h0, chunk).await? {
        return reject(ctx, st, h0, r).await.map(Some);
    }
    let (accepted, verdict) = verify(st, &checks, headers, chunk);
    if !accepted.is_empty() {
        let uuid = st.uuid.clone().unwrap_or_default();
        store::write_accepted(
            &ctx.stores,
            &Accepted {
                uuid: &uuid,
                ip: &st.ip,
                ty: h0.data_type.0,
                session: &st.session,
                packets: &accepted,
                first: !st.data_saved,
                type_first_seen: st.type_first_seen,
            },
        )
        .await?;
        st.data_saved = true;
        st.type_first_seen = false;
    }
    match verdict {
        Some(r) => reject(ctx, st, h0, r).await.map(Some),
        None => Ok(None),
    }
}

/// HMAC and stream limit of each packet in order: the accepted prefix and the
/// rejection that ended it, if any.
fn verify(
    st: &State,
    checks: &Checks,
    headers: &[Header],
    chunk: &Bytes,
) -> (Vec<(Header, Bytes)>, Option<Reject>) {
    let mut accepted = Vec::with_capacity(headers.len());
    let mut off = 0;
    for h in headers {
        let end = off + h.packet_len();
        if !hmac_ok(st, chunk, off, h) {
            return (accepted, Some(Reject::BadHmac));
        }
        if checks.xlen + accepted.len() as u64 >= st.max_entries {
            return (accepted, Some(Reject::StreamFull));
        }
        accepted.push((h.clone(), chunk.slice(off + HEADER_SIZE..end)));
        off = end;
    }
    (accepted, None)
}

/// First header of the session (identity, after its HMAC), or the type/uuid-change
/// rules of later headers (spec §2.5 i-n).
async fn session_identity(
    ctx: &Ctx,
    st: &mut State,
    h: &Header,
    chunk: &Bytes,
) -> Result<Option<Reject>, fred::error::Error> {
    let uuid = h.uuid_hex();
    let ty = h.data_type.0;
    let (Some(cur_uuid), Some(cur_ty)) = (st.uuid.clone(), st.ty) else {
        // Authenticate before touching the live-connection sets (upstream did not).
        if !hmac_ok(st, chunk, 0, h) {
            return Ok(Some(Reject::BadHmac));
        }
        if let Some(r) = store::claim_identity(&ctx.stores, &uuid, ty, &st.session).await? {
            st.duplicate = true;
            return Ok(Some(r));
        }
        tracing::Span::current().record("uuid", uuid.as_str());
        st.uuid = Some(uuid);
        st.ty = Some(ty);
        st.type_first_seen = true;
        return Ok(None);
    };
    if cur_ty != ty {
        if cur_ty == 2 && ty == 254 && st.data_saved {
            store::switch_to_254(&ctx.stores, &cur_uuid, &st.session).await?;
            st.ty = Some(254);
            st.type_first_seen = true;
        } else {
            return Ok(Some(Reject::TypeChange {
                old: cur_ty,
                new: ty,
            }));
        }
    }
    if cur_uuid != uuid {
        return Ok(Some(Reject::UuidChange { new: uuid }));
    }
    Ok(None)
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
    fn batches_stop_at_uuid_or_type_change_and_partial_packets() {
        use d4_proto::{encode_packet, DataType};
        let u1 = [0x11; 16];
        let u2 = [0x22; 16];
        let mut b = Vec::new();
        b.extend(encode_packet(1, DataType(8), u1, 0, b"k", b"a"));
        b.extend(encode_packet(1, DataType(8), u1, 0, b"k", b"bb"));
        let first_two = b.len();
        b.extend(encode_packet(1, DataType(8), u2, 0, b"k", b"c"));
        let (h, n) = collect_batch(&b, &Limits::default()).unwrap();
        assert_eq!((h.len(), n), (2, first_two));
        let (h, n) = collect_batch(&b[first_two..b.len() - 1], &Limits::default()).unwrap();
        assert_eq!((h.len(), n), (0, 0));
        let mut big = encode_packet(1, DataType(8), u1, 0, b"k", b"");
        big[58..62].copy_from_slice(&2_000_000u32.to_le_bytes());
        assert!(collect_batch(&big, &Limits::default()).is_err());
    }
}
