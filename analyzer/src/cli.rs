//! Start-up helpers shared by the binaries: logging and config loading.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{AnalyzerConfig, DEFAULT_PATH};

/// Initialises `tracing`: `RUST_LOG` wins, else `[global] logging-level`, else INFO.
pub fn init_logging(level: Option<&str>) {
    let level = match level.map(str::to_ascii_uppercase).as_deref() {
        Some("DEBUG") => "debug",
        Some("WARNING") | Some("WARN") => "warn",
        Some("ERROR") | Some("CRITICAL") => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}

/// Loads the config: an explicit `-c` must exist; the default path may be absent (defaults).
pub fn load_config(explicit: Option<&Path>) -> anyhow::Result<(AnalyzerConfig, PathBuf)> {
    let path = explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    if explicit.is_none() && !path.exists() {
        return Ok((AnalyzerConfig::defaults()?, path));
    }
    let cfg = AnalyzerConfig::load(&path).with_context(|| format!("loading {}", path.display()))?;
    Ok((cfg, path))
}

/// A watch channel set to true on SIGINT or SIGTERM.
pub fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("Shutdown requested.");
        let _ = tx.send(true);
    });
    rx
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
