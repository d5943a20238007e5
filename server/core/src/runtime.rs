//! Process plumbing shared by the daemons: tracing setup and the shutdown signal.

use tokio_util::sync::CancellationToken;
use tracing::info;

/// Installs a `tracing` subscriber on stderr; `RUST_LOG` overrides `default_filter`.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Waits for SIGINT or SIGTERM, then cancels `token`.
pub async fn wait_for_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            token.cancel();
            return;
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received, shutting down."),
            _ = int.recv() => info!("SIGINT received, shutting down."),
            _ = token.cancelled() => return,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    token.cancel();
}

/// Runs a daemon's async `main` on a multi-threaded runtime; on error prints the whole
/// chain as `<name>: <error>` and exits with status 1.
pub fn run_daemon<F>(name: &str, main: F)
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(main) {
        eprintln!("{name}: {e:#}");
        std::process::exit(1);
    }
}

/// Loads `server.conf` and logs each option this program does not know.
pub fn load_server_config(path: &std::path::Path) -> anyhow::Result<crate::config::ServerConfig> {
    use anyhow::Context as _;
    let cfg = crate::config::ServerConfig::load(path)
        .with_context(|| format!("loading {}", path.display()))?;
    for u in &cfg.unknown {
        tracing::warn!(option = %u, "Unknown option in server.conf (ignored).");
    }
    Ok(cfg)
}
