//! `pdns-import`: loads COF NDJSON files (or a JSON array) and raw passivedns log files, plain or
//! gzip, into the passive DNS store, with a progress bar. Exits 1 if any record was rejected.

use std::fs::File;
use std::io::{BufRead, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use d4_analyzer::batch::Batch;
use d4_analyzer::config::AnalyzerConfig;
use d4_analyzer::import::{self, Format};
use d4_analyzer::store::{self, StoreError};
use fred::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Auto,
    Cof,
    Passivedns,
}

#[derive(Default)]
struct Summary {
    records: i64,
    rejected: i64,
    excluded: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("pdns-import: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Ok(false) when some records were rejected.
async fn run(args: Args) -> anyhow::Result<bool> {
    let (cfg, _) = d4_analyzer::cli::load_config(args.config.as_deref())?;
    d4_analyzer::cli::init_logging(cfg.logging_level.as_deref());
    let files: Vec<PathBuf> = args.file.iter().chain(&args.files).cloned().collect();
    if files.is_empty() && args.websocket.is_none() {
        anyhow::bail!("no input file or --websocket given (see --help)");
    }
    let client = store::connect(&cfg.store, Duration::from_secs(10))
        .await
        .context("pDNS store")?;
    if let Some(url) = &args.websocket {
        let s = websocket(&client, &cfg, url, args.batch.max(1))
            .await
            .with_context(|| format!("websocket {url}"))?;
        println!(
            "imported {} records, {} rejected, {} excluded",
            s.records, s.rejected, s.excluded
        );
        return Ok(s.rejected == 0);
    }
    tracing::info!(store = %cfg.store.url(), files = files.len(), "Importing.");
    let mut total = Summary::default();
    for f in &files {
        let s = import_file(&client, &cfg, f, &args)
            .await
            .with_context(|| format!("importing {}", f.display()))?;
        tracing::info!(file = %f.display(), records = s.records, rejected = s.rejected, excluded = s.excluded, "File imported.");
        total.records += s.records;
        total.rejected += s.rejected;
        total.excluded += s.excluded;
    }
    println!(
        "imported {} records, {} rejected, {} excluded",
        total.records, total.rejected, total.excluded
    );
    Ok(total.rejected == 0)
}

async fn import_file(
    client: &Client,
    cfg: &AnalyzerConfig,
    path: &Path,
    args: &Args,
) -> anyhow::Result<Summary> {
    let file = File::open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let pb = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(path.display().to_string());
    let mut reader = import::open_reader(pb.wrap_read(file))?;
    let format = match args.format {
        FormatArg::Cof => Format::Cof,
        FormatArg::Passivedns => Format::Passivedns,
        FormatArg::Auto => import::sniff(reader.fill_buf()?),
    };
    let first = reader
        .fill_buf()?
        .iter()
        .find(|c| !c.is_ascii_whitespace())
        .copied();
    let mut sum = Summary::default();
    if format == Format::Cof && first == Some(b'[') {
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        let mut b = new_batch(format);
        match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Err(e) = import::add_cof(&mut b, item, cfg) {
                        note_reject(&mut b, i + 1, e.reason(), &e.to_string(), &mut sum);
                    }
                }
            }
            Err(e) => note_reject(&mut b, 1, "cof-json", &e.to_string(), &mut sum),
        }
        flush(client, cfg, &mut b, &mut sum).await?;
    } else {
        lines(
            client,
            cfg,
            &mut reader,
            format,
            args.batch.max(1),
            &mut sum,
        )
        .await?;
    }
    pb.finish_and_clear();
    Ok(sum)
}

async fn lines(
    client: &Client,
    cfg: &AnalyzerConfig,
    reader: &mut dyn BufRead,
    format: Format,
    batch: usize,
    sum: &mut Summary,
) -> anyhow::Result<()> {
    let mut b = new_batch(format);
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    let mut in_batch = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        lineno += 1;
        let res = match format {
            Format::Passivedns => import::add_passivedns_line(&mut b, &buf, cfg)
                .map_err(|e| (e.reason(), e.to_string())),
            Format::Cof => import::add_cof_line(&mut b, &String::from_utf8_lossy(&buf), cfg)
                .map_err(|e| (e.reason(), e.to_string())),
        };
        if let Err((reason, msg)) = res {
            // Blank lines in passivedns logs are not errors.
            if reason != "empty" {
                note_reject(&mut b, lineno, reason, &msg, sum);
            }
        }
        in_batch += 1;
        if in_batch >= batch {
            flush(client, cfg, &mut b, sum).await?;
            b = new_batch(format);
            in_batch = 0;
        }
    }
    flush(client, cfg, &mut b, sum).await
}

/// Reads COF messages from a websocket; flushes every `batch` records or after 1 s of quiet.
async fn websocket(
    client: &Client,
    cfg: &AnalyzerConfig,
    url: &str,
    batch: usize,
) -> anyhow::Result<Summary> {
    let mut ws = d4_analyzer::ws::WsClient::connect(url).await?;
    tracing::info!(url, "Websocket connected.");
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<Result<Vec<u8>, d4_analyzer::ws::WsError>>(4096);
    tokio::spawn(async move {
        loop {
            let msg = ws.next_message().await.transpose();
            let done = !matches!(msg, Some(Ok(_)));
            if let Some(m) = msg {
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            if done {
                return;
            }
        }
    });
    let mut stop = d4_analyzer::cli::shutdown_signal();
    let mut sum = Summary::default();
    let mut b = new_batch(Format::Cof);
    let mut n = 0usize;
    let mut pending = 0usize;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep(Duration::from_secs(1)), if pending > 0 => {
                flush(client, cfg, &mut b, &mut sum).await?;
                b = new_batch(Format::Cof);
                pending = 0;
                continue;
            }
            _ = stop.changed() => None,
        };
        let Some(msg) = msg else { break };
        let msg = msg?;
        n += 1;
        if let Err(e) = import::add_cof_line(&mut b, &String::from_utf8_lossy(&msg), cfg) {
            note_reject(&mut b, n, e.reason(), &e.to_string(), &mut sum);
        }
        pending += 1;
        if pending >= batch {
            flush(client, cfg, &mut b, &mut sum).await?;
            b = new_batch(Format::Cof);
            pending = 0;
        }
    }
    flush(client, cfg, &mut b, &mut sum).await?;
    Ok(sum)
}

fn new_batch(format: Format) -> Batch {
    let mut b = Batch::default();
    b.min_first = format == Format::Cof;
    b
}

fn note_reject(b: &mut Batch, lineno: usize, reason: &'static str, msg: &str, sum: &mut Summary) {
    *b.rejected.entry(reason).or_default() += 1;
    if sum.rejected < 10 {
        tracing::warn!(line = lineno, reason, error = msg, "Record rejected.");
    }
    sum.rejected += 1;
}

/// Writes a batch, retrying unavailability for up to about a minute.
async fn flush(
    client: &Client,
    cfg: &AnalyzerConfig,
    b: &mut Batch,
    sum: &mut Summary,
) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        match store::write_batch(client, b, cfg).await {
            Ok(_) => break,
            Err(StoreError::Transient(e)) if attempts < 30 => {
                attempts += 1;
                tracing::warn!(error = %e, "Store unavailable, retrying.");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
    sum.records += b.processed;
    sum.excluded += b.excluded;
    Ok(())
}
