//! D4 sensor: a goclient-compatible D4 client and a passivedns-compatible DNS capture.
//!
//! - [`config`]: the goclient configuration directory (`key`, `uuid`, `snaplen`, ...).
//! - [`goflags`]: goclient's Go-style flags and durations.
//! - [`packetizer`]: snaplen chunking (line-preserving for line types) and signing.
//! - [`source`]: stdin, file and d4server (Redis queue) sources.
//! - [`folder`]: the folder source (new files, `-daily` day folders).
//! - [`queue`]: bounded memory buffer with an optional on-disk spool.
//! - [`capture`]: DNS capture → passivedns lines (pcap, etherparse, hickory-proto).
//! - [`pdns_cli`]: passivedns flags and line sinks (log files, D4 packets).
//! - [`reject`]: telling a server that rejects the sensor from a dropped connection.
//! - [`sender`]: stdout / TLS delivery with reconnect, replay window and graceful close.
//! - [`tls`]: rustls client configurations (`-cc` verification or goclient's accept-any).
//! - [`client`]: glue used by `d4-client` and `d4-sensor`.
//! - [`stats`]: counters reported on SIGUSR1 and at exit.

pub mod capture;
pub mod client;
pub mod config;
pub mod folder;
pub mod goflags;
pub mod packetizer;
pub mod pdns_cli;
pub mod queue;
pub mod reject;
pub mod sender;
pub mod source;
pub mod stats;
pub mod tls;

use std::sync::Arc;

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

/// Resolves on SIGINT or SIGTERM (the one D4 handler, `d4_core::runtime::wait_for_signal`).
pub async fn shutdown_signal() {
    d4_core::runtime::wait_for_signal(tokio_util::sync::CancellationToken::new()).await;
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
