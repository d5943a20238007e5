//! `d4-passivedns`: drop-in for gamelinux passivedns. Captures DNS on an interface or
//! reads a pcap file and writes passivedns lines to `-l` (answers) and `-L` (errors).

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
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
    /// Answer log file (`-` = stdout), appended to. Default: /var/log/passivedns.log,
    /// as passivedns (warned about when stdout is a pipe: `-l -` sends the lines there).
    #[arg(short = 'l')]
    log: Option<String>,
    /// NXDOMAIN/error log file (`-` = stdout), created at start even when no error
    /// rcode is enabled; the same as -l shares its handle. Default: /var/log/passivedns.log,
    /// opened only when -X enables an error rcode.
    #[arg(short = 'L')]
    nxd_log: Option<String>,
    /// Quiet: only warnings and errors on stderr (no start, progress or end lines).
    #[arg(short = 'q')]
    quiet: bool,
    /// PF_RING cluster id (accepted, ignored).
    #[arg(short = 'c')]
    cluster: Option<String>,
    /// JSON output for answers.
    #[arg(short = 'j')]
    json: bool,
    /// JSON output for NXDOMAIN/error records.
    #[arg(short = 'J')]
    json_errors: bool,
    /// Write the process id to this file.
    #[arg(short = 'p')]
    pid_file: Option<PathBuf>,
    /// Daemonise (not supported: run under a service manager instead).
    #[arg(short = 'D')]
    daemon: bool,
    /// Answers to syslog (not supported).
    #[arg(short = 'y')]
    syslog: bool,
    /// Errors to syslog (not supported).
    #[arg(short = 'Y')]
    syslog_errors: bool,
    /// Statistics file (accepted; statistics are logged on SIGUSR1 and at exit).
    #[arg(short = 's')]
    stats_file: Option<PathBuf>,
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

/// The error log to open apart from the answer log, if any. An explicit `-L` is always
/// opened (created), as passivedns does; the default one only when an error rcode is
/// enabled, so `-l -` works without write access to /var/log. The same path as `-l`
/// shares the answer writer.
fn error_log<'a>(
    nxd_log: Option<&'a str>,
    log: &str,
    opts: &d4_sensor::capture::EngineOptions,
) -> Option<&'a str> {
    let path = match nxd_log {
        Some(p) => p,
        None if opts.filter.logs_any_rcode() => DEFAULT_LOG,
        None => return None,
    };
    (path != log).then_some(path)
}

/// The answer log: `-l`, else passivedns's default file. Without `-l` and with stdout
/// piped (`d4-passivedns -r x.pcap | d4-client`) nothing reaches the pipe, which is
/// almost never what was meant: a WARN says so (the default is kept for passivedns
/// compatibility).
fn answer_log(log: Option<&str>, stdout_is_terminal: bool) -> &str {
    if let Some(l) = log {
        return l;
    }
    if !stdout_is_terminal {
        tracing::warn!(
            "No -l given: DNS records go to {DEFAULT_LOG} (the passivedns default), not to \
             standard output, which is a pipe or file here. Use `-l -` to write them to \
             standard output (e.g. `d4-passivedns -r x.pcap -l - | d4-client -c conf`)."
        );
    }
    DEFAULT_LOG
}

/// A capture allocates and frees a few small strings per DNS answer (names, answers,
/// lines); jemalloc does that faster than the system allocator. (mimalloc was as fast in
/// user time but spent more in the kernel zeroing the huge pages it maps.)
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = Cli::parse();
    d4_core::runtime::init_tracing(if cli.quiet { "warn" } else { "info" });
    if let Err(e) = run(cli) {
        eprintln!("d4-passivedns: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // First, so the hint is seen even when the run then fails (e.g. /var/log not writable).
    let log = answer_log(cli.log.as_deref(), std::io::stdout().is_terminal());
    if cli.daemon || cli.syslog || cli.syslog_errors {
        anyhow::bail!(
            "-D, -y and -Y are not supported: run in the foreground and log to files or stdout"
        );
    }
    if let Some(p) = &cli.pid_file {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("pid file {}", p.display()))?;
    }
    let opts = cli.pdns.engine_options();
    let fmt = cli.pdns.line_format();
    let source = cli.pdns.source()?;
    let answers = open(log)?;
    let errors = match error_log(cli.nxd_log.as_deref(), log, &opts) {
        Some(path) => Some(open(path)?),
        None => None,
    };
    let mut sink = FileSink::new(fmt, answers, errors);
    sink.json = (cli.json, cli.json_errors);
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    d4_sensor::spawn_signal_thread(stop.clone(), stats.clone());
    let mut engine = Engine::new(&opts, stats.clone());
    pcapio::run(&source, &cli.pdns.bpf, &mut engine, &mut sink, &stop)?;
    tracing::info!(stats = %stats.summary(), bad = ?engine.bad, "[*] passivedns ended.");
    stop.store(true, Ordering::Relaxed);
    Ok(())
}
