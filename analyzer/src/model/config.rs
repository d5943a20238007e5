//! `analyzer.conf` (upstream INI, spec `pdns.md` §1.1) → typed [`AnalyzerConfig`].
//!
//! Upstream sections: `[global] my-uuid, d4-server, logging-level`, `[expiration] <type> = <secs>`,
//! `[exclude] substring`. d4-rs additions (all optional): `[store] host, port, db` and
//! `[cof] origin, basic-auth, token`. Environment variables override as upstream:
//! `D4_ANALYZER_REDIS_HOST/PORT` (store) and `D4_REDIS_METADATA_HOST/PORT` (D4 queue server).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use d4_core::config::{read_ini, ConfigError, Ini, Reader, RedisEndpoint};

use super::{keys, rrtype};

/// Default config path, relative to the project root.
pub const DEFAULT_PATH: &str = "conf/analyzer.conf";

/// Access control of the COF server: accepted Basic credentials and bearer tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// `user:password` pairs.
    pub basic: Vec<String>,
    /// Tokens (`Authorization: Bearer <t>` or a bare `Authorization: <t>`, as CIRCL clients send).
    pub tokens: Vec<String>,
}

impl Auth {
    /// Whether any credential is configured (then every request needs one).
    pub fn enabled(&self) -> bool {
        !self.basic.is_empty() || !self.tokens.is_empty()
    }
}

/// Failed authentications a client address may make before it is slowed down: a token
/// bucket of `burst` failures refilled at `per_second` (`[cof] auth-failure-burst`,
/// `auth-failure-rate`; defaults 10 and 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthLimit {
    /// Failures allowed in a row.
    pub burst: f64,
    /// Failures allowed per second after the burst.
    pub per_second: f64,
}

// Both values are checked finite when read, so equality is an equivalence.
impl Eq for AuthLimit {}

impl Default for AuthLimit {
    fn default() -> Self {
        AuthLimit {
            burst: 10.0,
            per_second: 1.0,
        }
    }
}

/// Default shape of COF records (`[cof] rdata-list`, `bailiwick`; both off = upstream's bytes);
/// a request may ask for another with `?rdata-list=1&bailiwick=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CofFormat {
    /// `rdata` as a one-element array.
    pub rdata_list: bool,
    /// Add the `bailiwick` field.
    pub bailiwick: bool,
}

/// Limits of one credential on the COF server (0 = unlimited): queries per minute and per
/// UTC day, and records per answer (`[cof] quota-per-minute`, `quota-per-day`,
/// `quota-results`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Queries per minute.
    pub per_minute: u64,
    /// Queries per UTC day.
    pub per_day: u64,
    /// Records per answer (larger answers are cut and say so).
    pub results: u64,
}

impl Quota {
    /// Whether any limit is set.
    pub fn limited(&self) -> bool {
        self.per_minute > 0 || self.per_day > 0 || self.results > 0
    }
}

/// Quotas of every credential: the default and the overrides of `[cof] quota-for`
/// (`<basic-auth user or token>:<per-minute>/<per-day>/<results>`, comma-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Limits of a credential without an override.
    pub default: Quota,
    /// `(basic-auth user name or token, limits)`.
    pub overrides: Vec<(String, Quota)>,
}

impl Quotas {
    /// Whether any credential has a limit.
    pub fn enabled(&self) -> bool {
        self.default.limited() || self.overrides.iter().any(|(_, q)| q.limited())
    }

    /// The limits of a credential (a basic-auth user name or a token).
    pub fn of(&self, who: &str) -> Quota {
        self.overrides
            .iter()
            .find(|(w, _)| w == who)
            .map_or(self.default, |(_, q)| *q)
    }
}

/// The validated analyzer configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzerConfig {
    /// Queue uuid (`[global] my-uuid`); required by the ingestion only.
    pub my_uuid: Option<String>,
    /// D4 server queue store (`[global] d4-server`, db 2).
    pub d4_server: Option<RedisEndpoint>,
    /// `[global] logging-level` (`DEBUG`, `INFO`, ...), if set.
    pub logging_level: Option<String>,
    /// Per-type expiry in seconds.
    pub expiration: HashMap<u16, i64>,
    /// Substrings of query names to skip (trimmed, empty entries dropped).
    pub exclude: Vec<String>,
    /// The pDNS store.
    pub store: RedisEndpoint,
    /// Static sensor id attributed to every line of the queue (`[global] sensor-id`, d4-rs).
    pub sensor_id: Option<String>,
    /// Names the ingestion's processing list (`[global] ingestion-id`, d4-rs).
    pub ingestion_id: Option<String>,
    /// `origin` field of COF records.
    pub origin: String,
    /// COF access control.
    pub auth: Auth,
    /// Slow-down of failed COF authentications per client address.
    pub auth_limit: AuthLimit,
    /// Default optional fields of COF records.
    pub cof_format: CofFormat,
    /// Query quotas per credential.
    pub quotas: Quotas,
    /// Options no analyzer program reads, as `[section] key` (warned, never an error, so
    /// a typo is seen but upstream files still load).
    pub unknown: Vec<String>,
}

/// Every section and option the analyzer programs read (`[expiration]` takes any RR type).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "global",
        &[
            "my-uuid",
            "d4-server",
            "logging-level",
            "sensor-id",
            "ingestion-id",
        ],
    ),
    ("exclude", &["substring"]),
    ("store", d4_core::config::STORE_OPTIONS),
    (
        "cof",
        &[
            "origin",
            "basic-auth",
            "token",
            "auth-failure-burst",
            "auth-failure-rate",
            "rdata-list",
            "bailiwick",
            "quota-per-minute",
            "quota-per-day",
            "quota-results",
            "quota-for",
        ],
    ),
];

/// `[section] key` of every option of `ini` outside [`KNOWN`] (and outside `[expiration]`).
fn unknown_options(ini: &Ini) -> Vec<String> {
    ini.sections()
        .filter(|s| *s != "expiration")
        .flat_map(|s| ini.options(s).map(move |(k, _)| (s, k)))
        .filter(|(s, k)| !KNOWN.iter().any(|(ks, keys)| ks == s && keys.contains(k)))
        .map(|(s, k)| format!("[{s}] {k}"))
        .collect()
}

/// How an operator creates the type-8 queue the ingestion reads (part of every message about a
/// missing queue).
pub const HOW_TO_CREATE: &str = "Create a type-8 queue (web admin: Server Management → Add \
     queue; or `d4-queues create --type 8`; or `./LAUNCH.sh -l -q`) and write its uuid as \
     [global] my-uuid (`d4-queues set-analyzer-uuid conf/analyzer.conf <uuid>`).";

/// Upstream's constant COF origin.
pub const DEFAULT_ORIGIN: &str = "origin not configured";

impl AnalyzerConfig {
    /// Reads a file, applying the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_ini(&read_ini(path)?, &|k| std::env::var(k).ok())
    }

    /// Defaults (no file): store from the environment or 127.0.0.1:6400.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_ini(&Ini::default(), &|k| std::env::var(k).ok())
    }

    /// The config of a binary's `-c`: an explicit path must exist; the default path
    /// ([`DEFAULT_PATH`]) may be absent, then the defaults apply. Returns the path too.
    pub fn load_or_default(explicit: Option<&Path>) -> anyhow::Result<(Self, PathBuf)> {
        let path = explicit.map_or_else(|| PathBuf::from(DEFAULT_PATH), Path::to_path_buf);
        if explicit.is_none() && !path.exists() {
            return Ok((Self::defaults()?, path));
        }
        let cfg = Self::load(&path).with_context(|| format!("loading {}", path.display()))?;
        Ok((cfg, path))
    }

    /// The default log filter of the binaries from `[global] logging-level` (upstream's
    /// Python level names); `D4_LOG` overrides it (`d4_core::runtime::init_tracing`).
    pub fn log_filter(&self) -> &'static str {
        match self
            .logging_level
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("DEBUG") => "debug",
            Some("WARNING" | "WARN") => "warn",
            Some("ERROR" | "CRITICAL") => "error",
            _ => "info",
        }
    }

    /// Validates a parsed file; `env` looks up environment variables.
    pub fn from_ini(ini: &Ini, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let r = Reader::new(ini);
        let d4_server = match r.opt("global", "d4-server") {
            Some(v) => Some(d4_endpoint(&r, v, env)?),
            None => None,
        };
        Ok(AnalyzerConfig {
            my_uuid: r.opt("global", "my-uuid").map(str::to_string),
            d4_server,
            logging_level: r.opt("global", "logging-level").map(str::to_string),
            expiration: expiration(ini, &r)?,
            exclude: r
                .opt("exclude", "substring")
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            store: store_endpoint(&r, env)?,
            sensor_id: r
                .opt("global", "sensor-id")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            ingestion_id: r
                .opt("global", "ingestion-id")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            origin: r.opt("cof", "origin").unwrap_or(DEFAULT_ORIGIN).to_string(),
            auth: Auth {
                basic: list(r.opt("cof", "basic-auth")),
                tokens: list(r.opt("cof", "token")),
            },
            auth_limit: auth_limit(&r)?,
            cof_format: CofFormat {
                rdata_list: r.boolean("cof", "rdata-list", false)?,
                bailiwick: r.boolean("cof", "bailiwick", false)?,
            },
            quotas: quotas(&r)?,
            unknown: unknown_options(ini),
        })
    }

    /// The ingestion's queue uuid and D4 endpoint, or an error naming the missing option.
    pub fn queue(&self) -> Result<(&str, &RedisEndpoint), ConfigError> {
        let missing = |key: &str| ConfigError::Missing {
            section: "global".into(),
            key: key.into(),
        };
        Ok((
            self.my_uuid.as_deref().ok_or_else(|| missing("my-uuid"))?,
            self.d4_server
                .as_ref()
                .ok_or_else(|| missing("d4-server"))?,
        ))
    }

    /// Why `[global] my-uuid` cannot name a D4 queue, if it cannot: the D4 web and
    /// `d4-queues` only create queues with version-4 uuids, so any other value (such as a
    /// placeholder left from an example) means nothing will ever arrive.
    pub fn my_uuid_problem(&self) -> Option<String> {
        let uuid = self.my_uuid.as_deref()?;
        if d4_core::proto::uuid::is_valid_uuid_v4_str(uuid) {
            return None;
        }
        Some(format!(
            "[global] my-uuid = {uuid:?} is not a queue uuid (a lowercase version-4 uuid): no D4 queue can have this name, so \
             nothing will arrive. {HOW_TO_CREATE}"
        ))
    }

    /// The D4 server's metadata store, where queues are registered: the host and port of
    /// `[global] d4-server`, db [`keys::METADATA_DB`].
    pub fn metadata_endpoint(&self) -> Option<RedisEndpoint> {
        self.d4_server.as_ref().map(|e| RedisEndpoint {
            db: keys::METADATA_DB,
            ..e.clone()
        })
    }

    /// Expiry for a type, if configured.
    pub fn expiry(&self, t: u16) -> Option<i64> {
        self.expiration.get(&t).copied()
    }

    /// Whether a normalised query name is excluded.
    pub fn excluded(&self, q: &str) -> bool {
        self.exclude.iter().any(|s| q.contains(s.as_str()))
    }
}

/// `[cof] auth-failure-burst` (at least 1) and `auth-failure-rate` (above 0, per second).
fn auth_limit(r: &Reader<'_>) -> Result<AuthLimit, ConfigError> {
    let d = AuthLimit::default();
    let burst: f64 = r.parsed("cof", "auth-failure-burst", d.burst)?;
    let per_second: f64 = r.parsed("cof", "auth-failure-rate", d.per_second)?;
    let check = |key: &str, v: f64, min: f64| {
        if v.is_finite() && v >= min && v > 0.0 {
            Ok(v)
        } else {
            Err(r.invalid(
                "cof",
                key,
                &v.to_string(),
                format!("expected a number of at least {min} (and above 0)"),
            ))
        }
    };
    Ok(AuthLimit {
        burst: check("auth-failure-burst", burst, 1.0)?,
        per_second: check("auth-failure-rate", per_second, 0.0)?,
    })
}

/// `[cof] quota-per-minute`, `quota-per-day`, `quota-results` (non-negative integers, 0 =
/// unlimited) and the overrides of `quota-for`.
fn quotas(r: &Reader<'_>) -> Result<Quotas, ConfigError> {
    let default = Quota {
        per_minute: r.parsed("cof", "quota-per-minute", 0)?,
        per_day: r.parsed("cof", "quota-per-day", 0)?,
        results: r.parsed("cof", "quota-results", 0)?,
    };
    let mut overrides = Vec::new();
    for item in list(r.opt("cof", "quota-for")) {
        let bad = || {
            r.invalid(
                "cof",
                "quota-for",
                &item,
                "expected <user or token>:<per-minute>/<per-day>/<results>".into(),
            )
        };
        let (who, limits) = item.rsplit_once(':').ok_or_else(bad)?;
        let nums: Vec<u64> = limits
            .split('/')
            .map(|n| n.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let [per_minute, per_day, results] = nums[..] else {
            return Err(bad());
        };
        overrides.push((
            who.trim().to_string(),
            Quota {
                per_minute,
                per_day,
                results,
            },
        ));
    }
    Ok(Quotas { default, overrides })
}

fn list(v: Option<&str>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn expiration(ini: &Ini, r: &Reader<'_>) -> Result<HashMap<u16, i64>, ConfigError> {
    let mut out = HashMap::new();
    for (key, value) in ini.options("expiration") {
        let t = key
            .parse::<u16>()
            .ok()
            .or_else(|| rrtype::number(key))
            .ok_or_else(|| {
                r.invalid(
                    "expiration",
                    key,
                    value,
                    "option name must be a decimal RR type or a mnemonic".into(),
                )
            })?;
        let secs = value
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                r.invalid(
                    "expiration",
                    key,
                    value,
                    "expected a positive number of seconds".into(),
                )
            })?;
        out.insert(t, secs);
    }
    Ok(out)
}

/// Splits `host:port` (or `[v6]:port`).
fn split_host_port(v: &str) -> Option<(String, u16)> {
    let (host, port) = v.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host.to_string(), port.parse().ok()?)).filter(|(h, _)| !h.is_empty())
}

fn env_port(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<Option<u16>, ConfigError> {
    match env(var) {
        None => Ok(None),
        Some(p) => p.parse().map(Some).map_err(|_| ConfigError::Invalid {
            section: "environment".into(),
            key: var.into(),
            value: p,
            reason: "expected a TCP port".into(),
        }),
    }
}

fn d4_endpoint(
    r: &Reader<'_>,
    v: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RedisEndpoint, ConfigError> {
    let (host, port) = split_host_port(v)
        .ok_or_else(|| r.invalid("global", "d4-server", v, "expected host:port".into()))?;
    Ok(RedisEndpoint::single(
        env("D4_REDIS_METADATA_HOST").unwrap_or(host),
        env_port(env, "D4_REDIS_METADATA_PORT")?.unwrap_or(port),
        keys::QUEUE_DB,
    ))
}

fn store_endpoint(
    r: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RedisEndpoint, ConfigError> {
    let host = r.opt("store", "host").unwrap_or("127.0.0.1").to_string();
    let port = r.parsed("store", "port", 6400u16)?;
    let db = r.parsed("store", "db", 0u8)?;
    Ok(RedisEndpoint {
        host: env("D4_ANALYZER_REDIS_HOST").unwrap_or(host),
        port: env_port(env, "D4_ANALYZER_REDIS_PORT")?.unwrap_or(port),
        db,
        cluster: RedisEndpoint::read_cluster(r, "store")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../conf/analyzer.conf.sample");

    fn load(text: &str, env: &[(&str, &str)]) -> Result<AnalyzerConfig, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AnalyzerConfig::from_ini(&Ini::parse(text).expect("ini"), &|k| env.get(k).cloned())
    }

    #[test]
    fn sample_file_loads_with_upstream_values() {
        let c = load(SAMPLE, &[]).expect("sample");
        assert_eq!(
            c.my_uuid.as_deref(),
            Some("6a2461ce-c29d-44fc-b4fa-947d68826639")
        );
        assert_eq!(
            c.d4_server,
            Some(RedisEndpoint::single("127.0.0.1", 6380, 2))
        );
        assert_eq!(c.expiry(16), Some(24000));
        assert_eq!(c.expiry(99), Some(26000));
        assert_eq!(c.expiry(1), None);
        assert_eq!(c.exclude, vec!["spamhaus.org", "asn.cymru.com"]);
        assert_eq!(c.store.url(), "redis://127.0.0.1:6400/0");
        assert!(c.excluded("1.2.3.4.zen.spamhaus.org"));
        assert!(!c.excluded("example.com"));
        assert!(!c.auth.enabled());
        assert_eq!(c.auth_limit, AuthLimit::default());
        assert_eq!(c.cof_format, CofFormat::default());
        assert_eq!(c.ingestion_id, None);
    }

    #[test]
    fn cof_options_and_ingestion_id() {
        let c = load(
            "[global]\ningestion-id = host-a\n[cof]\nrdata-list = yes\nbailiwick = 1\nauth-failure-burst = 3\nauth-failure-rate = 0.5\n",
            &[],
        )
        .expect("cfg");
        assert_eq!(c.ingestion_id.as_deref(), Some("host-a"));
        assert_eq!(
            c.cof_format,
            CofFormat {
                rdata_list: true,
                bailiwick: true
            }
        );
        assert_eq!(
            c.auth_limit,
            AuthLimit {
                burst: 3.0,
                per_second: 0.5
            }
        );
        for bad in [
            "rdata-list = maybe",
            "bailiwick = 2",
            "auth-failure-burst = 0",
            "auth-failure-rate = 0",
            "auth-failure-rate = x",
        ] {
            let key = bad.split(' ').next().unwrap_or_default();
            let err = load(&format!("[cof]\n{bad}\n"), &[])
                .expect_err(bad)
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn quotas_default_and_per_credential() {
        let c = load("[cof]\nquota-per-minute = 60\nquota-results = 100\nquota-for = alice:5/50/10, tok:en:0/0/0\n", &[])
            .expect("cfg");
        let default = Quota {
            per_minute: 60,
            per_day: 0,
            results: 100,
        };
        assert_eq!(c.quotas.of("bob"), default);
        assert_eq!(
            c.quotas.of("alice"),
            Quota {
                per_minute: 5,
                per_day: 50,
                results: 10
            }
        );
        assert!(!c.quotas.of("tok:en").limited(), "a token may hold ':'");
        assert!(c.quotas.enabled());
        assert!(!load("", &[]).expect("cfg").quotas.enabled());
        for bad in [
            "quota-per-day = -1",
            "quota-for = alice:1/2",
            "quota-for = alice",
        ] {
            let key = bad.split(' ').next().unwrap_or_default();
            let err = load(&format!("[cof]\n{bad}\n"), &[])
                .expect_err(bad)
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn environment_overrides_as_upstream() {
        let env = [
            ("D4_ANALYZER_REDIS_HOST", "10.0.0.1"),
            ("D4_ANALYZER_REDIS_PORT", "7000"),
            ("D4_REDIS_METADATA_HOST", "10.0.0.2"),
            ("D4_REDIS_METADATA_PORT", "7001"),
        ];
        let c = load(SAMPLE, &env).expect("sample");
        assert_eq!(c.store.url(), "redis://10.0.0.1:7000/0");
        assert_eq!(
            c.d4_server.map(|e| e.url()).as_deref(),
            Some("redis://10.0.0.2:7001/2")
        );
    }

    #[test]
    fn store_section_and_ipv6_d4_server() {
        let c = load(
            "[global]\nd4-server = [::1]:6380\n[store]\nhost = ::1\nport = 6500\ndb = 3\n",
            &[],
        )
        .expect("cfg");
        assert_eq!(c.store.url(), "redis://[::1]:6500/3");
        assert_eq!(
            c.d4_server.map(|e| e.url()).as_deref(),
            Some("redis://[::1]:6380/2")
        );
    }

    #[test]
    fn each_corrupted_value_names_its_key() {
        let cases = [
            (
                "d4-server = 127.0.0.1:6380",
                "d4-server = 127.0.0.1",
                "d4-server",
            ),
            ("16 = 24000", "16 = soon", "16"),
            ("16 = 24000", "bogus = 1", "bogus"),
        ];
        for (from, to, key) in cases {
            let text = SAMPLE.replace(from, to);
            assert_ne!(text, SAMPLE, "{from}");
            let err = load(&text, &[]).expect_err(to).to_string();
            assert!(err.contains(key), "{err}");
        }
        let err = load(SAMPLE, &[("D4_ANALYZER_REDIS_PORT", "x")])
            .expect_err("env")
            .to_string();
        assert!(err.contains("D4_ANALYZER_REDIS_PORT"), "{err}");
    }

    #[test]
    fn logging_level_gives_the_default_log_filter() {
        for (level, filter) in [
            ("DEBUG", "debug"),
            ("warning", "warn"),
            ("CRITICAL", "error"),
            ("INFO", "info"),
            ("bogus", "info"),
        ] {
            let c = load(&format!("[global]\nlogging-level = {level}\n"), &[]).expect("cfg");
            assert_eq!(c.log_filter(), filter, "{level}");
        }
        assert_eq!(load("", &[]).expect("cfg").log_filter(), "info");
    }

    #[test]
    fn unknown_options_are_listed_not_rejected() {
        let c = load(SAMPLE, &[]).expect("sample");
        assert!(c.unknown.is_empty(), "{:?}", c.unknown);
        let c = load(
            "[global]\nmy-uuid = x\nmyuuid = y\n[cof]\norgin = o\n[extra]\nk = v\n[expiration]\nA = 5\n",
            &[],
        )
        .expect("cfg");
        let mut unknown = c.unknown.clone();
        unknown.sort();
        assert_eq!(unknown, ["[cof] orgin", "[extra] k", "[global] myuuid"]);
    }

    #[test]
    fn my_uuid_must_be_a_queue_uuid() {
        let c = load(SAMPLE, &[]).expect("sample");
        assert_eq!(c.my_uuid_problem(), None);
        for bad in [
            "my-uuid",
            "6a2461ce-c29d-44fc-b4fa",
            "6A2461CE-C29D-44FC-B4FA-947D68826639",
        ] {
            let c = load(&format!("[global]\nmy-uuid = {bad}\n"), &[]).expect("cfg");
            let p = c.my_uuid_problem().unwrap_or_default();
            assert!(
                p.contains("[global] my-uuid") && p.contains("d4-queues"),
                "{bad}: {p}"
            );
        }
        assert_eq!(
            load("", &[]).expect("cfg").metadata_endpoint(),
            None,
            "no d4-server, no metadata store"
        );
        assert_eq!(
            c.metadata_endpoint().map(|e| e.url()).as_deref(),
            Some("redis://127.0.0.1:6380/0")
        );
    }

    #[test]
    fn empty_exclusion_excludes_nothing() {
        let c = load("[exclude]\nsubstring =\n", &[]).expect("cfg");
        assert!(!c.excluded("example.com"));
    }
}
