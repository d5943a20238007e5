//! `d4-sensor -c CONF -r FILE.pcap`: capture and D4 client in one process, streaming
//! type-8 packets to a TLS sink, exiting 0 once everything is delivered.

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};

use crate::common::{Client, ConfDir, Sink};
use crate::pcapgen::{query, response, rr, udp, Link, Pcap};

const BIN: &str = env!("CARGO_BIN_EXE_d4-sensor");

#[test]
fn pcap_to_tls_sink_as_type_8() {
    if !d4_testkit::require("openssl") {
        return;
    }
    let certs = d4_testkit::Certs::generate();
    let mut sink = Sink::tls(&certs);
    sink.start();
    let conf = ConfDir::new(&format!("127.0.0.1:{}", sink.port), 8, 256);
    let (cl, sv): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "192.0.2.53".parse().unwrap());
    let mut pcap = Pcap::new(1);
    let mut want = Vec::new();
    for i in 0..200u32 {
        let qname = format!("host{i}.example.");
        let id = i as u16;
        let r = response(
            id,
            &qname,
            RecordType::A,
            ResponseCode::NoError,
            vec![rr(
                &qname,
                60,
                RData::A(A::new(10, 1, (i / 256) as u8, (i % 256) as u8)),
            )],
            false,
        );
        pcap.frame(
            1_700_000_000 + i,
            1,
            &udp(
                Link::Ether,
                (cl, 30000 + id),
                (sv, 53),
                &query(id, &qname, RecordType::A),
            ),
        );
        pcap.frame(
            1_700_000_000 + i,
            2,
            &udp(Link::Ether, (sv, 53), (cl, 30000 + id), &r),
        );
        want.push(format!(
            "{}.000002||10.0.0.1||192.0.2.53||IN||{qname}||A||10.1.{}.{}||60||1",
            1_700_000_000 + i,
            i / 256,
            i % 256
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dns.pcap");
    pcap.write(&file);
    let mut c = Client::spawn(
        BIN,
        &[
            "-c",
            conf.path().to_str().unwrap(),
            "-r",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(c.finish(Duration::from_secs(30)), 0, "{}", c.log());
    assert_eq!(sink.lines(), want);
    let packets = sink.packets();
    assert!(packets.len() > 1, "snaplen 256 needs several packets");
    assert!(packets.iter().all(|p| p.header.data_type.0 == 8
        && p.payload.len() <= 256
        && p.payload.ends_with(b"\n")));
    assert_eq!(sink.bad_hmac(), 0);
    assert!(c.log().contains("lines=200"), "{}", c.log());
}
