//! Our own presentation of DNS names and rdata, byte-compatible with what passivedns
//! prints through ldns (spec `pdns.md` §5.2.4). hickory-proto's `Display` differs
//! (escaping, quoting), so it is never used for output.
//!
//! Types hickory-proto 0.26 parses (A, AAAA, CNAME, NS, PTR, MX, SRV, SOA, TXT, NAPTR,
//! HINFO, SSHFP) are formatted from its structures; the others passivedns logs (DNAME,
//! RP, LOC, GPOS, SPF and the DNSSEC types) arrive as raw rdata and are parsed here.
//! Malformed raw rdata yields `None` (the record is skipped, never a panic).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use hickory_proto::rr::{Name, RData, Record};

/// RR type codes passivedns knows by name (its `print_passet` switch).
pub const KNOWN_TYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (13, "HINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (33, "SRV"),
    (35, "NAPTR"),
    (39, "DNAME"),
    (43, "DS"),
    (44, "SSHFP"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (99, "SPF"),
];

/// The mnemonic of one of the [`KNOWN_TYPES`].
pub fn known_type_name(code: u16) -> Option<&'static str> {
    KNOWN_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// Any type's mnemonic (`TYPEnnn` for unknown codes, RFC 3597).
pub fn any_type_name(code: u16) -> String {
    if let Some(n) = known_type_name(code) {
        return n.to_string();
    }
    match hickory_proto::rr::RecordType::from(code) {
        hickory_proto::rr::RecordType::Unknown(c) => format!("TYPE{c}"),
        t => t.to_string(),
    }
}

/// Class as passivedns prints it.
pub fn class_name(class: u16) -> Cow<'static, str> {
    match class {
        1 => "IN".into(),
        3 => "CH".into(),
        4 => "HS".into(),
        254 => "NONE".into(),
        255 => "ANY".into(),
        n => n.to_string().into(),
    }
}

/// Appends one label with ldns escaping.
fn push_label(label: &[u8], out: &mut String) {
    for &b in label {
        match b {
            b'.' | b';' | b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

/// A name from its labels: escaped labels joined by `.`, trailing dot, root = `.`.
pub fn labels_to_string<'a>(labels: impl Iterator<Item = &'a [u8]>, out: &mut String) {
    let mut any = false;
    for l in labels {
        push_label(l, out);
        out.push('.');
        any = true;
    }
    if !any {
        out.push('.');
    }
}

/// A hickory name in ldns presentation (case preserved).
pub fn name_to_string(n: &Name) -> String {
    let mut s = String::with_capacity(n.len() + 1);
    labels_to_string(n.iter(), &mut s);
    s
}

/// A character-string: quoted, `"` and `\` escaped, printable and TAB verbatim, else `\DDD`.
pub fn char_string(b: &[u8], out: &mut String) {
    out.push('"');
    for &c in b {
        match c {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e | b'\t' => out.push(c as char),
            _ => {
                let _ = write!(out, "\\{c:03}");
            }
        }
    }
    out.push('"');
}

/// The answer field passivedns prints for this record, or `None` if the type is not
/// one it logs or the rdata is unusable.
pub fn format_answer(rr: &Record) -> Option<String> {
    let code = u16::from(rr.record_type());
    known_type_name(code)?;
    let data = &rr.data;
    let mut s = String::new();
    match data {
        RData::A(a) => {
            let _ = write!(s, "{}", a.0);
        }
        RData::AAAA(a) => {
            let _ = write!(s, "{}", a.0);
        }
        RData::CNAME(n) => s = name_to_string(&n.0),
        RData::NS(n) => s = name_to_string(&n.0),
        RData::PTR(n) => s = name_to_string(&n.0),
        RData::MX(mx) => s = name_to_string(&mx.exchange),
        RData::SRV(srv) => s = name_to_string(&srv.target),
        RData::SOA(soa) => s = name_to_string(&soa.mname),
        RData::TXT(txt) => char_string(txt.txt_data.first()?, &mut s),
        RData::NAPTR(n) => {
            let _ = write!(s, "{} {} ", n.order, n.preference);
            for part in [&n.flags, &n.services, &n.regexp] {
                char_string(part, &mut s);
                s.push(' ');
            }
            labels_to_string(n.replacement.iter(), &mut s);
        }
        RData::HINFO(h) => {
            char_string(&h.cpu, &mut s);
            s.push(' ');
            char_string(&h.os, &mut s);
        }
        RData::SSHFP(f) => {
            let _ = write!(
                s,
                "{} {} {}",
                u8::from(f.algorithm),
                u8::from(f.fingerprint_type),
                hex::encode(&f.fingerprint)
            );
        }
        RData::Unknown { rdata, .. } => return format_raw(code, &rdata.anything),
        _ => return None,
    }
    Some(s)
}

/// A cursor over raw rdata.
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
    }
    fn u32(&mut self) -> Option<u32> {
        let s = self.take(4)?;
        Some(u32::from_be_bytes(s.try_into().ok()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.pos..).unwrap_or_default();
        self.pos = self.b.len();
        s
    }
    /// An uncompressed wire name (RFC 3597: no compression in these types).
    fn name(&mut self, out: &mut String) -> Option<()> {
        let mut labels = Vec::new();
        loop {
            let len = usize::from(self.u8()?);
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            labels.push(self.take(len)?);
        }
        labels_to_string(labels.into_iter(), out);
        Some(())
    }
    fn char_string(&mut self, out: &mut String) -> Option<()> {
        let len = usize::from(self.u8()?);
        char_string(self.take(len)?, out);
        Some(())
    }
}

/// Formats the raw rdata of the types hickory leaves unparsed.
fn format_raw(code: u16, b: &[u8]) -> Option<String> {
    let mut r = Rd { b, pos: 0 };
    let mut s = String::new();
    match code {
        39 | 17 => r.name(&mut s)?,
        16 | 99 => r.char_string(&mut s)?,
        27 => {
            r.char_string(&mut s)?;
            s.push(' ');
            r.char_string(&mut s)?;
            s.push(' ');
            r.char_string(&mut s)?;
        }
        29 => loc(&mut r, &mut s)?,
        43 => {
            let (tag, alg, dt) = (r.u16()?, r.u8()?, r.u8()?);
            let _ = write!(s, "{tag} {alg} {dt} {}", hex::encode(r.rest()));
        }
        48 => {
            let (flags, proto, alg) = (r.u16()?, r.u8()?, r.u8()?);
            let key = base64::engine::general_purpose::STANDARD.encode(r.rest());
            let _ = write!(s, "{flags} {proto} {alg} {key}");
        }
        46 => rrsig(&mut r, &mut s)?,
        47 => {
            r.name(&mut s)?;
            let types = r.rest();
            // passivedns joins ldns's two NSEC fields with a space; ldns prints every
            // bitmap type followed by a space, so the answer ends in one.
            if !types.is_empty() {
                s.push(' ');
                bitmap(types, &mut s)?;
            }
        }
        50 => {
            nsec3_head(&mut r, &mut s)?;
            let len = usize::from(r.u8()?);
            s.push(' ');
            s.push_str(&base32hex(r.take(len)?));
        }
        51 => nsec3_head(&mut r, &mut s)?,
        _ => return None,
    }
    Some(s)
}

/// `alg flags iterations salt ` — ldns prints the salt with a trailing space.
fn nsec3_head(r: &mut Rd<'_>, s: &mut String) -> Option<()> {
    let (alg, flags, iter) = (r.u8()?, r.u8()?, r.u16()?);
    let salt_len = usize::from(r.u8()?);
    let salt = r.take(salt_len)?;
    let salt = if salt.is_empty() {
        "-".to_string()
    } else {
        hex::encode(salt)
    };
    let _ = write!(s, "{alg} {flags} {iter} {salt} ");
    Some(())
}

fn rrsig(r: &mut Rd<'_>, s: &mut String) -> Option<()> {
    let covered = r.u16()?;
    let (alg, labels, ttl) = (r.u8()?, r.u8()?, r.u32()?);
    let (exp, inc, tag) = (r.u32()?, r.u32()?, r.u16()?);
    let _ = write!(
        s,
        "{} {alg} {labels} {ttl} {} {} {tag} ",
        any_type_name(covered),
        sig_time(exp),
        sig_time(inc)
    );
    r.name(s)?;
    s.push(' ');
    s.push_str(&base64::engine::general_purpose::STANDARD.encode(r.rest()));
    Some(())
}

/// RRSIG times as `YYYYMMDDHHMMSS` (UTC).
fn sig_time(t: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(t), 0)
        .map(|d| d.format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_default()
}

/// NSEC type bitmap as ldns prints it: `TYPE1 TYPE2 ` (each type followed by a space).
fn bitmap(mut b: &[u8], s: &mut String) -> Option<()> {
    while !b.is_empty() {
        let (&win, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let bits = rest.get(..usize::from(len))?;
        for (i, byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    // ldns keeps the type in a uint16_t: past the 32 bytes a window
                    // may have, the number wraps around (and must not overflow here).
                    let code = u16::from(win)
                        .wrapping_mul(256)
                        .wrapping_add((i as u16).wrapping_mul(8))
                        .wrapping_add(bit);
                    s.push_str(&any_type_name(code));
                    s.push(' ');
                }
            }
        }
        b = rest.get(usize::from(len)..)?;
    }
    Some(())
}

/// RFC 4648 base32 with the extended-hex alphabet, lower case, no padding (NSEC3).
fn base32hex(b: &[u8]) -> String {
    const ALPHA: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &byte in b {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(
                ALPHA
                    .get(((acc >> bits) & 31) as usize)
                    .map_or('?', |&c| char::from(c)),
            );
        }
    }
    if bits > 0 {
        out.push(
            ALPHA
                .get(((acc << (5 - bits)) & 31) as usize)
                .map_or('?', |&c| char::from(c)),
        );
    }
    out
}

/// RFC 1876 LOC as ldns's `ldns_rdf2buffer_str_loc` prints it:
/// `52 11 17.000 N 04 43 10.000 E -2m 1m 10000m 10m`. Degrees and minutes are
/// zero-padded to two digits (longitude degrees may take three); the altitude shows
/// centimetres only when they are not zero; size and precisions use [`loc_cm`].
fn loc(r: &mut Rd<'_>, s: &mut String) -> Option<()> {
    if r.u8()? != 0 {
        return None;
    }
    let (size, hp, vp) = (r.u8()?, r.u8()?, r.u8()?);
    let (lat, lon, alt) = (r.u32()?, r.u32()?, r.u32()?);
    const EQUATOR: u32 = 1 << 31;
    for (v, pos, neg) in [(lat, 'N', 'S'), (lon, 'E', 'W')] {
        let (v, hemi) = if v > EQUATOR {
            (v - EQUATOR, pos)
        } else {
            (EQUATOR - v, neg)
        };
        let (h, m) = (v / 3_600_000, (v % 3_600_000) / 60_000);
        let sec = f64::from(v % 60_000) / 1000.0;
        let _ = write!(s, "{h:02} {m:02} {sec:.3} {hemi} ");
    }
    // ldns computes the altitude in floating point and prints whole metres with
    // `%.0f` when the centimetres are zero, `%.2f` otherwise.
    let alt_m = f64::from(alt) / 100.0 - 100_000.0;
    if alt % 100 == 0 {
        let _ = write!(s, "{alt_m:.0}m ");
    } else {
        let _ = write!(s, "{alt_m:.2}m ");
    }
    let _ = write!(s, "{}m {}m {}m", loc_cm(size), loc_cm(hp), loc_cm(vp));
    Some(())
}

/// LOC size/precision: mantissa × 10^exponent centimetres, printed in metres as ldns
/// does (`0.MM` below one metre, else the mantissa followed by zeros).
fn loc_cm(v: u8) -> String {
    let (mantissa, exponent) = (v >> 4, v & 0x0f);
    match exponent {
        0 => format!("0.{:02}", mantissa),
        1 => format!("0.{:02}", u32::from(mantissa) * 10),
        e => format!("{mantissa}{}", "0".repeat(usize::from(e - 2))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ldns_name_escaping() {
        let mut s = String::new();
        labels_to_string(
            [&b"a.b"[..], b"x y", b"(;)", b"\\", b"\xc3\x01", b"MiXeD"].into_iter(),
            &mut s,
        );
        assert_eq!(s, "a\\.b.x\\032y.\\(\\;\\).\\\\.\\195\\001.MiXeD.");
        let mut root = String::new();
        labels_to_string(std::iter::empty(), &mut root);
        assert_eq!(root, ".");
    }

    #[test]
    fn character_strings() {
        let mut s = String::new();
        char_string(b"v=spf1 \"q\" \\ tab\there \x01\xff", &mut s);
        assert_eq!(s, "\"v=spf1 \\\"q\\\" \\\\ tab\there \\001\\255\"");
    }

    #[test]
    fn raw_types() {
        // DNAME target, uncompressed.
        assert_eq!(
            format_raw(39, b"\x03foo\x07example\x00").unwrap(),
            "foo.example."
        );
        // DS.
        assert_eq!(
            format_raw(43, &[0x30, 0x39, 8, 2, 0xAB, 0xCD]).unwrap(),
            "12345 8 2 abcd"
        );
        // NSEC3PARAM with empty salt: trailing space.
        assert_eq!(format_raw(51, &[1, 0, 0, 10, 0]).unwrap(), "1 0 10 - ");
        // NSEC3: two spaces before the hashed owner, type bitmap omitted.
        assert_eq!(
            format_raw(50, &[1, 0, 0, 1, 1, 0xAA, 2, 0xFF, 0xFF, 0, 1, 0x40]).unwrap(),
            "1 0 1 aa  vvvg"
        );
        // NSEC with A and MX (window 0, bits 1 and 15): ldns's trailing space.
        assert_eq!(
            format_raw(47, &[1, b'a', 0, 0, 2, 0x40, 0x01]).unwrap(),
            "a. A MX "
        );
        // NSEC without a type bitmap: the next name alone.
        assert_eq!(format_raw(47, &[1, b'a', 0]).unwrap(), "a.");
        // Truncated rdata is skipped.
        assert_eq!(format_raw(43, &[1]), None);
        assert_eq!(format_raw(39, b"\x05ab"), None);
    }

    fn rec(data: RData) -> Record {
        Record::from_rdata(Name::from_ascii("x.example.").unwrap(), 60, data)
    }

    /// The per-type fields of spec §5.2.4, from hickory-parsed rdata.
    #[test]
    fn parsed_types_print_passivedns_fields() {
        use hickory_proto::rr::rdata::{sshfp, HINFO, NAPTR, SSHFP};
        let naptr = NAPTR::new(
            100,
            10,
            b"S".to_vec().into(),
            b"SIP+D2U".to_vec().into(),
            b"".to_vec().into(),
            Name::from_ascii("_sip._udp.example.com.").unwrap(),
        );
        assert_eq!(
            format_answer(&rec(RData::NAPTR(naptr))).unwrap(),
            "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com."
        );
        let hinfo = HINFO::new("INTEL".into(), "LINUX".into());
        assert_eq!(
            format_answer(&rec(RData::HINFO(hinfo))).unwrap(),
            "\"INTEL\" \"LINUX\""
        );
        let fp = SSHFP::new(
            sshfp::Algorithm::from(1),
            sshfp::FingerprintType::from(1),
            vec![0x01, 0x23, 0xab, 0xcd],
        );
        assert_eq!(
            format_answer(&rec(RData::SSHFP(fp))).unwrap(),
            "1 1 0123abcd"
        );
        // Types passivedns does not log give no answer at all.
        let caa = hickory_proto::rr::rdata::CAA::new_issue(false, None, vec![]);
        assert_eq!(format_answer(&rec(RData::CAA(caa))), None);
    }

    #[test]
    fn dnskey_and_rrsig_from_raw_rdata() {
        // DNSKEY: flags 257, protocol 3, algorithm 8, key bytes "abc" → base64 "YWJj".
        assert_eq!(
            format_raw(48, &[1, 1, 3, 8, b'a', b'b', b'c']).unwrap(),
            "257 3 8 YWJj"
        );
        // RRSIG covering A, alg 8, 2 labels, TTL 300, times 2024-01-02 03:04:05 and
        // 2023-12-01 00:00:00 UTC, key tag 12345, signer example., signature "abc".
        let mut b = vec![0, 1, 8, 2];
        b.extend_from_slice(&300u32.to_be_bytes());
        b.extend_from_slice(&1_704_164_645u32.to_be_bytes());
        b.extend_from_slice(&1_701_388_800u32.to_be_bytes());
        b.extend_from_slice(&12345u16.to_be_bytes());
        b.extend_from_slice(b"\x07example\x00abc");
        assert_eq!(
            format_raw(46, &b).unwrap(),
            "A 8 2 300 20240102030405 20231201000000 12345 example. YWJj"
        );
    }

    /// LOC rdata from its fields (version 0).
    fn loc_rdata(size: u8, hp: u8, vp: u8, lat: u32, lon: u32, alt: u32) -> Vec<u8> {
        let mut b = vec![0, size, hp, vp];
        for v in [lat, lon, alt] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b
    }

    /// Thousandths of an arc second north/east (`true`) or south/west of the origin.
    fn arc(deg: u32, min: u32, msec: u32, positive: bool) -> u32 {
        let v = deg * 3_600_000 + min * 60_000 + msec;
        if positive {
            (1u32 << 31) + v
        } else {
            (1u32 << 31) - v
        }
    }

    /// The cases of ldns's `ldns_rdf2buffer_str_loc` (host2str.c): `%02u` degrees and
    /// minutes, `%0.3f` seconds, `%.0f` altitude when whole metres else `%.2f`, and
    /// size/precision as `0.MM` or mantissa plus zeros.
    #[test]
    fn loc_like_ldns() {
        let cases = [
            // The passivedns 1.2.1 line quoted in the brief.
            (
                loc_rdata(
                    0x12,
                    0x16,
                    0x13,
                    arc(52, 11, 17_000, true),
                    arc(4, 43, 10_000, true),
                    10_000_000 - 200,
                ),
                "52 11 17.000 N 04 43 10.000 E -2m 1m 10000m 10m",
            ),
            // South/west, three-digit longitude, one-digit minutes, centimetres shown.
            (
                loc_rdata(
                    0x00,
                    0x01,
                    0x95,
                    arc(33, 5, 500, false),
                    arc(151, 0, 1, false),
                    10_000_000 + 12_345,
                ),
                "33 05 0.500 S 151 00 0.001 W 123.45m 0.00m 0.00m 9000m",
            ),
            // The equator/prime meridian itself counts as south/west, 0 m altitude.
            (
                loc_rdata(0x10, 0x20, 0x30, 1 << 31, 1 << 31, 10_000_000),
                "00 00 0.000 S 00 00 0.000 W 0m 0.01m 0.02m 0.03m",
            ),
            // Below sea level by less than a metre.
            (
                loc_rdata(
                    0x12,
                    0x16,
                    0x13,
                    arc(1, 2, 3, true),
                    arc(4, 5, 6, true),
                    9_999_950,
                ),
                "01 02 0.003 N 04 05 0.006 E -0.50m 1m 10000m 10m",
            ),
        ];
        for (rdata, want) in cases {
            assert_eq!(format_raw(29, &rdata).as_deref(), Some(want));
        }
        // Another version or truncated rdata: skipped.
        let mut v1 = loc_rdata(0x12, 0x16, 0x13, 1, 2, 3);
        if let Some(version) = v1.first_mut() {
            *version = 1;
        }
        assert_eq!(format_raw(29, &v1), None);
        assert_eq!(format_raw(29, &[0, 0x12, 0x16]), None);
    }
}
