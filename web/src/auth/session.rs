//! Server-side sessions: the browser holds only a random id in an HttpOnly, Secure,
//! SameSite=Lax cookie; the user id, CSRF token and a one-shot flash message live here.
//! Sessions end on logout, after [`IDLE`] without use, or when the process restarts
//! (as upstream, whose secret changes at every start).

use crate::util::{random_hex, secret_eq};
use actix_web::cookie::{Cookie, SameSite};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Session cookie name.
pub const COOKIE: &str = "d4_session";
/// Login-form CSRF cookie name (double-submit, before a session exists).
pub const LOGIN_CSRF_COOKIE: &str = "d4_login_csrf";
/// Idle lifetime of a session.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Most sessions kept; the least recently used go first beyond it.
pub const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session id (cookie value).
    pub id: String,
    /// User id (email).
    pub user: String,
    /// CSRF token for this session's forms.
    pub csrf: String,
    /// One-shot message for the next page (e.g. a created user's password).
    pub flash: Option<Flash>,
    last_used: Instant,
}

/// A one-shot message stored server-side instead of in a URL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Flash {
    /// The user concerned.
    pub user: String,
    /// The password to show once (or a note).
    pub password: String,
    /// Whether the user was edited rather than created.
    pub edited: bool,
}

/// The session table.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Creates a session for `user`; returns it (its id goes in the cookie).
    pub fn create(&self, user: &str) -> Session {
        let s = Session {
            id: random_hex(),
            user: user.to_string(),
            csrf: random_hex(),
            flash: None,
            last_used: Instant::now(),
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, v| v.last_used.elapsed() < IDLE);
            if map.len() >= MAX_SESSIONS {
                if let Some(oldest) = map
                    .values()
                    .min_by_key(|v| v.last_used)
                    .map(|v| v.id.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(s.id.clone(), s.clone());
        s
    }

    /// The live session with this id, refreshed.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        let alive = map.get(id).is_some_and(|s| s.last_used.elapsed() < IDLE);
        if !alive {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.last_used = Instant::now();
        Some(s.clone())
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session of a user (deleted users, changed passwords elsewhere).
    pub fn remove_user(&self, user: &str, keep: Option<&str>) {
        self.lock()
            .retain(|id, s| s.user != user || Some(id.as_str()) == keep);
    }

    /// Stores a flash message for the session's next page.
    pub fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    /// Takes the flash message, if any.
    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A poisoned lock only means another request panicked mid-update of a plain map.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_until_removed() {
        let s = Sessions::default();
        let a = s.create("a@b.c");
        assert_eq!(s.get(&a.id).map(|x| x.user), Some("a@b.c".into()));
        assert!(a.csrf_ok(Some(&a.csrf)));
        assert!(!a.csrf_ok(Some("x")));
        assert!(!a.csrf_ok(None));
        s.set_flash(
            &a.id,
            Flash {
                user: "u".into(),
                password: "p".into(),
                edited: false,
            },
        );
        assert!(s.take_flash(&a.id).is_some());
        assert!(s.take_flash(&a.id).is_none());
        let b = s.create("a@b.c");
        s.remove_user("a@b.c", Some(&b.id));
        assert!(s.get(&a.id).is_none());
        assert!(s.get(&b.id).is_some());
        s.remove(&b.id);
        assert!(s.is_empty());
    }
}
