//! `d4-web`: the D4 web admin and REST API over HTTPS.
//!
//! Reads `server.conf`, connects the Redis roles, creates the default accounts and
//! `DEFAULT_PASSWORD` on first start, then serves `[Flask_Server] host:port` with the
//! certificate from `tls_cert_file`/`tls_key_file` until SIGINT/SIGTERM. Logging, signals
//! and the shutdown deadline are `d4_core::runtime`'s (`D4_LOG` sets the log filter).

use anyhow::Context as _;
use clap::Parser;
use d4_core::config::ServerConfig;
use d4_core::runtime::{load_server_config, run_daemon};
use d4_web::app::{app, state_for};
use d4_web::auth::bootstrap::ensure_default_users;
use d4_web::store::Stores;
use d4_web::Settings;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the web waits for the stores at start before giving up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// D4 web admin (HTTPS) and REST API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Path of server.conf.
    #[arg(short, long, default_value = d4_core::config::DEFAULT_SERVER_CONF)]
    config: PathBuf,
    /// Where DEFAULT_PASSWORD is written on first start (relative to the working directory).
    #[arg(long, default_value = "DEFAULT_PASSWORD")]
    default_password_file: PathBuf,
    /// Print the API token of USER (from the users store) and exit; for scripts.
    #[arg(long, value_name = "USER")]
    show_token: Option<String>,
    /// Check the configuration, certificate and templates, then exit.
    #[arg(long)]
    validate: bool,
    /// HTTP worker threads (default: number of CPUs).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() {
    let cli = Cli::parse();
    run_daemon("d4-web", "info", |stop| run(cli, stop))
}

async fn run(cli: Cli, stop: CancellationToken) -> anyhow::Result<()> {
    let cfg = load_server_config(&cli.config)?;
    d4_web::templates::init().map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    let mut tls = d4_core::tls::server_config(&cfg.tls_cert_file, &cfg.tls_key_file)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    if cli.validate {
        println!("configuration OK");
        return Ok(());
    }
    serve(cli, cfg, tls, stop).await
}

/// Connects the stores, waiting up to [`CONNECT_PATIENCE`] for stores still starting
/// (the facade's back-off, each failure logged); `None` when shutdown is requested meanwhile.
async fn connect_stores(
    cfg: &ServerConfig,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Stores>> {
    match tokio::time::timeout(CONNECT_PATIENCE, Stores::connect_until(cfg, stop)).await {
        Ok(stores) => stores.context("connecting to the Redis stores"),
        Err(_) => anyhow::bail!(
            "connecting to the Redis stores: still unreachable after {}s",
            CONNECT_PATIENCE.as_secs()
        ),
    }
}

/// Prints the API token of `user` (for `--show-token`).
async fn show_token(state: &d4_web::AppState, user: &str) -> anyhow::Result<()> {
    let m = d4_web::store::users::metadata(&state.stores.serv, user).await?;
    let token = m
        .get("token")
        .with_context(|| format!("no API token for user {user:?}"))?;
    println!("{token}");
    Ok(())
}

/// `host:port`, with brackets around a bare IPv6 host.
fn listen_address(cfg: &ServerConfig) -> String {
    if cfg.web_host.contains(':') && !cfg.web_host.starts_with('[') {
        format!("[{}]:{}", cfg.web_host, cfg.web_port)
    } else {
        format!("{}:{}", cfg.web_host, cfg.web_port)
    }
}

async fn serve(
    cli: Cli,
    cfg: ServerConfig,
    tls: rustls::ServerConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut settings = Settings::from_config(&cfg);
    settings.default_password_file = cli.default_password_file.clone();
    let Some(stores) = connect_stores(&cfg, &stop).await? else {
        return Ok(());
    };
    let state = state_for(stores, settings);
    if let Some(user) = &cli.show_token {
        return show_token(&state, user).await;
    }
    if let Some(admin) = ensure_default_users(&state)
        .await
        .context("creating the default users")?
    {
        let path = std::fs::canonicalize(&admin.file).unwrap_or(admin.file.clone());
        println!("new user created: {}", admin.user);
        // Secrets go to a terminal only: under LAUNCH.sh or systemd stdout is a log file or
        // the journal, and the credentials are in DEFAULT_PASSWORD (mode 0600).
        if std::io::stdout().is_terminal() {
            println!("password: {}", admin.password);
            println!("token: {}", admin.token);
        }
        println!("DEFAULT_PASSWORD written to {}", path.display());
        tracing::info!(file = %path.display(), "Created the default admin; credentials in DEFAULT_PASSWORD.");
    }
    let addr = listen_address(&cfg);
    let data = state.clone();
    let mut server = actix_web::HttpServer::new(move || app(data.clone()))
        .client_request_timeout(Duration::from_secs(30))
        .client_disconnect_timeout(Duration::from_secs(5))
        .shutdown_timeout(8)
        .disable_signals()
        .max_connections(2048)
        // Without it, about one new connection in five waited ~40 ms for its first
        // response (Nagle's algorithm against the client's delayed ACK).
        .tcp_nodelay(true);
    if let Some(w) = cli.workers {
        server = server.workers(w.max(1));
    }
    let server = server
        .bind_rustls_0_23(&addr, tls)
        .with_context(|| format!("binding {addr}"))?;
    for a in server.addrs() {
        tracing::info!(address = %a, "d4-web listening on https://{a}/");
    }
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(async move {
        stop.cancelled().await;
        handle.stop(true).await;
    });
    server.await.context("web server")?;
    tracing::info!("d4-web stopped.");
    Ok(())
}
