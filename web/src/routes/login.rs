//! `/login`, `/logout`, `/change_password`, `/role` (web spec §2.4, §3.1 #12).
//!
//! The login form carries a CSRF token checked against a short-lived cookie (double
//! submit) because no session exists yet. After login the session cookie replaces it.
//! `next_page` is followed only when it is a local path (no open redirect).

use super::common::{base, render_status};
use crate::auth::bootstrap::{remove_default_password_file, ADMIN_USER};
use crate::auth::guard::{state, CSRF_FIELD};
use crate::auth::login::{check, ip_locked, peer_ip, LoginOutcome};
use crate::auth::session::{cookie, removal, COOKIE, LOGIN_CSRF_COOKIE};
use crate::auth::{password, LoginAction, LoginOnly};
use crate::error::{redirect, WebError};
use crate::params::Params;
use crate::store::users;
use crate::util::{random_hex, safe_next, secret_eq};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(login_page))
            .route(web::post().to(login_post))
            .default_service(web::to(super::common::method_not_allowed)),
    );
    cfg.service(
        web::resource("/logout")
            .route(web::get().to(logout_confirm))
            .route(web::post().to(logout))
            .default_service(web::to(super::common::method_not_allowed)),
    );
    cfg.service(
        web::resource("/change_password")
            .route(web::get().to(change_password_page))
            .route(web::post().to(change_password_post))
            .default_service(web::to(super::common::method_not_allowed)),
    );
    cfg.service(
        web::resource("/role")
            .route(web::get().to(role))
            .route(web::post().to(role))
            .default_service(web::to(super::common::method_not_allowed)),
    );
}

/// The login page; `username` refills the e-mail field after a failed attempt so the
/// operator only retypes the password.
fn login_form(
    status: StatusCode,
    error: Option<&str>,
    next: Option<&str>,
    username: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let token = random_hex();
    let mut ctx = Context::new();
    ctx.insert("error", &error);
    ctx.insert("username", &username.unwrap_or(""));
    ctx.insert("next_page", &next.and_then(|n| safe_next(Some(n))));
    ctx.insert("csrf", &token);
    let mut resp = render_status(status, "login.html", &ctx)?;
    resp.add_cookie(&cookie(LOGIN_CSRF_COOKIE, token))
        .map_err(|e| WebError::Template(e.to_string()))?;
    Ok(resp)
}

fn locked_message(ttl: i64) -> String {
    format!("Max Connection Attempts reached, Please wait {ttl}s")
}

async fn login_page(req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let p = Params::parse(&req, web::Bytes::new()).await?;
    if let Some(ttl) = ip_locked(&st, &peer_ip(&req)).await? {
        return login_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&locked_message(ttl)),
            p.get("next"),
            None,
        );
    }
    login_form(StatusCode::OK, p.get("error"), p.get("next"), None)
}

async fn login_post(req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let cookie_token = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    let ok = matches!((cookie_token, p.get(CSRF_FIELD)), (Some(c), Some(f)) if secret_eq(&c, f));
    if !ok {
        return Err(WebError::Csrf);
    }
    let next = p.get("next_page");
    let Some(user) = p.non_empty("username") else {
        return login_form(
            StatusCode::BAD_REQUEST,
            Some("please provide a valid username"),
            next,
            None,
        );
    };
    let ip = peer_ip(&req);
    match check(&st, &ip, user, p.get("password")).await? {
        LoginOutcome::Locked(ttl) => login_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&locked_message(ttl)),
            next,
            Some(user),
        ),
        LoginOutcome::Bad => login_form(
            StatusCode::UNAUTHORIZED,
            Some("Password Incorrect"),
            next,
            Some(user),
        ),
        LoginOutcome::Ok => {
            let us = users::user_state(&st.stores.serv, user).await?;
            if !us.is_user {
                return Err(WebError::Forbidden);
            }
            let session = st.sessions.create(user).await?;
            tracing::info!(user, ip = %ip, "Login.");
            let target = if us.must_change_password {
                "/change_password".to_string()
            } else {
                safe_next(next).unwrap_or_else(|| "/".into())
            };
            let mut resp = redirect(&target);
            resp.add_cookie(&cookie(COOKIE, session.id))
                .and_then(|_| resp.add_cookie(&removal(LOGIN_CSRF_COOKIE)))
                .map_err(|e| WebError::Template(e.to_string()))?;
            Ok(resp)
        }
    }
}

async fn logout_confirm(v: LoginOnly) -> Result<HttpResponse, WebError> {
    let mut ctx = base(&v, "");
    ctx.insert("action", "/logout");
    ctx.insert("fields", &Vec::<(String, String)>::new());
    super::common::render("confirm.html", &ctx)
}

async fn logout(req: HttpRequest, a: LoginAction) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    st.sessions.remove(&a.session.id).await?;
    let mut resp = redirect("/login");
    resp.add_cookie(&removal(COOKIE))
        .map_err(|e| WebError::Template(e.to_string()))?;
    Ok(resp)
}

fn password_page(
    v: &crate::auth::Viewer,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let mut ctx = base(v, "");
    ctx.insert("error", &error);
    ctx.insert("requirements", password::REQUIREMENTS);
    render_status(status, "change_password.html", &ctx)
}

async fn change_password_page(v: LoginOnly) -> Result<HttpResponse, WebError> {
    password_page(&v, StatusCode::OK, None)
}

async fn change_password_post(req: HttpRequest, a: LoginAction) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let (Some(p1), Some(p2)) = (a.params.get("password1"), a.params.get("password2")) else {
        return password_page(
            &a,
            StatusCode::BAD_REQUEST,
            Some("Please choose a new password"),
        );
    };
    if p1 != p2 {
        return password_page(&a, StatusCode::BAD_REQUEST, Some("Passwords don't match"));
    }
    if !password::is_strong(p1) {
        return password_page(
            &a,
            StatusCode::BAD_REQUEST,
            Some("Incorrect password: it does not meet the requirements"),
        );
    }
    let (pw, cost) = (p1.to_string(), st.settings.bcrypt_cost);
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw, cost))
        .await
        .map_err(|e| WebError::Template(e.to_string()))?
        .map_err(|e| WebError::Template(e.to_string()))?;
    users::set_change_password(&st.stores.serv, &a.user, false).await?;
    if a.user == ADMIN_USER {
        remove_default_password_file(&st.settings.default_password_file);
    }
    users::set_password_hash(&st.stores.serv, &a.user, &hash).await?;
    // Other sessions of this account end; this one stays.
    st.sessions
        .remove_user(&a.user, Some(&a.session.id))
        .await?;
    tracing::info!(user = %a.user, "Password changed.");
    Ok(redirect("/"))
}

async fn role(_v: LoginOnly) -> Result<HttpResponse, WebError> {
    Err(WebError::Forbidden)
}
