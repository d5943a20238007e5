//! `d4-kv`: the embedded Redis-compatible store. Called like `redis-server`:
//! `d4-kv [CONFIG_FILE] [--port 6380 --dir data/kv --appendonly yes ...]`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use d4_kv::KvConfig;

/// Redis-compatible key-value store for the D4 stack (RESP2/RESP3, append-only persistence).
///
/// Options use redis.conf names and are applied after the config file, e.g.
/// `--port 6380 --bind 127.0.0.1 --dir data/kv --appendonly yes --appendfsync always
/// --requirepass secret --save "" --maxmemory 1gb --maxclients 1000`.
#[derive(Parser, Debug)]
#[command(
    name = "d4-kv",
    version,
    trailing_var_arg = true,
    allow_hyphen_values = true
)]
struct Cli {
    /// redis.conf-style configuration file.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Config file (positional, as for redis-server) followed by `--option value...` pairs.
    #[arg(value_name = "CONFIG_FILE] [--option value")]
    rest: Vec<String>,
}

/// jemalloc, as in redis-server: `INFO memory` reads its statistics (see
/// `shared::allocated_bytes`), and its size classes make memory per key comparable.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    if let Err(e) = real_main() {
        eprintln!("d4-kv: {e:#}");
        std::process::exit(1);
    }
}

/// Logging, like every D4 daemon: `D4_LOG` (a tracing filter) overrides the level from
/// `loglevel`; colours only when writing to a terminal, so files under `logs/` (stderr
/// redirected) and `logfile` stay free of ANSI escapes. d4-kv depends on no other D4
/// crate, so this is its own copy of `d4_core::runtime::init_tracing`'s rules.
fn init_logging(cfg: &KvConfig) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("D4_LOG").unwrap_or_else(|_| {
        let lvl = match cfg.loglevel.as_str() {
            "debug" | "verbose" => "debug",
            "warning" => "warn",
            _ => "info",
        };
        tracing_subscriber::EnvFilter::new(lvl)
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if cfg.logfile.is_empty() {
        builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.logfile)
            .with_context(|| format!("log file {}", cfg.logfile))?;
        builder
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .init();
    }
    Ok(())
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut file = cli.config;
    let mut rest = cli.rest.as_slice();
    if file.is_none() {
        if let Some(first) = rest.first().filter(|a| !a.starts_with("--")) {
            file = Some(PathBuf::from(first));
            rest = &rest[1..];
        }
    }
    let (cfg, notes) = KvConfig::load(file.as_deref(), rest).context("configuration")?;
    init_logging(&cfg)?;
    for n in notes {
        tracing::warn!("{n}");
    }
    // As redis-server does by default (`jemalloc-bg-thread yes`): a background thread
    // returns freed pages to the system, which jemalloc otherwise only does while the
    // program allocates, so an idle server kept the pages of its outgrown key tables.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "Cannot start jemalloc's background thread.");
    }
    // The keyspace is behind one lock, so extra workers only parallelise socket I/O; half
    // the CPUs (at least one) leaves the rest to the clients on the same host.
    let workers = if cfg.io_threads > 0 {
        cfg.io_threads
    } else {
        d4_kv::half_the_cpus()
    };
    let rt = runtime(workers).context("tokio runtime")?;
    let res = rt.block_on(d4_kv::run(cfg, file));
    // Data is flushed by now; do not wait on connection tasks that are still running.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    res.context("d4-kv")?;
    Ok(())
}

/// The async runtime with `workers` threads. One worker is a current-thread runtime, as
/// redis-server's single event loop: socket readiness, the connection tasks and their
/// replies stay on one thread, and a request skips the bookkeeping of a scheduler shared
/// with other threads (work stealing, idle workers, queue-interval tuning).
fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder.enable_all().build()
}
