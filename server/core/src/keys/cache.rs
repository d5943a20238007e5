//! CACHE store (`Redis_CACHE`, 6380 db 3): brute-force counters with a 300 s expiry (web spec §2.5)
//! and the sessions of `d4-web` (d4-rs addition).

/// Seconds a failed-login counter lives after its last increment.
pub const FAILED_LOGIN_TTL: i64 = 300;

/// STRING counter `failed_login_ip:<ip>` (UI login).
pub fn failed_login_ip(ip: &str) -> String {
    format!("failed_login_ip:{ip}")
}

/// STRING counter `failed_login_ip_api:<ip>` (REST API).
pub fn failed_login_ip_api(ip: &str) -> String {
    format!("failed_login_ip_api:{ip}")
}

/// STRING counter `failed_login_user_id:<user>` (UI login, user as typed).
pub fn failed_login_user_id(user: &str) -> String {
    format!("failed_login_user_id:{user}")
}

/// Fields of `web_session:<id>`.
pub mod web_field {
    /// User id (email).
    pub const USER: &str = "user";
    /// The session's CSRF token.
    pub const CSRF: &str = "csrf";
    /// One-shot message for the next page (JSON).
    pub const FLASH: &str = "flash";
}

/// HASH `web_session:<id>` (d4-rs addition, fields in [`web_field`]): one logged-in
/// browser of `d4-web`, expiring after the idle lifetime, so every `d4-web` behind one
/// balancer knows it.
pub fn web_session(id: &str) -> String {
    format!("web_session:{id}")
}

/// SET `web_sessions_of_user:<user>` (d4-rs addition): the session ids of a user, to end
/// them all (deleted user, changed password).
pub fn web_sessions_of_user(user: &str) -> String {
    format!("web_sessions_of_user:{user}")
}
