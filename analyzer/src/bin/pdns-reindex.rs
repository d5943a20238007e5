//! `pdns-reindex`: builds the d4-rs search indexes (wildcards, CIDR, newest first) of an
//! existing pDNS store, e.g. one written by the upstream Python ingestion, with a progress
//! bar. Resumable (the position is kept in the store) and safe while `pdns-ingestion` runs.
//! Exit status: 0 when the walk finished, 1 when interrupted, 2 on an error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use d4_analyzer::index::reindex::{self, Progress};
use d4_analyzer::model::config::AnalyzerConfig;
use d4_core::store::{Policy, Store};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// Build the search indexes of a passive DNS store from its upstream keys.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// analyzer.conf (the `[store]` address, as for pdns-ingestion).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Keys asked per SCAN step.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Start from the beginning instead of resuming a stopped run.
    #[arg(long)]
    restart: bool,
    /// No progress bar (a log line every 10 s instead).
    #[arg(long, short)]
    quiet: bool,
}

/// Seconds between two progress log lines.
const LOG_EVERY: Duration = Duration::from_secs(10);

fn main() {
    let args = Args::parse();
    let code = match run(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("pdns-reindex: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// Ok(false) when interrupted before the end.
fn run(args: Args) -> anyhow::Result<bool> {
    let (cfg, _path) = AnalyzerConfig::load_or_default(args.config.as_deref())?;
    d4_core::runtime::init_tracing(cfg.log_filter());
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(walk(args, cfg))
}

async fn walk(args: Args, cfg: AnalyzerConfig) -> anyhow::Result<bool> {
    let stop = CancellationToken::new();
    tokio::spawn(d4_core::runtime::wait_for_signal(stop.clone()));
    let store = Store::connect(&cfg.store, Policy::DAEMON)
        .await
        .with_context(|| format!("connecting to the pDNS store {}", cfg.store.url()))?;
    if args.restart {
        reindex::reset(&store)
            .await
            .context("resetting ix:reindex")?;
    }
    let mut p = reindex::resume_point(&store)
        .await
        .context("reading ix:reindex")?;
    let keys: u64 = store
        .query(&d4_core::store::cmd("DBSIZE"))
        .await
        .context("DBSIZE")?;
    tracing::info!(store = %cfg.store.url(), cursor = p.cursor, sets = p.sets, records = p.records, keys, "Indexing.");
    let bar = bar(args.quiet, keys);
    let mut logged = Instant::now();
    let mut scanned = 0u64;
    while !p.finished {
        if stop.is_cancelled() {
            bar.abandon();
            tracing::info!(
                cursor = p.cursor,
                sets = p.sets,
                records = p.records,
                "Interrupted: run again to resume."
            );
            return Ok(false);
        }
        p = reindex::step(&store, p, args.count.max(1))
            .await
            .context("indexing")?;
        scanned += args.count as u64;
        bar.set_position(scanned.min(keys));
        bar.set_message(format!("{} sets, {} records", p.sets, p.records));
        if args.quiet && logged.elapsed() >= LOG_EVERY {
            log_progress(&p);
            logged = Instant::now();
        }
    }
    bar.finish();
    log_progress(&p);
    println!("indexed {} records of {} forward sets", p.records, p.sets);
    Ok(true)
}

fn log_progress(p: &Progress) {
    tracing::info!(
        sets = p.sets,
        records = p.records,
        finished = p.finished,
        "Reindex progress."
    );
}

/// A bar over the store's keys (the walk visits about `count` keys per step).
fn bar(quiet: bool, keys: u64) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(keys);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} keys {elapsed} {msg}") {
        pb.set_style(style);
    }
    pb
}
