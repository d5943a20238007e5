//! `pdns-ingestion`: pops passivedns lines from the D4 analyzer queue `analyzer:8:<my-uuid>`
//! (db 2 of `[global] d4-server`) and writes the passive DNS store (spec `pdns.md` §1).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use d4_analyzer::ingest;
use d4_analyzer::model::config::AnalyzerConfig;

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
    /// Check the configuration and exit.
    #[arg(long)]
    validate: bool,
}

fn main() {
    let args = Args::parse();
    let cfg = match load(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("pdns-ingestion: {e:#}");
            std::process::exit(1);
        }
    };
    let opts = ingest::Options {
        batch: args.batch.max(1),
        drain: args.drain,
        id: args
            .id
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| cfg.ingestion_id.clone())
            .unwrap_or_else(|| ingest::DEFAULT_ID.to_string()),
        ..Default::default()
    };
    d4_core::runtime::run_daemon("pdns-ingestion", cfg.log_filter(), |stop| async move {
        let started = Instant::now();
        let t = ingest::run(&cfg, &opts, &stop).await?;
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

/// Loads and checks the config; with `--validate`, reports and exits.
fn load(args: &Args) -> anyhow::Result<AnalyzerConfig> {
    let (cfg, path) = AnalyzerConfig::load_or_default(args.config.as_deref())?;
    cfg.queue()
        .with_context(|| format!("in {}", path.display()))?;
    if args.validate {
        println!("{}: OK", path.display());
        std::process::exit(0);
    }
    Ok(cfg)
}
