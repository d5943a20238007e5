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
    /// Do not run the sensor and queue monitor (run it in one d4-workers only when
    /// several share the stores; it is safe but redundant in more).
    #[arg(long)]
    no_monitor: bool,
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
    // Metrics first: they answer while the stores are still unreachable.
    let (metrics, registry) = d4_workers::metrics::Metrics::registered();
    if let Some(addr) = cli.daemon.metrics {
        d4_core::metrics::spawn(addr, Arc::new(registry), stop.clone()).await?;
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
    let queues = Queues::new(meta.clone(), analyzer, cfg.analyzer_queues_max_size);
    let monitor = (!cli.no_monitor).then(|| {
        let m = d4_workers::monitor::Monitor::new(
            meta.clone(),
            queues.clone(),
            cfg.notifications.clone(),
        );
        tokio::spawn(m.run(stop.child_token()))
    });
    let ctx = Arc::new(d4_workers::Ctx {
        stream,
        stream_endpoint: cfg.redis_stream.clone(),
        meta: meta.clone(),
        queues: queues.clone(),
        data_dir: data_dir.clone(),
        target_ttl: DEFAULT_TARGET_TTL,
        metrics,
        worker_id: uuid::Uuid::new_v4().to_string(),
    });
    info!(
        worker_id = %ctx.worker_id,
        types = ?cli.types,
        data = %data_dir.display(),
        stream = %cfg.redis_stream.url(),
        "D4 workers running (stream store {}).", cfg.redis_stream.url()
    );
    let ran = d4_workers::run(ctx, &kinds, stop.clone()).await;
    stop.cancel();
    if let Some(m) = monitor {
        // The monitor only logs; a panic in it must not hide the workers' own result.
        let _ = m.await;
    }
    ran.context("worker family")?;
    info!("D4 workers stopped.");
    Ok(())
}
