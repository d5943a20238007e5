//! D4 sensor: a goclient-compatible D4 client and a passivedns-compatible DNS capture.
//!
//! - [`config`]: the goclient configuration directory (`key`, `uuid`, `snaplen`, ...).
//! - [`goflags`]: goclient's Go-style flags and durations.
//! - [`packetizer`]: snaplen chunking (line-preserving for line types) and signing.
//! - [`source`]: stdin, file, folder and d4server (Redis queue) sources.
//! - [`queue`]: bounded memory buffer with an optional on-disk spool.
//! - [`capture`]: DNS capture → passivedns lines (pcap, etherparse, hickory-proto).
//! - [`pdns_cli`]: passivedns flags and line sinks (log files, D4 packets).
//! - [`sender`]: stdout / TLS delivery with reconnect, replay window and graceful close.
//! - [`tls`]: rustls client configurations (`-cc` verification or goclient's accept-any).
//! - [`client`]: glue used by `d4-client` and `d4-sensor`.
//! - [`stats`]: counters reported on SIGUSR1 and at exit.

pub mod capture;
pub mod client;
pub mod config;
pub mod goflags;
pub mod packetizer;
pub mod pdns_cli;
pub mod queue;
pub mod sender;
pub mod source;
pub mod stats;
pub mod tls;

use std::sync::Arc;

/// Logs to stderr (stdout may carry the D4 stream); `RUST_LOG` overrides the level.
pub fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Logs the counters every time SIGUSR1 arrives.
pub fn spawn_stats_signal(stats: Arc<stats::Stats>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
        return;
    };
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            tracing::info!(stats = %stats.summary(), "Counters.");
        }
    });
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// For synchronous capture loops: a thread that sets `stop` on SIGINT/SIGTERM and logs
/// the counters on SIGUSR1.
pub fn spawn_signal_thread(stop: Arc<std::sync::atomic::AtomicBool>, stats: Arc<stats::Stats>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    std::thread::spawn(move || {
        rt.block_on(async move {
            spawn_stats_signal(stats);
            shutdown_signal().await;
            tracing::info!("Exiting.");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    });
}
