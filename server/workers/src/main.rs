//! `d4-workers`: runs the worker families (types 8, 3, 2/254, 4, 1) in one process until
//! SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use d4_core::config::DEFAULT_SERVER_CONF;
use d4_core::queues::{deliver::DEFAULT_TARGET_TTL, Queues};
use d4_workers::DEFAULT_FAMILIES;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// D4 workers: turn sensor streams into analyzer queues and files.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Path of server.conf.
    #[arg(short = 'c', long = "config", default_value = DEFAULT_SERVER_CONF)]
    config: PathBuf,
    /// Check the configuration, then exit.
    #[arg(long)]
    validate: bool,
    /// Worker types to run (comma separated manager types).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_FAMILIES.to_vec())]
    types: Vec<u8>,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` overrides it.
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() {
    let cli = Cli::parse();
    d4_core::runtime::init(&cli.log);
    d4_core::runtime::run_daemon("d4-workers", run(cli));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = d4_core::runtime::load_server_config(&cli.config)?;
    if let Some(t) = cli.types.iter().find(|t| !DEFAULT_FAMILIES.contains(t)) {
        anyhow::bail!("no worker for type {t} (available: {DEFAULT_FAMILIES:?})");
    }
    if cli.validate {
        println!("{}: OK", cli.config.display());
        return Ok(());
    }
    let stream = cfg
        .redis_stream
        .connect()
        .await
        .context("connecting Redis_STREAM")?;
    let meta = cfg
        .redis_metadata
        .connect()
        .await
        .context("connecting Redis_METADATA")?;
    let analyzer = cfg
        .redis_analyzer
        .connect()
        .await
        .context("connecting Redis_ANALYZER")?;
    let ctx = Arc::new(d4_workers::Ctx {
        stream,
        stream_endpoint: cfg.redis_stream.clone(),
        meta: meta.clone(),
        queues: Queues::new(meta, analyzer, cfg.analyzer_queues_max_size),
        data_dir: cfg.data_dir.clone(),
        target_ttl: DEFAULT_TARGET_TTL,
    });
    info!(
        types = ?cli.types,
        data = %cfg.data_dir.display(),
        stream = %cfg.redis_stream.url(),
        "D4 workers running (stream store {}).", cfg.redis_stream.url()
    );
    let stop = CancellationToken::new();
    let signals = tokio::spawn(d4_core::runtime::wait_for_signal(stop.clone()));
    d4_workers::run(ctx, &cli.types, stop).await;
    signals.abort();
    info!("D4 workers stopped.");
    Ok(())
}
