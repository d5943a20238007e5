//! Load generator for `tests/bench/core/run.sh`: N TLS sensors stream passivedns lines to a
//! running `d4-server`; the time until every line is in an analyzer queue (through
//! `d4-workers`) gives the end-to-end lines/s. `--baseline` instead pushes the same
//! lines straight into a Redis list with multi-value `LPUSH` (the store's ceiling).
//! Both prepare their input (lines; signed packets) before the clock starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use d4_core::config::RedisEndpoint;
use d4_core::proto::{encode_packet, DataType};
use d4_core::queues::{NewQueue, Queues};
use d4_core::store::{Cmd, Policy, Store};
use tokio::io::AsyncWriteExt;

/// D4 end-to-end load generator.
#[derive(Parser, Debug)]
struct Cli {
    /// d4-server port on 127.0.0.1.
    #[arg(long, default_value_t = 4443)]
    port: u16,
    /// Root CA to verify the server with.
    #[arg(long)]
    ca: PathBuf,
    /// Port of the METADATA/ANALYZER store (db 0 / db 2) on 127.0.0.1.
    #[arg(long)]
    meta_port: u16,
    /// Number of concurrent sensors.
    #[arg(long, default_value_t = 1)]
    sensors: usize,
    /// Lines per sensor.
    #[arg(long, default_value_t = 200_000)]
    lines: usize,
    /// Payload bytes per D4 packet (d4-goclient uses its snaplen, 4096 by default).
    #[arg(long, default_value_t = 4096)]
    packet: usize,
    /// HMAC key.
    #[arg(long, default_value = "private key to change")]
    key: String,
    /// Measure the store baseline instead (direct LPUSH of the same lines).
    #[arg(long)]
    baseline: bool,
}

fn line(sensor: usize, i: usize) -> String {
    format!(
        "1700000000.{i:06}||10.{}.{}.{}||192.0.2.53||IN||host{i}.s{sensor}.example.com.||A||198.51.100.{}||300||1\n",
        sensor % 250,
        (i / 250) % 250,
        i % 250,
        i % 250
    )
}

fn uuid(sensor: usize) -> [u8; 16] {
    let mut u = *b"\x5e\x3c\x7a\x1b\x2d\x4f\x4a\x6b\x8c\x9d\x0e\x1f\x2a\x3b\x00\x00";
    u[14] = (sensor >> 8) as u8;
    u[15] = sensor as u8;
    u
}

fn tls(ca: &PathBuf) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// The D4 stream sensor `n` sends: its lines in signed packets of `cli.packet` bytes. Made
/// before the clock starts, so the figure measures the chain, not the load generator.
fn wire(cli: &Cli, n: usize) -> Vec<u8> {
    let data: String = (0..cli.lines).map(|i| line(n, i)).collect();
    data.as_bytes()
        .chunks(cli.packet)
        .flat_map(|p| {
            encode_packet(
                1,
                DataType::PASSIVEDNS,
                uuid(n),
                1_700_000_000,
                cli.key.as_bytes(),
                p,
            )
        })
        .collect()
}

/// One sensor: connects, sends its prepared stream and closes.
async fn sensor(
    port: u16,
    wire: Vec<u8>,
    connector: tokio_rustls::TlsConnector,
) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let mut s = connector.connect(name, tcp).await?;
    for chunk in wire.chunks(64 * 1024) {
        s.write_all(chunk).await?;
    }
    s.shutdown().await?;
    Ok(())
}

async fn llen(c: &Store, key: &str) -> u64 {
    c.query(&Cmd::llen(key)).await.unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Arc::new(Cli::parse());
    let ep = |db| RedisEndpoint::single("127.0.0.1", cli.meta_port, db);
    let meta = Store::connect(&ep(0), Policy::DAEMON).await?;
    let analyzer = Store::connect(&ep(2), Policy::DAEMON).await?;
    let total = (cli.sensors * cli.lines) as u64;

    if cli.baseline {
        let key = "bench:baseline";
        let () = analyzer.query(&Cmd::del(key)).await?;
        let lines: Vec<Vec<String>> = (0..cli.sensors)
            .map(|n| {
                (0..cli.lines)
                    .map(|i| line(n, i).trim_end().to_string())
                    .collect()
            })
            .collect();
        let start = Instant::now();
        for sensor_lines in &lines {
            for batch in sensor_lines.chunks(1000) {
                let () = analyzer.query(&Cmd::lpush(key, batch)).await?;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "baseline redis-server LPUSH (1000 lines/command): {total} lines in {secs:.2} s = {:.0} lines/s",
            total as f64 / secs
        );
        let () = analyzer.query(&Cmd::del(key)).await?;
        return Ok(());
    }

    let queues = Queues::new(meta, analyzer.clone(), 100_000_000);
    let q = queues
        .create(&NewQueue {
            format_type: DataType::PASSIVEDNS.to_string(),
            description: Some("bench".into()),
            ..Default::default()
        })
        .await?;
    let key = d4_core::keys::analyzer::queue(DataType::PASSIVEDNS, &q);
    // The workers cache each sensor's queue targets for up to 1 s (documented): a sensor
    // uuid of the previous run would still be routed to that run's queue. Wait it out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let connector = tls(&cli.ca)?;
    let wires: Vec<Vec<u8>> = (0..cli.sensors).map(|n| wire(&cli, n)).collect();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in wires {
        tasks.spawn(sensor(cli.port, w, connector.clone()));
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let sent = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last_change = Instant::now();
    let mut last = 0;
    loop {
        let n = llen(&analyzer, &key).await;
        if n >= total {
            break;
        }
        if n != last {
            last = n;
            last_change = Instant::now();
        }
        anyhow::ensure!(
            Instant::now() < deadline && last_change.elapsed() < Duration::from_secs(60),
            "stalled at {n} of {total} lines"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = start.elapsed().as_secs_f64();
    println!(
        "d4-server+d4-workers, {} sensor(s), {} lines of ~{} bytes, {}-byte packets: sent in {sent:.2} s, \
         all queued in {all:.2} s = {:.0} lines/s end to end ({:.1} MB/s); queue drained {:.0} ms after the last byte was sent",
        cli.sensors,
        total,
        line(0, 0).len(),
        cli.packet,
        total as f64 / all,
        total as f64 * line(0, 0).len() as f64 / all / 1e6,
        (all - sent) * 1000.0
    );
    queues.remove(&q).await?;
    Ok(())
}
