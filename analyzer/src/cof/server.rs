//! The COF HTTP server: binds, gives each HTTP worker its own store connection and runs until
//! the shutdown token fires, then stops gracefully.
//!
//! Each worker's connection is a lazy [`Store`] (`Policy::INTERACTIVE` with the configured reply
//! timeout), opened on the worker's own runtime at its first query, multiplexed across that
//! worker's requests and re-opened on the next query after a loss: while the store is down the
//! API answers 503, and nothing here waits for it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use d4_core::store::{Policy, Store};
use tokio_util::sync::CancellationToken;

use super::limit::AuthLimiter;
use super::metrics::Metrics;
use super::quota::QuotaBook;
use super::record::Format;
use super::State;
use crate::model::config::AnalyzerConfig;

/// How long an HTTP client may take to send its request head.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds the workers get to finish their requests after the shutdown signal.
const SHUTDOWN_SECS: u64 = 5;
/// Longest wait for a store connection (shorter when the reply timeout is shorter).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how the server listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub bind: IpAddr,
    /// TCP port (0 = any free port).
    pub port: u16,
    /// HTTP worker threads (at least one).
    pub workers: usize,
    /// Store reply timeout (then the request gets a 503).
    pub store_timeout: Duration,
}

/// Serves the COF API until `stop` fires. Logs `COF server listening on <addr>.` per address.
pub async fn serve(
    cfg: &AnalyzerConfig,
    opts: &ServeOptions,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let policy = Policy {
        connect_timeout: opts.store_timeout.min(MAX_CONNECT_TIMEOUT),
        ..Policy::INTERACTIVE.with_response_timeout(opts.store_timeout)
    };
    let endpoint = cfg.store.clone();
    // Checks the address once; each worker then opens its own connection on first use.
    Store::lazy(&endpoint, policy).context("store address")?;
    let metrics = Arc::new(Metrics::default());
    let (origin, auth) = (cfg.origin.clone(), cfg.auth.clone());
    let limiter = Arc::new(AuthLimiter::new(cfg.auth_limit));
    let quotas = Arc::new(QuotaBook::new(cfg.quotas.clone()));
    let format = Format {
        rdata_list: cfg.cof_format.rdata_list,
        bailiwick: cfg.cof_format.bailiwick,
    };
    let factory = move || {
        let store = Store::lazy(&endpoint, policy).expect("store address checked at startup");
        let state = State {
            store,
            origin: origin.clone(),
            auth: auth.clone(),
            limiter: limiter.clone(),
            format,
            metrics: metrics.clone(),
            quotas: quotas.clone(),
        };
        App::new()
            .app_data(web::Data::new(state))
            .configure(super::configure)
    };
    let server = HttpServer::new(factory)
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .shutdown_timeout(SHUTDOWN_SECS)
        // SIGINT/SIGTERM belong to the daemon runtime, which cancels `stop`.
        .disable_signals()
        .workers(opts.workers.max(1))
        .bind((opts.bind, opts.port))
        .with_context(|| format!("binding {}:{}", opts.bind, opts.port))?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, store = %cfg.store.url(), auth = cfg.auth.enabled(), "COF server listening on {addr}.");
    }
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(async move {
        stop.cancelled().await;
        handle.stop(true).await;
    });
    server.await.context("HTTP server")
}
