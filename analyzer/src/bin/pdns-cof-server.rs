//! `pdns-cof-server`: the COF passive DNS API on port 8400 (spec `pdns.md` §2).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use anyhow::Context;
use clap::Parser;
use d4_analyzer::{cli, reader::Reader, web as cof_web};

/// A request allocates many small strings (keys, members, JSON); mimalloc serves them with
/// less CPU than the system allocator, which showed as a sixth of the server's profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// COF (Common Output Format) passive DNS query server.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// analyzer.conf (upstream INI format); optional, the store may come from the environment.
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// TCP port (0 = any free port).
    #[arg(long, default_value_t = 8400)]
    port: u16,
    /// Address to listen on (upstream listened on every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTP worker threads (default: half the CPUs, at least one: the store usually runs on
    /// the same host and needs the rest).
    #[arg(long)]
    workers: Option<usize>,
    /// Store command timeout in milliseconds (then the request gets a 503).
    #[arg(long, default_value_t = 2000)]
    store_timeout_ms: u64,
    /// Check the configuration and exit.
    #[arg(long)]
    validate: bool,
}

fn main() {
    let args = Args::parse();
    let rt = actix_web::rt::System::new();
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("pdns-cof-server: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (cfg, path) = cli::load_config(args.config.as_deref())?;
    cli::init_logging(cfg.logging_level.as_deref());
    if args.validate {
        println!("{}: OK", path.display());
        return Ok(());
    }
    let url = cfg.store.url();
    let timeout = Duration::from_millis(args.store_timeout_ms.max(1));
    // Checks the URL once; each worker then opens its own connection on first use.
    Reader::new(&url, timeout).context("store address")?;
    let metrics = std::sync::Arc::new(cof_web::metrics::Metrics::default());
    let (origin, auth) = (cfg.origin.clone(), cfg.auth.clone());
    // One store connection per worker, opened on the worker's runtime at the first query:
    // the API answers 503 while the store is unreachable.
    let factory = move || {
        let reader = Reader::new(&url, timeout).expect("store URL checked at startup");
        let state = cof_web::State {
            reader,
            origin: origin.clone(),
            auth: auth.clone(),
            metrics: metrics.clone(),
        };
        App::new()
            .app_data(web::Data::new(state))
            .configure(cof_web::configure)
    };
    let mut server = HttpServer::new(factory)
        .client_request_timeout(Duration::from_secs(10))
        .shutdown_timeout(5);
    let workers = args.workers.unwrap_or_else(d4_core::runtime::half_the_cpus);
    server = server.workers(workers.max(1));
    let server = server
        .bind((args.bind, args.port))
        .with_context(|| format!("binding {}:{}", args.bind, args.port))?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, store = %cfg.store.url(), auth = cfg.auth.enabled(), "COF server listening on {addr}.");
    }
    server.run().await.context("HTTP server")
}
