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
