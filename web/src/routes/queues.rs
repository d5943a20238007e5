//! Analyzer queue pages and actions (web spec §3.5, §5.4, §5.9-5.10, tutorial §7 d-e).
//!
//! Writes go through `d4_core::queues`. The create handler serves both the creator page
//! and the tutorial's inline "Add New Analyzer Queue" box on `/server_management` (and
//! the 2019 route `/add_new_analyzer`). Differences from upstream: a typed queue uuid
//! that is invalid or already used is refused with a message instead of being silently
//! replaced, unknown queues are 404s, and bad sizes are 400s.

use super::common::{action, base, json, page, render_status};
use crate::auth::guard::state;
use crate::auth::{User, UserAction, Viewer};
use crate::error::{queue_error, redirect, WebError};
use crate::params::Params;
use crate::state::AppState;
use crate::store::queues::{sample, QueueRow};
use crate::store::server;
use crate::util::is_valid_uuid;
use crate::util::urlencode;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use d4_core::queues::{NewQueue, QueueKind};
use serde::Serialize;
use tera::Context;

/// Items shown by the sample preview (upstream `LRANGE 0 10`).
const SAMPLE_ITEMS: i64 = 11;
/// Default and maximum sample line length.
const SAMPLE_LINE: usize = 3000;

/// Form fields that are not sensor uuids.
const KNOWN_FIELDS: &[&str] = &[
    "csrf_token",
    "analyzer_type",
    "type",
    "analyzer_metatype",
    "analyzer_metatype_name",
    "metatype_name",
    "description",
    "analyzer_description",
    "analyzer_uuid",
    "queue_uuid",
    "redirect",
];

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    page(cfg, "/generate_uuid", generate_uuid);
    page(cfg, "/analyzer_queue/create_queue", create_queue);
    action(
        cfg,
        "/analyzer_queue/create_queue_post",
        create_queue_post,
        false,
    );
    action(cfg, "/add_new_analyzer", create_queue_post, false);
    page(cfg, "/analyzer_queue/edit_queue", edit_queue);
    action(
        cfg,
        "/analyzer_queue/edit_queue_post",
        edit_queue_post,
        false,
    );
    action(cfg, "/analyzer_change_max_size", change_max_size, false);
    action(cfg, "/empty_analyzer_queue", empty_queue, false);
    action(cfg, "/remove_analyzer", remove_queue, false);
    page(cfg, "/get_analyser_sample", get_sample);
    page(cfg, "/_json_queue_lengths", queue_lengths);
}

/// Adds the queue table of the server management page to `ctx`.
pub(crate) async fn insert_listing(
    st: &AppState,
    accepted: &[u32],
    ctx: &mut Context,
) -> Result<(), WebError> {
    let (_, ext) = server::accepted_types(&st.stores.meta).await?;
    let rows: Vec<QueueRow> = st
        .queues
        .list()
        .await
        .map_err(queue_error)?
        .iter()
        .map(|q| {
            let ok = match &q.kind {
                QueueKind::Plain(t) => accepted.contains(&u32::from(*t)),
                QueueKind::Extended(e) => accepted.contains(&254) && ext.contains(e),
            };
            QueueRow::from_info(q, ok)
        })
        .collect();
    ctx.insert("queues", &rows);
    Ok(())
}

async fn generate_uuid(_u: User) -> HttpResponse {
    json(&serde_json::json!({"uuid": crate::util::new_uuid()}))
}

/// A sensor input of the creator/editor forms, with its validity.
#[derive(Debug, Serialize)]
struct SensorInput {
    name: String,
    value: String,
    valid: bool,
}

fn sensor_inputs(values: &[String]) -> Vec<SensorInput> {
    values
        .iter()
        .map(|v| SensorInput {
            name: format!(
                "sensor_{}",
                crate::util::undash(v).chars().take(32).collect::<String>()
            ),
            value: v.clone(),
            valid: is_valid_uuid(v),
        })
        .collect()
}

struct CreatorForm<'a> {
    ty: &'a str,
    metatype: &'a str,
    uuid: &'a str,
    description: &'a str,
    sensors: &'a [String],
    error: Option<String>,
}

async fn creator(
    v: &Viewer,
    st: &AppState,
    f: CreatorForm<'_>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let (_, ext) = server::accepted_types(&st.stores.meta).await?;
    let mut ctx = base(v, "nav-server");
    ctx.insert("analyzer_type", f.ty);
    ctx.insert("analyzer_metatype", f.metatype);
    ctx.insert("analyzer_uuid", f.uuid);
    ctx.insert("description", f.description);
    ctx.insert("sensors", &sensor_inputs(f.sensors));
    ctx.insert("extended_types", &ext);
    ctx.insert("error", &f.error);
    render_status(status, "queue_creator.html", &ctx)
}

async fn create_queue(u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let f = CreatorForm {
        ty: "1",
        metatype: "",
        uuid: "",
        description: "",
        sensors: &[],
        error: None,
    };
    creator(&u, &st, f, StatusCode::OK).await
}

fn first<'a>(p: &'a Params, names: &[&str]) -> &'a str {
    names.iter().find_map(|n| p.get(n)).unwrap_or("").trim()
}

async fn create_queue_post(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let p = &a.params;
    let ty = first(p, &["analyzer_type", "type"]);
    let metatype = first(
        p,
        &[
            "analyzer_metatype",
            "analyzer_metatype_name",
            "metatype_name",
        ],
    );
    let uuid = first(p, &["analyzer_uuid"]);
    let description = first(p, &["description", "analyzer_description"]);
    let sensors = p.other_body_values(KNOWN_FIELDS);
    let bad = |error: String| CreatorForm {
        ty,
        metatype,
        uuid,
        description,
        sensors: &sensors,
        error: Some(error),
    };
    if sensors.iter().any(|s| !is_valid_uuid(s)) {
        return creator(
            &a,
            &st,
            bad("Please provide valid sensor uuids (v4).".into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    if !uuid.is_empty() {
        if !is_valid_uuid(uuid) {
            return creator(
                &a,
                &st,
                bad(format!(
                    "Invalid analyzer uuid {uuid:?}: leave it empty or generate one."
                )),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        if st.queues.exists(uuid).await.map_err(queue_error)? {
            return creator(
                &a,
                &st,
                bad(format!("A queue with uuid {uuid} already exists.")),
                StatusCode::CONFLICT,
            )
            .await;
        }
    }
    let new = NewQueue {
        format_type: if ty.is_empty() {
            "1".into()
        } else {
            ty.to_string()
        },
        metatype: Some(metatype.to_string()).filter(|m| !m.is_empty()),
        uuid: Some(uuid.to_string()).filter(|u| !u.is_empty()),
        sensors: sensors.clone(),
        description: Some(description.to_string()).filter(|d| !d.is_empty()),
        max_size: None,
    };
    let q = match st.queues.create(&new).await {
        Ok(q) => q,
        Err(e) => {
            let e = queue_error(e);
            if let WebError::BadRequest(m) = &e {
                return creator(&a, &st, bad(m.clone()), StatusCode::BAD_REQUEST).await;
            }
            return Err(e);
        }
    };
    tracing::info!(user = %a.user, queue = %q, format_type = ty, "Analyzer queue created.");
    Ok(redirect(&format!(
        "/server_management?created={}#{q}",
        urlencode(&q)
    )))
}

fn queue_param(p: &Params, name: &str) -> Result<String, WebError> {
    let q = p.get(name).unwrap_or("").trim();
    if !is_valid_uuid(q) {
        return Err(WebError::BadRequest(format!(
            "Invalid uuid: parameter {name} must be a queue uuid"
        )));
    }
    Ok(q.to_string())
}

async fn editor(
    v: &Viewer,
    st: &AppState,
    q: &str,
    posted: Option<(&[String], String)>,
) -> Result<HttpResponse, WebError> {
    let info = st
        .queues
        .get(q)
        .await
        .map_err(queue_error)?
        .ok_or_else(|| WebError::NotFound(format!("Unknown analyzer queue {q}")))?;
    let mut ctx = base(v, "nav-server");
    ctx.insert("q", &QueueRow::from_info(&info, true));
    let (sensors, error, status) = match posted {
        Some((s, e)) => (s.to_vec(), Some(e), StatusCode::BAD_REQUEST),
        None => (info.sensors.clone(), None, StatusCode::OK),
    };
    ctx.insert("sensors", &sensor_inputs(&sensors));
    ctx.insert("error", &error);
    render_status(status, "queue_editor.html", &ctx)
}

async fn edit_queue(u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let q = queue_param(&p, "queue_uuid")?;
    editor(&u, &st, &q, None).await
}

async fn edit_queue_post(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let q = queue_param(&a.params, "queue_uuid")?;
    if !st.queues.exists(&q).await.map_err(queue_error)? {
        return Err(WebError::NotFound(format!("Unknown analyzer queue {q}")));
    }
    let sensors = a.params.other_body_values(KNOWN_FIELDS);
    if sensors.iter().any(|s| !is_valid_uuid(s)) {
        return editor(
            &a,
            &st,
            &q,
            Some((&sensors, "Please provide valid sensor uuids (v4).".into())),
        )
        .await;
    }
    let description = a.params.get("description").unwrap_or("").trim();
    st.queues
        .edit_description(&q, description)
        .await
        .map_err(queue_error)?;
    st.queues
        .edit_sensors(&q, &sensors)
        .await
        .map_err(queue_error)?;
    Ok(redirect(&format!(
        "/analyzer_queue/edit_queue?queue_uuid={}",
        urlencode(&q)
    )))
}

async fn existing(st: &AppState, q: &str) -> Result<(), WebError> {
    if st.queues.exists(q).await.map_err(queue_error)? {
        Ok(())
    } else {
        Err(WebError::NotFound(format!("Unknown analyzer queue {q}")))
    }
}

async fn change_max_size(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let q = queue_param(&a.params, "analyzer_uuid")?;
    existing(&st, &q).await?;
    let raw = a.params.get("max_size_analyzer").unwrap_or("").trim();
    if !raw.parse::<u64>().is_ok_and(|n| n > 0) {
        return Err(WebError::BadRequest(format!(
            "analyzer max size, Invalid Integer: {raw:?} (must be an integer ≥ 1)"
        )));
    }
    st.queues
        .edit_max_size(&q, raw)
        .await
        .map_err(queue_error)?;
    if a.params.get("back") == Some("edit") {
        return Ok(redirect(&format!(
            "/analyzer_queue/edit_queue?queue_uuid={}",
            urlencode(&q)
        )));
    }
    Ok(redirect(&format!("/server_management#{q}")))
}

async fn empty_queue(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let q = queue_param(&a.params, "analyzer_uuid")?;
    existing(&st, &q).await?;
    st.queues.flush(&q).await.map_err(queue_error)?;
    Ok(redirect(&format!("/server_management#{q}")))
}

async fn remove_queue(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let q = queue_param(&a.params, "analyzer_uuid")?;
    existing(&st, &q).await?;
    st.queues.remove(&q).await.map_err(queue_error)?;
    tracing::info!(user = %a.user, queue = %q, "Analyzer queue removed.");
    Ok(redirect("/server_management"))
}

/// `{"<queue uuid>": <length>, …}` for the live length badges of `/server_management`.
async fn queue_lengths(_u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let m: std::collections::BTreeMap<String, u64> = st
        .queues
        .list()
        .await
        .map_err(queue_error)?
        .into_iter()
        .map(|q| (q.uuid, q.length))
        .collect();
    Ok(json(&m))
}

async fn get_sample(_u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let q = p.get("analyzer_uuid").unwrap_or("").trim();
    if !is_valid_uuid(q) {
        return Ok(HttpResponse::BadRequest()
            .content_type("application/json")
            .body("\"Incorrect UUID\"\n"));
    }
    let max_len = p
        .get("max_line_len")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(SAMPLE_LINE);
    // The queue's own kind decides the list; the `type` parameter is a fallback for
    // queues whose hash is gone.
    let kind = match st.queues.kind_of(q).await.map_err(queue_error)? {
        Some(k) => k,
        None => match p.get("type").map(str::trim).unwrap_or("") {
            t if t.parse::<u8>().is_ok() => QueueKind::Plain(t.parse().unwrap_or(0)),
            "" => return Err(WebError::NotFound(format!("Unknown analyzer queue {q}"))),
            ext => QueueKind::Extended(ext.to_string()),
        },
    };
    let text = sample(&st.stores.analyzer, &kind, q, max_len, SAMPLE_ITEMS).await?;
    Ok(json(&text))
}
