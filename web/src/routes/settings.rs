//! Settings: profile, API tokens, user administration (web spec §3.7, §5.11).
//!
//! Unlike upstream, a created or reset password is never put in a URL: it is kept as a
//! one-shot message in the admin's server-side session and shown once on the users list.

use super::common::{action, base, page, render, render_status};
use crate::auth::guard::state;
use crate::auth::password::{self, generate_password, generate_token};
use crate::auth::session::Flash;
use crate::auth::{Admin, AdminAction, User, UserAction, Viewer};
use crate::error::{redirect, WebError};
use crate::params::Params;
use crate::store::users;
use crate::util::urlencode;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/settings",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/settings/"))
                .finish()
        }),
    );
    page(cfg, "/settings/", settings_root);
    page(cfg, "/settings/edit_profile", edit_profile);
    action(cfg, "/settings/new_token", new_token, false);
    action(cfg, "/settings/new_token_user", new_token_user, true);
    page(cfg, "/settings/create_user", create_user);
    action(cfg, "/settings/create_user_post", create_user_post, true);
    page(cfg, "/settings/users_list", users_list);
    page(cfg, "/settings/edit_user", edit_user);
    action(cfg, "/settings/delete_user", delete_user, true);
}

/// Upstream's email rule (`[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,6}`), whole string,
/// under 300 characters.
pub(crate) fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    s.len() < 300
        && !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        && (2..=6).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

async fn settings_root(_u: User) -> HttpResponse {
    redirect("/settings/edit_profile")
}

async fn edit_profile(u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let m = users::metadata(&st.stores.serv, &u.user).await?;
    let mut ctx = base(&u, "nav-settings");
    ctx.insert("email", &u.user);
    ctx.insert("role", &m.get("role").cloned().unwrap_or_default());
    ctx.insert("api_key", &m.get("token").cloned().unwrap_or_default());
    ctx.insert("section", "profile");
    render("edit_profile.html", &ctx)
}

async fn new_token(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    users::set_token(&st.stores.serv, &a.user, &generate_token()).await?;
    Ok(redirect("/settings/edit_profile"))
}

async fn new_token_user(a: AdminAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = a.params.require("user_id")?;
    if !users::user_exists(&st.stores.serv, id).await? {
        return Err(WebError::NotFound(format!("Unknown user {id:?}")));
    }
    users::set_token(&st.stores.serv, id, &generate_token()).await?;
    Ok(redirect("/settings/users_list"))
}

struct Form<'a> {
    email: &'a str,
    role: Option<&'a str>,
    error: Option<&'a str>,
    error_mail: Option<&'a str>,
    edit: bool,
}

async fn user_form(
    v: &Viewer,
    req: &HttpRequest,
    f: Form<'_>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let st = state(req)?;
    let roles: Vec<String> = users::roles(&st.stores.serv)
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut ctx = base(v, "nav-settings");
    ctx.insert("section", "create_user");
    ctx.insert("email", f.email);
    ctx.insert("roles", &roles);
    ctx.insert("current_role", &f.role.unwrap_or("user"));
    ctx.insert("error", &f.error);
    ctx.insert("error_mail", &f.error_mail);
    ctx.insert("edit", &f.edit);
    ctx.insert("requirements", password::REQUIREMENTS);
    render_status(status, "create_user.html", &ctx)
}

async fn create_user(a: Admin, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = p.get("user_id").unwrap_or("");
    let (edit, role) = if !id.is_empty() && users::user_exists(&st.stores.serv, id).await? {
        (
            true,
            users::metadata(&st.stores.serv, id)
                .await?
                .get("role")
                .cloned(),
        )
    } else {
        (false, None)
    };
    let f = Form {
        email: if edit { id } else { "" },
        role: role.as_deref(),
        error: p.get("error"),
        error_mail: p.get("error_mail"),
        edit,
    };
    user_form(&a, &req, f, StatusCode::OK).await
}

async fn create_user_post(a: AdminAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let email = a.params.get("username").unwrap_or("").trim();
    let role = a.params.non_empty("user_role");
    let form = |error: Option<&'static str>, error_mail: Option<&'static str>| Form {
        email,
        role,
        error,
        error_mail,
        edit: false,
    };
    let bad = StatusCode::BAD_REQUEST;
    if !is_valid_email(email) || role.is_none() {
        return user_form(
            &a,
            &req,
            form(None, Some("Please provide a valid email address")),
            bad,
        )
        .await;
    }
    let role = role.unwrap_or_default();
    let Some(score) = users::role_score(&st.stores.serv, role).await? else {
        return user_form(&a, &req, form(Some("Unknown role"), None), bad).await;
    };
    let (p1, p2) = (
        a.params.non_empty("password1"),
        a.params.non_empty("password2"),
    );
    let chosen = match (p1, p2) {
        (Some(x), Some(y)) if x != y => {
            return user_form(&a, &req, form(Some("Passwords don't match"), None), bad).await
        }
        (Some(x), Some(_)) if !password::is_strong(x) => {
            return user_form(
                &a,
                &req,
                form(
                    Some("Incorrect Password: it does not meet the requirements"),
                    None,
                ),
                bad,
            )
            .await
        }
        (Some(x), Some(_)) => Some(x.to_string()),
        (None, None) => None,
        _ => {
            return user_form(
                &a,
                &req,
                form(
                    Some("Please fill in both password fields, or neither to generate one"),
                    None,
                ),
                bad,
            )
            .await
        }
    };
    let exists = users::user_exists(&st.stores.serv, email).await?;
    let pw = match (&chosen, exists) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => Some(generate_password()),
    };
    let hash = match &pw {
        Some(p) => {
            let (p, cost) = (p.clone(), st.settings.bcrypt_cost);
            Some(
                tokio::task::spawn_blocking(move || password::hash(&p, cost))
                    .await
                    .map_err(|e| WebError::Template(e.to_string()))?
                    .map_err(|e| WebError::Template(e.to_string()))?,
            )
        }
        None => None,
    };
    if exists {
        if let Some(h) = &hash {
            users::set_password_hash(&st.stores.serv, email, h).await?;
        }
        users::set_role(&st.stores.serv, email, role, score).await?;
    } else {
        let h = hash.unwrap_or_default();
        users::create_user(
            &st.stores.serv,
            email,
            &h,
            role,
            score,
            &generate_token(),
            true,
        )
        .await?;
    }
    tracing::info!(admin = %a.user, user = email, role, edited = exists, "User saved.");
    let flash = Flash {
        user: email.to_string(),
        password: pw.unwrap_or_else(|| "Password not changed".into()),
        edited: exists,
    };
    st.sessions.set_flash(&a.session.id, &flash).await?;
    Ok(redirect("/settings/users_list"))
}

async fn users_list(a: Admin, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let rows = users::list_users(&st.stores.serv).await?;
    let mut ctx = base(&a, "nav-settings");
    ctx.insert("section", "users_list");
    ctx.insert("users", &rows);
    ctx.insert("flash", &st.sessions.take_flash(&a.session.id).await?);
    render("users_list.html", &ctx)
}

async fn edit_user(_a: Admin, p: Params) -> Result<HttpResponse, WebError> {
    let id = p.require("user_id")?;
    Ok(redirect(&format!(
        "/settings/create_user?user_id={}",
        urlencode(id)
    )))
}

async fn delete_user(a: AdminAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = a.params.require("user_id")?;
    if !users::delete_user(&st.stores.serv, id).await? {
        return Err(WebError::NotFound(format!("Unknown user {id:?}")));
    }
    st.sessions.remove_user(id, None).await?;
    tracing::info!(admin = %a.user, user = id, "User deleted.");
    Ok(redirect("/settings/users_list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rule() {
        assert!(is_valid_email("admin@admin.test"));
        assert!(is_valid_email("a.b+c@x-y.example.org"));
        for bad in [
            "",
            "a@b",
            "@b.cc",
            "a@.cc",
            "a@b.c",
            "a@b.toolongx",
            "a b@c.de",
            "a@b.c1",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
