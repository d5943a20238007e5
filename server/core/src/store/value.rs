//! Reply conversions shared by every reader of a store, tolerant of both protocols
//! (RESP2 and RESP3 shapes) and of what other writers (the Python stack) store.

use redis::Value;

/// A string reply as text (lossy for invalid UTF-8).
pub fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(
            String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()),
        ),
        Value::SimpleString(s) => Some(s),
        Value::VerbatimString { text, .. } => Some(text),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A string reply as bytes.
pub fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

/// An integer reply, or an integer stored as text (`"17"`, or the legacy float `"17.0"`
/// that Python writers leave behind).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Double(d) if d.is_finite() => Some(*d as i64),
        Value::BulkString(b) => parse_int(std::str::from_utf8(b).ok()?),
        Value::SimpleString(s) => parse_int(s),
        _ => None,
    }
}

/// `"17"` or `"17.0"` as 17; anything else is `None`.
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        let f = s.parse::<f64>().ok()?;
        (f.is_finite() && f.fract() == 0.0).then_some(f as i64)
    })
}

/// A truthy reply: `1` from `SISMEMBER`/`EXISTS`, a RESP3 boolean, `OK`.
pub fn flag(v: &Value) -> bool {
    match v {
        Value::Boolean(b) => *b,
        Value::Okay => true,
        other => int(other).is_some_and(|i| i != 0),
    }
}

/// The members of a set or list reply (empty for a missing key or a refused command).
pub fn members(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.into_iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

/// `(member, score)` pairs of a `Z*RANGE ... WITHSCORES` reply: a flat array in RESP2,
/// an array of pairs in RESP3.
pub fn scored_pairs(v: Value) -> Vec<(String, i64)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let pair = |m: Value, s: Value| (text(m).unwrap_or_default(), int(&s).unwrap_or(0));
    let mut out = Vec::with_capacity(items.len() / 2);
    if items.iter().all(|i| matches!(i, Value::Array(_))) {
        for p in items {
            if let Value::Array(p) = p {
                let mut p = p.into_iter();
                if let (Some(m), Some(s)) = (p.next(), p.next()) {
                    out.push(pair(m, s));
                }
            }
        }
    } else {
        let mut it = items.into_iter();
        while let (Some(m), Some(s)) = (it.next(), it.next()) {
            out.push(pair(m, s));
        }
    }
    out
}

/// The field/value pairs of a hash reply (`HGETALL`): a flat array in RESP2, a map in RESP3.
pub fn pairs(v: Value) -> Vec<(String, String)> {
    match v {
        Value::Map(m) => m
            .into_iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Some(k), Some(v)) = (text(k), text(v)) {
                    out.push((k, v));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn values_convert_like_the_stores_write_them() {
        assert_eq!(int(&bulk("17")), Some(17));
        assert_eq!(int(&bulk("17.0")), Some(17));
        assert_eq!(int(&bulk("17.5")), None);
        assert_eq!(int(&Value::Int(3)), Some(3));
        assert_eq!(int(&Value::Nil), None);
        assert_eq!(int(&bulk("x")), None);
        assert!(flag(&Value::Int(1)) && flag(&Value::Boolean(true)));
        assert!(!flag(&Value::Int(0)) && !flag(&Value::Nil));
        assert_eq!(
            members(Value::Array(vec![bulk("a"), bulk("b")])),
            ["a", "b"]
        );
        assert!(members(Value::Nil).is_empty());
        assert_eq!(bytes(bulk("k")), Some(b"k".to_vec()));
    }

    #[test]
    fn scored_pairs_and_hashes_in_both_protocols() {
        let flat = Value::Array(vec![bulk("s1"), bulk("5"), bulk("s2"), bulk("2")]);
        let nested = Value::Array(vec![
            Value::Array(vec![bulk("s1"), Value::Double(5.0)]),
            Value::Array(vec![bulk("s2"), Value::Double(2.0)]),
        ]);
        let want = vec![("s1".to_string(), 5), ("s2".to_string(), 2)];
        assert_eq!(scored_pairs(flat), want);
        assert_eq!(scored_pairs(nested), want);
        let h2 = Value::Array(vec![bulk("a"), bulk("1")]);
        let h3 = Value::Map(vec![(bulk("a"), bulk("1"))]);
        assert_eq!(pairs(h2), pairs(h3));
    }
}
