//! The login check with upstream's brute-force counters (web spec §2.4-2.5): CACHE
//! `failed_login_ip:<ip>` and `failed_login_user_id:<user>`, blocked at 5, 300 s expiry
//! re-armed on each failure, plus a random 1-300 ms delay before each password check. An
//! unknown account takes the same work as a wrong password (a decoy bcrypt check).

use crate::state::AppState;
use crate::store::{users, StoreResult};
use actix_web::HttpRequest;
use d4_core::keys::cache;
use rand::Rng;

/// Failures before a counter blocks.
pub const MAX_ATTEMPTS: i64 = 5;

/// Outcome of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Password correct.
    Ok,
    /// Unknown user or wrong password (counted).
    Bad,
    /// A counter is at its limit; wait this many seconds.
    Locked(i64),
}

/// Seconds the peer IP is still locked out of the UI login, if it is.
pub async fn ip_locked(st: &AppState, ip: &str) -> StoreResult<Option<i64>> {
    let (n, ttl) = users::counter(&st.stores.cache, &cache::failed_login_ip(ip)).await?;
    Ok((n >= MAX_ATTEMPTS).then_some(ttl))
}

/// The random delay before a password or token check (upstream: 1-300 ms).
pub async fn jitter(st: &AppState) {
    if st.settings.login_jitter {
        let ms = rand::thread_rng().gen_range(1..=300);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// Checks a UI login: IP lock, user lock, then the password (bcrypt off the event loop).
pub async fn check(
    st: &AppState,
    ip: &str,
    user: &str,
    pw: Option<&str>,
) -> StoreResult<LoginOutcome> {
    if let Some(ttl) = ip_locked(st, ip).await? {
        return Ok(LoginOutcome::Locked(ttl));
    }
    let user_key = cache::failed_login_user_id(user);
    let (n, ttl) = users::counter(&st.stores.cache, &user_key).await?;
    if n >= MAX_ATTEMPTS {
        return Ok(LoginOutcome::Locked(ttl));
    }
    // An unknown account (or a missing password) runs the same jitter and bcrypt work as a
    // wrong password, against the decoy hash, and then fails.
    let stored = users::password_hash(&st.stores.serv, user).await?;
    let known = stored.is_some() && pw.is_some();
    let hash = stored.unwrap_or_else(|| st.decoy_hash.clone());
    let pw = pw.unwrap_or_default().to_string();
    jitter(st).await;
    let matches = tokio::task::spawn_blocking(move || super::password::verify(&pw, &hash))
        .await
        .unwrap_or(false);
    let ok = known && matches;
    if ok {
        return Ok(LoginOutcome::Ok);
    }
    users::count_failure(&st.stores.cache, &[cache::failed_login_ip(ip), user_key]).await?;
    Ok(LoginOutcome::Bad)
}

/// The direct peer address (no proxy headers, as upstream).
pub fn peer_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
