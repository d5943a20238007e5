//! Writes a large pcap of DNS exchanges for `bench/sensor/run.sh`:
//! `gen_dns_pcap N OUT.pcap` — N query/response pairs over 5000 names (so the cache
//! sees repeats), A answers, one in ten behind a CNAME, one in ten AAAA.

use std::io::Write;

use etherparse::PacketBuilder;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

fn frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("write frame");
    out
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u32 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let out = args.get(2).cloned().unwrap_or_else(|| "dns.pcap".into());
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        w.write_all(&v.to_le_bytes())?;
    }
    let (client, server) = ([10, 0, 0, 1], [192, 0, 2, 53]);
    for i in 0..n {
        let name = Name::from_ascii(format!("host{}.zone{}.example.", i % 5000, i % 7))?;
        let qtype = if i % 10 == 3 {
            RecordType::AAAA
        } else {
            RecordType::A
        };
        let id = (i & 0xffff) as u16;
        let sport = 1024 + (i % 60000) as u16;
        let mut q = Message::new(id, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name.clone(), qtype));
        let mut r = q.clone();
        r.metadata.message_type = MessageType::Response;
        let mut owner = name.clone();
        if i % 10 == 5 {
            let target = Name::from_ascii(format!("cdn{}.example.net.", i % 100))?;
            r.add_answer(Record::from_rdata(
                owner,
                300,
                RData::CNAME(CNAME(target.clone())),
            ));
            owner = target;
        }
        let data = match qtype {
            RecordType::AAAA => RData::AAAA(AAAA::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                (i >> 16) as u16,
                i as u16,
            )),
            _ => RData::A(A::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)),
        };
        r.add_answer(Record::from_rdata(owner, 60, data));
        let ts = 1_700_000_000 + i / 1000;
        for (k, f) in [
            frame(client, server, sport, 53, &q.to_vec()?),
            frame(server, client, 53, sport, &r.to_vec()?),
        ]
        .into_iter()
        .enumerate()
        {
            for v in [
                ts,
                (i % 1000) * 1000 + k as u32,
                f.len() as u32,
                f.len() as u32,
            ] {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(&f)?;
        }
    }
    w.flush()?;
    println!("wrote {n} exchanges ({} frames) to {out}", 2 * n);
    Ok(())
}
