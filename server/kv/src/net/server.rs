//! The listener, start-up (loading the data files), background cron and shutdown
//! sequence of `d4-kv`. The locking design is described in `shared`.
//!
//! **Shutdown.** `SHUTDOWN`, SIGINT or SIGTERM: stop accepting, let connections see the
//! stop signal, flush and fsync the append-only file, write a snapshot when save rules are
//! configured (unless `SHUTDOWN NOSAVE`), remove the pid file, exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::cmd::{self, ClientState, Ctx};
use crate::config::KvConfig;
use crate::keyspace::now_ms;
use crate::persistence::{self, AofError, Persistence};
use crate::protocol::reply::Reply;
use crate::shared::Shared;

/// A fatal server error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Cannot bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// Data directory problem.
    #[error("data directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Persistence problem.
    #[error(transparent)]
    Aof(#[from] AofError),
}

/// Loads the data files into the store (AOF first when enabled, else the snapshot).
fn load(sh: &Shared) -> Result<(), AofError> {
    let cfg = sh.config.read().clone();
    let aof = cfg.dir.join(&cfg.appendfilename);
    let dump = cfg.dir.join(&cfg.dbfilename);
    let path = if cfg.appendonly && aof.exists() {
        aof.clone()
    } else if dump.exists() {
        dump
    } else {
        return Ok(());
    };
    let data = std::fs::read(&path).map_err(|source| AofError::Io {
        path: path.clone(),
        source,
    })?;
    let (cmds, good) = persistence::parse_file(&path, &data)?;
    if good < data.len() {
        if !cfg.aof_load_truncated {
            return Err(AofError::Format {
                path,
                offset: good,
                why: "truncated file (aof-load-truncated is no)".into(),
            });
        }
        let dropped = data.len() - good;
        tracing::warn!(path = %path.display(), valid = good, size = data.len(), dropped, "Truncated data file (aof-load-truncated yes): dropped {dropped} bytes of an incomplete last command.");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|source| AofError::Io {
                path: path.clone(),
                source,
            })?;
        f.set_len(good as u64).map_err(|source| AofError::Io {
            path: path.clone(),
            source,
        })?;
        f.sync_all().map_err(|source| AofError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let n = cmds.len();
    replay(sh, cmds);
    tracing::info!(path = %path.display(), commands = n, keys = sh.store.lock().total_keys(), "Data loaded.");
    if cfg.appendonly && path != aof {
        persistence::run_rewrite(&sh.persist, &sh.store);
    }
    Ok(())
}

fn replay(sh: &Shared, cmds: Vec<Vec<bytes::Bytes>>) {
    let mut st = sh.store.lock();
    st.loading = true;
    let enabled = st.aof.enabled;
    st.aof.enabled = false;
    let mut client = ClientState::new(0, "aof".into(), String::new(), true);
    for a in cmds {
        let mut ctx = Ctx::new(&mut st, &mut client, sh, now_ms(), true);
        let r = cmd::exec(&mut ctx, &a);
        if let Reply::Error(e) = r {
            tracing::warn!(command = %String::from_utf8_lossy(&a[0]), error = %e, "Replayed command failed.");
        }
    }
    st.aof.enabled = enabled;
    st.loading = false;
    st.dirty = 0;
}

async fn cron(sh: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stop = sh.stop_rx();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        sh.store.lock().active_expire(now_ms());
        sh.sample_rss();
    }
}

async fn bind_all(cfg: &KvConfig) -> Result<Vec<TcpListener>, ServerError> {
    let mut out = Vec::new();
    let mut port = cfg.port;
    for (i, host) in cfg.bind.iter().enumerate() {
        let host = host.trim_start_matches('-');
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match TcpListener::bind(&addr).await {
            Ok(l) => {
                port = l.local_addr().map(|a| a.port()).unwrap_or(port);
                out.push(l);
            }
            // Like Redis, a missing IPv6 stack is not fatal when other addresses bound.
            Err(e) if i > 0 && host.contains(':') => {
                tracing::warn!(addr = %addr, error = %e, "Skipping address.");
            }
            Err(source) => return Err(ServerError::Bind { addr, source }),
        }
    }
    Ok(out)
}

/// Runs the server until shutdown.
pub async fn run(cfg: KvConfig, conf_file: Option<PathBuf>) -> Result<(), ServerError> {
    std::fs::create_dir_all(&cfg.dir).map_err(|source| ServerError::Dir {
        dir: cfg.dir.clone(),
        source,
    })?;
    let listeners = bind_all(&cfg).await?;
    let persist = Persistence::open(
        cfg.dir.join(&cfg.appendfilename),
        cfg.dir.join(&cfg.dbfilename),
        cfg.appendonly,
        cfg.appendfsync,
    )?;
    let sh = Arc::new(Shared::new(&cfg, persist, conf_file));
    load(&sh)?;
    sh.persist.refresh_size();
    if !cfg.pidfile.is_empty() {
        let _ = std::fs::write(&cfg.pidfile, format!("{}\n", std::process::id()));
    }
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    if let Some(a) = addrs.first() {
        sh.port.store(a.port(), Ordering::Relaxed);
    }
    let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    tracing::info!(addr = %shown.join(","), appendonly = cfg.appendonly, appendfsync = cfg.appendfsync.as_str(), "d4-kv listening; ready to accept connections.");
    let bg = spawn_background(sh.clone());
    tokio::spawn(cron(sh.clone()));
    for l in listeners {
        tokio::spawn(accept_loop(sh.clone(), l));
    }
    wait_for_stop(&sh).await;
    finish(&sh);
    let _ = bg.join();
    if !cfg.pidfile.is_empty() {
        let _ = std::fs::remove_file(&cfg.pidfile);
    }
    Ok(())
}

/// Starts the persistence thread (see `persistence::background`).
fn spawn_background(sh: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("d4-kv-persist".into())
        .spawn(move || {
            persistence::background(&sh.persist, &sh.store, &sh.config, || sh.is_stopping())
        })
        .unwrap_or_else(|e| panic!("cannot spawn persistence thread: {e}"))
}

async fn wait_for_stop(sh: &Shared) {
    let mut stop = sh.stop_rx();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let term_fut = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down."),
            _ = term_fut => tracing::info!("SIGTERM received, shutting down."),
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = stop.changed() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    sh.stop();
}

fn finish(sh: &Shared) {
    let cfg = sh.config.read().clone();
    sh.persist.close(&sh.store);
    let mode = sh.shutdown_save.load(Ordering::SeqCst);
    if (mode == 1 || (!cfg.save.is_empty() && mode == 0)) && sh.store.lock().dirty > 0 {
        match persistence::bgsave(&sh.persist, &sh.store) {
            Ok(()) => tracing::info!("Snapshot saved on shutdown."),
            Err(e) => tracing::error!(error = %e, "Snapshot on shutdown failed."),
        }
    }
    tracing::info!("d4-kv stopped.");
}

async fn accept_loop(sh: Arc<Shared>, l: TcpListener) {
    let mut stop = sh.stop_rx();
    loop {
        let (sock, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = sock.set_nodelay(true);
        let max = sh.config.read().maxclients as u64;
        if sh.connected.load(Ordering::SeqCst) >= max {
            sh.store.lock().stats.rejected += 1;
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut sock = sock;
                let _ = sock
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        }
        sh.connected.fetch_add(1, Ordering::SeqCst);
        let sh2 = sh.clone();
        tokio::spawn(async move {
            super::connection::serve(sh2.clone(), sock, peer).await;
            sh2.connected.fetch_sub(1, Ordering::SeqCst);
        });
    }
}
