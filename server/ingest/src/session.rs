//! The sans-I/O sensor session: bytes and store answers in, actions out (no tokio, no
//! store code). [`connection`](crate::connection) drives it over a socket and runs each
//! action with [`effects`](crate::effects).
//!
//! The byte stream is decoded with [`d4_proto::decode`] into whole packets, however the
//! bytes were split or joined by TLS records (no minimum chunk size, unlike upstream's
//! <62-byte hold-back). Complete packets with the same uuid and type form a *batch*; for
//! each batch the session asks, in this order:
//!
//! 1. [`Action::FetchChecks`]: the store facts the checks of spec §2.5 a-h need
//!    ([`Checks`]), answered with [`Reply::Checks`];
//! 2. on the session's first header, after its HMAC: [`Action::Claim`] of the live
//!    identity (a duplicate uuid+type loses), answered with [`Reply::Claimed`]; on a
//!    later 2 → 254 header: [`Action::Switch254`], answered with [`Reply::Switched`];
//! 3. [`Action::Accept`] of the packets that pass HMAC and the stream limit, in order
//!    (one write for the batch, before any rejection is acted on, so nothing already sent
//!    and valid is lost), answered with [`Reply::Written`];
//! 4. [`Action::Reject`] when a check fails: the session is over and asks nothing else.
//!
//! [`Action::Read`] means every complete packet was handled. A partial packet stays
//! buffered (bounded by the size limit) until its bytes arrive. An oversize header is
//! rejected without buffering its payload, after the checks a-d that come first in
//! spec order. Until its reply arrives, [`Session::poll`] repeats the pending action; a
//! reply that answers no pending action is ignored.
//!
//! Before the session has authenticated (its first packet passed the HMAC check), the
//! checks a-h run as soon as the first header is in, before any of its payload is read
//! (as upstream did): [`Session::read_limit`] allows only the header's bytes until then,
//! and then only the rest of that one packet, whose size
//! [`Session::unauthenticated_bytes`] reports so the caller can bound what all
//! unauthenticated sessions buffer.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{BufMut, Bytes, BytesMut};

use crate::reject::Reject;
use d4_core::config::ServerMode;
use d4_proto::{decode, DataType, Decoded, Header, Limits, Packet, ProtoError, HEADER_SIZE};

/// Default `stream_max_size` (upstream `default_max_entries_by_stream`).
pub(crate) const DEFAULT_STREAM_MAX_SIZE: u64 = 10_000;
/// Most packets handled in one batch (bounds pipeline size).
const MAX_BATCH: usize = 4096;
/// Free space kept in the read buffer so one read can take many packets.
const READ_RESERVE: usize = 256 * 1024;

/// What the checks of one batch (same uuid and type) found in the stores.
#[derive(Debug, Default, Clone)]
pub(crate) struct Checks {
    /// `blacklist_ip` contains the peer IP.
    pub(crate) ip_blacklisted: bool,
    /// `blacklist_ip_by_uuid` contains the uuid.
    pub(crate) ip_by_uuid: bool,
    /// `blacklist_uuid` contains the uuid.
    pub(crate) uuid_blacklisted: bool,
    /// `registered_uuid` contains the uuid.
    pub(crate) registered: bool,
    /// `temp_blacklist_uuid:<uuid>` exists.
    pub(crate) temp_blacklisted: bool,
    /// `Error:IncorrectType` contains the session.
    pub(crate) incorrect_type: bool,
    /// `server:accepted_type` contains the type.
    pub(crate) type_accepted: bool,
    /// Entries waiting in `stream:<type>:<session>`.
    pub(crate) xlen: u64,
    /// HMAC key (per-sensor or default), when asked for.
    pub(crate) hmac_key: Option<Vec<u8>>,
    /// `stream_max_size_by_uuid` or the default, when asked for.
    pub(crate) max_entries: Option<u64>,
}

impl Checks {
    /// The first failing check of spec §2.5 a-h (IP blacklist first, as upstream checks
    /// it on every chunk), or `None`.
    pub(crate) fn first_failure(&self, mode: ServerMode, ip: &str, h: &Header) -> Option<Reject> {
        let uuid = h.uuid_hex();
        if self.ip_blacklisted {
            return Some(Reject::BlacklistedIp { ip: ip.into() });
        }
        if self.ip_by_uuid {
            return Some(Reject::BlacklistedIpByUuid { uuid });
        }
        if self.uuid_blacklisted {
            return Some(Reject::BlacklistedUuid { uuid });
        }
        if mode == ServerMode::Registration && !self.registered {
            return Some(Reject::NotRegistered { uuid });
        }
        if self.temp_blacklisted {
            return Some(Reject::TempBlacklisted);
        }
        if self.incorrect_type {
            return Some(Reject::IncorrectType);
        }
        if !d4_proto::is_valid_uuid_v4(&h.uuid) {
            return Some(Reject::InvalidUuid { uuid });
        }
        if !self.type_accepted {
            return Some(Reject::TypeNotAccepted { ty: h.data_type.0 });
        }
        None
    }

    /// The failure an oversize header is refused for: a-d and the temporary blacklist
    /// still come first (spec §2.5 order), then the size.
    fn oversize_failure(&self, mode: ServerMode, ip: &str, h: &Header) -> Reject {
        match self.first_failure(mode, ip, h) {
            Some(
                r @ (Reject::BlacklistedIp { .. }
                | Reject::BlacklistedIpByUuid { .. }
                | Reject::BlacklistedUuid { .. }
                | Reject::NotRegistered { .. }
                | Reject::TempBlacklisted),
            ) => r,
            _ => Reject::Oversize { size: h.size },
        }
    }
}

/// One batch of accepted packets of a session (same uuid and type), to be written.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// Sensor uuid.
    pub(crate) uuid: String,
    /// D4 type.
    pub(crate) ty: DataType,
    /// Header and payload of each packet, in order.
    pub(crate) packets: Vec<(Header, Bytes)>,
    /// First accepted packet of the connection is in this batch.
    pub(crate) first: bool,
    /// First packet of the session or after a 2 → 254 switch is in this batch.
    pub(crate) type_first_seen: bool,
}

/// A rejection and what its store effects need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// Why.
    pub(crate) reject: Reject,
    /// The peer proved it holds the uuid's key (a packet passed the HMAC check), so it
    /// may write to a sensor hash that does not exist yet.
    pub(crate) authenticated: bool,
    /// The uuid whose `Error` field is written (the session's, for a type change).
    pub(crate) uuid: String,
    /// The type of the refused header.
    pub(crate) ty: DataType,
}

/// What the session needs done next.
#[derive(Debug)]
pub(crate) enum Action<'a> {
    /// Every complete packet is handled: read more bytes into [`Session::read_buffer`].
    Read,
    /// Fetch the checks of a batch starting with `header`; the HMAC key and stream limit
    /// too if `want_key`. Answer: [`Reply::Checks`].
    FetchChecks {
        /// First header of the batch.
        header: &'a Header,
        /// The session has no HMAC key yet.
        want_key: bool,
    },
    /// Claim the live identity `uuid`+`ty` for this session. Answer: [`Reply::Claimed`].
    Claim {
        /// Sensor uuid (hex).
        uuid: &'a str,
        /// Session type (never 254: a session cannot start with it).
        ty: DataType,
    },
    /// Move the session from type 2 to 254 (spec §2.5 m). Answer: [`Reply::Switched`].
    Switch254 {
        /// Sensor uuid (hex).
        uuid: &'a str,
    },
    /// Write a batch of accepted packets. Answer: [`Reply::Written`].
    Accept(&'a Accepted),
    /// Apply the rejection's store effects and close the connection. Final.
    Reject(&'a Rejection),
}

/// The answer to the pending [`Action`].
#[derive(Debug)]
pub(crate) enum Reply {
    /// To [`Action::FetchChecks`].
    Checks(Checks),
    /// To [`Action::Claim`]: `false` when another live session holds the identity.
    Claimed(bool),
    /// To [`Action::Switch254`].
    Switched,
    /// To [`Action::Accept`].
    Written,
}

/// Complete packets taken off the buffer: same uuid and type.
#[derive(Debug)]
struct Batch {
    headers: Vec<Header>,
    chunk: Bytes,
}

impl Batch {
    /// The first header (a batch is never empty).
    fn first(&self) -> &Header {
        self.headers.first().unwrap_or(&EMPTY_HEADER)
    }
}

/// Where the session stands.
#[derive(Debug)]
enum Step {
    /// Looking for the next batch in the buffer.
    Idle,
    /// Waiting for the checks of the first header, before its payload is read.
    Prechecking(Header),
    /// Waiting for the checks of an oversize header.
    Oversize(Header),
    /// Waiting for the checks of a batch.
    Checking { batch: Batch, want_key: bool },
    /// Waiting for the identity claim of the first batch.
    Claiming {
        batch: Batch,
        checks: Checks,
        uuid: String,
    },
    /// Waiting for the 2 → 254 switch.
    Switching {
        batch: Batch,
        checks: Checks,
        uuid: String,
    },
    /// Waiting for the write; then the rejection that ended the batch, if any.
    Writing {
        accepted: Accepted,
        verdict: Option<Rejection>,
    },
    /// Rejected: the session is over.
    Rejected(Rejection),
}

/// What the disconnect clean-up needs to know about a session (spec §2.8).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending<'a> {
    /// Session uuid.
    pub(crate) session: &'a str,
    /// Sensor uuid, once a header was accepted.
    pub(crate) uuid: Option<&'a str>,
    /// Session type, once a header was accepted.
    pub(crate) ty: Option<DataType>,
    /// The session was refused as a duplicate (its sets belong to another session).
    pub(crate) duplicate: bool,
    /// At least one packet was accepted (a worker will look for the session's end).
    pub(crate) data_saved: bool,
}

/// One sensor connection's protocol state (upstream `D4_Server.__init__`).
#[derive(Debug)]
pub(crate) struct Session {
    id: String,
    ip: String,
    mode: ServerMode,
    limits: Limits,
    buf: BytesMut,
    step: Step,
    uuid: Option<String>,
    ty: Option<DataType>,
    duplicate: bool,
    data_saved: bool,
    type_first_seen: bool,
    hmac_key: Option<Vec<u8>>,
    max_entries: u64,
    /// A packet passed the HMAC check.
    authenticated: bool,
    /// The first header passed the checks a-h (before authentication).
    prechecked: bool,
}

impl Session {
    /// A new session `id` with a peer keyed as `ip`.
    pub(crate) fn new(id: String, ip: String, mode: ServerMode, limits: Limits) -> Session {
        Session {
            id,
            ip,
            mode,
            limits,
            buf: BytesMut::new(),
            step: Step::Idle,
            uuid: None,
            ty: None,
            duplicate: false,
            data_saved: false,
            type_first_seen: true,
            hmac_key: None,
            max_entries: DEFAULT_STREAM_MAX_SIZE,
            authenticated: false,
            prechecked: false,
        }
    }

    /// The buffer to read more bytes into, limited to [`Session::read_limit`] (with room
    /// for many packets once authenticated).
    pub(crate) fn read_buffer(&mut self) -> bytes::buf::Limit<&mut BytesMut> {
        let limit = self.read_limit();
        if self.authenticated {
            if self.buf.capacity() - self.buf.len() < READ_RESERVE / 8 {
                self.buf.reserve(READ_RESERVE);
            }
        } else {
            self.buf.reserve(limit);
        }
        BufMut::limit(&mut self.buf, limit)
    }

    /// Most bytes to read now. Unauthenticated: the rest of the first header, then (once
    /// it passed its checks) the rest of its packet, nothing more. Authenticated: any.
    pub(crate) fn read_limit(&self) -> usize {
        if self.authenticated {
            return usize::MAX;
        }
        let want = match Header::parse(&self.buf) {
            Some(h) if self.prechecked => h.packet_len(),
            Some(_) => 0,
            None => HEADER_SIZE,
        };
        want.saturating_sub(self.buf.len())
    }

    /// Payload bytes this session will buffer before it authenticates: the announced
    /// size of its first packet once that header passed its checks, else 0.
    pub(crate) fn unauthenticated_bytes(&self) -> usize {
        if self.authenticated || !self.prechecked {
            return 0;
        }
        Header::parse(&self.buf).map_or(0, |h| h.size as usize)
    }

    /// Whether a packet of this session passed the HMAC check.
    pub(crate) fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Appends received bytes (what a read into [`Session::read_buffer`] does).
    #[cfg(test)]
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The sensor uuid, once the session's first header was accepted.
    pub(crate) fn uuid(&self) -> Option<&str> {
        self.uuid.as_deref()
    }

    /// What the disconnect clean-up needs.
    pub(crate) fn ending(&self) -> Ending<'_> {
        Ending {
            session: &self.id,
            uuid: self.uuid.as_deref(),
            ty: self.ty,
            duplicate: self.duplicate,
            data_saved: self.data_saved,
        }
    }

    /// The next thing to do: the pending action again while its reply is awaited.
    pub(crate) fn poll(&mut self) -> Action<'_> {
        if matches!(self.step, Step::Idle) {
            self.step = self.next_batch();
        }
        match &self.step {
            Step::Idle => Action::Read,
            Step::Prechecking(header) => Action::FetchChecks {
                header,
                want_key: self.hmac_key.is_none(),
            },
            Step::Oversize(header) => Action::FetchChecks {
                header,
                want_key: false,
            },
            Step::Checking { batch, want_key } => Action::FetchChecks {
                header: batch.first(),
                want_key: *want_key,
            },
            Step::Claiming { batch, uuid, .. } => Action::Claim {
                uuid,
                ty: batch.first().data_type,
            },
            Step::Switching { uuid, .. } => Action::Switch254 { uuid },
            Step::Writing { accepted, .. } => Action::Accept(accepted),
            Step::Rejected(r) => Action::Reject(r),
        }
    }

    /// Takes the answer to the pending action.
    pub(crate) fn reply(&mut self, reply: Reply) {
        let step = std::mem::replace(&mut self.step, Step::Idle);
        self.step = match (step, reply) {
            (Step::Prechecking(h), Reply::Checks(c)) => self.prechecked(h, c),
            (Step::Oversize(h), Reply::Checks(c)) => {
                let r = c.oversize_failure(self.mode, &self.ip, &h);
                self.reject(&h, r)
            }
            (Step::Checking { batch, want_key }, Reply::Checks(c)) => {
                self.checked(batch, want_key, c)
            }
            (
                Step::Claiming {
                    batch,
                    checks,
                    uuid,
                },
                Reply::Claimed(won),
            ) => self.claimed(batch, checks, uuid, won),
            (Step::Switching { batch, checks, .. }, Reply::Switched) => {
                self.ty = Some(DataType::EXTENDED);
                self.type_first_seen = true;
                self.check_uuid(batch, checks)
            }
            (Step::Writing { verdict, .. }, Reply::Written) => {
                self.data_saved = true;
                self.type_first_seen = false;
                verdict.map_or(Step::Idle, Step::Rejected)
            }
            (step, _) => step,
        };
    }

    /// Takes the next batch off the buffer, or stays idle for more bytes.
    fn next_batch(&mut self) -> Step {
        let (headers, len) = match collect_batch(&self.buf, &self.limits) {
            Ok(b) => b,
            Err(h) => return Step::Oversize(h),
        };
        if headers.is_empty() {
            return match Header::parse(&self.buf) {
                Some(h) if !self.authenticated && !self.prechecked => Step::Prechecking(h),
                _ => Step::Idle,
            };
        }
        let chunk = self.buf.split_to(len).freeze();
        Step::Checking {
            batch: Batch { headers, chunk },
            want_key: self.hmac_key.is_none(),
        }
    }

    /// The session ends with `reject`, for header `h`.
    fn reject(&self, h: &Header, reject: Reject) -> Step {
        Step::Rejected(self.rejection(h, reject))
    }

    fn rejection(&self, h: &Header, reject: Reject) -> Rejection {
        let uuid = match &reject {
            Reject::TypeChange { .. } => self.uuid.clone().unwrap_or_else(|| h.uuid_hex()),
            _ => h.uuid_hex(),
        };
        Rejection {
            reject,
            uuid,
            ty: h.data_type,
            authenticated: self.authenticated,
        }
    }

    /// The checks of the first header arrived before its payload: a-h, or read on.
    fn prechecked(&mut self, h: Header, checks: Checks) -> Step {
        self.take_key(&checks);
        if let Some(r) = checks.first_failure(self.mode, &self.ip, &h) {
            return self.reject(&h, r);
        }
        self.prechecked = true;
        Step::Idle
    }

    /// Keeps the HMAC key and stream limit the first checks fetched.
    fn take_key(&mut self, checks: &Checks) {
        if self.hmac_key.is_none() {
            self.hmac_key = checks.hmac_key.clone();
            self.max_entries = checks.max_entries.unwrap_or(DEFAULT_STREAM_MAX_SIZE);
        }
    }

    /// The checks of a batch arrived: a-h first, then the identity rules (spec §2.5 i-n).
    fn checked(&mut self, batch: Batch, want_key: bool, checks: Checks) -> Step {
        if want_key {
            self.take_key(&checks);
        }
        let h0 = batch.first();
        if let Some(r) = checks.first_failure(self.mode, &self.ip, h0) {
            return self.reject(h0, r);
        }
        let ty = h0.data_type;
        let Some(cur_ty) = self.ty.filter(|_| self.uuid.is_some()) else {
            // Authenticate before touching the live-connection sets (upstream did not).
            if !self.hmac_ok(&batch.chunk, 0, h0) {
                return self.reject(h0, Reject::BadHmac);
            }
            self.authenticated = true;
            if ty == DataType::EXTENDED {
                return self.reject(h0, Reject::Type254First);
            }
            let uuid = h0.uuid_hex();
            return Step::Claiming {
                batch,
                checks,
                uuid,
            };
        };
        if cur_ty != ty {
            if cur_ty == DataType::META_HEADER && ty == DataType::EXTENDED && self.data_saved {
                let uuid = self.uuid.clone().unwrap_or_default();
                return Step::Switching {
                    batch,
                    checks,
                    uuid,
                };
            }
            let r = Reject::TypeChange {
                old: cur_ty.0,
                new: ty.0,
            };
            return self.reject(h0, r);
        }
        self.check_uuid(batch, checks)
    }

    fn claimed(&mut self, batch: Batch, checks: Checks, uuid: String, won: bool) -> Step {
        let ty = batch.first().data_type;
        if !won {
            self.duplicate = true;
            return self.reject(batch.first(), Reject::Duplicate { ty: ty.0 });
        }
        self.uuid = Some(uuid);
        self.ty = Some(ty);
        self.type_first_seen = true;
        self.verify(batch, &checks)
    }

    /// A later header must keep the session's uuid (spec §2.5 n).
    fn check_uuid(&mut self, batch: Batch, checks: Checks) -> Step {
        let uuid = batch.first().uuid_hex();
        if self.uuid.as_deref() != Some(uuid.as_str()) {
            return self.reject(batch.first(), Reject::UuidChange { new: uuid });
        }
        self.verify(batch, &checks)
    }

    /// HMAC and stream limit of each packet in order: the accepted prefix is written,
    /// then the rejection that ended it, if any, is acted on.
    fn verify(&self, batch: Batch, checks: &Checks) -> Step {
        let mut packets = Vec::with_capacity(batch.headers.len());
        let mut verdict = None;
        let mut off = 0;
        for h in &batch.headers {
            let end = off + h.packet_len();
            if !self.hmac_ok(&batch.chunk, off, h) {
                verdict = Some(Reject::BadHmac);
                break;
            }
            if checks.xlen.saturating_add(packets.len() as u64) >= self.max_entries {
                verdict = Some(Reject::StreamFull);
                break;
            }
            packets.push((h.clone(), batch.chunk.slice(off + HEADER_SIZE..end)));
            off = end;
        }
        let h0 = batch.first();
        let verdict = verdict.map(|r| self.rejection(h0, r));
        if packets.is_empty() {
            return verdict.map_or(Step::Idle, Step::Rejected);
        }
        let accepted = Accepted {
            uuid: self.uuid.clone().unwrap_or_default(),
            ty: h0.data_type,
            packets,
            first: !self.data_saved,
            type_first_seen: self.type_first_seen,
        };
        Step::Writing { accepted, verdict }
    }

    fn hmac_ok(&self, chunk: &Bytes, off: usize, h: &Header) -> bool {
        let key = self.hmac_key.as_deref().unwrap_or_default();
        let raw = chunk.get(off..off + h.packet_len()).unwrap_or_default();
        let packet = Packet {
            header: h.clone(),
            raw,
        };
        packet.verify_hmac(key).is_ok()
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
                return Err(Header::parse(rest).unwrap_or(EMPTY_HEADER));
            }
            Err(_) => break,
        }
    }
    Ok((headers, off))
}

const EMPTY_HEADER: Header = Header {
    version: 0,
    data_type: DataType(0),
    uuid: [0; 16],
    timestamp: 0,
    hmac: [0; 32],
    size: 0,
};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
