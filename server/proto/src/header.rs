//! The D4 header codec and HMAC.
//!
//! Every D4 packet is a 62-byte header followed by `size` payload bytes; packets are
//! simply concatenated on the byte stream (spec `d4-core-server.md` §1.1, `clients.md` §1):
//!
//! ```text
//!  offset size field      encoding
//!  0      1    version    u8
//!  1      1    type       u8
//!  2      16   uuid       raw RFC 4122 bytes (sensor key is their lowercase hex, no dashes)
//!  18     8    timestamp  u64 little-endian (Unix seconds, not validated)
//!  26     32   hmac       HMAC-SHA256 over header-with-zeroed-hmac ‖ payload
//!  58     4    size       u32 little-endian, payload length (header excluded)
//! ```
//!
//! This module owns decoding, encoding and HMAC computation. What to do about a
//! failure (reject, blacklist, count) is the ingest server's decision. Every length
//! from the wire is checked against [`Limits`] before anything is allocated.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Size of the fixed D4 header in bytes.
pub const HEADER_SIZE: usize = 62;
/// Largest payload the reference server accepts (`size == MAX_PAYLOAD_SIZE` is allowed).
pub const MAX_PAYLOAD_SIZE: u32 = 1_000_000;
/// Byte range of the hmac field inside the header.
const HMAC_RANGE: std::ops::Range<usize> = 26..58;

type HmacSha256 = Hmac<Sha256>;

/// A D4 data type (header byte 1). Unknown codes are kept as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataType(pub u8);

impl DataType {
    /// pcap (libpcap 2.4).
    pub const PCAP: DataType = DataType(1);
    /// Meta header (JSON), announces the extended type of a 254 session.
    pub const META_HEADER: DataType = DataType(2);
    /// Generic log line.
    pub const LOG_LINE: DataType = DataType(3);
    /// dnscap output.
    pub const DNSCAP: DataType = DataType(4);
    /// passivedns CSV stream.
    pub const PASSIVEDNS: DataType = DataType(8);
    /// Type defined by a preceding meta header.
    pub const EXTENDED: DataType = DataType(254);
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A decoded D4 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (copied, never validated; clients send 1).
    pub version: u8,
    /// Data type of the payload.
    pub data_type: DataType,
    /// The 16 raw uuid bytes.
    pub uuid: [u8; 16],
    /// Sender's clock in Unix seconds (copied, never validated).
    pub timestamp: u64,
    /// HMAC-SHA256 as received.
    pub hmac: [u8; 32],
    /// Payload length in bytes.
    pub size: u32,
}

/// Limits applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload size accepted.
    pub max_payload: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: MAX_PAYLOAD_SIZE,
        }
    }
}

/// Why a byte sequence is not an acceptable D4 packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The header announces a payload larger than allowed.
    #[error("payload of {size} bytes exceeds the limit of {max} bytes")]
    Oversize {
        /// Announced payload size.
        size: u32,
        /// Configured limit.
        max: u32,
    },
    /// The HMAC does not match the packet under the given key.
    #[error("HMAC don't match for uuid {uuid}")]
    BadHmac {
        /// Sensor uuid, 32 hex characters.
        uuid: String,
    },
}

impl Header {
    /// Decodes a header from the first 62 bytes of `buf`; `None` if fewer are present.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_SIZE] = buf.get(..HEADER_SIZE)?.try_into().ok()?;
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(b.get(2..18)?);
        let mut hmac = [0u8; 32];
        hmac.copy_from_slice(b.get(HMAC_RANGE)?);
        Some(Header {
            version: b[0],
            data_type: DataType(b[1]),
            uuid,
            timestamp: u64::from_le_bytes(b.get(18..26)?.try_into().ok()?),
            hmac,
            size: u32::from_le_bytes(b.get(58..62)?.try_into().ok()?),
        })
    }

    /// Encodes the header into its 62-byte wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        let (version, rest) = out.split_at_mut(1);
        version.copy_from_slice(&[self.version]);
        let (ty, rest) = rest.split_at_mut(1);
        ty.copy_from_slice(&[self.data_type.0]);
        let (uuid, rest) = rest.split_at_mut(16);
        uuid.copy_from_slice(&self.uuid);
        let (ts, rest) = rest.split_at_mut(8);
        ts.copy_from_slice(&self.timestamp.to_le_bytes());
        let (hmac, size) = rest.split_at_mut(32);
        hmac.copy_from_slice(&self.hmac);
        size.copy_from_slice(&self.size.to_le_bytes());
        out
    }

    /// The sensor uuid as the server names it: 32 lowercase hex characters, no dashes.
    pub fn uuid_hex(&self) -> String {
        hex::encode(self.uuid)
    }

    /// Total length of the packet this header starts (header plus payload).
    pub fn packet_len(&self) -> usize {
        HEADER_SIZE + self.size as usize
    }
}

/// One complete D4 packet borrowed from a receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The decoded header.
    pub header: Header,
    /// The whole packet bytes (header and payload), as received.
    pub raw: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The payload bytes.
    pub fn payload(&self) -> &'a [u8] {
        self.raw.get(HEADER_SIZE..).unwrap_or_default()
    }

    /// Checks the packet's HMAC under `key`, in constant time.
    pub fn verify_hmac(&self, key: &[u8]) -> Result<(), ProtoError> {
        let expected = compute_hmac(key, self.raw);
        if bool::from(expected.ct_eq(&self.header.hmac)) {
            Ok(())
        } else {
            Err(ProtoError::BadHmac {
                uuid: self.header.uuid_hex(),
            })
        }
    }
}

/// Outcome of looking at the front of a receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Not enough bytes for a header yet.
    NeedHeader,
    /// A header is present (and passed the size limit) but its payload is incomplete.
    NeedPayload(Header),
    /// A complete packet; it occupies `packet.raw.len()` bytes of the buffer.
    Packet(Packet<'a>),
}

/// Looks at the front of `buf`: a complete packet, a header still waiting for its
/// payload, or too few bytes. Fails only when the announced size exceeds `limits`,
/// which is checked before any payload is waited for.
pub fn decode<'a>(buf: &'a [u8], limits: &Limits) -> Result<Decoded<'a>, ProtoError> {
    let Some(header) = Header::parse(buf) else {
        return Ok(Decoded::NeedHeader);
    };
    if header.size > limits.max_payload {
        return Err(ProtoError::Oversize {
            size: header.size,
            max: limits.max_payload,
        });
    }
    match buf.get(..header.packet_len()) {
        Some(raw) => Ok(Decoded::Packet(Packet { header, raw })),
        None => Ok(Decoded::NeedPayload(header)),
    }
}

/// HMAC-SHA256 of a whole packet (header and payload) with the hmac field taken as zeros.
pub fn compute_hmac(key: &[u8], packet: &[u8]) -> [u8; 32] {
    // new_from_slice accepts keys of any length (long keys are hashed, per RFC 2104).
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(packet.get(..HMAC_RANGE.start).unwrap_or(packet));
    if packet.len() >= HMAC_RANGE.end {
        mac.update(&[0u8; 32]);
        mac.update(packet.get(HMAC_RANGE.end..).unwrap_or_default());
    }
    mac.finalize().into_bytes().into()
}

/// HMAC accepts keys of every length; this is never reached.
#[cold]
fn unreachable_hmac() -> ! {
    unreachable!("HMAC-SHA256 accepts keys of any length")
}

/// Builds one complete, signed D4 packet.
pub fn encode_packet(
    version: u8,
    data_type: DataType,
    uuid: [u8; 16],
    timestamp: u64,
    key: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let header = Header {
        version,
        data_type,
        uuid,
        timestamp,
        hmac: [0; 32],
        size: u32::try_from(payload.len()).unwrap_or(u32::MAX),
    };
    let mut out = Vec::with_capacity(HEADER_SIZE + payload.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(payload);
    let mac = compute_hmac(key, &out);
    if let Some(field) = out.get_mut(HMAC_RANGE) {
        field.copy_from_slice(&mac);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{is_valid_uuid_v4, is_valid_uuid_v4_str};
    use proptest::prelude::*;

    const UUID: [u8; 16] = [
        0xff, 0x7b, 0xa4, 0x00, 0xe7, 0x6c, 0x40, 0x53, 0x98, 0x2d, 0xfe, 0xec, 0x42, 0xbd, 0xef,
        0x38,
    ];

    /// Golden layout from spec §1.1: field offsets and little-endian integers.
    #[test]
    fn header_layout_is_little_endian_at_spec_offsets() {
        let pkt = encode_packet(
            1,
            DataType::PASSIVEDNS,
            UUID,
            0x0102030405060708,
            b"k",
            b"abc",
        );
        assert_eq!(pkt.len(), 65);
        assert_eq!(pkt[0], 1);
        assert_eq!(pkt[1], 8);
        assert_eq!(&pkt[2..18], &UUID);
        assert_eq!(&pkt[18..26], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&pkt[58..62], &[3, 0, 0, 0]);
        assert_eq!(&pkt[62..], b"abc");
        let header = Header::parse(&pkt).unwrap();
        assert_eq!(header.uuid_hex(), "ff7ba400e76c4053982dfeec42bdef38");
    }

    /// The HMAC is over bytes [0..26) ‖ 32 zero bytes ‖ [58..62) ‖ payload (clients.md §1).
    #[test]
    fn hmac_covers_header_with_zeroed_field_and_payload() {
        let pkt = encode_packet(
            1,
            DataType::PASSIVEDNS,
            UUID,
            1703350733,
            b"private key to change",
            b"line\n",
        );
        let mut msg = pkt[..26].to_vec();
        msg.extend_from_slice(&[0; 32]);
        msg.extend_from_slice(&pkt[58..]);
        let mut mac = HmacSha256::new_from_slice(b"private key to change").unwrap();
        mac.update(&msg);
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(&pkt[26..58], &want);
    }

    /// Known-answer vectors computed independently with Python's `hmac` and `struct` modules.
    #[test]
    fn hmac_known_answers() {
        let pkt = encode_packet(1, DataType(3), [0x11; 16], 1, b"key", b"");
        assert_eq!(
            hex::encode(&pkt[26..58]),
            "f34da599ea8887caee9ed10b848b3a53cc91b0dd66ada930701a7c9d5d20f42e"
        );
        let line =
            b"1703350733.123456||127.0.0.1||8.8.8.8||IN||example.com.||A||93.184.216.34||300||1\n";
        let pkt = encode_packet(
            1,
            DataType::PASSIVEDNS,
            UUID,
            1703350733,
            b"private key to change",
            line,
        );
        assert_eq!(
            hex::encode(&pkt[26..58]),
            "de7baa9605c23576b19b4fa172e0d73a05311f9c180288c26b3f46946dd8912b"
        );
    }

    #[test]
    fn decode_reports_missing_bytes_and_oversize() {
        let lim = Limits::default();
        assert_eq!(decode(&[0u8; 61], &lim).unwrap(), Decoded::NeedHeader);
        let pkt = encode_packet(1, DataType::PASSIVEDNS, UUID, 1, b"k", b"hello");
        assert!(
            matches!(decode(&pkt[..64], &lim).unwrap(), Decoded::NeedPayload(h) if h.size == 5)
        );
        let mut big = pkt.clone();
        big[58..62].copy_from_slice(&(MAX_PAYLOAD_SIZE + 1).to_le_bytes());
        assert_eq!(
            decode(&big, &lim).unwrap_err(),
            ProtoError::Oversize {
                size: MAX_PAYLOAD_SIZE + 1,
                max: MAX_PAYLOAD_SIZE
            }
        );
        big[58..62].copy_from_slice(&MAX_PAYLOAD_SIZE.to_le_bytes());
        assert!(matches!(
            decode(&big, &lim).unwrap(),
            Decoded::NeedPayload(_)
        ));
    }

    #[test]
    fn uuid_v4_check_matches_python_rule() {
        assert!(is_valid_uuid_v4(&UUID));
        let mut v1 = UUID;
        v1[6] = 0x10;
        assert!(!is_valid_uuid_v4(&v1));
        let mut bad_variant = UUID;
        bad_variant[8] = 0x7f;
        assert!(!is_valid_uuid_v4(&bad_variant));
        assert!(is_valid_uuid_v4_str("ff7ba400-e76c-4053-982d-feec42bdef38"));
        assert!(is_valid_uuid_v4_str("ff7ba400e76c4053982dfeec42bdef38"));
        assert!(!is_valid_uuid_v4_str("FF7BA400E76C4053982DFEEC42BDEF38"));
        assert!(!is_valid_uuid_v4_str(
            "{ff7ba400-e76c-4053-982d-feec42bdef38}"
        ));
        assert!(!is_valid_uuid_v4_str("ff7ba400"));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(version: u8, ty: u8, uuid: [u8; 16], ts: u64,
                                     key in proptest::collection::vec(any::<u8>(), 0..80),
                                     payload in proptest::collection::vec(any::<u8>(), 0..600)) {
            let pkt = encode_packet(version, DataType(ty), uuid, ts, &key, &payload);
            let Decoded::Packet(p) = decode(&pkt, &Limits::default()).unwrap() else { panic!("incomplete") };
            prop_assert_eq!(p.raw.len(), pkt.len());
            prop_assert_eq!(p.header.version, version);
            prop_assert_eq!(p.header.data_type, DataType(ty));
            prop_assert_eq!(p.header.uuid, uuid);
            prop_assert_eq!(p.header.timestamp, ts);
            prop_assert_eq!(p.payload(), &payload[..]);
            prop_assert!(p.verify_hmac(&key).is_ok());
            let bytes = p.header.to_bytes();
            prop_assert_eq!(&bytes[..], &pkt[..HEADER_SIZE]);
        }

        #[test]
        fn any_corruption_is_detected(payload in proptest::collection::vec(any::<u8>(), 1..200),
                                      pos in any::<proptest::sample::Index>(), flip in 1u8..=255) {
            let mut pkt = encode_packet(1, DataType::PASSIVEDNS, UUID, 7, b"secret", &payload);
            let i = pos.index(pkt.len());
            // Corrupting the size field changes where the packet ends: check the prefix it claims.
            pkt[i] ^= flip;
            match decode(&pkt, &Limits::default()) {
                Ok(Decoded::Packet(p)) => prop_assert!(p.verify_hmac(b"secret").is_err()),
                Ok(_) | Err(ProtoError::Oversize { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        #[test]
        fn decode_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&buf, &Limits::default());
        }
    }
}
