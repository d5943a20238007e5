//! Blacklists in META: `blacklist_ip` (addresses), `blacklist_uuid`, `blacklist_ip_by_uuid`
//! (web spec §3.2-3.3, §5.5). Networks are expanded to every address as upstream does,
//! but only up to [`MAX_NETWORK_ADDRESSES`] so one request cannot flood the store.

use super::StoreResult;
use d4_core::keys::meta;
use d4_core::store::{Cmd, Store};
use std::net::IpAddr;

/// Largest network (in addresses) accepted for (un)blacklisting.
pub(crate) const MAX_NETWORK_ADDRESSES: u128 = 65_536;
/// Items per blacklist page (shown as two columns).
pub(crate) const PAGE_SIZE: usize = 1000;

/// What an `ip` parameter means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpTarget {
    /// One address, in Python's `str(ip_address(x))` form.
    Single(String),
    /// Every address of a strict CIDR network, network and broadcast included.
    Network(Vec<String>),
}

/// Why an `ip` parameter is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IpError {
    /// Not an address nor a strict CIDR network.
    #[error("Incorrect IP address")]
    Invalid,
    /// A network with more addresses than allowed.
    #[error("network too large: at most {MAX_NETWORK_ADDRESSES} addresses")]
    TooLarge,
}

/// Parses an address or a strict network (host bits zero), as upstream's `ipaddress` use.
pub(crate) fn parse_ip_target(s: &str) -> Result<IpTarget, IpError> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpTarget::Single(ip.to_string()));
    }
    let net: ipnet::IpNet = s.parse().map_err(|_| IpError::Invalid)?;
    if net.trunc() != net {
        return Err(IpError::Invalid);
    }
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if bits >= 128 || (1u128 << bits) > MAX_NETWORK_ADDRESSES {
        return Err(IpError::TooLarge);
    }
    let count = 1u128 << bits;
    let addrs = match net {
        ipnet::IpNet::V4(n) => {
            let base = u32::from(n.network());
            (0..count as u32)
                .map(|i| std::net::Ipv4Addr::from(base.wrapping_add(i)).to_string())
                .collect()
        }
        ipnet::IpNet::V6(n) => {
            let base = u128::from(n.network());
            (0..count)
                .map(|i| std::net::Ipv6Addr::from(base.wrapping_add(i)).to_string())
                .collect()
        }
    };
    Ok(IpTarget::Network(addrs))
}

impl IpTarget {
    fn addrs(&self) -> Vec<String> {
        match self {
            IpTarget::Single(a) => vec![a.clone()],
            IpTarget::Network(v) => v.clone(),
        }
    }
}

/// SADD (or SREM) every address of `t` to `blacklist_ip`; true if anything changed.
pub(crate) async fn set_ip(meta_db: &Store, t: &IpTarget, add: bool) -> StoreResult<bool> {
    let mut changed = 0i64;
    for chunk in t.addrs().chunks(1024) {
        let c = if add {
            Cmd::sadd(meta::BLACKLIST_IP, chunk)
        } else {
            Cmd::srem(meta::BLACKLIST_IP, chunk)
        };
        let n: i64 = meta_db.query(&c).await?;
        changed += n;
    }
    Ok(changed > 0)
}

/// Which uuid list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UuidList {
    /// `blacklist_uuid`: the sensor is refused.
    Uuid,
    /// `blacklist_ip_by_uuid`: every IP connecting with the uuid gets blacklisted.
    IpByUuid,
}

impl UuidList {
    fn key(self) -> &'static str {
        match self {
            UuidList::Uuid => meta::BLACKLIST_UUID,
            UuidList::IpByUuid => meta::BLACKLIST_IP_BY_UUID,
        }
    }
}

/// Adds the undashed uuid (the form the server checks); true if it was new.
pub(crate) async fn add_uuid(meta_db: &Store, list: UuidList, u: &str) -> StoreResult<bool> {
    let n: i64 = meta_db.query(&Cmd::sadd(list.key(), u)).await?;
    Ok(n > 0)
}

/// Removes the uuid in both spellings (upstream stored dashed ones); true if present.
pub(crate) async fn remove_uuid(
    meta_db: &Store,
    list: UuidList,
    undashed: &str,
    as_given: &str,
) -> StoreResult<bool> {
    let mut members = vec![undashed.to_string()];
    if as_given != undashed {
        members.push(as_given.to_string());
    }
    let n: i64 = meta_db.query(&Cmd::srem(list.key(), members)).await?;
    Ok(n > 0)
}

/// One page of a blacklist: sorted members, total count, number of pages.
pub(crate) async fn page(
    meta_db: &Store,
    key: &str,
    page: usize,
) -> StoreResult<(Vec<String>, usize, usize)> {
    let mut all: Vec<String> = meta_db.query(&Cmd::smembers(key)).await?;
    all.sort();
    let total = all.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let items = all
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Ok((items, total, pages))
}

/// META key of the IP blacklist (for [`page`]).
pub(crate) const IP_KEY: &str = meta::BLACKLIST_IP;
/// META key of the uuid blacklist (for [`page`]).
pub(crate) const UUID_KEY: &str = meta::BLACKLIST_UUID;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_python_ipaddress() {
        assert_eq!(
            parse_ip_target("10.0.0.1"),
            Ok(IpTarget::Single("10.0.0.1".into()))
        );
        assert_eq!(
            parse_ip_target("2001:db8:0::1"),
            Ok(IpTarget::Single("2001:db8::1".into()))
        );
        match parse_ip_target("10.0.0.0/30") {
            Ok(IpTarget::Network(v)) => {
                assert_eq!(v, ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_ip_target("10.0.0.1/30"), Err(IpError::Invalid));
        assert_eq!(parse_ip_target("nope"), Err(IpError::Invalid));
        assert_eq!(parse_ip_target("10.0.0.0/8"), Err(IpError::TooLarge));
        assert_eq!(parse_ip_target("::/0"), Err(IpError::TooLarge));
    }
}
