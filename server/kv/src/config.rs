//! `d4-kv` configuration in `redis.conf` syntax: a file of `name value...` lines and/or
//! `--name value...` command-line options (applied after the file, like `redis-server`).
//!
//! Options fall in three groups: the ones d4-kv implements (typed fields of
//! [`KvConfig`]); tuning options of real Redis that have no meaning here (encodings,
//! latency monitor, ...), accepted and remembered so `CONFIG GET/SET` and redis.conf files
//! written for Redis keep working, with a log line saying they are ignored; and unknown
//! names, which are errors naming the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::protocol::frame::split_args;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unknown option.
    #[error("{origin}: unknown option '{name}' (not a redis.conf option d4-kv knows)")]
    Unknown {
        /// Where it came from (file:line or "command line").
        origin: String,
        /// Option name.
        name: String,
    },
    /// Bad value.
    #[error("{origin}: bad value for '{name}': {value:?} ({why})")]
    Value {
        /// Where it came from.
        origin: String,
        /// Option name.
        name: String,
        /// The value.
        value: String,
        /// Why it is wrong.
        why: &'static str,
    },
    /// Unreadable file.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// `appendfsync` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// fsync before replying to every write.
    Always,
    /// fsync once per second.
    EverySec,
    /// Leave it to the OS.
    No,
}

impl Fsync {
    /// The redis.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// Who may use a protected feature (`enable-debug-command`, `enable-protected-configs`):
/// Redis 7's `no` (nobody, the default), `yes` (everybody) or `local` (loopback clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Refused to every client.
    No,
    /// Allowed to every client.
    Yes,
    /// Allowed to clients connected over loopback.
    Local,
}

impl Protection {
    /// The redis.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::No => "no",
            Protection::Yes => "yes",
            Protection::Local => "local",
        }
    }
    fn parse(v: &str) -> Option<Protection> {
        match v.to_ascii_lowercase().as_str() {
            "no" => Some(Protection::No),
            "yes" => Some(Protection::Yes),
            "local" => Some(Protection::Local),
            _ => None,
        }
    }
    /// True when a client connected from `peer` may use the feature.
    pub fn allows(self, peer: Option<std::net::IpAddr>) -> bool {
        match self {
            Protection::No => false,
            Protection::Yes => true,
            Protection::Local => peer.is_some_and(|ip| ip.is_loopback()),
        }
    }
}

/// Options `CONFIG SET` refuses because they only take effect at start-up: immutable in
/// Redis 7, or (`port`, `bind`) in d4-kv, which binds once.
const IMMUTABLE: &[&str] = &[
    "port",
    "bind",
    "databases",
    "daemonize",
    "pidfile",
    "logfile",
    "appendfilename",
    "appenddirname",
    "io-threads",
    "io-threads-do-reads",
    "enable-debug-command",
    "enable-protected-configs",
    "enable-module-command",
    "supervised",
    "cluster-enabled",
    "unixsocket",
    "unixsocketperm",
    "syslog-enabled",
    "syslog-ident",
    "always-show-logo",
    "set-proc-title",
    "disable-thp",
];

/// Options Redis 7 lets `CONFIG SET` change only with `enable-protected-configs`.
const PROTECTED: &[&str] = &["dir", "dbfilename"];

/// Why `CONFIG SET` may not change an option at run time, in Redis's words.
pub(crate) fn runtime_refusal(name: &str, protected_ok: bool) -> Option<&'static str> {
    if PROTECTED.contains(&name) {
        // With protected configs enabled Redis would move its files; d4-kv keeps the
        // files it opened at start-up, so the option is immutable here.
        return Some(if protected_ok {
            "can't set immutable config"
        } else {
            "can't set protected config"
        });
    }
    IMMUTABLE
        .contains(&name)
        .then_some("can't set immutable config")
}

/// Options of real Redis that d4-kv accepts and ignores (with their Redis defaults).
const IGNORED: &[(&str, &str)] = &[
    ("tcp-backlog", "511"),
    ("tcp-keepalive", "300"),
    ("protected-mode", "yes"),
    ("supervised", "no"),
    ("always-show-logo", "no"),
    ("set-proc-title", "yes"),
    ("proc-title-template", "{title} {listen-addr} {server-mode}"),
    ("rdbcompression", "yes"),
    ("rdbchecksum", "yes"),
    ("rdb-del-sync-files", "no"),
    ("replica-serve-stale-data", "yes"),
    ("replica-read-only", "yes"),
    ("repl-diskless-sync", "yes"),
    ("repl-diskless-sync-delay", "5"),
    ("repl-diskless-load", "disabled"),
    ("repl-disable-tcp-nodelay", "no"),
    ("replica-priority", "100"),
    ("acllog-max-len", "128"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("replica-lazy-flush", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("oom-score-adj", "no"),
    ("oom-score-adj-values", "0 200 800"),
    ("disable-thp", "yes"),
    ("no-appendfsync-on-rewrite", "no"),
    ("aof-use-rdb-preamble", "yes"),
    ("aof-timestamp-enabled", "no"),
    ("appenddirname", "appendonlydir"),
    ("lua-time-limit", "5000"),
    ("busy-reply-threshold", "5000"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("latency-monitor-threshold", "0"),
    ("latency-tracking", "yes"),
    ("notify-keyspace-events", ""),
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "64"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("list-max-ziplist-size", "-2"),
    ("list-max-listpack-size", "-2"),
    ("list-compress-depth", "0"),
    ("set-max-intset-entries", "512"),
    ("set-max-listpack-entries", "128"),
    ("set-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("hll-sparse-max-bytes", "3000"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("activerehashing", "yes"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("client-query-buffer-limit", "1073741824"),
    ("hz", "10"),
    ("dynamic-hz", "yes"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("rdb-save-incremental-fsync", "yes"),
    ("jemalloc-bg-thread", "yes"),
    ("active-expire-effort", "1"),
    ("activedefrag", "no"),
    ("lfu-log-factor", "10"),
    ("lfu-decay-time", "1"),
    ("maxmemory-samples", "5"),
    ("maxmemory-eviction-tenacity", "10"),
    ("io-threads-do-reads", "no"),
    ("enable-module-command", "no"),
    ("crash-log-enabled", "yes"),
    ("crash-memcheck-enabled", "yes"),
    ("syslog-enabled", "no"),
    ("syslog-ident", "redis"),
    ("locale-collate", ""),
    ("replica-announced", "yes"),
    ("cluster-enabled", "no"),
    ("proto-max-bulk-len", "536870912"),
    ("lua-replicate-commands", "yes"),
    ("close-on-replica-write", "yes"),
    ("min-replicas-to-write", "0"),
    ("min-replicas-max-lag", "10"),
    ("unixsocket", ""),
    ("unixsocketperm", "0"),
    ("rename-command", ""),
];

/// Typed settings.
#[derive(Debug, Clone)]
pub struct KvConfig {
    /// TCP port (0: any free port).
    pub port: u16,
    /// Addresses to bind.
    pub bind: Vec<String>,
    /// Data directory.
    pub dir: PathBuf,
    /// Append-only persistence on/off.
    pub appendonly: bool,
    /// fsync policy.
    pub appendfsync: Fsync,
    /// Append-only file name (inside `dir`).
    pub appendfilename: String,
    /// Snapshot file name (inside `dir`).
    pub dbfilename: String,
    /// Password of the default user.
    pub requirepass: Option<String>,
    /// Connection limit.
    pub maxclients: usize,
    /// Memory limit in bytes (0: none).
    pub maxmemory: u64,
    /// Only `noeviction` is implemented.
    pub maxmemory_policy: String,
    /// Snapshot rules: after `secs` seconds if at least `changes` changes.
    pub save: Vec<(u64, u64)>,
    /// Number of databases.
    pub databases: usize,
    /// Automatic rewrite when the file grew by this percentage...
    pub auto_aof_rewrite_percentage: u64,
    /// ...and is at least this big.
    pub auto_aof_rewrite_min_size: u64,
    /// Load a truncated append-only file (dropping the partial tail).
    pub aof_load_truncated: bool,
    /// Idle client timeout in seconds (0: none).
    pub timeout: u64,
    /// Log level.
    pub loglevel: String,
    /// Log file ("" = stderr).
    pub logfile: String,
    /// PID file.
    pub pidfile: String,
    /// Worker threads of the async runtime (`io-threads`; 0: half the CPUs, at least 1;
    /// 1: one current-thread runtime).
    pub io_threads: usize,
    /// Refuse writes while the last snapshot failed (and save rules exist).
    pub stop_writes_on_bgsave_error: bool,
    /// Who may run `DEBUG`.
    pub enable_debug_command: Protection,
    /// Who may change protected options (`dir`, `dbfilename`) with `CONFIG SET`.
    pub enable_protected_configs: Protection,
    /// Accepted-but-ignored options with their current values.
    pub ignored: BTreeMap<String, String>,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            port: 6379,
            bind: vec!["127.0.0.1".into(), "::1".into()],
            dir: PathBuf::from("."),
            appendonly: false,
            appendfsync: Fsync::EverySec,
            appendfilename: "appendonly.aof".into(),
            dbfilename: "dump.d4kv".into(),
            requirepass: None,
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            databases: 16,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            aof_load_truncated: true,
            timeout: 0,
            loglevel: "notice".into(),
            logfile: String::new(),
            pidfile: String::new(),
            io_threads: 0,
            stop_writes_on_bgsave_error: true,
            enable_debug_command: Protection::No,
            enable_protected_configs: Protection::No,
            ignored: IGNORED
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Parses `1gb`, `100mb`, `64k`, `1024` (Redis memory units).
pub(crate) fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let units: [(&str, u64); 8] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1_000_000),
        ("g", 1_000_000_000),
        ("b", 1),
        ("", 1),
    ];
    for (suf, mul) in units {
        if let Some(n) = l.strip_suffix(suf) {
            if let Ok(n) = n.parse::<u64>() {
                return n.checked_mul(mul);
            }
        }
    }
    None
}

fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Options that print a warning when set (they parse, but d4-kv does not act on them).
pub(crate) fn is_ignored(name: &str) -> bool {
    IGNORED.iter().any(|(k, _)| *k == name)
}

impl KvConfig {
    /// Reads a config file then applies command-line `--name value...` options.
    pub fn load(
        file: Option<&Path>,
        args: &[String],
    ) -> Result<(KvConfig, Vec<String>), ConfigError> {
        let mut c = KvConfig::default();
        let mut notes = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let origin = format!("{}:{}", path.display(), n + 1);
                let words = split_args(line.as_bytes()).map_err(|_| ConfigError::Value {
                    origin: origin.clone(),
                    name: line.into(),
                    value: String::new(),
                    why: "unbalanced quotes",
                })?;
                let words: Vec<String> = words
                    .iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                if let Some((name, vals)) = words.split_first() {
                    c.set(name, vals, &origin, &mut notes)?;
                }
            }
        }
        for (name, vals) in group_cli(args) {
            c.set(&name, &vals, "command line", &mut notes)?;
        }
        Ok((c, notes))
    }

    /// Sets one option from its words; `notes` collects "ignored" remarks.
    pub fn set(
        &mut self,
        name: &str,
        vals: &[String],
        origin: &str,
        notes: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let name = name.to_ascii_lowercase();
        let v = vals.join(" ");
        let bad = |why| ConfigError::Value {
            origin: origin.into(),
            name: name.clone(),
            value: v.clone(),
            why,
        };
        match name.as_str() {
            "port" => self.port = v.parse().map_err(|_| bad("not a port number"))?,
            "bind" => {
                self.bind = vals
                    .iter()
                    .map(|s| s.trim_start_matches('-').to_string())
                    .collect()
            }
            "dir" => self.dir = PathBuf::from(&v),
            "appendonly" => {
                self.appendonly = yes_no(&v).ok_or_else(|| bad("expected yes or no"))?
            }
            "appendfsync" => {
                self.appendfsync = match v.to_ascii_lowercase().as_str() {
                    "always" => Fsync::Always,
                    "everysec" => Fsync::EverySec,
                    "no" => Fsync::No,
                    _ => return Err(bad("expected always, everysec or no")),
                }
            }
            "appendfilename" => self.appendfilename = v,
            "dbfilename" => self.dbfilename = v,
            "requirepass" => self.requirepass = (!v.is_empty()).then_some(v),
            "maxclients" => self.maxclients = v.parse().map_err(|_| bad("not a number"))?,
            "maxmemory" => {
                self.maxmemory = parse_memory(&v).ok_or_else(|| bad("not a memory size"))?
            }
            "maxmemory-policy" => {
                if v != "noeviction" {
                    notes.push(format!(
                        "{origin}: maxmemory-policy {v} is not implemented; using noeviction"
                    ));
                }
                self.maxmemory_policy = "noeviction".into();
            }
            "save" => {
                self.save =
                    parse_save(vals).ok_or_else(|| bad("expected pairs of <seconds> <changes>"))?
            }
            "databases" => {
                self.databases = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| bad("1..1024"))?
            }
            "auto-aof-rewrite-percentage" => {
                self.auto_aof_rewrite_percentage = v.parse().map_err(|_| bad("not a number"))?
            }
            "auto-aof-rewrite-min-size" => {
                self.auto_aof_rewrite_min_size =
                    parse_memory(&v).ok_or_else(|| bad("not a memory size"))?
            }
            "aof-load-truncated" => {
                self.aof_load_truncated = yes_no(&v).ok_or_else(|| bad("expected yes or no"))?
            }
            "timeout" => self.timeout = v.parse().map_err(|_| bad("not a number"))?,
            "stop-writes-on-bgsave-error" => {
                self.stop_writes_on_bgsave_error =
                    yes_no(&v).ok_or_else(|| bad("expected yes or no"))?
            }
            "enable-debug-command" => {
                self.enable_debug_command =
                    Protection::parse(&v).ok_or_else(|| bad("expected no, yes or local"))?
            }
            "enable-protected-configs" => {
                self.enable_protected_configs =
                    Protection::parse(&v).ok_or_else(|| bad("expected no, yes or local"))?
            }
            "loglevel" => self.loglevel = v,
            "io-threads" => self.io_threads = v.parse().map_err(|_| bad("not a number"))?,
            "logfile" => self.logfile = v,
            "pidfile" => self.pidfile = v,
            "daemonize" => {
                if yes_no(&v) == Some(true) {
                    notes.push(format!(
                        "{origin}: daemonize yes is not supported; staying in the foreground"
                    ));
                }
            }
            "include" | "loadmodule" => return Err(bad("not supported by d4-kv")),
            n if is_ignored(n) => {
                notes.push(format!(
                    "{origin}: option '{n}' accepted but has no effect in d4-kv"
                ));
                self.ignored.insert(n.to_string(), v);
            }
            _ => {
                return Err(ConfigError::Unknown {
                    origin: origin.into(),
                    name,
                })
            }
        }
        Ok(())
    }

    /// Current value of an option for `CONFIG GET`, by canonical name.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "dir" => std::fs::canonicalize(&self.dir)
                .unwrap_or(self.dir.clone())
                .display()
                .to_string(),
            "appendonly" => if self.appendonly { "yes" } else { "no" }.into(),
            "appendfsync" => self.appendfsync.as_str().into(),
            "appendfilename" => self.appendfilename.clone(),
            "dbfilename" => self.dbfilename.clone(),
            "requirepass" => self.requirepass.clone().unwrap_or_default(),
            "maxclients" => self.maxclients.to_string(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            "save" => self
                .save
                .iter()
                .map(|(a, b)| format!("{a} {b}"))
                .collect::<Vec<_>>()
                .join(" "),
            "databases" => self.databases.to_string(),
            "auto-aof-rewrite-percentage" => self.auto_aof_rewrite_percentage.to_string(),
            "auto-aof-rewrite-min-size" => self.auto_aof_rewrite_min_size.to_string(),
            "aof-load-truncated" => if self.aof_load_truncated { "yes" } else { "no" }.into(),
            "timeout" => self.timeout.to_string(),
            "loglevel" => self.loglevel.clone(),
            "logfile" => self.logfile.clone(),
            "pidfile" => self.pidfile.clone(),
            "daemonize" => "no".into(),
            "io-threads" => self.io_threads.to_string(),
            "stop-writes-on-bgsave-error" => if self.stop_writes_on_bgsave_error {
                "yes"
            } else {
                "no"
            }
            .into(),
            "enable-debug-command" => self.enable_debug_command.as_str().into(),
            "enable-protected-configs" => self.enable_protected_configs.as_str().into(),
            n => self.ignored.get(n)?.clone(),
        })
    }

    /// Every option name `CONFIG GET` knows.
    pub fn names(&self) -> Vec<String> {
        let own = [
            "port",
            "bind",
            "dir",
            "appendonly",
            "appendfsync",
            "appendfilename",
            "dbfilename",
            "requirepass",
            "maxclients",
            "maxmemory",
            "maxmemory-policy",
            "save",
            "databases",
            "auto-aof-rewrite-percentage",
            "auto-aof-rewrite-min-size",
            "aof-load-truncated",
            "timeout",
            "loglevel",
            "logfile",
            "pidfile",
            "daemonize",
            "io-threads",
            "stop-writes-on-bgsave-error",
            "enable-debug-command",
            "enable-protected-configs",
        ];
        own.iter()
            .map(|s| s.to_string())
            .chain(self.ignored.keys().cloned())
            .collect()
    }
}

fn parse_save(vals: &[String]) -> Option<Vec<(u64, u64)>> {
    let words: Vec<&str> = vals.iter().flat_map(|v| v.split_whitespace()).collect();
    if words.is_empty() {
        return Some(Vec::new());
    }
    if !words.len().is_multiple_of(2) {
        return None;
    }
    words
        .chunks(2)
        .map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// Groups `--name v1 v2 --other v` into (name, values), like `redis-server`.
fn group_cli(args: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for a in args {
        match a.strip_prefix("--") {
            Some(name) if !name.is_empty() && !name.starts_with('-') => {
                out.push((name.to_string(), Vec::new()))
            }
            _ => match out.last_mut() {
                Some((_, vals)) => vals.push(a.clone()),
                None => out.push((a.clone(), Vec::new())),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_line_like_redis_server() {
        let args = s(&[
            "--port",
            "6380",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--bind",
            "127.0.0.1",
            "::1",
        ]);
        let (c, _) = KvConfig::load(None, &args).unwrap();
        assert_eq!(c.port, 6380);
        assert!(c.save.is_empty());
        assert!(c.appendonly);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
    }

    #[test]
    fn file_then_args_and_unknown_options() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kv.conf");
        std::fs::write(
            &p,
            "# c\nport 6400\nmaxmemory 1mb\nappendfsync always\nhz 10\nsave 900 1 300 10\n",
        )
        .unwrap();
        let (c, notes) = KvConfig::load(Some(&p), &s(&["--port", "7000"])).unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.maxmemory, 1024 * 1024);
        assert_eq!(c.appendfsync, Fsync::Always);
        assert_eq!(c.save, vec![(900, 1), (300, 10)]);
        assert_eq!(notes.len(), 1);
        let err = KvConfig::load(None, &s(&["--frobnicate", "1"])).unwrap_err();
        assert!(err.to_string().contains("frobnicate"), "{err}");
        assert!(KvConfig::load(None, &s(&["--appendfsync", "sometimes"])).is_err());
    }

    #[test]
    fn protected_features_default_to_redis_7s_no() {
        let (c, _) = KvConfig::load(None, &[]).unwrap();
        assert_eq!(c.enable_debug_command, Protection::No);
        assert!(c.stop_writes_on_bgsave_error);
        let (c, _) = KvConfig::load(None, &s(&["--enable-debug-command", "local"])).unwrap();
        assert!(c.enable_debug_command.allows(Some([127, 0, 0, 1].into())));
        assert!(!c.enable_debug_command.allows(Some([10, 0, 0, 1].into())));
        assert!(KvConfig::load(None, &s(&["--enable-debug-command", "maybe"])).is_err());
        assert_eq!(
            runtime_refusal("dir", false),
            Some("can't set protected config")
        );
        assert_eq!(
            runtime_refusal("port", true),
            Some("can't set immutable config")
        );
        assert_eq!(runtime_refusal("maxmemory", false), None);
    }
}
