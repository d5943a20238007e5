//! Errors of the web layer and how each becomes a response.
//!
//! [`WebError`] renders an HTML error page (or a redirect for auth flow) with a message
//! that is safe to show; store and template failures are logged once here and shown as
//! a generic message. [`ApiError`] is the REST API's `{"reason", "status": "error"}` body.

use crate::templates::{self, TemplateError};
use crate::util::urlencode;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use d4_core::queues::QueueError;
use d4_core::store::StoreError;
use std::fmt;

/// Any failure of a UI handler.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Bad or missing input; the message names the parameter.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing at this path (or an unknown object).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. already approved).
    #[error("{0}")]
    Conflict(String),
    /// Logged in but the role is insufficient.
    #[error("Access forbidden: your account does not have the required role")]
    Forbidden,
    /// A state-changing request without a valid CSRF token.
    #[error("CSRF token missing or invalid: reload the page and try again")]
    Csrf,
    /// Not logged in: redirect to the login page, then back to `next`.
    #[error("login required")]
    LoginRequired {
        /// Path and query to return to.
        next: String,
    },
    /// The account must change its password before anything else.
    #[error("password change required")]
    PasswordChange,
    /// The method is not served at this path.
    #[error("Method not allowed at this URL")]
    MethodNotAllowed,
    /// A body type we do not read.
    #[error("unsupported content type {0:?}: use application/x-www-form-urlencoded or multipart/form-data")]
    UnsupportedMedia(String),
    /// The data store failed (logged).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An analyzer-queue store failure (logged).
    #[error("queues: {0}")]
    Queue(String),
    /// Rendering failed (logged).
    #[error("template: {0}")]
    Template(String),
}

impl From<TemplateError> for WebError {
    fn from(e: TemplateError) -> Self {
        WebError::Template(e.0)
    }
}

/// Maps a queue refusal to a clear 4xx (store failures to 503).
pub(crate) fn queue_error(e: QueueError) -> WebError {
    match e {
        QueueError::InvalidType => WebError::BadRequest(
            "Invalid type: the type is not accepted by the server (see Header Accepted Types)"
                .into(),
        ),
        QueueError::InvalidExtendedType => WebError::BadRequest(
            "Invalid extended type: the name is not an accepted extended type".into(),
        ),
        QueueError::InvalidUuid => WebError::BadRequest("Invalid uuid".into()),
        QueueError::UnknownQueue => WebError::NotFound("Unknown analyzer queue".into()),
        QueueError::InvalidMaxSize => WebError::BadRequest(
            "analyzer max size, Invalid Integer: max_size_analyzer must be an integer ≥ 1".into(),
        ),
        QueueError::Store(e) => WebError::Queue(e.to_string()),
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::LoginRequired { .. } | WebError::PasswordChange => StatusCode::FOUND,
            WebError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WebError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::Store(_) | WebError::Queue(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::LoginRequired { next } => {
                let loc = format!("/login?next={}", urlencode(next));
                return redirect(&loc);
            }
            WebError::PasswordChange => return redirect("/change_password"),
            WebError::Store(e) => {
                tracing::error!(error = %e, "Store request failed.");
            }
            WebError::Queue(e) => tracing::error!(error = %e, "Queue store request failed."),
            WebError::Template(e) => tracing::error!(error = %e, "Template rendering failed."),
            _ => {}
        }
        let status = self.status_code();
        let message = match self {
            WebError::Store(_) | WebError::Queue(_) => {
                "The data store is unavailable; try again shortly.".to_string()
            }
            WebError::Template(_) => "Internal error while rendering the page.".to_string(),
            other => other.to_string(),
        };
        error_page(status, &message)
    }
}

/// An HTML error page with the given status.
pub(crate) fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let body = templates::render_error(
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        message,
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// A 302 to `location`.
pub(crate) fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A REST API error: status plus upstream's `{"reason": …, "status": "error"}` body.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `reason` text.
    pub reason: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        ApiError {
            status,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "Store request failed (API).");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Data store unavailable")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = serde_json::json!({"reason": self.reason, "status": "error"});
        pretty_json(self.status, &body)
    }
}

/// Upstream's API encoding: `json.dumps(indent=2, sort_keys=True)`, no trailing newline.
pub(crate) fn pretty_json(status: StatusCode, v: &serde_json::Value) -> HttpResponse {
    let body = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}
