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
use d4_server::{kick, lease, registry, server, startup};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// D4 core server: accepts sensors over TLS and hands their data to the workers.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Keep live-connection state that no d4-rs server owns when this one starts alone
    /// (a server without leases, e.g. upstream's, shares the store). The state of dead
    /// d4-rs servers is always finished, that of live ones never touched.
    #[arg(long)]
    keep_connection_state: bool,
    /// This server's id for its lease on the live-connection state (unique among the
    /// servers sharing one store) [default: <hostname>:<port>].
    #[arg(long)]
    server_id: Option<String>,
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
    let (server_id, id_source) = match cli.server_id {
        Some(id) => (id, "--server-id"),
        None => lease::default_id(cfg.server_port),
    };
    info!(%server_id, from = id_source, "Server id {server_id} ({id_source}).");
    lease::start(&stream, &server_id, cli.keep_connection_state)
        .await
        .context("taking the lease and cleaning stale connection state")?;
    let listener = server::bind(&cfg.server_host, cfg.server_port)
        .await
        .with_context(|| format!("binding {}:{}", cfg.server_host, cfg.server_port))?;
    let addr = listener.local_addr().context("local address")?;
    info!(%addr, mode = ?cfg.server_mode, admission = ?cfg.admission, "D4 server listening on {addr}.");

    let registry = registry::Registry::owned_by(&server_id);
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
    let kicker = tokio::spawn(kick::poll_kicks(
        stream.clone(),
        registry.clone(),
        stop.clone(),
    ));
    let heartbeat = tokio::spawn(lease::run(stream.clone(), registry, stop.clone()));
    server::serve(listener, tls, ctx, stop.clone()).await;
    stop.cancel();
    let _ = kicker.await;
    let _ = heartbeat.await;
    if let Err(error) = lease::retire(&stream, &server_id).await {
        tracing::warn!(%error, "Cannot give the lease up; it expires by itself.");
    }
    info!("D4 server stopped.");
    Ok(())
}
