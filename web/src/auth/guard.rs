//! Request guards as extractors: [`User`] (login + role `user`), [`Admin`] (role `admin`),
//! [`LoginOnly`] (any logged-in account, even one that must change its password), and
//! their `*Action` forms, which also parse the parameters and require the session's CSRF
//! token (form field `csrf_token` or header `X-CSRF-Token`).
//!
//! Order of checks, for every UI route: session cookie → 302 `/login?next=…`; account
//! deleted → same; no `user` role → 403; forced password change → 302
//! `/change_password` (enforced on every page, unlike upstream); `admin` needed → 403.

use super::session::{Session, COOKIE};
use crate::error::WebError;
use crate::params::Params;
use crate::state::AppState;
use crate::store::users;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

/// Form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// Header carrying the CSRF token (XHR).
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The logged-in account making a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Its session.
    pub session: Session,
    /// User id (email).
    pub user: String,
    /// Holds the admin role.
    pub is_admin: bool,
}

/// What a guard requires.
pub trait Need {
    /// Requires `user_role:admin`.
    const ADMIN: bool;
    /// Lets an account with a pending forced password change through.
    const PASSWORD_CHANGE_OK: bool;
}

/// Role `user` (every UI page).
pub struct NeedUser;
/// Role `admin`.
pub struct NeedAdmin;
/// Role `user`, even before the forced password change.
pub struct NeedLogin;

impl Need for NeedUser {
    const ADMIN: bool = false;
    const PASSWORD_CHANGE_OK: bool = false;
}
impl Need for NeedAdmin {
    const ADMIN: bool = true;
    const PASSWORD_CHANGE_OK: bool = false;
}
impl Need for NeedLogin {
    const ADMIN: bool = false;
    const PASSWORD_CHANGE_OK: bool = true;
}

/// A read-only request by an authorised account.
pub struct Auth<N: Need> {
    /// The account.
    pub viewer: Viewer,
    _need: PhantomData<N>,
}

impl<N: Need> Deref for Auth<N> {
    type Target = Viewer;
    fn deref(&self) -> &Viewer {
        &self.viewer
    }
}

/// A state-changing request: authorised account, parameters, CSRF token checked.
pub struct Action<N: Need> {
    /// The account.
    pub viewer: Viewer,
    /// Query and body parameters.
    pub params: Params,
    _need: PhantomData<N>,
}

impl<N: Need> Deref for Action<N> {
    type Target = Viewer;
    fn deref(&self) -> &Viewer {
        &self.viewer
    }
}

/// Page of any `user`.
pub type User = Auth<NeedUser>;
/// Page of an `admin`.
pub type Admin = Auth<NeedAdmin>;
/// Page reachable during a forced password change.
pub type LoginOnly = Auth<NeedLogin>;
/// Action of any `user`.
pub type UserAction = Action<NeedUser>;
/// Action of an `admin`.
pub type AdminAction = Action<NeedAdmin>;
/// Action allowed during a forced password change.
pub type LoginAction = Action<NeedLogin>;

/// The shared state of a request.
pub fn state(req: &HttpRequest) -> Result<web::Data<AppState>, WebError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| WebError::Template("application state missing".into()))
}

fn next_of(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    }
}

/// Runs the checks of the module doc.
pub async fn authorize<N: Need>(req: &HttpRequest) -> Result<Viewer, WebError> {
    let st = state(req)?;
    let login = || WebError::LoginRequired { next: next_of(req) };
    let sid = req
        .cookie(COOKIE)
        .map(|c| c.value().to_string())
        .ok_or_else(login)?;
    let session = st.sessions.get(&sid).await?.ok_or_else(login)?;
    let us = users::user_state(&st.stores.serv, &session.user).await?;
    if !us.exists {
        st.sessions.remove(&sid).await?;
        return Err(login());
    }
    if !us.is_user {
        return Err(WebError::Forbidden);
    }
    if us.must_change_password && !N::PASSWORD_CHANGE_OK {
        return Err(WebError::PasswordChange);
    }
    if N::ADMIN && !us.is_admin {
        return Err(WebError::Forbidden);
    }
    Ok(Viewer {
        user: session.user.clone(),
        session,
        is_admin: us.is_admin,
    })
}

impl<N: Need + 'static> FromRequest for Auth<N> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            Ok(Auth {
                viewer: authorize::<N>(&req).await?,
                _need: PhantomData,
            })
        })
    }
}

impl<N: Need + 'static> FromRequest for Action<N> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let params = Params::from_request(&req, payload);
        Box::pin(async move {
            let viewer = authorize::<N>(&req).await?;
            let params = params.await?;
            let header = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let token = params.get(CSRF_FIELD).or(header);
            if !viewer.session.csrf_ok(token) {
                return Err(WebError::Csrf);
            }
            Ok(Action {
                viewer,
                params,
                _need: PhantomData,
            })
        })
    }
}
