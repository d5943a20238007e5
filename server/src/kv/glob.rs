//! Glob-style pattern matching for `KEYS`, `SCAN MATCH` and `CONFIG GET`, with Redis's
//! rules: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.

/// True if `s` matches `pat`.
pub fn matches(pat: &[u8], s: &[u8]) -> bool {
    glob(pat, s, false, 0)
}

/// Case-insensitive variant (for `CONFIG GET`).
pub fn matches_nocase(pat: &[u8], s: &[u8]) -> bool {
    glob(pat, s, true, 0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn glob(mut p: &[u8], mut s: &[u8], nocase: bool, depth: usize) -> bool {
    if depth > 1000 {
        return false;
    }
    while let Some(&c) = p.first() {
        match c {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                return (0..=s.len()).any(|i| glob(&p[1..], &s[i..], nocase, depth + 1));
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
                p = &p[1..];
            }
            b'[' => {
                let Some(&ch) = s.first() else { return false };
                let (hit, rest) = class(&p[1..], ch, nocase);
                if !hit {
                    return false;
                }
                p = rest;
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                if s.first().is_none_or(|&x| !eq(x, p[1], nocase)) {
                    return false;
                }
                p = &p[2..];
                s = &s[1..];
            }
            _ => {
                if s.first().is_none_or(|&x| !eq(x, c, nocase)) {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
        }
    }
    s.is_empty()
}

/// Matches one character class body (after `[`); returns (matched, pattern after `]`).
fn class(mut p: &[u8], ch: u8, nocase: bool) -> (bool, &[u8]) {
    let not = p.first() == Some(&b'^');
    if not {
        p = &p[1..];
    }
    let mut hit = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [b'\\', c, rest @ ..] => {
                hit |= eq(*c, ch, nocase);
                p = rest;
            }
            [a, b'-', b, rest @ ..] if *b != b']' => {
                let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                let c = if nocase { ch.to_ascii_lowercase() } else { ch };
                let (lo, hi) = if nocase {
                    (lo.to_ascii_lowercase(), hi.to_ascii_lowercase())
                } else {
                    (lo, hi)
                };
                hit |= c >= lo && c <= hi;
                p = rest;
            }
            [c, rest @ ..] => {
                hit |= eq(*c, ch, nocase);
                p = rest;
            }
        }
    }
    (hit != not, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches(b"*", b"abc"));
        assert!(matches(b"a*c", b"abbbc"));
        assert!(!matches(b"a*c", b"abbb"));
        assert!(matches(b"h?llo", b"hello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"a\\*", b"a*"));
        assert!(matches_nocase(b"MAXMEM*", b"maxmemory"));
    }
}
