//! `d4-web`: the D4 web admin and REST API over HTTPS.
//!
//! Reads `server.conf`, connects the Redis roles, creates the default accounts and
//! `DEFAULT_PASSWORD` on first start, then serves `[Flask_Server] host:port` with the
//! certificate from `tls_cert_file`/`tls_key_file` until SIGINT/SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use d4_core::config::ServerConfig;
use d4_web::auth::bootstrap::ensure_default_users;
use d4_web::{app::app, build_state, Settings};
use std::path::PathBuf;
use std::time::Duration;

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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("d4-web: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = ServerConfig::load(&cli.config)
        .with_context(|| format!("loading {}", cli.config.display()))?;
    for u in &cfg.unknown {
        tracing::warn!(option = %u, "Unknown option in server.conf, ignored.");
    }
    d4_web::templates::init().map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    let tls = d4_web::tls::server_config(&cfg.tls_cert_file, &cfg.tls_key_file)?;
    if cli.validate {
        println!("configuration OK");
        return Ok(());
    }
    actix_web::rt::System::new().block_on(serve(cli, cfg, tls))
}

/// Connects the stores, retrying for up to 30 s so a store still starting is not fatal.
async fn connect_with_retry(
    cfg: &ServerConfig,
    settings: Settings,
) -> anyhow::Result<actix_web::web::Data<d4_web::AppState>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match build_state(cfg, settings.clone()).await {
            Ok(s) => return Ok(s),
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "Redis stores not reachable yet, retrying.");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e).context("connecting to the Redis stores"),
        }
    }
}

async fn serve(cli: Cli, cfg: ServerConfig, tls: rustls::ServerConfig) -> anyhow::Result<()> {
    let mut settings = Settings::from_config(&cfg);
    settings.default_password_file = cli.default_password_file.clone();
    let state = connect_with_retry(&cfg, settings).await?;
    if let Some(user) = &cli.show_token {
        let m = d4_web::store::users::metadata(&state.stores.serv, user).await?;
        let token = m
            .get("token")
            .with_context(|| format!("no API token for user {user:?}"))?;
        println!("{token}");
        return Ok(());
    }
    if let Some(admin) = ensure_default_users(&state)
        .await
        .context("creating the default users")?
    {
        let path = std::fs::canonicalize(&admin.file).unwrap_or(admin.file.clone());
        println!("new user created: {}", admin.user);
        println!("password: {}", admin.password);
        println!("token: {}", admin.token);
        println!("DEFAULT_PASSWORD written to {}", path.display());
        tracing::info!(file = %path.display(), "Created the default admin; credentials in DEFAULT_PASSWORD.");
    }
    let addr = if cfg.web_host.contains(':') && !cfg.web_host.starts_with('[') {
        format!("[{}]:{}", cfg.web_host, cfg.web_port)
    } else {
        format!("{}:{}", cfg.web_host, cfg.web_port)
    };
    let data = state.clone();
    let mut server = actix_web::HttpServer::new(move || app(data.clone()))
        .client_request_timeout(Duration::from_secs(30))
        .client_disconnect_timeout(Duration::from_secs(5))
        .shutdown_timeout(10)
        .max_connections(2048);
    if let Some(w) = cli.workers {
        server = server.workers(w.max(1));
    }
    let server = server
        .bind_rustls_0_23(&addr, tls)
        .with_context(|| format!("binding {addr}"))?;
    for a in server.addrs() {
        tracing::info!(address = %a, "d4-web listening on https://{a}/");
    }
    server.run().await.context("web server")?;
    state.stores.quit().await;
    tracing::info!("d4-web stopped.");
    Ok(())
}
