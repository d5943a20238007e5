//! Process plumbing of every daemon: logging, signals, shutdown and its deadline.
//!
//! - [`init_tracing`]: one `tracing` set-up; the `D4_LOG` environment variable overrides
//!   the default filter; colours only when stderr is a terminal, so files under `logs/`
//!   hold plain text.
//! - [`run_daemon`]: builds the runtime, turns SIGINT/SIGTERM into a cancelled
//!   [`CancellationToken`], runs the daemon's `main` and gives it [`SHUTDOWN_DEADLINE`]
//!   to return after the signal; past it the process exits anyway (status 1), so no
//!   store outage can keep a daemon from stopping.
//! - [`load_server_config`]: `server.conf` with its unknown options logged.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// The environment variable that overrides every daemon's log filter (tracing
/// `EnvFilter` syntax, e.g. `D4_LOG=debug` or `D4_LOG=d4_server=debug,info`).
pub const LOG_ENV: &str = "D4_LOG";

/// How long a daemon may take to finish its work after SIGINT/SIGTERM.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// The command-line options every `server.conf` daemon shares (flatten into its `Cli`).
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Path of server.conf.
    #[arg(short = 'c', long = "config", default_value = crate::config::DEFAULT_SERVER_CONF)]
    pub config: std::path::PathBuf,
    /// Check the configuration, then exit.
    #[arg(long)]
    pub validate: bool,
    /// Log filter (tracing `EnvFilter` syntax, e.g. `debug`); the `D4_LOG` environment
    /// variable overrides it.
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Serve Prometheus metrics on `http://ADDR:PORT/metrics` (off by default).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// Installs the `tracing` subscriber on stderr: `D4_LOG` if set, else `default_filter`.
pub fn init_tracing(default_filter: &str) {
    init_tracing_to(
        default_filter,
        std::io::stderr,
        std::io::stderr().is_terminal(),
    );
}

/// Like [`init_tracing`], writing to `writer` (e.g. a log file) with colours if `ansi`.
pub fn init_tracing_to<W>(default_filter: &str, writer: W, ansi: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let filter = quiet_expected_tls_warnings(filter);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .try_init();
}

/// The rustls module that warns about SNI it ignores. Every sensor that connects by IP
/// address (the C client through socat) sends that address as SNI, so its
/// `Illegal SNI extension: ignoring IP address presented as hostname` is expected input,
/// not a warning.
const RUSTLS_SNI_TARGET: &str = "rustls::msgs::handshake";

/// Hides [`RUSTLS_SNI_TARGET`]'s warnings unless the filter asks for debug output, so
/// they show only when an operator is debugging.
fn quiet_expected_tls_warnings(
    filter: tracing_subscriber::EnvFilter,
) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    if filter.max_level_hint() >= Some(LevelFilter::DEBUG) {
        return filter;
    }
    match format!("{RUSTLS_SNI_TARGET}=error").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Waits for SIGINT or SIGTERM (or for `token` to be cancelled elsewhere), then cancels
/// `token`.
pub async fn wait_for_signal(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = token.cancelled() => return,
        }
        token.cancel();
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received, shutting down."),
        _ = int.recv() => info!("SIGINT received, shutting down."),
        _ = token.cancelled() => return,
    }
    token.cancel();
}

/// Runs a daemon: tracing from `log_filter` (or `D4_LOG`), a multi-threaded runtime,
/// signals to the token passed to `main`, and the [`SHUTDOWN_DEADLINE`] after a signal.
/// An error is printed as `<name>: <error chain>` and exits with status 1.
pub fn run_daemon<F, Fut>(name: &str, log_filter: &str, main: F) -> !
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    init_tracing(log_filter);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(supervise(name, SHUTDOWN_DEADLINE, main));
    // Tasks still running (a connection waiting on a dead store) must not hold the exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    std::process::exit(code);
}

/// Runs `main` with a shutdown token wired to the signals; returns the exit status.
async fn supervise<F, Fut>(name: &str, deadline: Duration, main: F) -> i32
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let stop = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(stop.clone()));
    let overdue = {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            tokio::time::sleep(deadline).await;
        }
    };
    let code = tokio::select! {
        r = main(stop.clone()) => match r {
            Ok(()) => 0,
            Err(e) => {
                error!(error = %format!("{e:#}"), "{name} failed.");
                eprintln!("{name}: {e:#}");
                1
            }
        },
        _ = overdue => {
            error!(deadline = ?deadline, "{name} did not stop within {deadline:?} of the shutdown signal; exiting.");
            1
        }
    };
    signals.abort();
    code
}

/// Connects a daemon's store `role` (e.g. `Redis_STREAM`) with the daemon policy, waiting
/// out an outage with the facade's back-off until `stop` fires (`Ok(None)`); a refused
/// connection is an error naming the role and its address.
pub async fn connect_role(
    ep: &crate::config::RedisEndpoint,
    role: &str,
    stop: &CancellationToken,
) -> anyhow::Result<Option<crate::store::Store>> {
    use anyhow::Context as _;
    crate::store::Store::connect_until(ep, crate::store::Policy::DAEMON, role, stop)
        .await
        .with_context(|| format!("Error: Redis server {role} ({}), ConnectionError", ep.url()))
}

/// Loads `server.conf` and logs each option this program does not know.
pub fn load_server_config(path: &std::path::Path) -> anyhow::Result<crate::config::ServerConfig> {
    use anyhow::Context as _;
    let cfg = crate::config::ServerConfig::load(path)
        .with_context(|| format!("loading {}", path.display()))?;
    for u in &cfg.unknown {
        tracing::warn!(option = %u, "Unknown option in server.conf (ignored).");
    }
    Ok(cfg)
}

/// Default worker-thread count of a server that shares its host with a store or with its
/// clients: half the CPUs, at least one.
pub fn half_the_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_sni_warnings_are_hidden_unless_debugging() {
        let quiet = |f: &str| {
            let f = tracing_subscriber::EnvFilter::new(f);
            quiet_expected_tls_warnings(f).to_string()
        };
        assert!(quiet("info").contains("rustls::msgs::handshake=error"));
        assert!(quiet("warn,d4_server=info").contains("rustls::msgs::handshake=error"));
        assert!(!quiet("debug").contains("rustls::msgs::handshake"));
        assert!(!quiet("info,rustls=trace").contains("rustls::msgs::handshake"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_daemon_that_ignores_the_signal_is_stopped_at_the_deadline() {
        let main = |stop: CancellationToken| async move {
            stop.cancel(); // as a signal would
            std::future::pending::<()>().await;
            Ok(())
        };
        assert_eq!(supervise("t", Duration::from_secs(10), main).await, 1);
    }

    #[tokio::test]
    async fn a_daemon_that_returns_sets_the_status() {
        assert_eq!(
            supervise("t", SHUTDOWN_DEADLINE, |_| async { Ok(()) }).await,
            0
        );
        let failing = |_| async { Err(anyhow::anyhow!("boom")) };
        assert_eq!(supervise("t", SHUTDOWN_DEADLINE, failing).await, 1);
    }
}
