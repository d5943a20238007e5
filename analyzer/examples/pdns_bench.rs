//! Benchmark helper for `tests/bench/analyzer/run.sh`:
//!
//! - `fill`: pushes N synthetic passivedns lines onto `analyzer:8:<uuid>` (db 2), as the D4 server does.
//! - `load`: an HTTP/1.1 keep-alive load generator for the COF server: C concurrent clients for
//!   D seconds over a list of query paths; prints queries/s, p50, p99 and max latency.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use d4_analyzer::model::keys;
use d4_core::config::RedisEndpoint;
use d4_core::store::{cmd, Policy, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
#[command(about = "pDNS analyzer benchmark helper")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fill the analyzer queue with synthetic lines.
    Fill {
        /// Redis port (db 2 is used).
        #[arg(long)]
        port: u16,
        /// Queue uuid.
        #[arg(long)]
        uuid: String,
        /// Number of lines.
        #[arg(long, default_value_t = 500_000)]
        lines: usize,
        /// Distinct names.
        #[arg(long, default_value_t = 50_000)]
        names: usize,
    },
    /// Load the COF server.
    Load {
        /// host:port of pdns-cof-server.
        #[arg(long)]
        addr: String,
        /// Concurrent keep-alive clients.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Distinct names queried (`/query/host<i>.bench.example`), round robin.
        #[arg(long, default_value_t = 1000)]
        names: usize,
    },
}

/// The i-th synthetic line: names cycle, types mix A/AAAA/CNAME/TXT.
fn line(i: usize, names: usize) -> String {
    let n = i % names;
    let ts = 1_700_000_000 + i;
    match i % 10 {
        0..=5 => format!("{ts}.123456||10.0.0.1||8.8.8.8||IN||host{n}.bench.example.||A||10.{}.{}.{}||300||1", n >> 16 & 255, n >> 8 & 255, n & 255),
        6 | 7 => format!("{ts}.123456||10.0.0.1||8.8.8.8||IN||host{n}.bench.example.||AAAA||2001:db8::{:x}||300||1", n),
        8 => format!("{ts}.123456||10.0.0.1||8.8.8.8||IN||www{n}.bench.example.||CNAME||host{n}.bench.example.||300||1"),
        _ => format!("{ts}.123456||10.0.0.1||8.8.8.8||IN||host{n}.bench.example.||TXT||\"v=spf1 ip4:10.0.0.{} -all\"||300||1", n % 256),
    }
}

async fn fill(port: u16, uuid: &str, lines: usize, names: usize) -> anyhow::Result<()> {
    let ep = RedisEndpoint::single("127.0.0.1", port, keys::QUEUE_DB);
    let store = Store::connect(&ep, Policy::DAEMON).await?;
    let key = keys::queue(uuid);
    let started = Instant::now();
    let mut i = 0;
    while i < lines {
        let end = (i + 5000).min(lines);
        let mut lpush = cmd("LPUSH");
        lpush.arg(&key);
        for j in i..end {
            lpush.arg(line(j, names));
        }
        store.query::<i64>(&lpush).await?;
        i = end;
    }
    let len: i64 = store.query(cmd("LLEN").arg(&key)).await?;
    println!(
        "filled {key} with {len} lines in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn one_client(
    addr: String,
    paths: Vec<String>,
    offset: usize,
    until: Instant,
) -> anyhow::Result<Vec<u32>> {
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .context("connect")?;
    s.set_nodelay(true)?;
    let mut lat = Vec::with_capacity(100_000);
    let mut buf = vec![0u8; 1 << 16];
    let mut i = offset;
    while Instant::now() < until {
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: bench\r\n\r\n",
            paths[i % paths.len()]
        );
        i += 1;
        let t = Instant::now();
        s.write_all(req.as_bytes()).await?;
        read_response(&mut s, &mut buf).await?;
        lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(lat)
}

/// Reads one response (headers + Content-Length body).
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut [u8]) -> anyhow::Result<()> {
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).await?;
        anyhow::ensure!(n > 0, "connection closed");
        have += n;
        if let Some(pos) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..pos]).unwrap_or_default();
            anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "bad response: {head}");
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body_have = have - pos - 4;
            while body_have < len {
                let n = s.read(&mut buf[..]).await?;
                anyhow::ensure!(n > 0, "connection closed in body");
                body_have += n;
            }
            return Ok(());
        }
        anyhow::ensure!(have < buf.len(), "response head too large");
    }
}

async fn load(addr: String, clients: usize, seconds: u64, names: usize) -> anyhow::Result<()> {
    let paths: Vec<String> = (0..names)
        .map(|n| format!("/query/host{n}.bench.example"))
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(one_client(addr.clone(), paths.clone(), c * 7919, until)))
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "clients={clients} requests={} qps={:.0} p50={:.3}ms p99={:.3}ms max={:.3}ms",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Args::parse().cmd {
        Cmd::Fill {
            port,
            uuid,
            lines,
            names,
        } => fill(port, &uuid, lines, names).await,
        Cmd::Load {
            addr,
            clients,
            seconds,
            names,
        } => load(addr, clients, seconds, names).await,
    }
}
