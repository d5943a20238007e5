//! Server-side sessions: the browser holds only a random id in an HttpOnly, Secure,
//! SameSite=Lax cookie; the user id, CSRF token and a one-shot flash message live in the
//! CACHE store (`web_session:<id>`, d4-rs key), so every `d4-web` behind one balancer
//! knows every session. Sessions end on logout, or after [`IDLE`] without use (the key's
//! expiry, renewed at each use). Upstream's sessions ended when the process restarted
//! (its secret changed at every start); these survive a restart of `d4-web`.

use crate::store::StoreResult;
use crate::util::{random_hex, secret_eq};
use actix_web::cookie::{Cookie, SameSite};
use d4_core::keys::cache::{self, web_field};
use d4_core::store::{pipe, Cmd, Store};
use std::time::Duration;

/// Session cookie name.
pub const COOKIE: &str = "d4_session";
/// Login-form CSRF cookie name (double-submit, before a session exists).
pub const LOGIN_CSRF_COOKIE: &str = "d4_login_csrf";
/// Idle lifetime of a session.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session id (cookie value).
    pub id: String,
    /// User id (email).
    pub user: String,
    /// CSRF token for this session's forms.
    pub csrf: String,
}

/// A one-shot message stored server-side instead of in a URL.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    /// The user concerned.
    pub user: String,
    /// The password to show once (or a note).
    pub password: String,
    /// Whether the user was edited rather than created.
    pub edited: bool,
}

/// The session table, in the CACHE store.
#[derive(Clone)]
pub struct Sessions {
    cache: Store,
}

impl Sessions {
    /// Sessions kept in `cache` (the `Redis_CACHE` role).
    pub fn new(cache: Store) -> Sessions {
        Sessions { cache }
    }

    /// Creates a session for `user`; returns it (its id goes in the cookie).
    pub async fn create(&self, user: &str) -> StoreResult<Session> {
        let s = Session {
            id: random_hex(),
            user: user.to_string(),
            csrf: random_hex(),
        };
        let (key, of_user) = (cache::web_session(&s.id), cache::web_sessions_of_user(user));
        let mut p = pipe();
        p.hset_multiple(
            &key,
            &[(web_field::USER, user), (web_field::CSRF, s.csrf.as_str())],
        )
        .ignore()
        .expire(&key, idle_seconds())
        .ignore()
        .sadd(&of_user, &s.id)
        .ignore()
        .expire(&of_user, idle_seconds())
        .ignore();
        self.cache.run::<()>(&p).await?;
        Ok(s)
    }

    /// The live session with this id, its idle lifetime renewed.
    pub async fn get(&self, id: &str) -> StoreResult<Option<Session>> {
        let key = cache::web_session(id);
        let mut p = pipe();
        p.hget(&key, web_field::USER)
            .hget(&key, web_field::CSRF)
            .expire(&key, idle_seconds())
            .ignore();
        let (user, csrf): (Option<String>, Option<String>) = self.cache.run(&p).await?;
        Ok(user.zip(csrf).map(|(user, csrf)| Session {
            id: id.to_string(),
            user,
            csrf,
        }))
    }

    /// Ends a session.
    pub async fn remove(&self, id: &str) -> StoreResult<()> {
        self.cache.query(&Cmd::del(cache::web_session(id))).await
    }

    /// Ends every session of a user but `keep` (deleted users, changed passwords).
    pub async fn remove_user(&self, user: &str, keep: Option<&str>) -> StoreResult<()> {
        let of_user = cache::web_sessions_of_user(user);
        let ids: Vec<String> = self.cache.query(&Cmd::smembers(&of_user)).await?;
        let ended: Vec<&String> = ids.iter().filter(|id| Some(id.as_str()) != keep).collect();
        if ended.is_empty() {
            return Ok(());
        }
        let mut p = pipe();
        for id in &ended {
            p.del(cache::web_session(id)).ignore();
        }
        p.srem(&of_user, &ended).ignore();
        self.cache.run(&p).await
    }

    /// Stores a flash message for the session's next page.
    pub async fn set_flash(&self, id: &str, flash: &Flash) -> StoreResult<()> {
        let json = serde_json::to_string(flash).unwrap_or_default();
        // Only into a live session (`HSET` would recreate one without expiry).
        let live: bool = self
            .cache
            .query(&Cmd::exists(cache::web_session(id)))
            .await?;
        if !live {
            return Ok(());
        }
        let set = Cmd::hset(cache::web_session(id), web_field::FLASH, json);
        self.cache.query(&set).await
    }

    /// Takes the flash message, if any.
    pub async fn take_flash(&self, id: &str) -> StoreResult<Option<Flash>> {
        let key = cache::web_session(id);
        let mut p = pipe();
        p.hget(&key, web_field::FLASH)
            .hdel(&key, web_field::FLASH)
            .ignore();
        let (json,): (Option<String>,) = self.cache.run(&p).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}

/// [`IDLE`] in seconds, as `EXPIRE` takes it.
fn idle_seconds() -> i64 {
    IDLE.as_secs() as i64
}

impl Session {
    /// Whether `token` is this session's CSRF token.
    pub fn csrf_ok(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| secret_eq(t, &self.csrf))
    }
}

/// A hardened cookie (HttpOnly, Secure, SameSite=Lax, Path=/).
pub fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .finish()
}

/// A cookie that deletes `name`.
pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut c = cookie(name, String::new());
    c.make_removal();
    c
}
