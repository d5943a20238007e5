//! Small pure helpers: uuid spellings, local-time formatting, markupsafe escaping,
//! random secrets, safe redirect targets.

use chrono::{Local, TimeZone};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::{rngs::OsRng, Rng, RngCore};

/// Upstream's dash-tolerant uuid4 test (lowercase hex only).
pub fn is_valid_uuid(s: &str) -> bool {
    d4_core::proto::is_valid_uuid_v4_str(s)
}

/// The undashed form the D4 server stores sensors under.
pub fn undash(s: &str) -> String {
    s.replace('-', "")
}

/// A valid uuid, undashed; `None` when invalid.
pub fn sensor_uuid(s: &str) -> Option<String> {
    is_valid_uuid(s).then(|| undash(s))
}

/// A fresh random uuid4 in the dashed form.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Epoch seconds (int or float text) → local `YYYY-MM-DD HH:MM:SS`.
pub fn fmt_epoch(v: &str) -> Option<String> {
    let secs = v.trim().parse::<f64>().ok()?;
    if !secs.is_finite() {
        return None;
    }
    Local
        .timestamp_opt(secs.trunc() as i64, 0)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// Today's local date key `YYYYmmdd`.
pub fn today_key() -> String {
    d4_core::keys::date_key(Local::now())
}

/// The last `n` local days (oldest first) as (`YYYYmmdd`, `YYYY-MM-DD`).
pub fn last_days(n: u32) -> Vec<(String, String)> {
    let now = Local::now();
    (0..n)
        .rev()
        .map(|i| {
            let d = now - chrono::Duration::days(i64::from(i));
            (d4_core::keys::date_key(d), d.format("%Y-%m-%d").to_string())
        })
        .collect()
}

/// Bytes `urlencode` leaves as they are: RFC 3986's unreserved set (`A-Z a-z 0-9 - _ . ~`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value (every byte but the unreserved ones, as Python's
/// `urllib.parse.quote(s, safe="")`).
pub fn urlencode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// markupsafe/Flask `escape` (`& < > ' "`), as upstream applies to HMAC keys before storing.
pub fn markupsafe_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// Upstream's stored HMAC key: escaped, then cut to 100 characters.
pub fn stored_hmac_key(raw: &str) -> String {
    markupsafe_escape(raw).chars().take(100).collect()
}

/// XML/HTML text escaping for hand-built markup (SVG).
pub fn xml_escape(s: &str) -> String {
    markupsafe_escape(s)
}

/// `n` random characters from `alphabet`, uniformly (rejection-free: alphabet ≤ 256).
pub fn random_string(alphabet: &[u8], n: usize) -> String {
    let mut rng = OsRng;
    (0..n)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// 32 random bytes as hex (session ids, CSRF tokens).
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A post-login redirect target only if it stays on this site (`/path`, not `//host`).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    let ok = n.starts_with('/')
        && !n.starts_with("//")
        && !n.contains('\\')
        && !n.chars().any(char::is_control);
    ok.then(|| n.to_string())
}

/// Constant-time string equality for secrets.
pub fn secret_eq(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    // Hash both so the comparison does not leak the length either.
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(x.as_slice().ct_eq(y.as_slice())) && !a.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_spellings_follow_upstream() {
        let u = "ff7ba400-e76c-4053-982d-feec42bdef38";
        assert!(is_valid_uuid(u));
        assert!(is_valid_uuid(&undash(u)));
        assert!(!is_valid_uuid(&u.to_uppercase()));
        assert!(!is_valid_uuid("ff7ba400e76c3053982dfeec42bdef38"));
        assert_eq!(
            sensor_uuid(u).as_deref(),
            Some("ff7ba400e76c4053982dfeec42bdef38")
        );
        assert!(is_valid_uuid(&new_uuid()));
    }

    #[test]
    fn hmac_keys_are_escaped_then_cut() {
        assert_eq!(stored_hmac_key("a&b<'\""), "a&amp;b&lt;&#39;&#34;");
        assert_eq!(stored_hmac_key(&"&".repeat(50)).chars().count(), 100);
    }

    #[test]
    fn next_targets_stay_on_site() {
        assert_eq!(safe_next(Some("/x?y=1")).as_deref(), Some("/x?y=1"));
        for bad in ["https://evil", "//evil", "/\\evil", "None", ""] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("", ""));
    }

    #[test]
    fn urlencode_matches_flask_login_next() {
        assert_eq!(
            urlencode("/server_management?x=1"),
            "%2Fserver_management%3Fx%3D1"
        );
        assert_eq!(urlencode("a-b_c.d~e é"), "a-b_c.d~e%20%C3%A9");
    }
}
