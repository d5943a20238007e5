//! The D4 client glue shared by `d4-client` and `d4-sensor`: goclient's flags, the
//! sender task for the configured destination, and the channel sources write into.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::{ClientConfig, Destination, Source};
use crate::goflags::parse_duration;
use crate::packetizer::Signer;
use crate::reject::RejectPolicy;
use crate::sender::{self, NetOptions, NetSender, SendError, SessionStart};
use crate::source::Emitter;
use crate::stats::Stats;

fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {s:?}")),
    }
}

/// goclient's transport flags (Go spelling `-ce`, `-cc`, ... is accepted, see `goflags`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClientFlags {
    /// Use TLS to the D4 server (`-ce=false` for plain TCP).
    #[arg(long = "ce", value_parser = go_bool, default_value = "true", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls: bool,
    /// Verify the server certificate against CONFDIR/rootCA.crt (default: accept any, as goclient).
    #[arg(long = "cc", value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub check_cert: bool,
    /// Dial timeout (Go duration; 0 = OS default).
    #[arg(long = "ct", value_parser = parse_duration, default_value = "0")]
    pub connect_timeout: Duration,
    /// TCP keepalive period (negative not supported; 0 = disabled).
    #[arg(long = "cka", value_parser = parse_duration, default_value = "30s")]
    pub keepalive: Duration,
    /// Longest wait between reconnection attempts (backoff starts at 100ms and doubles).
    #[arg(long = "rt", value_parser = parse_duration, default_value = "30s")]
    pub retry: Duration,
    /// Poll delay of the folder and d4server sources when they have nothing new.
    #[arg(long = "rl", value_parser = parse_duration, default_value = "200ms")]
    pub reload: Duration,
    /// Debug logging.
    #[arg(short = 'v', value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub verbose: bool,
    /// Folder source: watch DIR/YYYYMMDD of the current UTC day, moving to the next day's
    /// folder once it exists (the current one stays watched until then).
    #[arg(long = "daily", value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub daily: bool,
    /// Folder source: also send the files already in the folder at start (by default
    /// only files that appear later are sent).
    #[arg(long = "send-existing", value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub send_existing: bool,
    /// Folder source: send raw file bytes instead of base64.
    #[arg(long = "json", value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub json: bool,
    /// SOCKS5 via Tor (not supported: rejected with an error).
    #[arg(long = "tor", value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tor: bool,
    /// Bytes of recent packets re-sent after a reconnect (MiB).
    #[arg(long = "replay-mb", default_value_t = 8)]
    pub replay_mb: usize,
    /// Age limit of the replay window (Go duration).
    #[arg(long = "replay-secs", value_parser = parse_duration, default_value = "5s")]
    pub replay_age: Duration,
    /// Memory buffer between source and sender while disconnected (MiB).
    #[arg(long = "buffer-mb", default_value_t = 64)]
    pub buffer_mb: usize,
    /// Spool directory: when the memory buffer is full, packets go to a file there
    /// (and a spool left by a previous run is sent first).
    #[arg(long = "spool")]
    pub spool: Option<PathBuf>,
    /// Largest spool file (MiB).
    #[arg(long = "spool-mb", default_value_t = 1024)]
    pub spool_mb: u64,
    /// How long to wait at the end for the server to close after close_notify.
    #[arg(long = "drain-timeout", value_parser = parse_duration, default_value = "10s")]
    pub drain_timeout: Duration,
    /// Keep retrying when the server rejects the sensor (closes the connection right
    /// after the first packet, several times in a row). By default a finite input (stdin,
    /// file, pcap file) then ends with an error; long-running sources always retry.
    #[arg(long = "retry-rejected", value_parser = go_bool, default_value = "false", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub retry_rejected: bool,
    /// At the end of the input, how long after its first packet a connection is watched
    /// for a rejection before closing (Go duration; 0 = not watched).
    #[arg(long = "accept-wait", value_parser = parse_duration, default_value = "1s")]
    pub accept_wait: Duration,
}

/// The running sender and the means to feed it.
pub struct Pipeline {
    /// Where sources push payloads.
    pub emitter: Emitter,
    /// The sender task; finishes after the channel closes and everything is delivered.
    pub sender: JoinHandle<Result<(), SendError>>,
}

/// Builds the TLS connector for `cfg` and `flags`.
fn connector(
    cfg: &ClientConfig,
    flags: &ClientFlags,
) -> anyhow::Result<Option<tokio_rustls::TlsConnector>> {
    if !flags.tls {
        return Ok(None);
    }
    let conf = if flags.check_cert {
        crate::tls::verifying_config(&cfg.root_ca_path())?
    } else {
        crate::tls::insecure_config()?
    };
    Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(conf))))
}

/// The network options of the configured destination (`None` for stdout).
/// `finite_input`: the source ends by itself (stdin, file), so a rejected sensor gives up
/// unless `--retry-rejected`.
pub fn net_options(
    cfg: &ClientConfig,
    flags: &ClientFlags,
    finite_input: bool,
) -> anyhow::Result<Option<NetOptions>> {
    let Destination::Net { host, port } = &cfg.destination else {
        return Ok(None);
    };
    Ok(Some(NetOptions {
        host: host.clone(),
        port: *port,
        tls: connector(cfg, flags)?,
        connect_timeout: Some(flags.connect_timeout).filter(|d| !d.is_zero()),
        keepalive: Some(flags.keepalive).filter(|d| !d.is_zero()),
        retry_max: flags.retry,
        replay_bytes: flags.replay_mb << 20,
        replay_age: flags.replay_age,
        drain_timeout: flags.drain_timeout,
        reject: RejectPolicy {
            uuid: crate::config::format_uuid(&cfg.uuid),
            data_type: cfg.data_type.0,
            tls: flags.tls,
            give_up: finite_input && !flags.retry_rejected,
            accept_wait: flags.accept_wait,
        },
    }))
}

/// Starts the sender for the configured destination. Must run inside a tokio runtime.
/// `finite_input` as for [`net_options`].
pub fn start(
    cfg: &ClientConfig,
    flags: &ClientFlags,
    finite_input: bool,
    stats: Arc<Stats>,
) -> anyhow::Result<Pipeline> {
    if flags.tor {
        anyhow::bail!("-tor is not supported by this client");
    }
    let signer = Signer {
        version: cfg.version,
        uuid: cfg.uuid,
        key: cfg.key.clone(),
    };
    let spool = flags.spool.as_deref().map(|d| (d, flags.spool_mb << 20));
    let (tx, rx) = crate::queue::queue(flags.buffer_mb.max(1) << 20, spool)?;
    let start = SessionStart {
        signer: signer.clone(),
        meta: cfg.metaheader.clone(),
        snaplen: cfg.snaplen,
    };
    let sender = match net_options(cfg, flags, finite_input)? {
        None => tokio::spawn(sender::run_stdout(rx, start, stats.clone())),
        Some(opts) => tokio::spawn(NetSender::new(opts, start, stats.clone()).run(rx)),
    };
    let emitter = Emitter {
        signer,
        data_type: cfg.data_packet_type(),
        tx,
        stats,
    };
    Ok(Pipeline { emitter, sender })
}

/// Logs the configuration warnings and the identity once at start.
pub fn log_config(cfg: &ClientConfig) {
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let uuid = crate::config::format_uuid(&cfg.uuid);
    if cfg.uuid_generated {
        tracing::info!(%uuid, file = %cfg.dir.join("uuid").display(), "UUIDv4 generated and saved.");
    }
    tracing::info!(%uuid, data_type = %cfg.data_type, snaplen = cfg.snaplen, destination = ?cfg.destination, "D4 client configured.");
}

/// `--check`: prints what the (already loaded) configuration says, checks the source
/// file, then connects to the destination (TCP, then the TLS handshake, the certificate
/// verified with `-cc`) and closes. `Err` names what is wrong. Whether the server
/// accepts the sensor is only known once it sends (a rejection is reported then).
pub fn check(cfg: &ClientConfig, flags: &ClientFlags) -> anyhow::Result<()> {
    use anyhow::Context as _;
    for w in &cfg.warnings {
        println!("warning: {w}");
    }
    println!(
        "configuration: OK (uuid {}, type {}, snaplen {}, source {:?}, destination {:?})",
        crate::config::format_uuid(&cfg.uuid),
        cfg.data_type,
        cfg.snaplen,
        cfg.source,
        cfg.destination
    );
    check_source(&cfg.source)?;
    let Some(opts) = net_options(cfg, flags, true).context("TLS settings")? else {
        println!("connection: none to check (destination is stdout)");
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let how = match (flags.tls, flags.check_cert) {
        (false, _) => "plain TCP".to_string(),
        (true, false) => "TLS, certificate not verified (-cc to verify)".to_string(),
        (true, true) => format!(
            "TLS, certificate verified against {}",
            cfg.root_ca_path().display()
        ),
    };
    let target = format!("{}:{}", opts.host, opts.port);
    rt.block_on(probe(&opts))
        .with_context(|| format!("connection to {target} ({how})"))?;
    println!("connection: OK ({target}, {how})");
    Ok(())
}

/// Connects with `opts` (bounded by the dial timeout, 10 s by default) and closes.
async fn probe(opts: &NetOptions) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let limit = opts.connect_timeout.unwrap_or(Duration::from_secs(10));
    let mut c = tokio::time::timeout(limit, sender::dial(opts))
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {limit:?}"))??;
    // Nothing was sent: a failed close_notify is not the configuration's fault.
    let _ = c.shutdown().await;
    Ok(())
}

/// The file sources must exist and be readable (the folder is checked by the loader).
fn check_source(source: &Source) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let path = match source {
        Source::File(p) => p.clone(),
        Source::Pcap => PathBuf::from("capture.pcap"),
        _ => return Ok(()),
    };
    std::fs::File::open(&path).with_context(|| format!("source file {}", path.display()))?;
    println!("source: OK ({} is readable)", path.display());
    Ok(())
}

/// `--print-uuid`: prints the sensor uuid of `dir` on stdout, generated and saved
/// first if needed (d4-core#34).
pub fn print_uuid(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let id = crate::config::ensure_uuid(dir).context("uuid")?;
    for w in &id.warnings {
        tracing::warn!("{w}");
    }
    let uuid = crate::config::format_uuid(&id.uuid);
    if id.generated {
        tracing::info!(%uuid, file = %dir.join("uuid").display(), "UUIDv4 generated and saved.");
    }
    println!("{uuid}");
    Ok(())
}

/// Waits for the sender to deliver everything. A SIGINT/SIGTERM during that wait (the
/// second one if intake was already stopped by a signal) abandons what is left: it
/// in the spool file stays there for the next run; what is in memory is lost and reported.
pub async fn wait_sender(
    mut sender: JoinHandle<Result<(), SendError>>,
    stats: &Stats,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    tokio::select! {
        r = &mut sender => r.context("sender task")?.context("delivery"),
        _ = crate::shutdown_signal() => {
            sender.abort();
            tracing::error!(stats = %stats.summary(), "Interrupted before everything was delivered.");
            anyhow::bail!("interrupted: packets still buffered in memory are lost (the spool file, if any, keeps its part)")
        }
    }
}
