//! The COF server's error type: each kind maps to a status and a JSON body safe to show.
//! Every error answer of the server, unknown paths and methods included, has this one shape:
//! `Content-Type: application/json` and `{"error": "<message>"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use d4_core::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// Malformed input (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (401).
    #[error("authentication required")]
    Unauthorized,
    /// No such route (404).
    #[error("not found")]
    NotFound,
    /// Only GET is served (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Too many failed authentications from this address (429).
    #[error("too many failed authentications; retry in {retry_after} s")]
    TooManyRequests {
        /// Seconds until the next attempt is allowed (`Retry-After`).
        retry_after: u64,
    },
    /// The store failed (503); detail is logged, not sent.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

impl WebError {
    /// HTTP status of an error (for metrics).
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WebError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            WebError::Store(e) => {
                tracing::error!(error = %e, "Store error while answering.");
                "passive DNS store unavailable".to_string()
            }
            other => other.to_string(),
        };
        let body = serde_json::json!({ "error": message }).to_string();
        let mut resp = HttpResponse::build(self.status());
        match self {
            WebError::Unauthorized => {
                resp.insert_header(("WWW-Authenticate", "Basic realm=\"pdns\""));
            }
            WebError::MethodNotAllowed => {
                resp.insert_header(("Allow", "GET"));
            }
            WebError::TooManyRequests { retry_after } => {
                resp.insert_header(("Retry-After", retry_after.to_string()));
            }
            _ => {}
        }
        resp.content_type("application/json").body(body)
    }
}
