//! `INCRBYFLOAT` / `HINCRBYFLOAT` arithmetic.
//!
//! Redis adds in 80-bit `long double` and prints the sum with 17 decimals (trailing zeros
//! trimmed), which makes `0.1 + 0.2` come out as `0.3`. An `f64` sum cannot reproduce
//! that, so operands that fit are added exactly as fixed-point decimals with 17 decimal
//! places (`i128`, magnitudes below ~1.7e21); larger ones fall back to `f64` printed with
//! 17 decimals. Only the last digits of such huge sums can differ from Redis.

const SCALE: u32 = 17;

/// Adds two decimal texts the way `INCRBYFLOAT` does; `None` when the result is not
/// finite. Both inputs must already be valid floats (see `args::parse_f64`).
pub(crate) fn add(cur: &[u8], by: &[u8]) -> Option<String> {
    let (a, b) = (
        std::str::from_utf8(cur).ok()?,
        std::str::from_utf8(by).ok()?,
    );
    if let (Some(x), Some(y)) = (to_fixed(a), to_fixed(b)) {
        if let Some(sum) = x.checked_add(y) {
            return Some(format_fixed(sum));
        }
    }
    let sum = a.parse::<f64>().ok()? + b.parse::<f64>().ok()?;
    sum.is_finite().then(|| trim(format!("{sum:.17}")))
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// Decimal text → value × 10^17, rounded half away from zero; `None` if out of range.
fn to_fixed(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > 60 {
        return None;
    }
    // value = digits × 10^(exp - frac.len()); we want value × 10^SCALE.
    let shift = exp as i64 - frac.len() as i64 + SCALE as i64;
    let mut v: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    if shift >= 0 {
        v = v.checked_mul(pow10(u32::try_from(shift).ok()?)?)?;
    } else if -shift > 38 {
        v = 0;
    } else {
        let d = pow10((-shift) as u32)?;
        let (q, r) = (v / d, v % d);
        v = if r * 2 >= d { q + 1 } else { q };
    }
    Some(if neg { -v } else { v })
}

fn format_fixed(v: i128) -> String {
    let unit = 10i128.pow(SCALE);
    let (neg, a) = (v < 0, v.unsigned_abs());
    let s = format!(
        "{}{}.{:017}",
        if neg { "-" } else { "" },
        a / unit as u128,
        a % unit as u128
    );
    trim(s)
}

/// Drops trailing fractional zeros and the dot; never returns `-0`.
fn trim(s: String) -> String {
    let t = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if t == "-0" {
        "0".into()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::add;

    #[test]
    fn sums_like_redis_long_double() {
        assert_eq!(add(b"0.1", b"0.2").as_deref(), Some("0.3"));
        assert_eq!(add(b"10.5", b"0.1").as_deref(), Some("10.6"));
        assert_eq!(
            add(b"0.024390243902439025", b"-0.024390243902439025").as_deref(),
            Some("0")
        );
        assert_eq!(add(b"0", b"3.0e3").as_deref(), Some("3000"));
        assert_eq!(
            add(b"17179869184", b"1.5").as_deref(),
            Some("17179869185.5")
        );
        assert_eq!(add(b"5.0", b"-10").as_deref(), Some("-5"));
        assert_eq!(add(b"1e300", b"1e300").map(|s| s.len() > 300), Some(true));
        assert_eq!(add(b"1.7e308", b"1.7e308"), None);
    }
}
