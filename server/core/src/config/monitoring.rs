//! `[Notifications]` of `server.conf` (a d4-rs addition): where the monitor of `d4-workers`
//! sends its alerts (sensor down/recovered, queue full, queue not consumed) and how often
//! it checks. Per-sensor delays are not here: upstream's web form stores them in
//! `to_monitor:sensor:<uuid>`.

use std::time::Duration;

use super::ini::{parse_bool, Ini};

/// The section name.
pub const SECTION: &str = "Notifications";

/// Every option of `[Notifications]`, for the unknown-option check.
pub const KNOWN_KEYS: &[&str] = &[
    "check_interval",
    "queue_not_consumed_delay",
    "webhook_url",
    "smtp_host",
    "smtp_port",
    "smtp_from",
    "smtp_to",
    "syslog",
    "syslog_socket",
];

/// Validated `[Notifications]` settings; every sink is off when its option is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    /// Seconds between two checks (`check_interval`, default 10 as upstream's manager).
    pub check_interval: Duration,
    /// How long a non-empty queue may go without its length decreasing before it is
    /// reported as not consumed (`queue_not_consumed_delay` seconds, default 300).
    pub queue_not_consumed_delay: Duration,
    /// JSON POST target (`webhook_url`, `http://host[:port]/path`).
    pub webhook: Option<WebhookUrl>,
    /// E-mail through an SMTP relay (`smtp_host`, `smtp_port`, `smtp_from`, `smtp_to`).
    pub smtp: Option<SmtpSettings>,
    /// Datagram socket of the local syslog (`syslog = yes`, `syslog_socket`, default
    /// `/dev/log`); `None` when off.
    pub syslog_socket: Option<String>,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            check_interval: Duration::from_secs(10),
            queue_not_consumed_delay: Duration::from_secs(300),
            webhook: None,
            smtp: None,
            syslog_socket: None,
        }
    }
}

/// A plain-HTTP webhook address, split for a minimal client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port (default 80).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The URL as written, for logs.
    pub url: String,
}

/// An SMTP relay and the envelope of alert mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Relay host (`smtp_host`).
    pub host: String,
    /// Relay port (`smtp_port`, default 25).
    pub port: u16,
    /// Sender address (`smtp_from`, default `d4@localhost`).
    pub from: String,
    /// Recipients (`smtp_to`, comma separated, required with `smtp_host`).
    pub to: Vec<String>,
}

/// A bad option of `[Notifications]`; `config` turns it into its `ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option.
    pub key: &'static str,
    /// Its value (empty when missing).
    pub value: String,
    /// Why it is rejected.
    pub reason: String,
}

impl std::fmt::Display for OptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{SECTION}] {} = {:?}: {}",
            self.key, self.value, self.reason
        )
    }
}

/// Builds an [`OptionError`].
fn bad(key: &'static str, value: &str, reason: impl Into<String>) -> OptionError {
    OptionError {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl NotificationSettings {
    /// Reads `[Notifications]`; an absent section gives the defaults (no sink).
    pub fn read(ini: &Ini) -> Result<Self, OptionError> {
        let d = NotificationSettings::default();
        let opt = |k| ini.get(SECTION, k).filter(|v| !v.is_empty());
        let syslog = match opt("syslog") {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| {
                bad(
                    "syslog",
                    v,
                    "expected one of yes/no, true/false, on/off, 1/0",
                )
            })?,
        };
        Ok(NotificationSettings {
            check_interval: seconds(ini, "check_interval", d.check_interval)?,
            queue_not_consumed_delay: seconds(
                ini,
                "queue_not_consumed_delay",
                d.queue_not_consumed_delay,
            )?,
            webhook: opt("webhook_url")
                .map(|v| WebhookUrl::parse(v).map_err(|e| bad("webhook_url", v, e)))
                .transpose()?,
            smtp: read_smtp(ini)?,
            syslog_socket: syslog.then(|| opt("syslog_socket").unwrap_or("/dev/log").to_string()),
        })
    }

    /// Whether at least one sink is configured.
    pub fn any_sink(&self) -> bool {
        self.webhook.is_some() || self.smtp.is_some() || self.syslog_socket.is_some()
    }
}

/// A whole number of seconds, at least 1, or `default` when absent.
fn seconds(ini: &Ini, key: &'static str, default: Duration) -> Result<Duration, OptionError> {
    let Some(v) = ini.get(SECTION, key) else {
        return Ok(default);
    };
    match v.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Duration::from_secs(n)),
        _ => Err(bad(
            key,
            v,
            "expected a whole number of seconds, at least 1",
        )),
    }
}

/// The SMTP sink, present when `smtp_host` is set.
fn read_smtp(ini: &Ini) -> Result<Option<SmtpSettings>, OptionError> {
    let Some(host) = ini.get(SECTION, "smtp_host").filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let raw = ini.get(SECTION, "smtp_to").unwrap_or_default();
    let to: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    if to.is_empty() || to.iter().any(|a| !a.contains('@')) {
        let reason = "comma-separated e-mail addresses are required with smtp_host";
        return Err(bad("smtp_to", raw, reason));
    }
    let port = match ini.get(SECTION, "smtp_port") {
        None => 25,
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| bad("smtp_port", p, "expected a TCP port"))?,
    };
    Ok(Some(SmtpSettings {
        host: host.to_string(),
        port,
        from: ini
            .get(SECTION, "smtp_from")
            .unwrap_or("d4@localhost")
            .to_string(),
        to,
    }))
}

impl WebhookUrl {
    /// Parses `http://host[:port][/path]`; `https` is refused (no TLS client here: point
    /// the monitor at a local relay).
    pub fn parse(url: &str) -> Result<WebhookUrl, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            "expected an http:// URL (https is not supported: use a local relay)".to_string()
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err("no host in URL".into());
        }
        Ok(WebhookUrl {
            host,
            port,
            path: path.to_string(),
            url: url.to_string(),
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → host and port (80 by default).
fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p:?}"));
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unterminated [ in host")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), port(p)?)),
            None if after.is_empty() => Ok((host.to_string(), 80)),
            None => Err(format!("unexpected {after:?} after host")),
        };
    }
    match authority.split_once(':') {
        Some((h, p)) => Ok((h.to_string(), port(p)?)),
        None => Ok((authority.to_string(), 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<NotificationSettings, OptionError> {
        NotificationSettings::read(&Ini::parse(&format!("[Notifications]\n{extra}")).unwrap())
    }

    #[test]
    fn absent_section_means_no_sink_and_upstream_interval() {
        let c = NotificationSettings::read(&Ini::parse("[D4_Server]\n").unwrap()).unwrap();
        assert!(!c.any_sink());
        assert_eq!(c, NotificationSettings::default());
        assert_eq!(c.check_interval, Duration::from_secs(10));
    }

    #[test]
    fn every_sink_is_read() {
        let n = load(
            "webhook_url = http://[::1]:8080/hook?x=1\nsmtp_host = localhost\nsmtp_port = 2525\n\
             smtp_to = a@example.org, b@example.org\nsyslog = yes\ncheck_interval = 2\n",
        )
        .unwrap();
        let w = n.webhook.unwrap();
        assert_eq!(
            (w.host.as_str(), w.port, w.path.as_str()),
            ("::1", 8080, "/hook?x=1")
        );
        let s = n.smtp.unwrap();
        assert_eq!(s.port, 2525);
        assert_eq!(s.to, vec!["a@example.org", "b@example.org"]);
        assert_eq!(n.syslog_socket.as_deref(), Some("/dev/log"));
        assert_eq!(n.check_interval, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("webhook_url = https://example.org/\n", "webhook_url"),
            ("webhook_url = http://h:x/\n", "webhook_url"),
            ("smtp_host = localhost\n", "smtp_to"),
            ("smtp_host = localhost\nsmtp_to = nobody\n", "smtp_to"),
            ("smtp_host = h\nsmtp_to = a@b\nsmtp_port = x\n", "smtp_port"),
            ("check_interval = 0\n", "check_interval"),
            ("syslog = maybe\n", "syslog"),
        ] {
            let err = load(extra).unwrap_err();
            assert_eq!(err.key, key, "{extra}");
            assert!(err.to_string().starts_with("[Notifications] "), "{err}");
        }
    }

    /// The sample's section loads with every sink off.
    #[test]
    fn sample_section_loads() {
        let sample = include_str!("../../../../conf/server.conf.sample");
        let n = NotificationSettings::read(&Ini::parse(sample).unwrap()).unwrap();
        assert!(!n.any_sink());
        assert_eq!(n.queue_not_consumed_delay, Duration::from_secs(300));
    }
}
