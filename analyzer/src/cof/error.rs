//! The COF server's error type: each kind maps to a status and a JSON body safe to show.
//! Every error answer of the server, unknown paths and methods included, has this one shape:
//! `Content-Type: application/json` and `{"error": "<message>"}`.
//!
//! A store error (a lost connection, or any command the store refused while answering) is a
//! 503, never an empty answer; a transient one (the store is down, loading, resharding) says
//! when to come back (`Retry-After`). Store errors are logged at most once per
//! [`STORE_ERROR_LOG_EVERY`] with the number of those not logged, so a dead store cannot
//! flood the log with one line per request; `/metrics` counts every one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use d4_core::store::StoreError;

/// Shortest interval between two logged store errors.
const STORE_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Seconds a client is told to wait after a transient store error.
const STORE_RETRY_AFTER_SECS: u64 = 1;

/// When a store error was last logged, and how many were not logged since.
static STORE_ERROR_LOG: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));

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
                log_store_error(e);
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
            WebError::Store(e) if e.is_transient() => {
                resp.insert_header(("Retry-After", STORE_RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        resp.content_type("application/json").body(body)
    }
}

/// Logs a store error at ERROR unless one was logged less than [`STORE_ERROR_LOG_EVERY`]
/// ago (then it is only counted, and the next logged line says how many were not).
fn log_store_error(e: &StoreError) {
    let now = Instant::now();
    let suppressed = {
        let Ok(mut last) = STORE_ERROR_LOG.lock() else {
            return;
        };
        match last.0 {
            Some(t) if now.duration_since(t) < STORE_ERROR_LOG_EVERY => {
                last.1 += 1;
                return;
            }
            _ => std::mem::replace(&mut *last, (Some(now), 0)).1,
        }
    };
    tracing::error!(
        error = %e,
        code = e.code().unwrap_or("-"),
        transient = e.is_transient(),
        not_logged_since_last = suppressed,
        "Store error while answering: 503 sent (at most one such line per {} s).",
        STORE_ERROR_LOG_EVERY.as_secs()
    );
}
