//! Glob-style pattern matching for `KEYS`, `SCAN MATCH` and `CONFIG GET`, with Redis's
//! rules: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.

/// True if `s` matches `pat`.
pub(crate) fn matches(pat: &[u8], s: &[u8]) -> bool {
    glob(pat, s, false)
}

/// Case-insensitive variant (for `CONFIG GET`).
pub(crate) fn matches_nocase(pat: &[u8], s: &[u8]) -> bool {
    glob(pat, s, true)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Redis stops matching (no match) past 1000 nested `*` (stack-overflow guard); keep the
/// same answer for such patterns.
const MAX_NESTING: usize = 1000;

/// Number of `*` groups that are not at the end of the pattern.
fn nested_stars(pat: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            b'\\' => i += 1,
            b'*' => {
                while i + 1 < pat.len() && pat[i + 1] == b'*' {
                    i += 1;
                }
                if i + 1 < pat.len() {
                    n += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    n
}

/// Iterative matching with a single backtrack point (the last `*` seen): O(len(p) ×
/// len(s)) at worst, so hostile patterns like `*a*a*a*a*b` cannot stall the server.
fn glob(pat: &[u8], s: &[u8], nocase: bool) -> bool {
    if nested_stars(pat) > MAX_NESTING {
        return false;
    }
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && pat[p] == b'*' {
            while p < pat.len() && pat[p] == b'*' {
                p += 1;
            }
            if p == pat.len() {
                return true;
            }
            star = Some((p, i));
            continue;
        }
        if p < pat.len() {
            if let Some(next) = match_one(pat, p, s[i], nocase) {
                p = next;
                i += 1;
                continue;
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches one pattern element at `pat[p]` against `ch`; returns the next pattern index.
fn match_one(pat: &[u8], p: usize, ch: u8, nocase: bool) -> Option<usize> {
    match pat[p] {
        b'?' => Some(p + 1),
        b'[' => {
            let (hit, rest) = class(&pat[p + 1..], ch, nocase);
            hit.then(|| pat.len() - rest.len())
        }
        b'\\' if p + 1 < pat.len() => eq(pat[p + 1], ch, nocase).then_some(p + 2),
        c => eq(c, ch, nocase).then_some(p + 1),
    }
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
        assert!(matches(b"*a*b", b"xxaxxbxb"));
        assert!(!matches(b"a*b*c", b"abxbx"));
        assert!(matches(b"*", b""));
        assert!(!matches(b"?", b""));
        let hostile = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(
            !matches(hostile, &[b'a'; 5000]),
            "linear-time, not exponential"
        );
    }
}
