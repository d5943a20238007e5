//! `d4-sensor`: passivedns capture and the D4 client in one process. Captures DNS on
//! an interface (or reads a pcap file) and streams passivedns lines as type-8 D4
//! packets to the destination of the configuration directory. Counters are logged on
//! SIGUSR1 and at exit.
//!
//! Without `-i`/`-r` and with `source` = `stdin` in the configuration directory, it streams
//! passivedns lines read from standard input instead (`passivedns | d4-sensor -c conf`, or
//! `cat passivedns.log | d4-sensor -c conf`), exactly as `d4-client` does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use d4_proto::DataType;
use d4_sensor::capture::{pcapio, Engine};
use d4_sensor::client::{self, ClientFlags};
use d4_sensor::config::{ClientConfig, Source};
use d4_sensor::goflags::normalize_args;
use d4_sensor::pdns_cli::{D4Sink, PdnsFlags};
use d4_sensor::stats::Stats;

/// DNS capture streaming passivedns lines to a D4 server.
#[derive(Debug, Parser)]
#[command(name = "d4-sensor", version)]
struct Cli {
    /// Configuration directory of the D4 client (type must be 8).
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
    /// Check the configuration directory and flags, then exit.
    #[arg(long)]
    validate: bool,
    /// Check the configuration directory, the capture flags and the connection to the
    /// destination (TCP and TLS handshake); exit non-zero on any error.
    #[arg(long, conflicts_with = "validate")]
    check: bool,
    /// Print the sensor uuid and exit (generated and written to CONFDIR/uuid first when
    /// missing, as at a first start; an existing uuid is kept).
    #[arg(long = "print-uuid", conflicts_with_all = ["validate", "check"])]
    print_uuid: bool,
    #[command(flatten)]
    pdns: PdnsFlags,
    #[command(flatten)]
    flags: ClientFlags,
}

fn main() {
    let cli = Cli::parse_from(normalize_args(std::env::args()));
    // Logs go to stderr: stdout may carry the D4 stream.
    d4_core::runtime::init_tracing(if cli.flags.verbose { "debug" } else { "info" });
    if let Err(e) = run(cli) {
        eprintln!("d4-sensor: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.print_uuid {
        return client::print_uuid(&cli.config);
    }
    let cfg = ClientConfig::load(&cli.config).context("bad configuration")?;
    if cfg.data_type != DataType::PASSIVEDNS {
        anyhow::bail!(
            "{}: d4-sensor sends passivedns lines, the type must be 8 (is {})",
            cfg.dir.join("type").display(),
            cfg.data_type
        );
    }
    client::log_config(&cfg);
    if cli.validate || cli.check {
        cli.pdns.engine_options();
        cli.pdns.line_format();
    }
    if cli.validate {
        println!("configuration OK");
        return Ok(());
    }
    if cli.check {
        return client::check(&cfg, &cli.flags);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = rt.block_on(async_main(cfg, cli));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    r
}

async fn async_main(cfg: ClientConfig, cli: Cli) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    d4_sensor::spawn_stats_signal(stats.clone());
    // stdin and a pcap file end by themselves: a rejected sensor then exits non-zero;
    // a live capture keeps retrying.
    let from_stdin = reads_lines_from_stdin(&cfg, &cli);
    let finite = from_stdin || cli.pdns.read.is_some();
    let pipe = client::start(&cfg, &cli.flags, finite, stats.clone())?;
    if from_stdin {
        tracing::info!(
            "No -i/-r and source is stdin: streaming passivedns lines from standard input."
        );
        let em = pipe.emitter;
        let fed = tokio::select! {
            r = d4_sensor::source::copy_stream(tokio::io::stdin(), "stdin", cfg.snaplen, &em) => r,
            _ = d4_sensor::shutdown_signal() => Ok(()),
        };
        drop(em);
        let sent = client::wait_sender(pipe.sender, &stats).await;
        let end = if fed.is_ok() && sent.is_ok() {
            "Done."
        } else {
            "Stopped."
        };
        tracing::info!(stats = %stats.summary(), "{end}");
        fed.context("stdin")?;
        return sent;
    }
    let opts = cli.pdns.engine_options();
    let fmt = cli.pdns.line_format();
    let source = cli.pdns.source()?;
    let bpf = cli.pdns.bpf.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut sink = D4Sink::new(fmt, pipe.emitter, cfg.snaplen);
    let capture_stats = stats.clone();
    let capture_stop = stop.clone();
    let mut capture = tokio::task::spawn_blocking(move || {
        let mut engine = Engine::new(&opts, capture_stats);
        let r = pcapio::run(&source, &bpf, &mut engine, &mut sink, &capture_stop);
        (r, engine.bad)
    });
    let (captured, bad) = tokio::select! {
        r = &mut capture => r.context("capture task")?,
        _ = d4_sensor::shutdown_signal() => {
            tracing::info!("Exiting.");
            stop.store(true, Ordering::Relaxed);
            capture.await.context("capture task")?
        }
    };
    // The sink (and its channel sender) is gone with the capture task: the sender drains.
    let sent = client::wait_sender(pipe.sender, &stats).await;
    let end = if captured.is_ok() && sent.is_ok() {
        "Done."
    } else {
        "Stopped."
    };
    tracing::info!(stats = %stats.summary(), bad = ?bad, "{end}");
    captured.context("capture")?;
    sent?;
    Ok(())
}

/// Whether to stream lines from stdin rather than capture: no capture flag and `source`
/// configured as `stdin` (the goclient way of piping passivedns into the client).
fn reads_lines_from_stdin(cfg: &ClientConfig, cli: &Cli) -> bool {
    cli.pdns.iface.is_none() && cli.pdns.read.is_none() && matches!(cfg.source, Source::Stdin)
}
