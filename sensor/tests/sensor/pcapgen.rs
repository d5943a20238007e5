//! Builds pcap files for the capture tests: frames with etherparse's `PacketBuilder`,
//! DNS messages with hickory-proto's encoder or by hand, written in libpcap 2.4 format.
#![allow(dead_code)]

use std::net::IpAddr;

use etherparse::{PacketBuilder, VlanId};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// A pcap file being built (Ethernet link type unless changed).
pub(crate) struct Pcap {
    pub linktype: u32,
    buf: Vec<u8>,
}

impl Pcap {
    pub(crate) fn new(linktype: u32) -> Pcap {
        let mut buf = Vec::new();
        buf.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&65535u32.to_le_bytes());
        buf.extend_from_slice(&linktype.to_le_bytes());
        Pcap { linktype, buf }
    }

    /// Adds a frame; `caplen` shorter than the frame simulates snaplen truncation.
    pub(crate) fn frame_cut(&mut self, sec: u32, usec: u32, frame: &[u8], caplen: usize) {
        let caplen = caplen.min(frame.len());
        for v in [sec, usec, caplen as u32, frame.len() as u32] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.extend_from_slice(&frame[..caplen]);
    }

    pub(crate) fn frame(&mut self, sec: u32, usec: u32, frame: &[u8]) {
        self.frame_cut(sec, usec, frame, frame.len());
    }

    pub(crate) fn write(&self, path: &std::path::Path) {
        std::fs::write(path, &self.buf).unwrap();
    }
}

pub(crate) const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(crate) const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// How a frame is encapsulated.
#[derive(Clone, Copy)]
pub(crate) enum Link {
    Ether,
    Vlan(u16),
    QinQ(u16, u16),
}

fn ip_step(
    link: Link,
    src: IpAddr,
    dst: IpAddr,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
    let ip = |s, d| match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => etherparse::IpHeaders::Ipv4(
            etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::UDP, s.octets(), d.octets())
                .unwrap(),
            Default::default(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => etherparse::IpHeaders::Ipv6(
            etherparse::Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: 0,
                next_header: etherparse::IpNumber::UDP,
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            },
            Default::default(),
        ),
        _ => panic!("mixed families"),
    };
    match link {
        Link::Ether => eth.ip(ip(src, dst)),
        Link::Vlan(v) => eth
            .single_vlan(VlanId::try_new(v).unwrap())
            .ip(ip(src, dst)),
        Link::QinQ(o, i) => eth
            .double_vlan(VlanId::try_new(o).unwrap(), VlanId::try_new(i).unwrap())
            .ip(ip(src, dst)),
    }
}

/// A UDP frame; direction decides the MACs (client→server or back).
pub(crate) fn udp(link: Link, src: (IpAddr, u16), dst: (IpAddr, u16), payload: &[u8]) -> Vec<u8> {
    let (smac, dmac) = if src.1 == 53 {
        (SERVER_MAC, CLIENT_MAC)
    } else {
        (CLIENT_MAC, SERVER_MAC)
    };
    let b = ip_step(link, src.0, dst.0, smac, dmac).udp(src.1, dst.1);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap();
    out
}

/// A TCP frame (PSH/ACK, or SYN when `syn`).
pub(crate) fn tcp(
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    seq: u32,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let (smac, dmac) = if src.1 == 53 {
        (SERVER_MAC, CLIENT_MAC)
    } else {
        (CLIENT_MAC, SERVER_MAC)
    };
    let b = ip_step(Link::Ether, src.0, dst.0, smac, dmac).tcp(src.1, dst.1, seq, 65535);
    let b = if syn { b.syn() } else { b.psh().ack(1) };
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap();
    out
}

pub(crate) fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A query message.
pub(crate) fn query(id: u16, qname: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), qtype));
    m.to_vec().unwrap()
}

/// A response message with the given answers.
pub(crate) fn response(
    id: u16,
    qname: &str,
    qtype: RecordType,
    rcode: ResponseCode,
    answers: Vec<Record>,
    edns: bool,
) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.metadata.response_code = rcode;
    m.add_query(Query::query(name(qname), qtype));
    for a in answers {
        m.add_answer(a);
    }
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

pub(crate) fn rr(owner: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name(owner), ttl, data)
}
