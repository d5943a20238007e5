//! The store facade: the one way every D4 process talks to a Redis-compatible server.
//!
//! Every daemon, the web admin, the analyzer and the sensor's Redis source connect through
//! [`Store::connect`] (or [`Store::lazy`]) with an endpoint from their config file and one
//! [`Policy`]. The facade owns:
//!
//! - the client library (`redis-rs`, multiplexed, self-reconnecting connections): no other
//!   module names a connection type. An endpoint with `cluster = host:port,...` gets a
//!   cluster connection behind the same calls (`cluster`: pipelines cut per slot, multi-key
//!   commands and `XREAD` split per slot and recombined, redirects followed,
//!   [`Store::scan_match`] on every primary); a single server keeps exactly its commands and
//!   round trips;
//! - the timeouts and reconnect policy ([`Policy`]);
//! - the error classification ([`StoreError::class`]: transient vs refused);
//! - the back-off between retries, which also stops on shutdown ([`Backoff`]);
//! - reply conversions shared by every reader ([`value`]).
//!
//! Call sites build commands with [`Cmd`] / [`pipe`] and run them with [`Store::query`] /
//! [`Store::run`]; one pipeline is one round trip. A [`Store`] is cheap to clone (clones
//! share the connection) and implements `redis::aio::ConnectionLike`, so `AsyncCommands`
//! works on a clone too. A command that blocks the connection (`XREAD BLOCK`, `BRPOP`)
//! gets its own `Store` ([`Policy::blocking`]) so it never delays the others.
//!
//! Why `redis-rs` and not `fred` (the design card's first choice): `fred` flushes the
//! socket after every pipelined command and moves a large future per command; on the COF
//! server that cost more CPU than the rest of the request (`tests/bench/analyzer/run.sh`,
//! about 60 µs against under 40 µs of server CPU per query). See `docs/architecture.md`.

mod backoff;
mod cluster;
mod error;
mod route;
pub mod value;

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::RedisFuture;

pub use backoff::Backoff;
pub use error::{ErrorClass, StoreError};
pub use redis::{cmd, pipe, AsyncCommands, Cmd, FromRedisValue, Pipeline, ToRedisArgs, Value};

use crate::config::RedisEndpoint;

/// Timeouts and reconnection of one store connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Longest wait for a TCP connection (and its handshake).
    pub connect_timeout: Duration,
    /// Longest wait for a reply; a command past it fails as [`ErrorClass::Transient`].
    pub response_timeout: Duration,
    /// Connection attempts per (re)connect before a command fails.
    pub connect_attempts: usize,
}

impl Policy {
    /// Daemons (`d4-server`, `d4-workers`, `pdns-ingestion`): generous reply timeout, a
    /// store restart is waited out by the caller's [`Backoff`].
    pub const DAEMON: Policy = Policy {
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(30),
        connect_attempts: 3,
    };

    /// Request handlers (web admin, COF server): a person or a client is waiting, so a
    /// dead store is reported within seconds.
    pub const INTERACTIVE: Policy = Policy {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
        connect_attempts: 1,
    };

    /// A connection that runs commands blocking up to `block` (`XREAD BLOCK`).
    pub fn blocking(block: Duration) -> Policy {
        Policy {
            response_timeout: block + Policy::DAEMON.response_timeout,
            ..Policy::DAEMON
        }
    }

    /// The same policy with another reply timeout.
    pub fn with_response_timeout(self, response_timeout: Duration) -> Policy {
        Policy {
            response_timeout,
            ..self
        }
    }

    /// The settings of each node connection of a cluster (the facade follows redirects).
    fn node_config(&self) -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.connect_attempts.saturating_sub(1))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2))
    }
}

/// A connection to one store role (a server and db, or a cluster). Clones share the
/// connection.
#[derive(Clone)]
pub struct Store {
    conn: Conn,
    db: i64,
}

/// One server (the connection manager reconnects by itself) or a cluster.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(cluster::Cluster),
}

impl Store {
    /// Connects to `ep` and waits for the first connection; a store that is down is an
    /// error ([`ErrorClass::Transient`]) that the caller may retry with a [`Backoff`].
    pub async fn connect(ep: &RedisEndpoint, policy: Policy) -> Result<Store, StoreError> {
        let conn = if ep.is_cluster() {
            Conn::Cluster(cluster::Cluster::connect(ep, policy.node_config()).await?)
        } else {
            let client = client(ep)?;
            let m = ConnectionManager::new_with_config(client, policy.manager_config())
                .await
                .map_err(|e| StoreError::connect(ep, e))?;
            Conn::Single(m)
        };
        Ok(Store {
            conn,
            db: ep.db.into(),
        })
    }

    /// A store that connects on its first command and after every lost connection: a
    /// store that is down makes commands fail fast instead of failing here.
    pub fn lazy(ep: &RedisEndpoint, policy: Policy) -> Result<Store, StoreError> {
        let conn = if ep.is_cluster() {
            Conn::Cluster(cluster::Cluster::lazy(ep, policy.node_config()))
        } else {
            let client = client(ep)?;
            let m = ConnectionManager::new_lazy_with_config(client, policy.manager_config())
                .map_err(|e| StoreError::connect(ep, e))?;
            Conn::Single(m)
        };
        Ok(Store {
            conn,
            db: ep.db.into(),
        })
    }

    /// Connects to `ep`, retrying transient failures with a [`Backoff`] until it works or
    /// `stop` fires (`None`). Each failure is logged once, with the endpoint; a refused
    /// connection (bad address, authentication) is returned at once.
    pub async fn connect_until(
        ep: &RedisEndpoint,
        policy: Policy,
        role: &str,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<Option<Store>, StoreError> {
        let mut backoff = Backoff::default();
        loop {
            match Store::connect(ep, policy).await {
                Ok(s) => return Ok(Some(s)),
                Err(e) if e.class() == ErrorClass::Transient => {
                    tracing::warn!(role, endpoint = %ep.url(), error = %e, retry_in = ?backoff.delay(), "Store unreachable, retrying.");
                    if !backoff.wait(stop).await {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs one command and converts its reply.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        match &self.conn {
            Conn::Single(c) => Ok(cmd.query_async(&mut c.clone()).await?),
            Conn::Cluster(c) => {
                let v = c.command(cmd).await?.extract_error()?;
                Ok(redis::from_redis_value(v).map_err(redis::RedisError::from)?)
            }
        }
    }

    /// Runs a pipeline in one round trip and converts its replies (a tuple or a `Vec`).
    /// The first refused command fails the whole call unless the pipeline was built with
    /// `ignore_errors()`, in which case refusals come back as [`Value::ServerError`].
    /// On a cluster the pipeline is cut per slot and sent as one pipeline per node, all
    /// nodes at once (one round trip while no slot moves); redirected commands are sent
    /// again, never returned as values.
    pub async fn run<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, StoreError> {
        match &self.conn {
            Conn::Single(c) => Ok(pipe.query_async(&mut c.clone()).await?),
            Conn::Cluster(_) => Ok(pipe.query_async(&mut self.clone()).await?),
        }
    }

    /// Every key matching the glob `pattern`, by `SCAN` (never `KEYS`, which blocks a
    /// server); on a cluster, by `SCAN` on every primary. For maintenance and tools, not
    /// for hot paths.
    pub async fn scan_match(&self, pattern: &str) -> Result<Vec<String>, StoreError> {
        match &self.conn {
            Conn::Cluster(c) => Ok(c.scan_match(pattern).await?),
            Conn::Single(c) => {
                let mut keys = Vec::new();
                cluster::scan_node(&mut c.clone(), pattern, &mut keys).await?;
                keys.sort_unstable();
                keys.dedup();
                Ok(keys)
            }
        }
    }

    /// The database this connection uses.
    pub fn db(&self) -> i64 {
        self.db
    }

    /// Whether this store is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }
}

impl ConnectionLike for Store {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.conn {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => Box::pin(c.command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.conn {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => Box::pin(c.pipeline(cmd, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

/// A pipeline whose refused commands come back in place ([`Value::ServerError`]) instead
/// of failing the whole call; only a failure of the connection is an error.
pub fn tolerant_pipe() -> Pipeline {
    let mut p = redis::pipe();
    p.ignore_errors();
    p
}

fn client(ep: &RedisEndpoint) -> Result<redis::Client, StoreError> {
    redis::Client::open(ep.url()).map_err(|e| StoreError::connect(ep, e))
}
