//! What every route module shares: registration helpers that keep the method rules in one
//! place ([`page`] serves GET; [`action`] serves POST, CSRF-checked by the handler's
//! extractor, and answers GET with a confirmation form that re-posts the same parameters,
//! so upstream's GET links and bookmarks still work but never change state by
//! themselves; anything else is 405), the 404/405 answers, the template context and the
//! response builders.

use crate::auth::{Admin, User, Viewer};
use crate::error::{error_page, pretty_json, WebError};
use crate::params::Params;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use tera::Context;

/// A GET page.
pub(crate) fn page<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    cfg.service(
        web::resource(path)
            .route(web::get().to(handler))
            .default_service(web::to(method_not_allowed)),
    );
}

/// A POST action (GET shows a confirmation form). `admin` picks the confirm page's role.
pub(crate) fn action<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F, admin: bool)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let r = web::resource(path).route(web::post().to(handler));
    let r = if admin {
        r.route(web::get().to(confirm_admin))
    } else {
        r.route(web::get().to(confirm_user))
    };
    cfg.service(r.default_service(web::to(method_not_allowed)));
}

async fn confirm_user(u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    confirm(&u, &req)
}

async fn confirm_admin(a: Admin, req: HttpRequest) -> Result<HttpResponse, WebError> {
    confirm(&a, &req)
}

/// The confirmation form for a GET on an action URL.
fn confirm(v: &Viewer, req: &HttpRequest) -> Result<HttpResponse, WebError> {
    let fields: Vec<(String, String)> = Params::from_query(req.query_string())?
        .into_iter()
        .filter(|(k, _)| k != crate::auth::guard::CSRF_FIELD)
        .collect();
    let mut ctx = base(v, "");
    ctx.insert("action", req.path());
    ctx.insert("fields", &fields);
    render("confirm.html", &ctx)
}

/// 405 for any other method (JSON under `/api/`).
pub(crate) async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return api_method_not_allowed(&req);
    }
    error_page(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method {} is not allowed at {}", req.method(), req.path()),
    )
}

/// 404 for unknown paths (JSON under `/api/`).
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return pretty_json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"reason": "404 Not Found", "status": "error"}),
        );
    }
    error_page(
        StatusCode::NOT_FOUND,
        &format!("Nothing here: {}", req.path()),
    )
}

/// The template context every page gets: user, admin flag, CSRF token, active nav item.
pub(crate) fn base(v: &Viewer, nav: &str) -> Context {
    let mut ctx = Context::new();
    ctx.insert("user", &v.user);
    ctx.insert("is_admin", &v.is_admin);
    ctx.insert("csrf", &v.session.csrf);
    ctx.insert("nav", nav);
    ctx
}

/// Renders a page with status 200.
pub(crate) fn render(name: &str, ctx: &Context) -> Result<HttpResponse, WebError> {
    render_status(StatusCode::OK, name, ctx)
}

/// Renders a page with a status.
pub(crate) fn render_status(
    status: StatusCode,
    name: &str,
    ctx: &Context,
) -> Result<HttpResponse, WebError> {
    let body = crate::templates::render(name, ctx)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// Compact JSON (Flask `jsonify`) with status 200.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> HttpResponse {
    let mut body = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    body.push('\n');
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// A validated sensor uuid parameter (undashed), or a 400.
pub(crate) fn uuid_param(p: &Params, name: &str) -> Result<String, WebError> {
    let raw = p.get(name).unwrap_or("").trim();
    crate::util::sensor_uuid(raw).ok_or_else(|| {
        WebError::BadRequest(format!(
            "Invalid uuid: parameter {name} must be a uuid4 (lowercase hex, dashes optional)"
        ))
    })
}

/// Upstream's API 405 body, with its documentation anchor.
pub(crate) fn api_method_not_allowed(req: &HttpRequest) -> HttpResponse {
    let anchor = req.path().get(8..).unwrap_or("").replace('/', "_");
    pretty_json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({
            "documentation": format!("https://d4-project.org#{anchor}"),
            "reason": "Method Not Allowed: The method is not allowed for the requested URL",
            "status": "error",
        }),
    )
}
