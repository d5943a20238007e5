//! `d4-server`: the D4 TLS ingest server. Reads `server.conf`, prepares the stores,
//! listens for sensors until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use d4_core::config::DEFAULT_SERVER_CONF;
use d4_core::proto::Limits;
use d4_server::{kick, server, session, startup, store, tls};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// D4 core server: accepts sensors over TLS and hands their data to the workers.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Path of server.conf.
    #[arg(short = 'c', long = "config", default_value = DEFAULT_SERVER_CONF)]
    config: PathBuf,
    /// Check the configuration and TLS files, then exit.
    #[arg(long)]
    validate: bool,
    /// Keep live-connection state found at start (several d4-servers sharing one store).
    #[arg(long)]
    keep_connection_state: bool,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` overrides it.
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() {
    let cli = Cli::parse();
    d4_core::runtime::init(&cli.log);
    d4_core::runtime::run_daemon("d4-server", run(cli));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = d4_core::runtime::load_server_config(&cli.config)?;
    let tls = tls::server_config(&cfg.tls_cert_file, &cfg.tls_key_file)
        .context("loading the TLS certificate and key")?;
    if cli.validate {
        println!("{}: OK", cli.config.display());
        return Ok(());
    }
    let stream = cfg
        .redis_stream
        .connect()
        .await
        .context("Error: Redis server Redis_STREAM, ConnectionError")?;
    let meta = cfg
        .redis_metadata
        .connect()
        .await
        .context("Error: Redis server Redis_METADATA, ConnectionError")?;
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
    info!(%addr, mode = ?cfg.server_mode, "D4 server listening on {addr}.");

    let shutdown = CancellationToken::new();
    let registry = kick::Registry::default();
    let ctx = session::Ctx {
        stores: store::Stores {
            stream: stream.clone(),
            meta,
        },
        mode: cfg.server_mode,
        limits: Limits::default(),
        idle_timeout: session::IDLE_TIMEOUT,
        registry: registry.clone(),
    };
    let kicker = tokio::spawn(kick::poll_kicks(stream, registry, shutdown.clone()));
    let signals = tokio::spawn(d4_core::runtime::wait_for_signal(shutdown.clone()));
    server::serve(listener, tls, ctx, shutdown.clone()).await;
    shutdown.cancel();
    let _ = kicker.await;
    signals.abort();
    info!("D4 server stopped.");
    Ok(())
}
