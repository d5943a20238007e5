//! REST API `/api/v1/...` (web spec §4): token in the `Authorization` header, bodies as
//! `json.dumps(indent=2, sort_keys=True)`, errors `{"reason", "status": "error"}`.
//! Upstream's 500s (missing uuid, `third_party`, non-JSON body) are 400s here.

use crate::auth::guard::state;
use crate::auth::token::authenticate;
use crate::error::{pretty_json, ApiError, WebError};
use crate::store::sensors::{self, RegistrationRefusal};
use crate::util::{sensor_uuid, stored_hmac_key};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// Largest accepted JSON body.
pub(crate) const MAX_JSON: usize = 64 * 1024;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/add/sensor/register")
            .route(web::post().to(register))
            .default_service(web::to(super::common::method_not_allowed)),
    );
    cfg.service(
        web::resource("/api/v1/add/analyzer/queue")
            .route(web::post().to(add_queue))
            .default_service(web::to(super::common::method_not_allowed)),
    );
    cfg.service(
        web::resource("/api/v1/sensors/monitoring/errors")
            .route(web::get().to(monitoring_errors))
            .default_service(web::to(super::common::method_not_allowed)),
    );
}

fn api_state(req: &HttpRequest) -> Result<web::Data<crate::AppState>, ApiError> {
    state(req)
        .map_err(|_: WebError| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error"))
}

fn bad(reason: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, reason)
}

fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

async fn register(req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let st = api_state(&req)?;
    authenticate(&st, &req, "sensor_register").await?;
    if body.len() > MAX_JSON {
        return Err(bad("Request body too large"));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| bad("Malformed JSON body"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("Malformed JSON body: expected an object"))?;
    let uuid = obj.get("uuid").and_then(|u| u.as_str()).unwrap_or("");
    let u = sensor_uuid(uuid.trim()).ok_or_else(|| bad("Invalid uuid"))?;
    let key = obj.get("hmac_key").and_then(|k| k.as_str()).unwrap_or("");
    let mail = obj.get("mail").and_then(|m| m.as_str());
    let third_party = obj.get("third_party").is_some_and(truthy);
    // Upstream's order: uuid, then already registered (409), then hmac_key.
    if key.is_empty() {
        if sensors::is_known(&st.stores.meta, &u).await? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Sensor already registered",
            ));
        }
        return Err(bad("Mandatory parameter(s) not provided"));
    }
    match sensors::register(
        &st.stores.meta,
        &u,
        &stored_hmac_key(key),
        mail,
        third_party,
    )
    .await?
    {
        Ok(()) => Ok(pretty_json(StatusCode::OK, &serde_json::json!({"uuid": u}))),
        Err(RegistrationRefusal::AlreadyRegistered) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "Sensor already registered",
        )),
        Err(_) => Err(bad("Invalid request")),
    }
}

/// d4-rs addition: creates an analyzer queue (same rules as the web form), role `user`.
/// Body `{"type": 8, "uuid": "<optional>", "description": "...", "metatype": "<for 254>",
/// "sensors": ["<uuid>", ...]}` → 200 `{"uuid": "<queue uuid>"}`.
async fn add_queue(req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let st = api_state(&req)?;
    let user = authenticate(&st, &req, "user").await?;
    if body.len() > MAX_JSON {
        return Err(bad("Request body too large"));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| bad("Malformed JSON body"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("Malformed JSON body: expected an object"))?;
    let text = |k: &str| match obj.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let ty = text("type").ok_or_else(|| bad("Mandatory parameter(s) not provided"))?;
    if ty.parse::<u8>().is_err() {
        return Err(bad("Invalid type"));
    }
    let uuid = text("uuid").filter(|u| !u.is_empty());
    let sensors: Vec<String> = match obj.get("sensors") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("Invalid uuid"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("sensors must be a list of uuids")),
    };
    if sensors.iter().any(|s| !crate::util::is_valid_uuid(s)) {
        return Err(bad("Invalid uuid"));
    }
    if let Some(u) = &uuid {
        if !crate::util::is_valid_uuid(u) {
            return Err(bad("Invalid uuid"));
        }
        if st.queues.exists(u).await.map_err(queue_api_error)? {
            return Err(ApiError::new(StatusCode::CONFLICT, "Queue already exists"));
        }
    }
    let new = d4_core::queues::NewQueue {
        format_type: ty,
        metatype: text("metatype").filter(|m| !m.is_empty()),
        uuid,
        sensors,
        description: text("description").filter(|d| !d.is_empty()),
        max_size: None,
    };
    let q = st.queues.create(&new).await.map_err(queue_api_error)?;
    tracing::info!(user = %user, queue = %q, "Analyzer queue created (API).");
    Ok(pretty_json(StatusCode::OK, &serde_json::json!({"uuid": q})))
}

fn queue_api_error(e: d4_core::queues::QueueError) -> ApiError {
    use d4_core::queues::QueueError;
    match e {
        QueueError::Store(e) => ApiError::from(e),
        QueueError::UnknownQueue => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        other => bad(&other.to_string()),
    }
}

async fn monitoring_errors(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let st = api_state(&req)?;
    authenticate(&st, &req, "user").await?;
    let v = sensors::monitoring_errors(&st.stores.meta).await?;
    Ok(pretty_json(StatusCode::OK, &serde_json::json!(v)))
}
