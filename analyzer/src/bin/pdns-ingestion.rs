//! `pdns-ingestion`: pops passivedns lines from the D4 analyzer queue `analyzer:8:<my-uuid>`
//! (db 2 of `[global] d4-server`) and writes the passive DNS store (spec `pdns.md` §1).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use d4_analyzer::check::{self, Program};
use d4_analyzer::ingest;
use d4_analyzer::model::config::AnalyzerConfig;

/// A batch allocates many small strings (keys, parsed fields, pipeline arguments); the system
/// allocator's malloc/free/realloc were about 30% of the ingestion's profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Passive DNS ingestion from a D4 type-8 analyzer queue.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// analyzer.conf (upstream INI format).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Lines popped per batch.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Names this ingestion's processing list `analyzer:8:<uuid>:processing:<id>` (default:
    /// `[global] ingestion-id`, else `default`); ingestions sharing a queue need distinct ids.
    #[arg(long)]
    id: Option<String>,
    /// Exit once the queue is empty (benchmarks, one-shot backfills).
    #[arg(long)]
    drain: bool,
    /// Check the configuration file only and exit.
    #[arg(long)]
    validate: bool,
    /// Check the configuration, reach both stores and look the queue up on the D4 server;
    /// print what is wrong and exit (1 on any error).
    #[arg(long, conflicts_with = "validate")]
    check: bool,
    /// Seconds between checks that the queue is registered on the D4 server (a warning is
    /// logged at every check while it is not).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    queue_check_secs: u64,
    /// Serve Prometheus metrics on http://ADDR:PORT/metrics (off by default).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
}

fn main() {
    let args = Args::parse();
    let (cfg, path) = match load(&args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("pdns-ingestion: {e:#}");
            std::process::exit(1);
        }
    };
    let mut opts = ingest::Options {
        batch: args.batch.max(1),
        drain: args.drain,
        id: args
            .id
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| cfg.ingestion_id.clone())
            .unwrap_or_else(|| ingest::DEFAULT_ID.to_string()),
        queue_check: Duration::from_secs(args.queue_check_secs.max(1)),
        ..Default::default()
    };
    d4_core::runtime::run_daemon("pdns-ingestion", cfg.log_filter(), |stop| async move {
        check::log_config_warnings(&cfg, &path);
        if let Some(p) = cfg.my_uuid_problem() {
            tracing::error!(config = %path.display(), "{p}");
        }
        if let Some(addr) = args.metrics {
            let (m, registry) = ingest::metrics::Metrics::registered();
            d4_core::metrics::spawn(addr, Arc::new(registry), stop.clone()).await?;
            opts.metrics = Some(m);
        }
        let started = Instant::now();
        let t = match ingest::run(&cfg, &opts, &stop).await {
            Err(e) if e.is::<ingest::StoreRefused>() => {
                eprintln!("pdns-ingestion: {e:#}");
                std::process::exit(ingest::EXIT_STORE_REFUSED);
            }
            other => other?,
        };
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            lines = t.lines,
            processed = t.processed,
            rejected = t.rejected,
            excluded = t.excluded,
            seconds = secs,
            lines_per_sec = (t.lines as f64 / secs.max(1e-6)) as u64,
            "Ingestion stopped."
        );
        Ok(())
    })
}

/// Loads and checks the config; with `--validate` or `--check`, reports and exits.
fn load(args: &Args) -> anyhow::Result<(AnalyzerConfig, PathBuf)> {
    let (cfg, path) = AnalyzerConfig::load_or_default(args.config.as_deref())?;
    cfg.queue()
        .with_context(|| format!("in {}", path.display()))?;
    if args.validate {
        std::process::exit(check::config_report(&cfg, Program::Ingestion).print(&path));
    }
    if args.check {
        let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
        let report = rt.block_on(check::check(&cfg, Program::Ingestion));
        std::process::exit(report.print(&path));
    }
    Ok((cfg, path))
}
