//! What a query text selects: an exact name, a left- or right-hand wildcard, an rdata name, an
//! IP address, a CIDR prefix or an address range; and the index buckets a prefix or range covers.

use std::net::IpAddr;

use super::SearchError;
use crate::index;
use crate::model::line;

/// Most index buckets (`/24` of IPv4, `/48` of IPv6) one prefix or range may cover: an IPv4
/// prefix needs at least /16, an IPv6 prefix at least /40.
pub(crate) const MAX_BUCKETS: u128 = 256;

/// What a search looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// Records of this name (normalised: lower case, no leading/trailing dots).
    Name(String),
    /// Left-hand wildcard `*.example.com`: records of every name under the domain, at any
    /// depth, not the domain itself. The domain has at least two labels.
    Below(String),
    /// Right-hand wildcard `www.example.*`: records of every name made of these labels and one
    /// or more labels after them. The prefix has at least two labels.
    Starting(String),
    /// Records whose rdata is this name or text (`/fquery`, DNSDB `rdata/name`).
    Rdata(String),
    /// A and AAAA records whose rdata is this address.
    Ip(IpAddr),
    /// A and AAAA records whose address is in this prefix.
    Net(IpNet),
    /// A and AAAA records whose address is in `first..=last` (same family).
    Range(IpAddr, IpAddr),
}

/// A CIDR prefix; `addr` has its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNet {
    /// Network address.
    pub(crate) addr: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub(crate) len: u8,
}

impl IpNet {
    /// `addr/len` with the host bits cleared; `None` when `len` is too long for the family.
    pub(crate) fn new(addr: IpAddr, len: u8) -> Option<IpNet> {
        let (lo, _) = span(addr, len)?;
        Some(IpNet { addr: lo, len })
    }

    /// First and last address of the prefix.
    pub(crate) fn bounds(&self) -> (IpAddr, IpAddr) {
        span(self.addr, self.len).unwrap_or((self.addr, self.addr))
    }
}

/// First and last address of `addr/len`.
fn span(addr: IpAddr, len: u8) -> Option<(IpAddr, IpAddr)> {
    match addr {
        IpAddr::V4(a) if len <= 32 => {
            let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let lo = u32::from(a) & !host;
            Some((IpAddr::V4(lo.into()), IpAddr::V4((lo | host).into())))
        }
        IpAddr::V6(a) if len <= 128 => {
            let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let lo = u128::from(a) & !host;
            Some((IpAddr::V6(lo.into()), IpAddr::V6((lo | host).into())))
        }
        _ => None,
    }
}

fn bad(msg: String) -> SearchError {
    SearchError::BadRequest(msg)
}

impl Subject {
    /// `/query/<q>` with search parameters and DNSDB `rrset/name/<q>`: an address, prefix
    /// (`a/len` or DNSDB's `a,len`) or range (`a-b`) selects A/AAAA records by address; `*.d`
    /// or `.d` is a left-hand wildcard; `p.*` a right-hand one; anything else an exact name.
    pub(crate) fn rrset(q: &str) -> Result<Subject, SearchError> {
        if let Some(s) = Subject::address(q)? {
            return Ok(s);
        }
        let q = q.trim();
        if let Some(d) = q.strip_prefix("*.").or_else(|| q.strip_prefix('.')) {
            return wildcard(d, Subject::Below, "*.");
        }
        if let Some(p) = q.strip_suffix(".*") {
            return wildcard(p, Subject::Starting, ".*");
        }
        if q.contains('*') {
            return Err(bad(format!(
                "{q:?}: a wildcard is a leading \"*.\" or a trailing \".*\""
            )));
        }
        Ok(Subject::Name(line::normalise_name(q)))
    }

    /// `/fquery/<q>` with search parameters and DNSDB `rdata/name/<q>`: an address, prefix or
    /// range as for [`Subject::rrset`], else the exact rdata name (normalised).
    pub(crate) fn rdata(q: &str) -> Result<Subject, SearchError> {
        if let Some(s) = Subject::address(q)? {
            return Ok(s);
        }
        if q.contains('*') {
            return Err(bad(format!("{q:?}: wildcards are for names, not rdata")));
        }
        Ok(Subject::Rdata(line::normalise_name(q)))
    }

    /// DNSDB `rdata/ip/<addr | prefix | range>`: only those.
    pub(crate) fn ip(q: &str) -> Result<Subject, SearchError> {
        Subject::address(q)?.ok_or_else(|| {
            bad(format!(
                "{q:?}: expected an address, a prefix (a/len) or a range (a-b)"
            ))
        })
    }

    /// An address, prefix or range; `Ok(None)` when `q` is none of them (a name).
    fn address(q: &str) -> Result<Option<Subject>, SearchError> {
        let q = q.trim();
        if let Ok(ip) = q.parse::<IpAddr>() {
            return Ok(Some(Subject::Ip(ip)));
        }
        if let Some((a, len)) = q.split_once(['/', ',']) {
            let (Ok(a), Ok(len)) = (a.parse::<IpAddr>(), len.parse::<u8>()) else {
                return Ok(None);
            };
            let net = IpNet::new(a, len).ok_or_else(|| bad(format!("{q:?}: bad prefix length")))?;
            buckets(net.bounds())?;
            return Ok(Some(Subject::Net(net)));
        }
        if let Some((a, b)) = q.split_once('-') {
            let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) else {
                return Ok(None);
            };
            buckets((a, b))?;
            return Ok(Some(Subject::Range(a, b)));
        }
        Ok(None)
    }

    /// Whether an address matches (for [`Subject::Ip`], [`Subject::Net`], [`Subject::Range`]).
    pub(crate) fn admits_address(&self, ip: IpAddr) -> bool {
        let (lo, hi) = match self {
            Subject::Ip(a) => (*a, *a),
            Subject::Net(n) => n.bounds(),
            Subject::Range(a, b) => (*a, *b),
            _ => return false,
        };
        match (lo, ip, hi) {
            (IpAddr::V4(lo), IpAddr::V4(ip), IpAddr::V4(hi)) => lo <= ip && ip <= hi,
            (IpAddr::V6(lo), IpAddr::V6(ip), IpAddr::V6(hi)) => lo <= ip && ip <= hi,
            _ => false,
        }
    }
}

/// A wildcard's fixed part: normalised, at least two labels (one label, e.g. `*.com` or
/// `www.*`, would read one of the largest keys of the store).
fn wildcard(fixed: &str, make: fn(String) -> Subject, shape: &str) -> Result<Subject, SearchError> {
    let fixed = line::normalise_name(fixed);
    if fixed.contains('*') || fixed.split('.').filter(|l| !l.is_empty()).count() < 2 {
        return Err(bad(format!(
            "wildcard {shape}: the fixed part needs at least two labels and no other \"*\", got {fixed:?}"
        )));
    }
    Ok(make(fixed))
}

/// Index bucket keys covering `first..=last` (same family, first <= last, at most
/// [`MAX_BUCKETS`]).
pub(crate) fn buckets((first, last): (IpAddr, IpAddr)) -> Result<Vec<String>, SearchError> {
    let (lo, hi, v4) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), true)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), false),
        _ => return Err(bad(format!("range {first}-{last} mixes IPv4 and IPv6"))),
    };
    if lo > hi {
        return Err(bad(format!(
            "range {first}-{last}: first address is after the last"
        )));
    }
    let shift = if v4 { 8 } else { 80 };
    let (b_lo, b_hi) = (lo >> shift, hi >> shift);
    if b_hi - b_lo >= MAX_BUCKETS {
        return Err(bad(format!(
            "{first}-{last} is too broad: at most {MAX_BUCKETS} {} (IPv4 /16, IPv6 /40)",
            if v4 { "/24s" } else { "/48s" }
        )));
    }
    Ok((b_lo..=b_hi)
        .map(|b| {
            let ip = if v4 {
                IpAddr::V4(((b << shift) as u32).into())
            } else {
                IpAddr::V6((b << shift).into())
            };
            index::ip_bucket(ip)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn query_texts_select_subjects() {
        assert_eq!(
            Subject::rrset("*.Example.COM.").ok(),
            Some(Subject::Below("example.com".into()))
        );
        assert_eq!(
            Subject::rrset(".example.com").ok(),
            Some(Subject::Below("example.com".into()))
        );
        assert_eq!(
            Subject::rrset("www.example.*").ok(),
            Some(Subject::Starting("www.example".into()))
        );
        assert!(Subject::rrset("*.com").is_err());
        assert!(Subject::rrset("www.*").is_err());
        assert!(Subject::rrset("a.*.com").is_err());
        assert_eq!(
            Subject::rrset("WWW.example.com").ok(),
            Some(Subject::Name("www.example.com".into()))
        );
        assert_eq!(
            Subject::rrset("192.0.2.1").ok(),
            Some(Subject::Ip(ip("192.0.2.1")))
        );
        assert_eq!(
            Subject::rrset("192.0.2.77/24").ok(),
            Some(Subject::Net(IpNet {
                addr: ip("192.0.2.0"),
                len: 24
            }))
        );
        assert_eq!(
            Subject::ip("2001:db8::,48").ok(),
            Some(Subject::Net(IpNet {
                addr: ip("2001:db8::"),
                len: 48
            }))
        );
        assert!(Subject::ip("10.0.0.0/8").is_err(), "too broad");
        assert!(Subject::ip("2001:db8::/32").is_err(), "too broad");
        assert!(Subject::ip("10.0.0.0/33").is_err());
        assert!(Subject::ip("example.com").is_err());
        assert_eq!(
            Subject::rdata("ns1.Example.net.").ok(),
            Some(Subject::Rdata("ns1.example.net".into()))
        );
        assert_eq!(
            Subject::ip("10.0.0.5-10.0.1.7").ok(),
            Some(Subject::Range(ip("10.0.0.5"), ip("10.0.1.7")))
        );
        assert!(Subject::ip("10.0.1.7-10.0.0.5").is_err());
        assert!(Subject::ip("10.0.0.1-::1").is_err());
    }

    #[test]
    fn prefixes_cover_their_buckets_and_addresses() {
        let net = IpNet::new(ip("192.0.2.0"), 23).expect("net");
        assert_eq!(
            buckets(net.bounds()).ok(),
            Some(vec![
                index::ip_bucket(ip("192.0.2.0")),
                index::ip_bucket(ip("192.0.3.0"))
            ])
        );
        let s = Subject::Net(net);
        assert!(s.admits_address(ip("192.0.3.255")));
        assert!(!s.admits_address(ip("192.0.4.0")));
        assert!(!s.admits_address(ip("::1")));
        let s6 = Subject::Net(IpNet::new(ip("2001:db8:1::"), 64).expect("net"));
        assert!(s6.admits_address(ip("2001:db8:1::53")));
        assert!(!s6.admits_address(ip("2001:db8:1:1::53")));
        assert_eq!(
            buckets(IpNet::new(ip("10.1.0.0"), 16).expect("n").bounds())
                .map(|b| b.len())
                .ok(),
            Some(256)
        );
    }
}
