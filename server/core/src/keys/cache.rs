//! CACHE store (`Redis_CACHE`, 6380 db 3): brute-force counters with a 300 s expiry (web spec §2.5).

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
