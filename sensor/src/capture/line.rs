//! The passivedns output line (spec `pdns.md` §5.2.1): fields chosen with `-f`, printed
//! in passivedns's fixed order, joined by the `-d` delimiter (default `||`):
//!
//! ```text
//! 1322849924.408856||10.1.1.1||8.8.8.8||IN||upload.youtube.com.||A||74.125.43.117||46587||5
//! ```
//!
//! Unlike passivedns's 1000-byte buffer, long lines are never truncated.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::slice::Proto;

/// A packet time (pcap header), ordered by seconds then microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ts {
    /// Seconds.
    pub sec: u64,
    /// Microseconds.
    pub usec: u32,
}

/// One record to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdnsLine {
    /// Timestamp.
    pub ts: Ts,
    /// Client IP.
    pub client: IpAddr,
    /// Server IP.
    pub server: IpAddr,
    /// Client MAC.
    pub client_mac: [u8; 6],
    /// Server MAC.
    pub server_mac: [u8; 6],
    /// Transport.
    pub proto: Proto,
    /// Class mnemonic (borrowed for the usual classes: no allocation per line).
    pub class: Cow<'static, str>,
    /// Query name.
    pub query: String,
    /// Type mnemonic (borrowed for the known types).
    pub rtype: Cow<'static, str>,
    /// Answer (or rcode name for error records).
    pub answer: String,
    /// TTL.
    pub ttl: u32,
    /// Count.
    pub count: u64,
}

/// Field letters of `-f`, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields(u32);

/// The letters passivedns accepts, in its output order.
const ORDER: &str = "HSMhcwsWpCQLTAltn";

impl Fields {
    /// passivedns's default `SMcsCQTAtn`.
    pub const DEFAULT: &'static str = "SMcsCQTAtn";

    /// Parses `-f`; unknown letters are returned for a warning. If no letter is valid
    /// the default is kept.
    pub fn parse(s: &str) -> (Fields, Vec<char>) {
        let mut bits = 0;
        let mut unknown = Vec::new();
        for c in s.chars() {
            match ORDER.find(c) {
                Some(i) => bits |= 1 << i,
                None => unknown.push(c),
            }
        }
        if bits == 0 {
            return (Fields::parse(Fields::DEFAULT).0, unknown);
        }
        (Fields(bits), unknown)
    }

    fn has(self, c: char) -> bool {
        // A byte loop over the short ORDER: `str::find` costs a pattern searcher per call,
        // and a line asks about every field.
        ORDER
            .bytes()
            .position(|b| char::from(b) == c)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

impl Default for Fields {
    fn default() -> Self {
        Fields::parse(Fields::DEFAULT).0
    }
}

/// Privacy treatment of the client address (for sharing captures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIp {
    /// Printed as captured.
    #[default]
    Keep,
    /// Replaced by `0.0.0.0` / `::`.
    Drop,
    /// Replaced by a keyed SHA-256 pseudonym of the same family (stable per key).
    Hash(Vec<u8>),
}

impl ClientIp {
    /// The address to print.
    pub fn apply(&self, ip: IpAddr) -> IpAddr {
        use sha2::Digest as _;
        match self {
            ClientIp::Keep => ip,
            ClientIp::Drop => match ip {
                IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            },
            ClientIp::Hash(key) => {
                let mut h = sha2::Sha256::new();
                h.update(key);
                match ip {
                    IpAddr::V4(a) => h.update(a.octets()),
                    IpAddr::V6(a) => h.update(a.octets()),
                }
                let d: [u8; 32] = h.finalize().into();
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(&d[..16]);
                match ip {
                    IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::new(d[0], d[1], d[2], d[3])),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(v6)),
                }
            }
        }
    }
}

/// How lines are written.
#[derive(Debug, Clone)]
pub struct LineFormat {
    /// Selected fields.
    pub fields: Fields,
    /// Delimiter between fields.
    pub delimiter: String,
    /// Value of the `h` field.
    pub hostname: String,
    /// Client address privacy.
    pub client_ip: ClientIp,
}

impl Default for LineFormat {
    fn default() -> Self {
        LineFormat {
            fields: Fields::default(),
            delimiter: "||".into(),
            hostname: String::new(),
            client_ip: ClientIp::Keep,
        }
    }
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Appends the fields of one text line, each after the delimiter but the first. Text
/// fields are copied as they are and only the others go through the formatter: formatting
/// every name and answer was a tenth of a capture's time.
struct FieldWriter<'a> {
    out: &'a mut String,
    delimiter: &'a str,
    first: bool,
}

impl FieldWriter<'_> {
    /// The delimiter before every field but the first.
    fn sep(&mut self) {
        if !self.first {
            self.out.push_str(self.delimiter);
        }
        self.first = false;
    }
    /// A text field.
    fn text(&mut self, v: &str) {
        self.sep();
        self.out.push_str(v);
    }
    /// A field that needs formatting (numbers, addresses, timestamps).
    fn show(&mut self, v: &dyn std::fmt::Display) {
        self.sep();
        let _ = write!(self.out, "{v}");
    }
}

impl LineFormat {
    /// Appends the line and `\n` to `out`.
    pub fn write(&self, l: &PdnsLine, out: &mut String) {
        let f = self.fields;
        let mut w = FieldWriter {
            out,
            delimiter: &self.delimiter,
            first: true,
        };
        if f.has('H') {
            let local = chrono::DateTime::from_timestamp(l.ts.sec as i64, 0)
                .map(|d| {
                    d.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default();
            w.show(&format_args!("{local}.{:06}", l.ts.usec));
        } else if f.has('S') && f.has('M') {
            w.show(&format_args!("{}.{:06}", l.ts.sec, l.ts.usec));
        } else if f.has('S') {
            w.show(&l.ts.sec);
        } else if f.has('M') {
            w.show(&format_args!("{:06}", l.ts.usec));
        }
        if f.has('h') {
            w.text(&self.hostname);
        }
        if f.has('c') {
            w.show(&self.client_ip.apply(l.client));
        }
        if f.has('w') {
            w.show(&mac(&l.client_mac));
        }
        if f.has('s') {
            w.show(&l.server);
        }
        if f.has('W') {
            w.show(&mac(&l.server_mac));
        }
        if f.has('p') {
            w.text(l.proto.name());
        }
        if f.has('C') {
            w.text(&l.class);
        }
        if f.has('Q') {
            w.text(&l.query);
        }
        if f.has('L') {
            w.show(&l.query.len());
        }
        if f.has('T') {
            w.text(&l.rtype);
        }
        if f.has('A') {
            w.text(&l.answer);
        }
        if f.has('l') {
            w.show(&l.answer.len());
        }
        if f.has('t') {
            w.show(&l.ttl);
        }
        if f.has('n') {
            w.show(&l.count);
        }
        w.out.push('\n');
    }

    /// Appends the line as passivedns's compact JSON object (`-j`/`-J`, spec §5.2.6) and
    /// `\n`: keys in passivedns's order, each only if its field is selected, no MACs.
    pub fn write_json(&self, l: &PdnsLine, out: &mut String) {
        let f = self.fields;
        let mut first = true;
        let mut key = |out: &mut String, k: &str| {
            out.push(if first { '{' } else { ',' });
            first = false;
            let _ = write!(out, "\"{k}\":");
        };
        let string =
            |out: &mut String, v: &str| out.push_str(&serde_json::Value::from(v).to_string());
        if f.has('H') {
            key(out, "timestamp");
            let local = chrono::DateTime::from_timestamp(l.ts.sec as i64, 0)
                .map(|d| {
                    d.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default();
            string(out, &local);
        }
        if f.has('S') {
            key(out, "timestamp_s");
            let _ = write!(out, "{}", l.ts.sec);
        }
        if f.has('M') {
            key(out, "timestamp_ms");
            let _ = write!(out, "{}", l.ts.usec);
        }
        if f.has('h') {
            key(out, "hostname");
            string(out, &self.hostname);
        }
        if f.has('c') {
            key(out, "client");
            string(out, &self.client_ip.apply(l.client).to_string());
        }
        if f.has('s') {
            key(out, "server");
            string(out, &l.server.to_string());
        }
        if f.has('p') {
            key(out, "proto");
            string(out, l.proto.name());
        }
        if f.has('C') {
            key(out, "class");
            string(out, &l.class);
        }
        if f.has('Q') {
            key(out, "query");
            string(out, &l.query);
        }
        if f.has('L') {
            key(out, "query_len");
            let _ = write!(out, "{}", l.query.len());
        }
        if f.has('T') {
            key(out, "type");
            string(out, &l.rtype);
        }
        if f.has('A') {
            key(out, "answer");
            string(out, &l.answer);
        }
        if f.has('l') {
            key(out, "answer_len");
            let _ = write!(out, "{}", l.answer.len());
        }
        if f.has('t') {
            key(out, "ttl");
            let _ = write!(out, "{}", l.ttl);
        }
        if f.has('n') {
            key(out, "count");
            let _ = write!(out, "{}", l.count);
        }
        if first {
            out.push('{');
        }
        out.push_str("}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PdnsLine {
        PdnsLine {
            ts: Ts {
                sec: 1322849924,
                usec: 408856,
            },
            client: [10, 1, 1, 1].into(),
            server: [8, 8, 8, 8].into(),
            client_mac: [0, 1, 2, 3, 4, 0xab],
            server_mac: [0; 6],
            proto: Proto::Udp,
            class: "IN".into(),
            query: "upload.youtube.com.".into(),
            rtype: "A".into(),
            answer: "74.125.43.117".into(),
            ttl: 46587,
            count: 5,
        }
    }

    /// The spec's default line, byte for byte.
    #[test]
    fn default_line_matches_spec_example() {
        let mut s = String::new();
        LineFormat::default().write(&sample(), &mut s);
        assert_eq!(s, "1322849924.408856||10.1.1.1||8.8.8.8||IN||upload.youtube.com.||A||74.125.43.117||46587||5\n");
    }

    #[test]
    fn letter_order_is_irrelevant_and_delimiter_configurable() {
        let (fields, unknown) = Fields::parse("nQwSpz");
        assert_eq!(unknown, ['z']);
        let f = LineFormat {
            fields,
            delimiter: ",".into(),
            hostname: "h".into(),
            ..LineFormat::default()
        };
        let mut s = String::new();
        f.write(&sample(), &mut s);
        assert_eq!(
            s,
            "1322849924,00:01:02:03:04:ab,udp,upload.youtube.com.,5\n"
        );
        let (fields, _) = Fields::parse("MLl");
        let mut s = String::new();
        LineFormat {
            fields,
            ..LineFormat::default()
        }
        .write(&sample(), &mut s);
        assert_eq!(s, "408856||19||13\n");
    }

    #[test]
    fn json_output_keys_in_passivedns_order() {
        let mut s = String::new();
        LineFormat::default().write_json(&sample(), &mut s);
        assert_eq!(
            s,
            "{\"timestamp_s\":1322849924,\"timestamp_ms\":408856,\"client\":\"10.1.1.1\",\"server\":\"8.8.8.8\",\
             \"class\":\"IN\",\"query\":\"upload.youtube.com.\",\"type\":\"A\",\"answer\":\"74.125.43.117\",\
             \"ttl\":46587,\"count\":5}\n"
        );
    }

    #[test]
    fn client_ip_privacy() {
        let v4: IpAddr = [10, 1, 1, 1].into();
        assert_eq!(ClientIp::Drop.apply(v4).to_string(), "0.0.0.0");
        assert_eq!(
            ClientIp::Drop
                .apply("2001:db8::1".parse().unwrap())
                .to_string(),
            "::"
        );
        let h = ClientIp::Hash(b"k".to_vec());
        assert_eq!(h.apply(v4), h.apply(v4));
        assert_ne!(h.apply(v4), v4);
        assert_ne!(h.apply(v4), ClientIp::Hash(b"other".to_vec()).apply(v4));
        assert!(h.apply("2001:db8::1".parse().unwrap()).is_ipv6());
    }
}
