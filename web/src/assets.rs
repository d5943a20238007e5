//! Static files embedded in the binary, served without authentication under `/static/`
//! (as upstream): our stylesheet, script, logo, and `type.json`.

use actix_web::{web, HttpRequest, HttpResponse};

/// (path under `/static/`, content type, bytes).
pub(crate) const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "css/d4.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/d4.css"),
    ),
    (
        "js/d4.js",
        "application/javascript; charset=utf-8",
        include_bytes!("../static/d4.js"),
    ),
    (
        "img/d4-logo.svg",
        "image/svg+xml",
        include_bytes!("../static/d4-logo.svg"),
    ),
];

/// Registers `/static/{path}`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{path:.*}", web::get().to(serve));
    cfg.route(
        "/favicon.ico",
        web::get().to(|| async {
            HttpResponse::MovedPermanently()
                .insert_header(("Location", "/static/img/d4-logo.svg"))
                .finish()
        }),
    );
}

async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().get("path").unwrap_or("");
    if path == "json/type.json" {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(crate::types::type_json());
    }
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, ct, body)) => HttpResponse::Ok()
            .content_type(*ct)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .body(*body),
        None => crate::error::error_page(
            actix_web::http::StatusCode::NOT_FOUND,
            "No such static file",
        ),
    }
}
