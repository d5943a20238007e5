//! DNS RR type mnemonics ↔ numbers.
//!
//! The table holds every entry of upstream `etc/records-type.json` (spec `pdns.md` §1.1, including
//! its odd `Unassigned` = 54 and `Reserved` = 65535 rows, so that nothing upstream accepted is
//! rejected here) plus the IANA types assigned since (SVCB, HTTPS, ...). The RFC 3597 form
//! `TYPE<n>` is accepted too. Also the list of types the COF server serves (spec §2.1).

/// (mnemonic, number), in the IANA registry order.
#[rustfmt::skip]
pub(crate) const TABLE: &[(&str, u16)] = &[
    ("A", 1), ("NS", 2), ("MD", 3), ("MF", 4), ("CNAME", 5), ("SOA", 6), ("MB", 7), ("MG", 8),
    ("MR", 9), ("NULL", 10), ("WKS", 11), ("PTR", 12), ("HINFO", 13), ("MINFO", 14), ("MX", 15),
    ("TXT", 16), ("RP", 17), ("AFSDB", 18), ("X25", 19), ("ISDN", 20), ("RT", 21), ("NSAP", 22),
    ("NSAP-PTR", 23), ("SIG", 24), ("KEY", 25), ("PX", 26), ("GPOS", 27), ("AAAA", 28), ("LOC", 29),
    ("NXT", 30), ("EID", 31), ("NIMLOC", 32), ("SRV", 33), ("ATMA", 34), ("NAPTR", 35), ("KX", 36),
    ("CERT", 37), ("A6", 38), ("DNAME", 39), ("SINK", 40), ("OPT", 41), ("APL", 42), ("DS", 43),
    ("SSHFP", 44), ("IPSECKEY", 45), ("RRSIG", 46), ("NSEC", 47), ("DNSKEY", 48), ("DHCID", 49),
    ("NSEC3", 50), ("NSEC3PARAM", 51), ("TLSA", 52), ("SMIMEA", 53), ("Unassigned", 54), ("HIP", 55),
    ("NINFO", 56), ("RKEY", 57), ("TALINK", 58), ("CDS", 59), ("CDNSKEY", 60), ("OPENPGPKEY", 61),
    ("CSYNC", 62), ("ZONEMD", 63), ("SVCB", 64), ("HTTPS", 65), ("DSYNC", 66), ("HHIT", 67),
    ("BRID", 68), ("SPF", 99), ("UINFO", 100), ("UID", 101), ("GID", 102), ("UNSPEC", 103),
    ("NID", 104), ("L32", 105), ("L64", 106), ("LP", 107), ("EUI48", 108), ("EUI64", 109),
    ("NXNAME", 128), ("TKEY", 249), ("TSIG", 250), ("IXFR", 251), ("AXFR", 252), ("MAILB", 253),
    ("MAILA", 254), ("*", 255), ("URI", 256), ("CAA", 257), ("AVC", 258), ("DOA", 259),
    ("AMTRELAY", 260), ("RESINFO", 261), ("WALLET", 262), ("CLA", 263), ("IPN", 264), ("TA", 32768),
    ("DLV", 32769), ("Reserved", 65535),
];

/// Types the COF server answers, in the order upstream walks them (spec §2.1):
/// A, NS, CNAME, MX, TXT, AAAA, SRV, RRSIG.
pub(crate) const SERVED: [u16; 8] = [1, 2, 5, 15, 16, 28, 33, 46];

/// NS: its sets mark the zone apexes the COF `bailiwick` estimate looks for.
pub(crate) const NS: u16 = 2;

/// TXT: the type whose first `"` is removed before storing (spec §1.5).
pub(crate) const TXT: u16 = 16;

/// Number of a mnemonic (`A`, `aaaa`, `TYPE65`); `None` for anything else, including bare numbers
/// (passivedns prints `1` for NXDOMAIN answers of unnamed query types, which is not the qtype).
pub(crate) fn number(mnemonic: &str) -> Option<u16> {
    if let Some((_, n)) = TABLE.iter().find(|(m, _)| m.eq_ignore_ascii_case(mnemonic)) {
        return Some(*n);
    }
    let digits = mnemonic
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("TYPE"))
        .map(|_| &mnemonic[4..])?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A type the COF server serves, by mnemonic (any case) or number; `None` for any other.
pub(crate) fn served(v: &str) -> Option<u16> {
    number(v)
        .or_else(|| v.parse::<u16>().ok())
        .filter(|t| SERVED.contains(t))
}

/// The served types' mnemonics, comma-separated (error messages name the valid choices).
pub(crate) fn served_names() -> String {
    SERVED
        .iter()
        .map(|t| mnemonic(*t))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Mnemonic of a number (`TYPE<n>` when unnamed).
pub(crate) fn mnemonic(n: u16) -> String {
    TABLE
        .iter()
        .find(|(_, v)| *v == n)
        .map(|(m, _)| (*m).to_string())
        .unwrap_or_else(|| format!("TYPE{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_table_rows_are_kept() {
        for (m, n) in [
            ("A", 1),
            ("NSAP-PTR", 23),
            ("Unassigned", 54),
            ("SPF", 99),
            ("*", 255),
            ("DLV", 32769),
            ("Reserved", 65535),
        ] {
            assert_eq!(number(m), Some(n), "{m}");
        }
    }

    #[test]
    fn newer_iana_types_and_rfc3597_form() {
        assert_eq!(number("HTTPS"), Some(65));
        assert_eq!(number("svcb"), Some(64));
        assert_eq!(number("TYPE65534"), Some(65534));
        assert_eq!(mnemonic(65534), "TYPE65534");
        assert_eq!(mnemonic(28), "AAAA");
    }

    #[test]
    fn unknown_and_numeric_types_are_rejected() {
        for bad in ["1", "", "FOO", "TYPE", "TYPE70000", "TYPEx", "TYPE-1"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }
}
