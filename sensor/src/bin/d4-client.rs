//! `d4-client`: drop-in for d4-goclient. Reads the configuration directory, streams the
//! configured source as D4 packets to the destination, exits 0 once a finite input has
//! been delivered and the connection closed gracefully.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use d4_sensor::client::{self, ClientFlags};
use d4_sensor::config::{ClientConfig, Source};
use d4_sensor::folder::{self, FolderOptions};
use d4_sensor::goflags::normalize_args;
use d4_sensor::packetizer::now_secs;
use d4_sensor::source;
use d4_sensor::stats::Stats;
use tokio_util::sync::CancellationToken;

/// goclient-compatible D4 client (flags may be written Go-style: `-ce=false`, `-rt 30s`).
#[derive(Debug, Parser)]
#[command(name = "d4-client", version)]
struct Cli {
    /// Configuration directory (key, uuid, snaplen, type, version, source, destination, ...).
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
    /// Check the configuration directory and exit.
    #[arg(long)]
    validate: bool,
    /// Check the configuration directory and the connection to the destination (TCP and
    /// TLS handshake), print what is wrong and exit non-zero on any error.
    #[arg(long, conflicts_with = "validate")]
    check: bool,
    /// Print the sensor uuid and exit. A missing or unusable CONFDIR/uuid is generated
    /// and written first, as at a first start, so the sensor can be registered and
    /// approved on the server before it connects; an existing uuid is kept. Only the
    /// uuid file is read.
    #[arg(long = "print-uuid", conflicts_with_all = ["validate", "check"])]
    print_uuid: bool,
    #[command(flatten)]
    flags: ClientFlags,
}

fn main() {
    let cli = Cli::parse_from(normalize_args(std::env::args()));
    // Logs go to stderr: stdout may carry the D4 stream.
    d4_core::runtime::init_tracing(if cli.flags.verbose { "debug" } else { "info" });
    if let Err(e) = run(cli) {
        eprintln!("d4-client: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.print_uuid {
        return client::print_uuid(&cli.config);
    }
    let cfg = ClientConfig::load(&cli.config).context("bad configuration")?;
    client::log_config(&cfg);
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
    let r = rt.block_on(async_main(cfg, cli.flags));
    // A blocking stdin read may still be pending after a signal: do not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    r
}

async fn async_main(cfg: ClientConfig, flags: ClientFlags) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    d4_sensor::spawn_stats_signal(stats.clone());
    // stdin and files end by themselves: a rejected sensor then exits non-zero.
    let finite = matches!(cfg.source, Source::Stdin | Source::File(_) | Source::Pcap);
    let pipe = client::start(&cfg, &flags, finite, stats.clone())?;
    let stop = CancellationToken::new();
    tokio::spawn(d4_core::runtime::wait_for_signal(stop.clone()));
    let em = pipe.emitter;
    let snaplen = cfg.snaplen;
    let feed = async {
        match &cfg.source {
            Source::Stdin => source::copy_blocking(std::io::stdin(), "stdin", snaplen, &em).await,
            Source::File(p) => source::copy_file(p, snaplen, &em).await,
            Source::Pcap => {
                source::copy_file(std::path::Path::new("capture.pcap"), snaplen, &em).await
            }
            Source::Folder(dir) => {
                let opts = FolderOptions {
                    base: dir.clone(),
                    daily: flags.daily,
                    send_existing: flags.send_existing,
                    json: flags.json,
                    poll: flags.reload,
                    snaplen,
                };
                folder::watch_folder(opts, &now_secs, em.clone()).await
            }
            Source::D4Server { redis, queue } => {
                source::pop_queue(redis, queue, flags.reload, snaplen, &em, &stop).await
            }
        }
    };
    let fed = tokio::select! {
        r = feed => r,
        _ = stop.cancelled() => {
            tracing::info!("Exiting.");
            Ok(())
        }
    };
    drop(em);
    let sent = client::wait_sender(pipe.sender, &stats).await;
    let end = if fed.is_ok() && sent.is_ok() {
        "Done."
    } else {
        "Stopped."
    };
    tracing::info!(stats = %stats.summary(), "{end}");
    fed.context("source")?;
    sent?;
    Ok(())
}
