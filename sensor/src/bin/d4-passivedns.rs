//! `d4-passivedns`: drop-in for gamelinux passivedns. Captures DNS on an interface or
//! reads a pcap file and writes passivedns lines to `-l` (answers) and `-L` (errors).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use d4_sensor::capture::{pcapio, Engine};
use d4_sensor::pdns_cli::{FileSink, PdnsFlags};
use d4_sensor::stats::Stats;

const DEFAULT_LOG: &str = "/var/log/passivedns.log";

/// passivedns-compatible DNS capture.
#[derive(Debug, Parser)]
#[command(name = "d4-passivedns", version)]
struct Cli {
    #[command(flatten)]
    pdns: PdnsFlags,
    /// Answer log file (`-` = stdout), appended to.
    #[arg(short = 'l', default_value = DEFAULT_LOG)]
    log: String,
    /// NXDOMAIN/error log file (`-` = stdout); the same as -l shares its handle.
    #[arg(short = 'L', default_value = DEFAULT_LOG)]
    nxd_log: String,
    /// Quiet (the banner goes to stderr anyway; accepted for compatibility).
    #[arg(short = 'q')]
    quiet: bool,
    /// PF_RING cluster id (accepted, ignored).
    #[arg(short = 'c')]
    cluster: Option<String>,
}

fn open(path: &str) -> anyhow::Result<Box<dyn Write + Send>> {
    if path == "-" || path == "/dev/stdout" {
        return Ok(Box::new(std::io::BufWriter::new(std::io::stdout())));
    }
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(path))
        .with_context(|| format!("open {path}"))?;
    Ok(Box::new(std::io::BufWriter::new(f)))
}

fn main() {
    let cli = Cli::parse();
    d4_sensor::init_logging(false);
    if let Err(e) = run(cli) {
        eprintln!("d4-passivedns: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let opts = cli.pdns.engine_options();
    let fmt = cli.pdns.line_format();
    let source = cli.pdns.source()?;
    let answers = open(&cli.log)?;
    // The error log is opened only when an error rcode is enabled (passivedns always opens it).
    let errors = if cli.nxd_log != cli.log && opts.filter.logs_any_rcode() {
        Some(open(&cli.nxd_log)?)
    } else {
        None
    };
    let mut sink = FileSink::new(fmt, answers, errors);
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    d4_sensor::spawn_signal_thread(stop.clone(), stats.clone());
    let mut engine = Engine::new(&opts, stats.clone());
    let _ = cli.quiet;
    pcapio::run(&source, &cli.pdns.bpf, &mut engine, &mut sink, &stop)?;
    tracing::info!(stats = %stats.summary(), bad = ?engine.bad, "[*] passivedns ended.");
    stop.store(true, Ordering::Relaxed);
    Ok(())
}
