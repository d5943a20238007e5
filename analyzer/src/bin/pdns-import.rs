//! `pdns-import`: loads COF NDJSON files (or a JSON array) and raw passivedns log files, plain or
//! gzip, into the passive DNS store, with a progress bar. Exit status: 0 when everything was
//! imported, 1 if any record was rejected, 2 on an error (config, input, store).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use d4_analyzer::check::{self, Program};
use d4_analyzer::import::{Format, Importer, Summary};
use d4_analyzer::model::config::AnalyzerConfig;
use tokio_util::sync::CancellationToken;

/// Import passive DNS data into the pDNS store.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// analyzer.conf (store address, [exclude], [expiration]).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Input format (auto: `{`/`[` first → COF, else passivedns lines).
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// Input file (repeatable; upstream spelling).
    #[arg(long = "file", value_name = "PATH")]
    file: Vec<PathBuf>,
    /// Input files (plain or gzip).
    files: Vec<PathBuf>,
    /// Read COF objects (one per message) from a websocket stream, e.g. ws://crh.circl.lu:8888,
    /// until the server closes it or SIGINT/SIGTERM.
    #[arg(long, value_name = "URL", conflicts_with_all = ["file", "files"])]
    websocket: Option<String>,
    /// Records per store round trip.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Check the configuration and reach the store; print what is wrong and exit (0 when
    /// fine, 2 on any error).
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Auto,
    Cof,
    Passivedns,
}

impl FormatArg {
    fn format(self) -> Option<Format> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Cof => Some(Format::Cof),
            FormatArg::Passivedns => Some(Format::Passivedns),
        }
    }
}

fn main() {
    let args = Args::parse();
    let code = match import(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("pdns-import: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// Ok(false) when some records were rejected.
fn import(args: Args) -> anyhow::Result<bool> {
    let (cfg, path) = AnalyzerConfig::load_or_default(args.config.as_deref())?;
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    if args.check {
        let report = rt.block_on(check::check(&cfg, Program::StoreOnly));
        if report.print(&path) != 0 {
            std::process::exit(2);
        }
        std::process::exit(0);
    }
    d4_core::runtime::init_tracing(cfg.log_filter());
    check::log_config_warnings(&cfg, &path);
    rt.block_on(run(args, cfg))
}

async fn run(args: Args, cfg: AnalyzerConfig) -> anyhow::Result<bool> {
    let files: Vec<PathBuf> = args.file.iter().chain(&args.files).cloned().collect();
    if files.is_empty() && args.websocket.is_none() {
        anyhow::bail!("no input file or --websocket given (see --help)");
    }
    let stop = CancellationToken::new();
    tokio::spawn(d4_core::runtime::wait_for_signal(stop.clone()));
    let store_url = cfg.store.url();
    let Some(importer) = Importer::connect(cfg, args.batch, stop).await? else {
        anyhow::bail!("interrupted while waiting for the pDNS store");
    };
    let total = match &args.websocket {
        Some(url) => importer
            .websocket(url)
            .await
            .with_context(|| format!("websocket {url}"))?,
        None => {
            tracing::info!(store = %store_url, files = files.len(), "Importing.");
            let mut total = Summary::default();
            for f in &files {
                let s = importer
                    .file(f, args.format.format(), args.quiet)
                    .await
                    .with_context(|| format!("importing {}", f.display()))?;
                tracing::info!(file = %f.display(), records = s.records, rejected = s.rejected, excluded = s.excluded, "File imported.");
                total.add(&s);
            }
            total
        }
    };
    println!(
        "imported {} records, {} rejected, {} excluded",
        total.records, total.rejected, total.excluded
    );
    Ok(total.rejected == 0)
}
