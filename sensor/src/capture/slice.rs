//! Link and network layers: one captured frame → a UDP datagram or TCP segment with
//! its addresses (etherparse). Handles Ethernet with 802.1Q / 802.1ad / QinQ tags,
//! Linux cooked (SLL, SLL2), BSD loopback (DLT_NULL), raw IP, IPv4 options, IPv6
//! extension headers, and IP-in-IP / 6in4 tunnels (one level). Fragments and anything
//! that is not UDP/TCP are reported as [`Skip`], never as a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;

use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice};

/// Transport protocol of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl Proto {
    /// IP protocol number (as passivedns prints for the `p` field fallback).
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// TCP details needed for reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN or RST: the stream ends.
    pub fin: bool,
}

/// One UDP datagram or TCP segment.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// UDP or TCP.
    pub proto: Proto,
    /// TCP header details (None for UDP).
    pub tcp: Option<TcpInfo>,
    /// Transport payload.
    pub payload: &'a [u8],
    /// Ethernet source MAC (zeros when not Ethernet).
    pub src_mac: [u8; 6],
    /// Ethernet destination MAC (zeros when not Ethernet).
    pub dst_mac: [u8; 6],
}

/// Why a frame carries no usable segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Truncated or malformed headers.
    Malformed,
    /// An IP fragment (not reassembled).
    Fragment,
    /// Not IP, or not UDP/TCP.
    NotUdpTcp,
}

/// pcap link types handled specially; everything else is parsed as Ethernet.
pub mod linktype {
    /// BSD loopback.
    pub const NULL: i32 = 0;
    /// Ethernet.
    pub const ETHERNET: i32 = 1;
    /// Raw IP (OpenBSD value).
    pub const RAW_OLD: i32 = 14;
    /// Raw IP (BSD value).
    pub const RAW_BSD: i32 = 12;
    /// Raw IP.
    pub const RAW: i32 = 101;
    /// OpenBSD loopback.
    pub const LOOP: i32 = 108;
    /// Linux cooked capture.
    pub const LINUX_SLL: i32 = 113;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: i32 = 276;
    /// IPv4 only.
    pub const IPV4: i32 = 228;
    /// IPv6 only.
    pub const IPV6: i32 = 229;
}

/// Slices one frame of the given pcap link type.
pub fn slice_frame(linktype: i32, frame: &[u8]) -> Result<Segment<'_>, Skip> {
    let sliced = match linktype {
        linktype::NULL | linktype::LOOP => {
            SlicedPacket::from_ip(frame.get(4..).ok_or(Skip::Malformed)?)
        }
        linktype::RAW | linktype::RAW_BSD | linktype::RAW_OLD | linktype::IPV4 | linktype::IPV6 => {
            SlicedPacket::from_ip(frame)
        }
        linktype::LINUX_SLL => SlicedPacket::from_linux_sll(frame),
        // SLL2: 20-byte header whose first two bytes are the protocol type.
        linktype::LINUX_SLL2 => {
            let proto: [u8; 2] = frame
                .get(..2)
                .and_then(|p| p.try_into().ok())
                .ok_or(Skip::Malformed)?;
            let ether_type = etherparse::EtherType(u16::from_be_bytes(proto));
            SlicedPacket::from_ether_type(ether_type, frame.get(20..).ok_or(Skip::Malformed)?)
        }
        _ => SlicedPacket::from_ethernet(frame),
    }
    .map_err(|_| Skip::Malformed)?;
    let (src_mac, dst_mac) = match &sliced.link {
        Some(LinkSlice::Ethernet2(e)) => (e.source(), e.destination()),
        _ => ([0; 6], [0; 6]),
    };
    let mut seg = from_sliced(&sliced, 0)?;
    seg.src_mac = src_mac;
    seg.dst_mac = dst_mac;
    Ok(seg)
}

/// IP protocol numbers of tunnels decoded once: IPv4-in-IP (4), IPv6 (41), and 94 (as passivedns).
fn is_tunnel(proto: u8) -> bool {
    matches!(proto, 4 | 41 | 94)
}

fn from_sliced<'a>(s: &SlicedPacket<'a>, depth: u8) -> Result<Segment<'a>, Skip> {
    let (src, dst, payload) = match &s.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                ip.payload(),
            )
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                ip.payload(),
            )
        }
        Some(NetSlice::Arp(_)) | None => return Err(Skip::NotUdpTcp),
    };
    if payload.fragmented {
        return Err(Skip::Fragment);
    }
    let mut seg = Segment {
        src,
        dst,
        sport: 0,
        dport: 0,
        proto: Proto::Udp,
        tcp: None,
        payload: &[],
        src_mac: [0; 6],
        dst_mac: [0; 6],
    };
    match &s.transport {
        Some(TransportSlice::Udp(u)) => {
            seg.sport = u.source_port();
            seg.dport = u.destination_port();
            seg.payload = u.payload();
        }
        Some(TransportSlice::Tcp(t)) => {
            seg.sport = t.source_port();
            seg.dport = t.destination_port();
            seg.proto = Proto::Tcp;
            seg.tcp = Some(TcpInfo {
                seq: t.sequence_number(),
                syn: t.syn(),
                fin: t.fin() || t.rst(),
            });
            seg.payload = t.payload();
        }
        None if depth == 0 && is_tunnel(payload.ip_number.0) => {
            let inner = SlicedPacket::from_ip(payload.payload).map_err(|_| Skip::Malformed)?;
            return from_sliced(&inner, depth + 1);
        }
        _ => return Err(Skip::NotUdpTcp),
    }
    Ok(seg)
}
