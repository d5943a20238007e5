//! `pdns-cof-server`: the COF passive DNS API on port 8400 (spec `pdns.md` §2).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use d4_analyzer::check::{self, Program};
use d4_analyzer::cof::{self, ServeOptions};
use d4_analyzer::model::config::AnalyzerConfig;

/// A request allocates many small strings (keys, members, JSON); mimalloc serves them with
/// less CPU than the system allocator, which showed as a sixth of the server's profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// COF (Common Output Format) passive DNS query server.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// analyzer.conf (upstream INI format); optional, the store may come from the environment.
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// TCP port (0 = any free port).
    #[arg(long, default_value_t = 8400)]
    port: u16,
    /// Address to listen on (upstream listened on every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTP worker threads (default: half the CPUs, at least one: the store usually runs on
    /// the same host and needs the rest).
    #[arg(long)]
    workers: Option<usize>,
    /// Store command timeout in milliseconds (then the request gets a 503).
    #[arg(long, default_value_t = 2000)]
    store_timeout_ms: u64,
    /// Check the configuration file only and exit.
    #[arg(long)]
    validate: bool,
    /// Check the configuration and reach the store; print what is wrong and exit (1 on any
    /// error).
    #[arg(long, conflicts_with = "validate")]
    check: bool,
}

fn main() {
    let args = Args::parse();
    let (cfg, path) = match AnalyzerConfig::load_or_default(args.config.as_deref()) {
        Ok((cfg, path)) if args.validate => {
            std::process::exit(check::config_report(&cfg, Program::StoreOnly).print(&path))
        }
        Ok((cfg, path)) if args.check => std::process::exit(run_check(&cfg, &path)),
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("pdns-cof-server: {e:#}");
            std::process::exit(1);
        }
    };
    let opts = ServeOptions {
        bind: args.bind,
        port: args.port,
        workers: args.workers.unwrap_or_else(d4_core::runtime::half_the_cpus),
        store_timeout: Duration::from_millis(args.store_timeout_ms.max(1)),
    };
    d4_core::runtime::run_daemon("pdns-cof-server", cfg.log_filter(), |stop| async move {
        check::log_config_warnings(&cfg, &path);
        cof::serve(&cfg, &opts, stop).await
    })
}

/// `--check`: prints the report; returns the exit status.
fn run_check(cfg: &AnalyzerConfig, path: &std::path::Path) -> i32 {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt
            .block_on(check::check(cfg, Program::StoreOnly))
            .print(path),
        Err(e) => {
            eprintln!("pdns-cof-server: cannot start the runtime: {e}");
            1
        }
    }
}
