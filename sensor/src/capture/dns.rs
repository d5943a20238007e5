//! DNS messages → cache updates (spec `pdns.md` §5.4): hickory-proto decodes the whole
//! message (a message that does not parse is dropped, as with ldns); queries are
//! remembered per 5-tuple; a response is used only if it answers a captured query
//! (same 5-tuple reversed, same ID). TC responses and messages without a question are
//! dropped. Only the answer section is examined; after a CNAME, later answers belong
//! to the CNAME target.
//!
//! Fixed relative to passivedns: client/server come from the query's direction (never
//! swapped), several outstanding query IDs per 5-tuple are accepted (glibc sends A and
//! AAAA in parallel), and an error for an unnamed qtype prints its mnemonic, not `1`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RData;

use super::cache::{Cache, Sighting};
use super::line::PdnsLine;
use super::rdata::{any_type_name, class_name, format_answer, known_type_name, name_to_string};
use super::slice::Proto;

/// Most outstanding query IDs remembered per 5-tuple.
const MAX_IDS: usize = 16;

/// Which answers and error rcodes are logged (`-X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeFilter {
    types: [bool; 128],
    rcodes: u16,
}

impl TypeFilter {
    /// passivedns's default `46CDNPRS`.
    pub const DEFAULT: &'static str = "46CDNPRS";

    /// Parses `-X` letters; unknown letters are returned. If no letter is valid the
    /// default is kept.
    pub fn parse(s: &str) -> (TypeFilter, Vec<char>) {
        let mut f = TypeFilter {
            types: [false; 128],
            rcodes: 0,
        };
        let mut unknown = Vec::new();
        let mut any = false;
        for c in s.chars() {
            let codes: &[u16] = match c {
                '4' => &[1],
                '6' => &[28],
                'C' => &[5],
                'D' => &[39],
                'N' => &[35],
                'P' => &[12],
                'R' => &[17],
                'S' => &[33],
                'T' => &[16],
                'F' => &[99, 16],
                'O' => &[6],
                'M' => &[15],
                'n' => &[2],
                'L' => &[29, 27],
                // Not NSEC3PARAM (51): see `log_nsec3param`.
                'd' => &[43, 48, 47, 50, 46],
                'H' => &[44],
                'I' => &[13],
                _ => &[],
            };
            let rcode = "fsxoryetaz".find(c).map(|i| i + 1);
            if codes.is_empty() && rcode.is_none() {
                unknown.push(c);
                continue;
            }
            any = true;
            for &code in codes {
                if let Some(slot) = f.types.get_mut(usize::from(code)) {
                    *slot = true;
                }
            }
            if let Some(r) = rcode {
                f.rcodes |= 1 << r;
            }
        }
        if !any {
            return (TypeFilter::parse(TypeFilter::DEFAULT).0, unknown);
        }
        (f, unknown)
    }

    /// Adds NSEC3PARAM to the DNSSEC types of `-X d`. passivedns 1.2.1 guards its
    /// NSEC3PARAM case with `#ifdef LDNS_RR_TYPE_NSEC3PARAM`, but that name is an enum
    /// constant of ldns, not a macro, so the real binary never logs NSEC3PARAM; this
    /// opt-in gives what its `-X d` help text promises. No effect without `d`.
    pub fn log_nsec3param(&mut self) {
        if self.logs_type(47) {
            if let Some(slot) = self.types.get_mut(51) {
                *slot = true;
            }
        }
    }

    /// Whether answers of this type are logged.
    pub fn logs_type(&self, code: u16) -> bool {
        self.types.get(usize::from(code)).copied().unwrap_or(false)
    }

    /// Whether any error rcode is logged.
    pub fn logs_any_rcode(&self) -> bool {
        self.rcodes != 0
    }

    /// Whether this (4-bit) rcode is logged.
    pub fn logs_rcode(&self, rcode: u8) -> bool {
        rcode > 0 && rcode < 16 && self.rcodes & (1 << rcode) != 0
    }
}

impl Default for TypeFilter {
    fn default() -> Self {
        TypeFilter::parse(TypeFilter::DEFAULT).0
    }
}

/// Name of a non-zero rcode as passivedns prints it.
pub fn rcode_name(rcode: u8) -> String {
    let names = [
        "", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    match names.get(usize::from(rcode)) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("UNKNOWN-ERROR-{rcode}"),
    }
}

/// A 5-tuple in query direction: client, client port, server, server port, transport.
type FlowKey = (IpAddr, u16, IpAddr, u16, Proto);

#[derive(Debug, Default)]
struct Flow {
    ids: Vec<u16>,
    last_seen: u64,
}

/// Why a message was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// hickory could not parse it.
    Parse,
    /// TC bit set.
    Truncated,
    /// Response without a matching captured query.
    Unmatched,
    /// No question.
    NoQuestion,
}

/// Where a message was seen.
#[derive(Debug, Clone)]
pub struct MsgMeta {
    /// Source address and port.
    pub src: (IpAddr, u16),
    /// Destination address and port.
    pub dst: (IpAddr, u16),
    /// Transport.
    pub proto: Proto,
    /// Ethernet source / destination.
    pub macs: ([u8; 6], [u8; 6]),
    /// Packet time.
    pub ts: super::line::Ts,
}

/// Query tracking plus the cache.
#[derive(Debug)]
pub struct DnsState {
    /// Logged types and rcodes.
    pub filter: TypeFilter,
    /// The dedup cache.
    pub cache: Cache,
    flows: HashMap<FlowKey, Flow>,
    last_sweep: u64,
}

impl DnsState {
    /// New state.
    pub fn new(filter: TypeFilter, cache: Cache) -> DnsState {
        DnsState {
            filter,
            cache,
            flows: HashMap::new(),
            last_sweep: 0,
        }
    }

    /// Handles one DNS message; lines to print go to `out` (answers, and errors flagged `true`).
    /// Returns `Ok(true)` for a used response.
    pub fn message(
        &mut self,
        wire: &[u8],
        m: &MsgMeta,
        out: &mut Vec<(PdnsLine, bool)>,
    ) -> Result<bool, Drop> {
        self.sweep(m.ts.sec);
        let msg = Message::from_vec(wire).map_err(|_| Drop::Parse)?;
        if msg.metadata.truncation {
            return Err(Drop::Truncated);
        }
        if msg.queries.is_empty() {
            return Err(Drop::NoQuestion);
        }
        if msg.metadata.message_type == MessageType::Query {
            let f = self
                .flows
                .entry((m.src.0, m.src.1, m.dst.0, m.dst.1, m.proto))
                .or_default();
            f.last_seen = m.ts.sec;
            if !f.ids.contains(&msg.metadata.id) {
                if f.ids.len() >= MAX_IDS {
                    f.ids.remove(0);
                }
                f.ids.push(msg.metadata.id);
            }
            return Ok(false);
        }
        let key = (m.dst.0, m.dst.1, m.src.0, m.src.1, m.proto);
        match self.flows.get(&key) {
            Some(f) if f.ids.contains(&msg.metadata.id) => {}
            _ => return Err(Drop::Unmatched),
        }
        let rcode = wire.get(3).map_or(0, |b| b & 0x0f);
        let s = Sighting {
            ts: m.ts,
            client: m.dst.0,
            server: m.src.0,
            client_mac: m.macs.1,
            server_mac: m.macs.0,
            proto: m.proto,
        };
        for q in &msg.queries {
            self.question(q, &msg, rcode, &s, out);
        }
        Ok(true)
    }

    fn question(
        &mut self,
        q: &hickory_proto::op::Query,
        msg: &Message,
        rcode: u8,
        s: &Sighting,
        out: &mut Vec<(PdnsLine, bool)>,
    ) {
        let mut qname = name_to_string(q.name());
        if msg.answers.is_empty() {
            if self.filter.logs_rcode(rcode) {
                let qtype = u16::from(q.query_type());
                let tname =
                    known_type_name(qtype).map_or_else(|| any_type_name(qtype), str::to_string);
                let class = class_name(u16::from(q.query_class()));
                if let Some(l) = self.cache.error(&qname, tname, class, rcode_name(rcode), s) {
                    out.push((l, true));
                }
            }
            return;
        }
        for rr in &msg.answers {
            let code = u16::from(rr.record_type());
            if self.filter.logs_type(code) {
                if let (Some(answer), Some(tname)) = (format_answer(rr), known_type_name(code)) {
                    let class = class_name(u16::from(rr.dns_class));
                    if let Some(l) = self.cache.answer(&qname, tname, answer, class, rr.ttl, s) {
                        out.push((l, false));
                    }
                }
            }
            if let RData::CNAME(target) = &rr.data {
                qname = name_to_string(&target.0);
            }
        }
    }

    /// Forgets query flows idle for 60 s (UDP) / 300 s (TCP) of packet time.
    fn sweep(&mut self, now: u64) {
        if now.saturating_sub(self.last_sweep) < 60 {
            return;
        }
        self.last_sweep = now;
        self.flows.retain(|k, f| {
            let idle = match k.4 {
                Proto::Udp => 60,
                Proto::Tcp => 300,
            };
            now.saturating_sub(f.last_seen) < idle
        });
    }
}
