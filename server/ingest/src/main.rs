//! `d4-server`: the D4 TLS ingest server. Reads `server.conf`, prepares the stores,
//! listens for sensors until SIGINT/SIGTERM (the `d4_core::runtime` daemon plumbing).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use d4_core::proto::Limits;
use d4_core::runtime::{connect_role, DaemonArgs};
use d4_server::admission::Admission;
use d4_server::connection::Ctx;
use d4_server::effects::Stores;
use d4_server::metrics::Metrics;
use d4_server::{kick, server, startup};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// D4 core server: accepts sensors over TLS and hands their data to the workers.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Keep live-connection state found at start (several d4-servers sharing one store).
    #[arg(long)]
    keep_connection_state: bool,
}

fn main() {
    let cli = Cli::parse();
    let log = cli.daemon.log.clone();
    d4_core::runtime::run_daemon("d4-server", &log, |stop| run(cli, stop));
}

async fn run(cli: Cli, stop: CancellationToken) -> anyhow::Result<()> {
    let cfg = d4_core::runtime::load_server_config(&cli.daemon.config)?;
    let tls = server::tls_config(&cfg.tls_cert_file, &cfg.tls_key_file)
        .context("loading the TLS certificate and key")?;
    if cli.daemon.validate {
        println!("{}: OK", cli.daemon.config.display());
        return Ok(());
    }
    // Metrics first: they answer while the stores are still unreachable.
    let admission = Admission::new(cfg.admission);
    let (metrics, metrics_registry) = Metrics::registered(admission.clone());
    if let Some(addr) = cli.daemon.metrics {
        d4_core::metrics::spawn(addr, Arc::new(metrics_registry), stop.clone()).await?;
    }
    let Some(stream) = connect_role(&cfg.redis_stream, "Redis_STREAM", &stop).await? else {
        info!("Stopped before the stores were reachable.");
        return Ok(());
    };
    let Some(meta) = connect_role(&cfg.redis_metadata, "Redis_METADATA", &stop).await? else {
        info!("Stopped before the stores were reachable.");
        return Ok(());
    };
    startup::seed(&meta, &cfg)
        .await
        .context("seeding server keys")?;
    if !cli.keep_connection_state {
        startup::clean_live_state(&stream)
            .await
            .context("cleaning stale connection state")?;
    }
    let listener = server::bind(&cfg.server_host, cfg.server_port)
        .await
        .with_context(|| format!("binding {}:{}", cfg.server_host, cfg.server_port))?;
    let addr = listener.local_addr().context("local address")?;
    info!(%addr, mode = ?cfg.server_mode, admission = ?cfg.admission, "D4 server listening on {addr}.");

    let registry = kick::Registry::default();
    let ctx = Ctx {
        stores: Stores {
            stream: stream.clone(),
            meta,
        },
        mode: cfg.server_mode,
        limits: Limits::default(),
        admission,
        registry: registry.clone(),
        metrics,
    };
    let kicker = tokio::spawn(kick::poll_kicks(stream, registry, stop.clone()));
    server::serve(listener, tls, ctx, stop.clone()).await;
    stop.cancel();
    let _ = kicker.await;
    info!("D4 server stopped.");
    Ok(())
}
