//! Slow-down of failed authentications per client address (issue 12, defect 6): a token
//! bucket per address of `burst` failures refilled at `per_second`. An address with no token
//! left is answered 429 with `Retry-After` before its credentials are even checked, so a
//! brute force gets about `per_second` guesses a second; other addresses are unaffected.
//!
//! IPv6 clients are keyed by their /64 (one host usually holds a whole /64). Memory is bounded:
//! at most [`MAX_TRACKED`] addresses; when full, buckets that refilled completely (the same
//! as no entry) are dropped first, then the least recently failed one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::config::AuthLimit;

/// Most client addresses tracked at once.
pub(crate) const MAX_TRACKED: usize = 16_384;

/// One address's remaining failures.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Failed-authentication buckets of every recent client address, shared by the HTTP workers.
#[derive(Debug)]
pub(crate) struct AuthLimiter {
    limit: AuthLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl AuthLimiter {
    /// An empty limiter.
    pub(crate) fn new(limit: AuthLimit) -> AuthLimiter {
        AuthLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long `ip` must wait before its next attempt, if it has no failure left.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.get(&key(ip))?;
        let tokens = self.refilled(b, now);
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.limit.per_second))
    }

    /// Counts one failed authentication of `ip`.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(ip);
        if !buckets.contains_key(&k) && buckets.len() >= MAX_TRACKED {
            self.make_room(&mut buckets, now);
        }
        let tokens = buckets
            .get(&k)
            .map_or(self.limit.burst, |b| self.refilled(b, now));
        buckets.insert(
            k,
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }

    /// Tokens of `b` at `now`.
    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + secs * self.limit.per_second).min(self.limit.burst)
    }

    /// Drops full buckets, or else the least recently failed one.
    fn make_room(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        buckets.retain(|_, b| self.refilled(b, now) < self.limit.burst);
        if buckets.len() >= MAX_TRACKED {
            if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k) {
                buckets.remove(&oldest);
            }
        }
    }
}

/// The bucket key of an address: IPv4 (or IPv4-mapped) as is, IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> AuthLimiter {
        AuthLimiter::new(AuthLimit {
            burst: 10.0,
            per_second: 1.0,
        })
    }

    #[test]
    fn burst_then_one_per_second_per_address() {
        let l = limiter();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..9 {
            l.failed(a, t0);
        }
        assert_eq!(l.blocked(a, t0), None);
        l.failed(a, t0);
        let wait = l.blocked(a, t0).expect("limited after 10 failures");
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(l.blocked(b, t0), None, "another address is unaffected");
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(l.blocked(a, t1), None, "one token back after a second");
        l.failed(a, t1);
        assert!(l.blocked(a, t1).is_some());
    }

    #[test]
    fn ipv6_hosts_share_their_64_and_mapped_v4_is_v4() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..10u16 {
            l.failed(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i)),
                t0,
            );
        }
        assert!(l
            .blocked("2001:db8:0:1::ffff".parse().unwrap(), t0)
            .is_some());
        assert!(l.blocked("2001:db8:0:2::1".parse().unwrap(), t0).is_none());
        assert_eq!(
            key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 500) {
            l.failed(
                IpAddr::V4(i.into()),
                t0 + Duration::from_micros(u64::from(i)),
            );
        }
        assert_eq!(l.buckets.lock().unwrap().len(), MAX_TRACKED);
        // The newest failure is still remembered.
        let last = IpAddr::V4((MAX_TRACKED as u32 + 499).into());
        let later = t0 + Duration::from_secs(1);
        for _ in 0..9 {
            l.failed(last, later);
        }
        assert!(l.blocked(last, later).is_some());
    }
}
