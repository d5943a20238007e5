//! `pdns-ingestion`: pops passivedns lines from the D4 analyzer queue `analyzer:8:<my-uuid>`
//! (db 2 of `[global] d4-server`) and writes the passive DNS store (spec `pdns.md` §1).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use d4_analyzer::{cli, ingest, queue::Queue, store};

/// Passive DNS ingestion from a D4 type-8 analyzer queue.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// analyzer.conf (upstream INI format).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Lines popped per batch.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Exit once the queue is empty (benchmarks, one-shot backfills).
    #[arg(long)]
    drain: bool,
    /// Check the configuration and exit.
    #[arg(long)]
    validate: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("pdns-ingestion: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (cfg, path) = cli::load_config(args.config.as_deref())?;
    cli::init_logging(cfg.logging_level.as_deref());
    let (uuid, d4) = cfg
        .queue()
        .with_context(|| format!("in {}", path.display()))?;
    if args.validate {
        println!("{}: OK", path.display());
        return Ok(());
    }
    let stop = cli::shutdown_signal();
    let timeout = Duration::from_secs(5);
    let d4_client = store::connect(d4, timeout).await.context("D4 server")?;
    let store_client = store::connect(&cfg.store, timeout)
        .await
        .context("pDNS store")?;
    let mut queue = Queue::new(d4_client, uuid);
    tracing::info!(queue = queue.key(), d4_server = %d4.url(), store = %cfg.store.url(), "Starting and using FIFO {} from D4 server.", queue.key());
    let opts = ingest::Options {
        batch: args.batch.max(1),
        drain: args.drain,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let t = ingest::run(&cfg, &mut queue, &store_client, &opts, stop).await;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        lines = t.lines,
        processed = t.processed,
        rejected = t.rejected,
        excluded = t.excluded,
        seconds = secs,
        lines_per_sec = (t.lines as f64 / secs.max(1e-6)) as u64,
        "Ingestion stopped."
    );
    Ok(())
}
