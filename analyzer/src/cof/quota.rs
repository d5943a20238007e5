//! Query quotas per credential (`[cof] quota-*`): queries per minute and per UTC day in fixed
//! windows, and records per answer. A caller over its quota gets 429 with `Retry-After` (the
//! seconds until its window ends); `/dnsdb/v2/rate_limit` reports the same counters in
//! DNSDB's shape.
//!
//! The caller is the basic-auth user name, the bearer token or `X-API-Key`, or the client
//! address (IPv6 by /64) when no credential is configured. Counters live in this process:
//! several COF servers behind one balancer each count their own share. At most
//! [`MAX_CALLERS`] callers are tracked; when full, those whose windows ended are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::error::WebError;
use crate::model::config::{Auth, Quota, Quotas};

/// Most callers tracked at once.
const MAX_CALLERS: usize = 16_384;
/// Seconds in a minute window and in a day window.
const MINUTE: i64 = 60;
const DAY: i64 = 86_400;

/// Who is asking, for quotas: never logged when it is a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Caller(pub(crate) String);

impl Caller {
    /// The caller of an already authenticated request: the basic-auth user, the token of
    /// `Authorization` or `X-API-Key`; the client address when no credential is configured
    /// (`authenticated` false), so that made-up headers cannot dodge a quota.
    pub(crate) fn of(req: &HttpRequest, authenticated: bool) -> Caller {
        if !authenticated {
            return Caller::address(req);
        }
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        if let Some(key) = header("x-api-key") {
            return Caller(key.to_string());
        }
        if let Some(value) = header("authorization") {
            let (scheme, rest) = value.split_once(' ').unwrap_or(("", value));
            if scheme.eq_ignore_ascii_case("basic") {
                let user = base64::engine::general_purpose::STANDARD
                    .decode(rest.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|c| c.split_once(':').map(|(u, _)| u.to_string()));
                if let Some(user) = user {
                    return Caller(user);
                }
            } else if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
            {
                return Caller(rest.trim().to_string());
            } else {
                return Caller(value.to_string());
            }
        }
        Caller::address(req)
    }

    /// The client address (IPv6 by /64) as a caller.
    fn address(req: &HttpRequest) -> Caller {
        let ip = req.peer_addr().map(|a| subnet(a.ip()));
        Caller(ip.map_or_else(|| "unknown".to_string(), |ip| format!("address {ip}")))
    }
}

/// Whether `X-API-Key` holds a configured token (constant-time per token). DNSDB clients
/// send their key there; it is accepted wherever the COF server takes a token.
pub(crate) fn api_key_ok(req: &HttpRequest, auth: &Auth) -> Option<bool> {
    let key = req.headers().get("x-api-key")?.to_str().ok()?.trim();
    Some(
        !key.is_empty()
            && auth
                .tokens
                .iter()
                .any(|t| bool::from(t.as_bytes().ct_eq(key.as_bytes()))),
    )
}

/// The client address as a quota key: IPv4 as is, IPv6 by its /64.
fn subnet(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Queries of one caller in its current minute and day windows.
#[derive(Debug, Clone, Copy, Default)]
struct Used {
    minute: i64,
    in_minute: u64,
    day: i64,
    in_day: u64,
}

impl Used {
    /// The counters at `now` (a window that ended starts from zero).
    fn at(self, now: i64) -> Used {
        let (minute, day) = (now.div_euclid(MINUTE), now.div_euclid(DAY));
        Used {
            minute,
            in_minute: if self.minute == minute {
                self.in_minute
            } else {
                0
            },
            day,
            in_day: if self.day == day { self.in_day } else { 0 },
        }
    }
}

/// A query refused by a quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exceeded {
    /// Seconds until the window that is full ends.
    pub(crate) retry_after: u64,
    /// Which limit (`per minute` or `per day`) and its value.
    pub(crate) what: String,
}

impl Exceeded {
    /// 429 with `Retry-After` and the server's JSON error body.
    pub(crate) fn response(&self) -> HttpResponse {
        let body = serde_json::json!({
            "error": format!("quota exceeded: {}; retry in {} s", self.what, self.retry_after)
        });
        HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
            .insert_header(("Retry-After", self.retry_after.to_string()))
            .content_type("application/json")
            .body(body.to_string())
    }
}

/// Why a request was refused: the server's usual errors, or a quota.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// Any error of the COF server.
    #[error(transparent)]
    Web(#[from] WebError),
    /// A quota window is full.
    #[error("quota exceeded: {}", .0.what)]
    Quota(Exceeded),
}

impl Refused {
    /// HTTP status (for metrics).
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refused::Web(e) => e.status(),
            Refused::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl From<Exceeded> for Refused {
    fn from(e: Exceeded) -> Self {
        Refused::Quota(e)
    }
}

impl From<d4_core::store::StoreError> for Refused {
    fn from(e: d4_core::store::StoreError) -> Self {
        Refused::Web(WebError::Store(e))
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Refused::Web(e) => e.error_response(),
            Refused::Quota(e) => e.response(),
        }
    }
}

/// What `rate_limit` reports for a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    /// The caller's limits.
    pub(crate) quota: Quota,
    /// Queries left today and this minute (`None` = unlimited).
    pub(crate) remaining_day: Option<u64>,
    pub(crate) remaining_minute: Option<u64>,
    /// Epoch second when the day window ends.
    pub(crate) reset: i64,
}

impl Status {
    /// DNSDB's `rate_limit` object: `{"rate":{"limit","remaining","reset","results_max",
    /// "burst_size","burst_window"}}`, with `unlimited` / `n/a` where no limit is set.
    pub(crate) fn dnsdb_json(&self) -> String {
        let q = self.quota;
        let mut rate = serde_json::Map::new();
        if q.per_day > 0 {
            rate.insert("limit".into(), q.per_day.into());
            rate.insert(
                "remaining".into(),
                self.remaining_day.unwrap_or(q.per_day).into(),
            );
            rate.insert("reset".into(), self.reset.into());
        } else {
            rate.insert("limit".into(), "unlimited".into());
            rate.insert("remaining".into(), "n/a".into());
            rate.insert("reset".into(), "n/a".into());
        }
        if q.results > 0 {
            rate.insert("results_max".into(), q.results.into());
        }
        if q.per_minute > 0 {
            rate.insert("burst_size".into(), q.per_minute.into());
            rate.insert("burst_window".into(), MINUTE.into());
            rate.insert(
                "burst_remaining".into(),
                self.remaining_minute.unwrap_or(q.per_minute).into(),
            );
        }
        serde_json::json!({ "rate": rate }).to_string()
    }
}

/// Every caller's counters, shared by the HTTP workers.
#[derive(Debug)]
pub(crate) struct QuotaBook {
    quotas: Quotas,
    used: Mutex<HashMap<Caller, Used>>,
}

impl QuotaBook {
    /// An empty book for the configured quotas.
    pub(crate) fn new(quotas: Quotas) -> QuotaBook {
        QuotaBook {
            quotas,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any caller has a limit.
    pub(crate) fn enabled(&self) -> bool {
        self.quotas.enabled()
    }

    /// The limits of `caller`.
    pub(crate) fn quota(&self, caller: &Caller) -> Quota {
        self.quotas.of(&caller.0)
    }

    /// Counts one query of `caller` at epoch second `now`, or refuses it (not counted)
    /// when a window is full. Returns the caller's limits.
    pub(crate) fn admit(&self, caller: &Caller, now: i64) -> Result<Quota, Exceeded> {
        let quota = self.quota(caller);
        if quota.per_minute == 0 && quota.per_day == 0 {
            return Ok(quota);
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if !used.contains_key(caller) && used.len() >= MAX_CALLERS {
            let minute = now.div_euclid(MINUTE);
            let day = now.div_euclid(DAY);
            used.retain(|_, u| u.minute == minute || u.day == day && u.in_day > 0);
            if used.len() >= MAX_CALLERS {
                used.clear();
            }
        }
        let u = used.get(caller).copied().unwrap_or_default().at(now);
        if quota.per_day > 0 && u.in_day >= quota.per_day {
            return Err(Exceeded {
                retry_after: secs_left(now, DAY),
                what: format!("{} queries per day", quota.per_day),
            });
        }
        if quota.per_minute > 0 && u.in_minute >= quota.per_minute {
            return Err(Exceeded {
                retry_after: secs_left(now, MINUTE),
                what: format!("{} queries per minute", quota.per_minute),
            });
        }
        used.insert(
            caller.clone(),
            Used {
                in_minute: u.in_minute + 1,
                in_day: u.in_day + 1,
                ..u
            },
        );
        Ok(quota)
    }

    /// What is left for `caller` at `now`.
    pub(crate) fn status(&self, caller: &Caller, now: i64) -> Status {
        let quota = self.quota(caller);
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let u = used.get(caller).copied().unwrap_or_default().at(now);
        let left = |limit: u64, n: u64| (limit > 0).then(|| limit.saturating_sub(n));
        Status {
            quota,
            remaining_day: left(quota.per_day, u.in_day),
            remaining_minute: left(quota.per_minute, u.in_minute),
            reset: (now.div_euclid(DAY) + 1) * DAY,
        }
    }
}

/// Seconds until the current window of `len` seconds ends (at least 1).
fn secs_left(now: i64, len: i64) -> u64 {
    u64::try_from(len - now.rem_euclid(len)).unwrap_or(1).max(1)
}

/// The current epoch second.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> QuotaBook {
        QuotaBook::new(Quotas {
            default: Quota {
                per_minute: 2,
                per_day: 3,
                results: 0,
            },
            overrides: vec![("vip".into(), Quota::default())],
        })
    }

    #[test]
    fn minute_then_day_windows() {
        let b = book();
        let a = Caller("alice".into());
        let t = 1_700_000_080; // 20 s before a minute ends
        assert!(b.admit(&a, t).is_ok());
        assert!(b.admit(&a, t + 1).is_ok());
        let e = b.admit(&a, t + 2).expect_err("third query in the minute");
        assert_eq!(e.retry_after, 18);
        assert!(e.what.contains("per minute"), "{e:?}");
        // Next minute: one more fits the day's 3, then the day is full.
        assert!(b.admit(&a, t + 20).is_ok());
        let e = b.admit(&a, t + 21).expect_err("day full");
        assert!(e.what.contains("per day"), "{e:?}");
        assert_eq!(
            e.retry_after,
            u64::try_from(86_400 - (t + 21) % 86_400).unwrap()
        );
        let s = b.status(&a, t + 21);
        assert_eq!((s.remaining_day, s.remaining_minute), (Some(0), Some(1)));
        // Another caller and an unlimited override are unaffected.
        assert!(b.admit(&Caller("bob".into()), t).is_ok());
        for _ in 0..10 {
            assert!(b.admit(&Caller("vip".into()), t).is_ok());
        }
    }

    #[test]
    fn rate_limit_shapes() {
        let b = book();
        let s = b.status(&Caller("alice".into()), 86_400 * 3 + 5);
        let v: serde_json::Value = serde_json::from_str(&s.dnsdb_json()).unwrap();
        assert_eq!(v["rate"]["limit"], 3);
        assert_eq!(v["rate"]["remaining"], 3);
        assert_eq!(v["rate"]["reset"], 86_400 * 4);
        assert_eq!(v["rate"]["burst_size"], 2);
        let s = b.status(&Caller("vip".into()), 0);
        let v: serde_json::Value = serde_json::from_str(&s.dnsdb_json()).unwrap();
        assert_eq!(v["rate"]["limit"], "unlimited");
        assert_eq!(v["rate"]["remaining"], "n/a");
    }
}
