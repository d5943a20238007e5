//! DNS capture → passivedns lines, one module per stage (only [`pcapio`] touches the
//! outside world):
//!
//! - [`pcapio`]: live interface or pcap file (libpcap via the `pcap` crate), BPF filter;
//! - [`slice`]: link/IP/UDP/TCP (etherparse), VLANs, tunnels;
//! - [`tcp`]: DNS-over-TCP reassembly and framing;
//! - [`dns`]: hickory-proto decoding, query/response matching, `-X` filter;
//! - [`rdata`]: ldns-compatible presentation of names and rdata;
//! - [`cache`]: passivedns's dedup cache and print rules;
//! - [`line`]: the output line (`-f`, `-d`).
//!
//! [`Engine`] wires the pure stages together and pushes lines into a [`LineSink`].

pub mod cache;
pub mod dns;
pub mod line;
pub mod pcapio;
pub mod rdata;
pub mod slice;
pub mod tcp;

use std::sync::Arc;

use crate::stats::Stats;
use cache::{Cache, CacheOptions};
use dns::{DnsState, Drop, MsgMeta, TypeFilter};
use line::{PdnsLine, Ts};
use slice::{Proto, Skip};

/// Receives the lines to print. `error` marks NXDOMAIN-style records (`-L` log).
pub trait LineSink {
    /// One record.
    fn line(&mut self, line: &PdnsLine, error: bool) -> std::io::Result<()>;
    /// Called when the capture is idle or finished: push out anything buffered.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bad input, counted by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BadCounts {
    /// Frames whose headers are truncated or malformed.
    pub malformed: u64,
    /// IP fragments.
    pub fragments: u64,
    /// Frames that are not UDP/TCP over IP (or not port 53 with the default filter).
    pub not_udp_tcp: u64,
    /// DNS messages hickory could not parse.
    pub dns_parse: u64,
    /// Responses with the TC bit.
    pub truncated: u64,
    /// Responses without a matching captured query.
    pub unmatched: u64,
    /// Messages without a question.
    pub no_question: u64,
}

impl BadCounts {
    /// Sum of all reasons.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.fragments
            + self.not_udp_tcp
            + self.dns_parse
            + self.truncated
            + self.unmatched
            + self.no_question
    }
}

/// Capture engine settings.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `-X`.
    pub filter: TypeFilter,
    /// `-P`, `-C`, `-S`.
    pub cache: CacheOptions,
    /// Keep only segments from or to port 53 (set with the default BPF).
    pub dns_port_only: bool,
}

/// The pure pipeline from frames to lines.
pub struct Engine {
    dns: DnsState,
    tcp: tcp::Reassembler,
    /// Bad input by reason.
    pub bad: BadCounts,
    stats: Arc<Stats>,
    pending: Vec<(PdnsLine, bool)>,
    messages: Vec<Vec<u8>>,
    dns_port_only: bool,
}

impl Engine {
    /// A new engine reporting into `stats`.
    pub fn new(opts: &EngineOptions, stats: Arc<Stats>) -> Engine {
        Engine {
            dns: DnsState::new(opts.filter, Cache::new(opts.cache)),
            tcp: tcp::Reassembler::default(),
            bad: BadCounts::default(),
            stats,
            pending: Vec::new(),
            messages: Vec::new(),
            dns_port_only: opts.dns_port_only,
        }
    }

    /// Processes one captured frame.
    pub fn frame(
        &mut self,
        linktype: i32,
        ts: Ts,
        data: &[u8],
        sink: &mut dyn LineSink,
    ) -> std::io::Result<()> {
        Stats::add(&self.stats.packets_seen, 1);
        let bad_before = self.bad.total();
        let mut expired = Vec::new();
        self.dns.cache.tick(ts.sec, &mut expired);
        self.pending.extend(expired.into_iter().map(|l| (l, false)));
        match slice::slice_frame(linktype, data) {
            Ok(seg) if self.dns_port_only && seg.sport != 53 && seg.dport != 53 => {
                self.bad.not_udp_tcp += 1
            }
            Ok(seg) => self.segment(&seg, ts),
            Err(Skip::Malformed) => self.bad.malformed += 1,
            Err(Skip::Fragment) => self.bad.fragments += 1,
            Err(Skip::NotUdpTcp) => self.bad.not_udp_tcp += 1,
        }
        Stats::add(&self.stats.bad_packets, self.bad.total() - bad_before);
        self.emit(sink)
    }

    fn segment(&mut self, seg: &slice::Segment<'_>, ts: Ts) {
        let meta = MsgMeta {
            src: (seg.src, seg.sport),
            dst: (seg.dst, seg.dport),
            proto: seg.proto,
            macs: (seg.src_mac, seg.dst_mac),
            ts,
        };
        match (seg.proto, seg.tcp) {
            (Proto::Tcp, Some(info)) => {
                let mut msgs = std::mem::take(&mut self.messages);
                self.tcp.segment(
                    (seg.src, seg.sport, seg.dst, seg.dport),
                    info,
                    seg.payload,
                    ts.sec,
                    &mut msgs,
                );
                for m in msgs.drain(..) {
                    self.message(&m, &meta);
                }
                self.messages = msgs;
            }
            _ => self.message(seg.payload, &meta),
        }
    }

    fn message(&mut self, wire: &[u8], meta: &MsgMeta) {
        match self.dns.message(wire, meta, &mut self.pending) {
            Ok(true) => Stats::add(&self.stats.dns_answers, 1),
            Ok(false) => {}
            Err(Drop::Parse) => self.bad.dns_parse += 1,
            Err(Drop::Truncated) => self.bad.truncated += 1,
            Err(Drop::Unmatched) => self.bad.unmatched += 1,
            Err(Drop::NoQuestion) => self.bad.no_question += 1,
        }
    }

    fn emit(&mut self, sink: &mut dyn LineSink) -> std::io::Result<()> {
        Stats::add(&self.stats.lines, self.pending.len() as u64);
        for (l, err) in self.pending.drain(..) {
            sink.line(&l, err)?;
        }
        Ok(())
    }

    /// End of capture: flushes the cache (lines seen since their last print) and the sink.
    pub fn finish(&mut self, sink: &mut dyn LineSink) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.dns.cache.flush_all(&mut out);
        self.pending.extend(out.into_iter().map(|l| (l, false)));
        self.emit(sink)?;
        sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Collect(Vec<PdnsLine>);
    impl LineSink for Collect {
        fn line(&mut self, l: &PdnsLine, _error: bool) -> std::io::Result<()> {
            self.0.push(l.clone());
            Ok(())
        }
    }

    /// A valid Ethernet/IPv4/UDP/53 frame around arbitrary DNS bytes.
    fn udp_frame(payload: &[u8], from_server: bool) -> Vec<u8> {
        let (sp, dp) = if from_server {
            (53, 40000)
        } else {
            (40000, 53)
        };
        let b = etherparse::PacketBuilder::ethernet2([0; 6], [1; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(sp, dp);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap_or_default();
        out
    }

    proptest! {
        /// Random frames of every link type never panic and are counted.
        #[test]
        fn random_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..400), lt in prop_oneof![Just(0), Just(1), Just(101), Just(113), Just(276)]) {
            let mut e = Engine::new(&EngineOptions::default(), Arc::new(Stats::default()));
            let mut sink = Collect(Vec::new());
            e.frame(lt, Ts { sec: 1, usec: 0 }, &frame, &mut sink).unwrap_or_default();
            e.finish(&mut sink).unwrap_or_default();
        }

        /// Random DNS payloads inside valid UDP frames (query, then response with the
        /// same first bytes) never panic.
        #[test]
        fn random_dns_never_panics(dns in proptest::collection::vec(any::<u8>(), 0..300)) {
            let opts = EngineOptions { filter: TypeFilter::parse("46CDNPRSTFOMnLdHIfsxoryetaz").0, ..EngineOptions::default() };
            let mut e = Engine::new(&opts, Arc::new(Stats::default()));
            let mut sink = Collect(Vec::new());
            let mut q = dns.clone();
            if let Some(b) = q.get_mut(2) { *b &= 0x7f; }
            let mut r = dns;
            if let Some(b) = r.get_mut(2) { *b |= 0x80; }
            e.frame(1, Ts { sec: 1, usec: 0 }, &udp_frame(&q, false), &mut sink).unwrap_or_default();
            e.frame(1, Ts { sec: 1, usec: 1 }, &udp_frame(&r, true), &mut sink).unwrap_or_default();
            e.finish(&mut sink).unwrap_or_default();
        }
    }
}
