//! Passwords and secrets as upstream makes them (web spec §2.3, §2.7): bcrypt `$2b$`
//! hashes (cost 12; passwords beyond 72 bytes are truncated as historical Python bcrypt
//! did), the strength rule, 30-character generated passwords and 41-character tokens.

use crate::util::random_string;

/// Upstream's bcrypt cost (`bcrypt.gensalt()`).
pub const DEFAULT_COST: u32 = 12;

/// The generated-password alphabet (74 characters).
pub const PASSWORD_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!@#$%^&*()";
/// The API token alphabet (64 characters).
pub const TOKEN_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// API token length.
pub const TOKEN_LEN: usize = 41;

/// A bcrypt `$2b$` hash of `pw` (first 72 bytes).
pub fn hash(pw: &str, cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(pw, cost)
}

/// A hash of a fresh random password at `cost`, for [`crate::AppState::decoy_hash`].
pub fn decoy_hash(cost: u32) -> String {
    // A cost bcrypt refuses falls back to the default, which is what real hashes use.
    hash(&generate_password(), cost)
        .or_else(|_| hash(&generate_password(), DEFAULT_COST))
        .unwrap_or_default()
}

/// Checks `pw` against a stored hash (`$2a$`, `$2b$`, `$2y$`); malformed hashes fail.
pub fn verify(pw: &str, stored: &str) -> bool {
    bcrypt::verify(pw, stored).unwrap_or(false)
}

/// Upstream's rule: 10-100 characters, no newline, ≥2 digits, ≥1 lower, ≥1 upper.
pub fn is_strong(pw: &str) -> bool {
    let n = pw.chars().count();
    (10..=100).contains(&n)
        && !pw.contains('\n')
        && pw.chars().filter(char::is_ascii_digit).count() >= 2
        && pw.chars().any(|c| c.is_ascii_lowercase())
        && pw.chars().any(|c| c.is_ascii_uppercase())
}

/// The requirements list shown on password forms.
pub const REQUIREMENTS: &[&str] = &[
    "Minimal length: 10 characters",
    "Upper case letters (A-Z): at least 1",
    "Lower case letters (a-z): at least 1",
    "Digits (0-9): at least 2",
    "Maximum length: 100 characters",
];

/// A 30-character generated password.
pub fn generate_password() -> String {
    random_string(PASSWORD_ALPHABET, 30)
}

/// A new 41-character API token.
pub fn generate_token() -> String {
    random_string(TOKEN_ALPHABET, TOKEN_LEN)
}

/// Upstream's token format check: 41 characters of `[A-Za-z0-9_-]`.
pub fn is_token_format(t: &str) -> bool {
    t.len() == TOKEN_LEN && t.bytes().all(|b| TOKEN_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rule_matches_upstream() {
        assert!(is_strong("Abcdefgh12"));
        assert!(!is_strong("Abcdefg12"), "too short");
        assert!(!is_strong("abcdefgh12"), "no upper");
        assert!(!is_strong("ABCDEFGH12"), "no lower");
        assert!(!is_strong("Abcdefghi1"), "one digit");
        assert!(!is_strong(&format!("Ab12{}", "x".repeat(97))), "too long");
        assert!(!is_strong("Abcdefgh12\n"), "newline");
    }

    #[test]
    fn generated_secrets_have_upstream_shape() {
        let t = generate_token();
        assert!(is_token_format(&t), "{t}");
        assert_ne!(t, generate_token());
        let p = generate_password();
        assert_eq!(p.len(), 30);
        assert!(p.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
        assert!(!is_token_format("short"));
        assert!(!is_token_format(&"a".repeat(40).add_char('.')));
    }

    #[test]
    fn hashes_are_2b_and_verify() {
        let h = hash("Password1234", 4).unwrap();
        assert!(h.starts_with("$2b$04$"), "{h}");
        assert_eq!(h.len(), 60);
        assert!(verify("Password1234", &h));
        assert!(!verify("Password12345", &h));
        assert!(!verify("x", "not a hash"));
    }

    trait AddChar {
        fn add_char(self, c: char) -> String;
    }
    impl AddChar for String {
        fn add_char(mut self, c: char) -> String {
            self.push(c);
            self
        }
    }
}
