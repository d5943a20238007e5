//! `d4-workers`: runs the worker families (types 8, 3, 2/254, 4, 1) in one process until
//! SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use d4_core::queues::{deliver::DEFAULT_TARGET_TTL, Queues};
use d4_core::runtime::{connect_role, DaemonArgs};
use d4_workers::{Kind, DEFAULT_FAMILIES};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// D4 workers: turn sensor streams into analyzer queues and files.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Worker types to run (comma separated manager types).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_FAMILIES.to_vec())]
    types: Vec<u8>,
}

fn main() {
    let cli = Cli::parse();
    let log = cli.daemon.log.clone();
    d4_core::runtime::run_daemon("d4-workers", &log, |stop| run(cli, stop));
}

async fn run(cli: Cli, stop: CancellationToken) -> anyhow::Result<()> {
    let kinds = Kind::all_of(&cli.types)?;
    let cfg = d4_core::runtime::load_server_config(&cli.daemon.config)?;
    if cli.daemon.validate {
        println!("{}: OK", cli.daemon.config.display());
        return Ok(());
    }
    let Some(stream) = connect_role(&cfg.redis_stream, "Redis_STREAM", &stop).await? else {
        return Ok(());
    };
    let Some(meta) = connect_role(&cfg.redis_metadata, "Redis_METADATA", &stop).await? else {
        return Ok(());
    };
    let Some(analyzer) = connect_role(&cfg.redis_analyzer, "Redis_ANALYZER", &stop).await? else {
        return Ok(());
    };
    // Queued file paths are read by analyzers running elsewhere: make them absolute
    // (upstream's default `$D4_HOME/data` was).
    let data_dir = std::path::absolute(&cfg.data_dir)
        .with_context(|| format!("data directory {}", cfg.data_dir.display()))?;
    let ctx = Arc::new(d4_workers::Ctx {
        stream,
        stream_endpoint: cfg.redis_stream.clone(),
        meta: meta.clone(),
        queues: Queues::new(meta, analyzer, cfg.analyzer_queues_max_size),
        data_dir: data_dir.clone(),
        target_ttl: DEFAULT_TARGET_TTL,
    });
    info!(
        types = ?cli.types,
        data = %data_dir.display(),
        stream = %cfg.redis_stream.url(),
        "D4 workers running (stream store {}).", cfg.redis_stream.url()
    );
    d4_workers::run(ctx, &kinds, stop)
        .await
        .context("worker family")?;
    info!("D4 workers stopped.");
    Ok(())
}
