//! `server.conf`: the upstream INI file (sections of spec `d4-core-server.md` §7.1)
//! turned into typed, validated settings shared by `d4-server`, `d4-workers` and `d4-web`.
//!
//! Raw text → [`ini::Ini`] (configparser rules) → [`ServerConfig::from_ini`] (typed, checked).
//! Unknown sections and options are kept as warnings, never errors, so upstream files load
//! unchanged; malformed values are errors naming the section, option and value.

pub mod ini;
pub mod monitoring;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ini::{parse_bool, Ini, IniError};

/// Default path of the server configuration, relative to the project root.
pub const DEFAULT_SERVER_CONF: &str = "conf/server.conf";

/// A configuration problem, naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (shown in the message, so not chained as a source too).
        error: std::io::Error,
    },
    /// The file is not valid INI.
    #[error("{path}: {error}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The syntax error (shown in the message, so not chained as a source too).
        error: IniError,
    },
    /// A required section is absent. Upstream's loader fails the same way
    /// (`NoSectionError`); falling back to defaults would instead surface later as a
    /// "connection refused" on a port the operator never configured.
    #[error("[{section}]: section missing (required; it sets {keys})")]
    MissingSection {
        /// Section name.
        section: String,
        /// The options the section holds, for the message.
        keys: String,
    },
    /// A required option is missing.
    #[error("[{section}] {key}: missing (required)")]
    Missing {
        /// Section name.
        section: String,
        /// Option name.
        key: String,
    },
    /// An option has a value that cannot be used.
    #[error("[{section}] {key} = {value:?}: {reason}")]
    Invalid {
        /// Section name.
        section: String,
        /// Option name.
        key: String,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// Reads and parses an INI file.
pub fn read_ini(path: &Path) -> Result<Ini, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    Ini::parse(&text).map_err(|error| ConfigError::Syntax {
        path: path.to_path_buf(),
        error,
    })
}

/// Typed access to an [`Ini`] with errors that name section, key and value.
pub struct Reader<'a> {
    ini: &'a Ini,
}

impl<'a> Reader<'a> {
    /// Wraps a parsed file.
    pub fn new(ini: &'a Ini) -> Self {
        Reader { ini }
    }

    /// A raw string option, if present.
    pub fn opt(&self, section: &str, key: &str) -> Option<&'a str> {
        self.ini.get(section, key)
    }

    /// Fails naming `section` if the file has no such section; `keys` lists what it sets.
    pub fn require_section(&self, section: &str, keys: &str) -> Result<(), ConfigError> {
        if self.ini.has_section(section) {
            return Ok(());
        }
        Err(ConfigError::MissingSection {
            section: section.into(),
            keys: keys.into(),
        })
    }

    /// A required string option.
    pub fn req(&self, section: &str, key: &str) -> Result<&'a str, ConfigError> {
        self.opt(section, key).ok_or_else(|| ConfigError::Missing {
            section: section.into(),
            key: key.into(),
        })
    }

    /// An option parsed with `FromStr`, or `default` when absent.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        section: &str,
        key: &str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.opt(section, key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e: T::Err| self.invalid(section, key, v, e.to_string())),
        }
    }

    /// A configparser boolean, or `default` when absent.
    pub fn boolean(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.opt(section, key) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| {
                self.invalid(
                    section,
                    key,
                    v,
                    "expected one of yes/no, true/false, on/off, 1/0".into(),
                )
            }),
        }
    }

    /// Builds an [`ConfigError::Invalid`].
    pub fn invalid(&self, section: &str, key: &str, value: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            reason,
        }
    }
}

/// Where one Redis role lives (`[Redis_*] host/port/db`, and `cluster` for a cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisEndpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database number.
    pub db: u8,
    /// Seed nodes `(host, port)` of a Redis Cluster / Valkey cluster (d4-rs addition, the
    /// option `cluster = host:port,host:port`); empty for a single server at `host:port`.
    /// When set, `host` and `port` are not used.
    pub cluster: Vec<(String, u16)>,
}

/// The option naming the seed nodes of a cluster in a store section.
pub const CLUSTER_OPTION: &str = "cluster";

impl RedisEndpoint {
    /// A single server at `host:port`, database `db`.
    pub fn single(host: impl Into<String>, port: u16, db: u8) -> RedisEndpoint {
        RedisEndpoint {
            host: host.into(),
            port,
            db,
            cluster: Vec::new(),
        }
    }

    /// Reads `[section] host/port/db/cluster`, with the given defaults for absent options;
    /// the section itself is required, so a deleted store section is named, not guessed.
    pub fn read(r: &Reader<'_>, section: &str, port: u16, db: u8) -> Result<Self, ConfigError> {
        r.require_section(section, "host, port, db")?;
        let host = r.opt(section, "host").unwrap_or("localhost").to_string();
        if host.is_empty() {
            return Err(r.invalid(section, "host", "", "empty host".into()));
        }
        Ok(RedisEndpoint {
            host,
            port: r.parsed(section, "port", port)?,
            db: r.parsed(section, "db", db)?,
            cluster: Self::read_cluster(r, section)?,
        })
    }

    /// Reads the optional `[section] cluster = host:port,host:port,...` (seed nodes of a
    /// cluster); absent or empty means a single server.
    pub fn read_cluster(r: &Reader<'_>, section: &str) -> Result<Vec<(String, u16)>, ConfigError> {
        let Some(v) = r.opt(section, CLUSTER_OPTION) else {
            return Ok(Vec::new());
        };
        parse_seeds(v).map_err(|reason| r.invalid(section, CLUSTER_OPTION, v, reason))
    }

    /// Whether this role is a cluster.
    pub fn is_cluster(&self) -> bool {
        !self.cluster.is_empty()
    }

    /// `redis://host:port/db`, the form `redis-rs` and `redis-py` accept; for a cluster,
    /// the seed nodes: `redis+cluster://host:port,host:port/db` (for messages only).
    pub fn url(&self) -> String {
        if self.is_cluster() {
            let seeds: Vec<String> = self
                .cluster
                .iter()
                .map(|(h, p)| format!("{}:{p}", bracket(h)))
                .collect();
            return format!("redis+cluster://{}/{}", seeds.join(","), self.db);
        }
        node_url(&self.host, self.port, self.db)
    }

    /// One `redis://host:port/db` per seed node of a cluster.
    pub fn seed_urls(&self) -> Vec<String> {
        self.cluster
            .iter()
            .map(|(h, p)| node_url(h, *p, self.db))
            .collect()
    }
}

/// `redis://host:port/db`, the IPv6 host bracketed.
fn node_url(host: &str, port: u16, db: u8) -> String {
    format!("redis://{}:{port}/{db}", bracket(host))
}

/// An IPv6 address in brackets, anything else as is.
fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `host:port,host:port,...` (IPv6 as `[addr]:port`) as `(host, port)` seeds; an empty
/// list means none.
fn parse_seeds(v: &str) -> Result<Vec<(String, u16)>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let bad =
                || format!("{s:?} is not host:port (cluster seed nodes: host:port,host:port,...)");
            let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let port = port.parse::<u16>().map_err(|_| bad())?;
            if host.is_empty() || port == 0 {
                return Err(bad());
            }
            Ok((host.to_string(), port))
        })
        .collect()
}

/// How the server admits sensors (`[D4_Server] server_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// Only uuids in `registered_uuid` may connect.
    Registration,
    /// Any uuid may connect, authenticated with its key or the default key.
    SharedSecret,
}

/// The validated `server.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Directory where workers save received data (`[Save_Directories]`).
    pub data_dir: PathBuf,
    /// D4 TLS port (`[D4_Server] server_port`, default 4443).
    pub server_port: u16,
    /// Address the D4 server binds (`[D4_Server] server_host`, default `::`, dual-stack).
    pub server_host: String,
    /// Registration or shared-secret mode.
    pub server_mode: ServerMode,
    /// Default HMAC key (`[D4_Server] default_hmac_key`).
    pub default_hmac_key: String,
    /// Default analyzer queue size (`[D4_Server] analyzer_queues_max_size`).
    pub analyzer_queues_max_size: u64,
    /// TLS certificate chain (PEM) for the D4 server and the web (`[D4_Server] tls_cert_file`).
    pub tls_cert_file: PathBuf,
    /// TLS private key (PEM) (`[D4_Server] tls_key_file`).
    pub tls_key_file: PathBuf,
    /// How `d4-server` shares its connection slots and memory with peers that have not
    /// authenticated yet (`[D4_Server] max_connections`, ...).
    pub admission: AdmissionSettings,
    /// Web admin listen host (`[Flask_Server] host`).
    pub web_host: String,
    /// Web admin port (`[Flask_Server] port`).
    pub web_port: u16,
    /// Stream store (6379 db 0).
    pub redis_stream: RedisEndpoint,
    /// Metadata store (6380 db 0).
    pub redis_metadata: RedisEndpoint,
    /// Users store (6380 db 1).
    pub redis_serv: RedisEndpoint,
    /// Analyzer queues (6380 db 2).
    pub redis_analyzer: RedisEndpoint,
    /// Web cache (6380 db 3).
    pub redis_cache: RedisEndpoint,
    /// Monitor alerts (`[Notifications]`, d4-rs addition).
    pub notifications: monitoring::NotificationSettings,
    /// Options present in the file that this program does not know, as `[section] key`.
    pub unknown: Vec<String>,
}

/// The limits `d4-server` puts on connections that have not authenticated yet (d4-rs
/// additions to `[D4_Server]`; upstream had none). A connection is *unauthenticated* from
/// its TCP accept until its first packet passed the HMAC check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionSettings {
    /// Most simultaneous connections (`max_connections`, default 4096). At the cap, a new
    /// connection evicts the oldest unauthenticated one; it is refused only when every
    /// slot is held by an authenticated sensor.
    pub max_connections: usize,
    /// Most unauthenticated connections from one IPv4 address or one IPv6 /64
    /// (`max_unauthenticated_per_address`, default 256); authenticated ones do not count,
    /// so any number of sensors may share a NAT address as long as no more than this
    /// many are in their handshake at once (the others are refused and reconnect).
    pub max_unauthenticated_per_address: usize,
    /// Time from TCP accept to the first authenticated packet, TLS handshake included
    /// (`unauthenticated_timeout` in seconds, default 30). Not restarted by received
    /// bytes, unlike upstream's 30 s inactivity timer.
    pub unauthenticated_timeout: Duration,
    /// Most payload bytes buffered for all unauthenticated connections together
    /// (`unauthenticated_buffer_bytes`, default 32 MiB, at least one largest packet).
    pub unauthenticated_buffer_bytes: usize,
}

impl AdmissionSettings {
    /// The smallest buffer budget: one packet of the largest size the server accepts.
    pub const MIN_BUFFER_BYTES: usize = d4_proto::MAX_PAYLOAD_SIZE as usize + d4_proto::HEADER_SIZE;

    /// Reads the four options of `[D4_Server]`, each with its default when absent.
    fn read(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let d = AdmissionSettings::default();
        let s = "D4_Server";
        let max_connections = at_least(r, s, "max_connections", d.max_connections, 1)?;
        let max_unauthenticated_per_address = at_least(
            r,
            s,
            "max_unauthenticated_per_address",
            d.max_unauthenticated_per_address,
            1,
        )?;
        let timeout = d.unauthenticated_timeout.as_secs() as usize;
        let timeout = at_least(r, s, "unauthenticated_timeout", timeout, 1)?;
        let unauthenticated_buffer_bytes = at_least(
            r,
            s,
            "unauthenticated_buffer_bytes",
            d.unauthenticated_buffer_bytes,
            Self::MIN_BUFFER_BYTES,
        )?;
        Ok(AdmissionSettings {
            max_connections,
            max_unauthenticated_per_address,
            unauthenticated_timeout: Duration::from_secs(timeout as u64),
            unauthenticated_buffer_bytes,
        })
    }
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings {
            max_connections: 4096,
            max_unauthenticated_per_address: 256,
            unauthenticated_timeout: Duration::from_secs(30),
            unauthenticated_buffer_bytes: 32 << 20,
        }
    }
}

/// An integer option of at least `min`, or `default` when absent.
fn at_least(
    r: &Reader<'_>,
    section: &str,
    key: &str,
    default: usize,
    min: usize,
) -> Result<usize, ConfigError> {
    let v: usize = r.parsed(section, key, default)?;
    if v < min {
        let reason = format!("must be at least {min}");
        return Err(r.invalid(section, key, &v.to_string(), reason));
    }
    Ok(v)
}

/// The options of a store section.
pub const STORE_OPTIONS: &[&str] = &["host", "port", "db", CLUSTER_OPTION];

/// Every section and option this program reads; others are reported as unknown.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "Save_Directories",
        &["use_default_save_directory", "save_directory"],
    ),
    (
        "D4_Server",
        &[
            "server_port",
            "server_host",
            "server_mode",
            "default_hmac_key",
            "analyzer_queues_max_size",
            "tls_cert_file",
            "tls_key_file",
            "max_connections",
            "max_unauthenticated_per_address",
            "unauthenticated_timeout",
            "unauthenticated_buffer_bytes",
        ],
    ),
    ("Flask_Server", &["host", "port"]),
    ("Redis_STREAM", STORE_OPTIONS),
    ("Redis_METADATA", STORE_OPTIONS),
    ("Redis_SERV", STORE_OPTIONS),
    ("Redis_ANALYZER", STORE_OPTIONS),
    ("Redis_CACHE", STORE_OPTIONS),
    ("Notifications", monitoring::KNOWN_KEYS),
];

impl ServerConfig {
    /// Reads and validates a `server.conf` file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_ini(&read_ini(path)?)
    }

    /// Parses `server.conf` text (used by tests).
    pub fn from_text(text: &str) -> Result<Self, ConfigError> {
        let ini = Ini::parse(text).map_err(|error| ConfigError::Syntax {
            path: PathBuf::from("<text>"),
            error,
        })?;
        Self::from_ini(&ini)
    }

    /// Validates a parsed `server.conf`.
    pub fn from_ini(ini: &Ini) -> Result<Self, ConfigError> {
        let r = Reader::new(ini);
        let use_default = r.boolean("Save_Directories", "use_default_save_directory", true)?;
        let data_dir = if use_default {
            PathBuf::from("data")
        } else {
            let dir = r.req("Save_Directories", "save_directory")?;
            if dir.is_empty() || dir == "None" {
                return Err(r.invalid(
                    "Save_Directories",
                    "save_directory",
                    dir,
                    "a directory is required when use_default_save_directory is off".into(),
                ));
            }
            PathBuf::from(dir)
        };
        let mode = r.req("D4_Server", "server_mode")?;
        let server_mode = match mode {
            "registration" => ServerMode::Registration,
            "shared-secret" => ServerMode::SharedSecret,
            other => {
                return Err(r.invalid(
                    "D4_Server",
                    "server_mode",
                    other,
                    "incorrect server_mode: expected registration or shared-secret".into(),
                ))
            }
        };
        let analyzer_queues_max_size: u64 =
            r.parsed("D4_Server", "analyzer_queues_max_size", 100_000_000)?;
        if analyzer_queues_max_size == 0 {
            return Err(r.invalid(
                "D4_Server",
                "analyzer_queues_max_size",
                "0",
                "must be at least 1".into(),
            ));
        }
        let unknown = ini
            .sections()
            .flat_map(|s| ini.options(s).map(move |(k, _)| (s, k)))
            .filter(|(s, k)| !KNOWN.iter().any(|(ks, keys)| ks == s && keys.contains(k)))
            .map(|(s, k)| format!("[{s}] {k}"))
            .collect();
        Ok(ServerConfig {
            data_dir,
            server_port: r.parsed("D4_Server", "server_port", 4443)?,
            server_host: r
                .opt("D4_Server", "server_host")
                .unwrap_or("::")
                .to_string(),
            server_mode,
            default_hmac_key: r
                .opt("D4_Server", "default_hmac_key")
                .unwrap_or("private key to change")
                .to_string(),
            analyzer_queues_max_size,
            tls_cert_file: PathBuf::from(
                r.opt("D4_Server", "tls_cert_file")
                    .unwrap_or("gen_cert/server.crt"),
            ),
            tls_key_file: PathBuf::from(
                r.opt("D4_Server", "tls_key_file")
                    .unwrap_or("gen_cert/server.key"),
            ),
            admission: AdmissionSettings::read(&r)?,
            web_host: r
                .opt("Flask_Server", "host")
                .unwrap_or("127.0.0.1")
                .to_string(),
            web_port: r.parsed("Flask_Server", "port", 7000)?,
            redis_stream: RedisEndpoint::read(&r, "Redis_STREAM", 6379, 0)?,
            redis_metadata: RedisEndpoint::read(&r, "Redis_METADATA", 6380, 0)?,
            redis_serv: RedisEndpoint::read(&r, "Redis_SERV", 6380, 1)?,
            redis_analyzer: RedisEndpoint::read(&r, "Redis_ANALYZER", 6380, 2)?,
            redis_cache: RedisEndpoint::read(&r, "Redis_CACHE", 6380, 3)?,
            notifications: monitoring::NotificationSettings::read(ini)
                .map_err(|e| r.invalid(monitoring::SECTION, e.key, &e.value, e.reason))?,
            unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../conf/server.conf.sample");

    /// The store sections of a minimal file, empty: every option takes its default.
    const STORE_SECTIONS: [&str; 5] = [
        "Redis_STREAM",
        "Redis_METADATA",
        "Redis_SERV",
        "Redis_ANALYZER",
        "Redis_CACHE",
    ];

    /// `text` followed by the (required) store sections.
    fn with_stores(text: &str) -> String {
        STORE_SECTIONS
            .iter()
            .fold(text.to_string(), |t, s| format!("{t}[{s}]\n"))
    }

    /// A deleted store section is an error naming it, not a default port that later
    /// shows as "connection refused".
    #[test]
    fn a_missing_store_section_is_named() {
        for section in STORE_SECTIONS {
            let text: String = SAMPLE
                .split_inclusive('\n')
                .scan(false, |inside, l| {
                    if l.trim_start().starts_with('[') {
                        *inside = l.trim() == format!("[{section}]");
                    }
                    Some(if *inside { "" } else { l })
                })
                .collect();
            let err = ServerConfig::from_text(&text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("[{section}]")) && err.contains("section missing"),
                "{section}: {err}"
            );
        }
    }

    #[test]
    fn sample_loads_with_upstream_defaults() {
        let c = ServerConfig::from_text(SAMPLE).unwrap();
        assert_eq!(c.server_port, 4443);
        assert_eq!(c.server_mode, ServerMode::Registration);
        assert_eq!(c.default_hmac_key, "private key to change");
        assert_eq!(c.analyzer_queues_max_size, 100_000_000);
        assert_eq!(c.web_port, 7000);
        assert_eq!(c.redis_stream.url(), "redis://localhost:6379/0");
        assert_eq!(c.redis_analyzer.url(), "redis://localhost:6380/2");
        assert_eq!(c.redis_cache.db, 3);
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert!(c.unknown.is_empty(), "{:?}", c.unknown);
        assert_eq!(c.admission, AdmissionSettings::default());
    }

    #[test]
    fn admission_defaults_apply_when_absent() {
        let c = ServerConfig::from_text(&with_stores("[D4_Server]\nserver_mode = registration\n"))
            .unwrap();
        let a = c.admission;
        assert_eq!(a.max_connections, 4096);
        assert_eq!(a.max_unauthenticated_per_address, 256);
        assert_eq!(a.unauthenticated_timeout, Duration::from_secs(30));
        assert_eq!(a.unauthenticated_buffer_bytes, 32 << 20);
    }

    /// Zero caps and a budget smaller than one largest packet would lock every sensor out.
    #[test]
    fn admission_values_below_their_minimum_are_rejected_by_name() {
        for (key, value) in [
            ("max_connections", "0"),
            ("max_unauthenticated_per_address", "0"),
            ("unauthenticated_timeout", "0"),
            ("unauthenticated_buffer_bytes", "1000061"),
        ] {
            let text = format!("[D4_Server]\nserver_mode = registration\n{key} = {value}\n");
            let err = ServerConfig::from_text(&with_stores(&text))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(key) && err.contains("at least"),
                "{key}: {err}"
            );
        }
        let ok =
            "[D4_Server]\nserver_mode = registration\nunauthenticated_buffer_bytes = 1000062\n";
        let c = ServerConfig::from_text(&with_stores(ok)).unwrap();
        assert_eq!(c.admission.unauthenticated_buffer_bytes, 1_000_062);
    }

    /// Corrupt each typed value of the sample in turn: the error must name that option.
    #[test]
    fn each_corrupted_value_is_rejected_by_name() {
        for key in [
            "server_port",
            "server_mode",
            "analyzer_queues_max_size",
            "port",
            "db",
            "use_default_save_directory",
            "max_connections",
            "max_unauthenticated_per_address",
            "unauthenticated_timeout",
            "unauthenticated_buffer_bytes",
        ] {
            let mut done = false;
            let text: String = SAMPLE
                .lines()
                .map(|l| {
                    if !done && l.split(['=', ':']).next().map(str::trim) == Some(key) {
                        done = true;
                        format!("{key} = not-a-valid-value\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            assert!(done, "{key} not in sample");
            let err = ServerConfig::from_text(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn unknown_options_are_reported_not_rejected() {
        let c = ServerConfig::from_text(&with_stores(
            "[D4_Server]\nserver_mode = shared-secret\nfoo = 1\n",
        ))
        .unwrap();
        assert_eq!(c.unknown, vec!["[D4_Server] foo".to_string()]);
        assert_eq!(c.server_mode, ServerMode::SharedSecret);
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_urls() {
        let e = RedisEndpoint::single("::1", 6380, 2);
        assert_eq!(e.url(), "redis://[::1]:6380/2");
    }

    #[test]
    fn cluster_seeds_are_read_per_store_section() {
        let text = with_stores("[D4_Server]\nserver_mode = registration\n").replace(
            "[Redis_STREAM]\n",
            "[Redis_STREAM]\ncluster = 10.0.0.1:7000, [::1]:7001,node3:7002\n",
        );
        let c = ServerConfig::from_text(&text).unwrap();
        assert!(c.unknown.is_empty(), "{:?}", c.unknown);
        let s = &c.redis_stream;
        assert!(s.is_cluster() && !c.redis_metadata.is_cluster());
        assert_eq!(
            s.cluster,
            vec![
                ("10.0.0.1".to_string(), 7000),
                ("::1".to_string(), 7001),
                ("node3".to_string(), 7002)
            ]
        );
        assert_eq!(
            s.seed_urls(),
            [
                "redis://10.0.0.1:7000/0",
                "redis://[::1]:7001/0",
                "redis://node3:7002/0"
            ]
        );
        assert_eq!(
            s.url(),
            "redis+cluster://10.0.0.1:7000,[::1]:7001,node3:7002/0"
        );
    }

    #[test]
    fn a_bad_cluster_seed_is_rejected_by_name() {
        for bad in ["10.0.0.1", "h:0", ":7000", "h:port", "h:70000"] {
            let text = with_stores("[D4_Server]\nserver_mode = registration\n").replace(
                "[Redis_CACHE]\n",
                &format!("[Redis_CACHE]\ncluster = a:1,{bad}\n"),
            );
            let err = ServerConfig::from_text(&text).unwrap_err().to_string();
            assert!(
                err.contains("[Redis_CACHE] cluster") && err.contains("host:port"),
                "{bad}: {err}"
            );
        }
    }
}
