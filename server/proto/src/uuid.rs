//! The server's uuid rules: a sensor uuid must be an RFC 4122 version-4 uuid; the
//! server names a sensor by its 32 lowercase hex digits without dashes.

/// The server's uuid test: a valid RFC 4122 version-4 uuid (13th hex digit `4`,
/// 17th hex digit one of `8 9 a b`), as Python's `UUID(hex=h, version=4).hex == h`.
pub fn is_valid_uuid_v4(uuid: &[u8; 16]) -> bool {
    uuid[6] >> 4 == 4 && matches!(uuid[8] >> 4, 0x8..=0xb)
}

/// The dash-tolerant textual v4 test used by the web and queue code: dashes are
/// stripped, then the result must be 32 lowercase hex digits of a v4 uuid.
pub fn is_valid_uuid_v4_str(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return false;
    }
    let mut raw = [0u8; 16];
    hex::decode_to_slice(&hex, &mut raw).is_ok() && is_valid_uuid_v4(&raw)
}
