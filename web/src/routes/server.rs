//! Server management page, accepted types and sensor registration administration
//! (web spec §3.1 #6, #10-11, §3.4, §3.6, §5.4, §5.6-5.7).

use super::common::{action, base, page, render, uuid_param};
use crate::auth::guard::state;
use crate::auth::{Admin, AdminAction, User, UserAction};
use crate::error::{redirect, WebError};
use crate::params::Params;
use crate::store::sensors::{self, RegistrationRefusal};
use crate::store::server;
use crate::types::{describe, known_list, lookup};
use crate::util::is_valid_uuid;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    page(cfg, "/server_management", server_management);
    action(cfg, "/add_accepted_type", add_accepted_type, false);
    action(cfg, "/remove_accepted_type", remove_accepted_type, false);
    action(
        cfg,
        "/remove_accepted_extended_type",
        remove_accepted_extended_type,
        false,
    );
    page(cfg, "/server/registered_sensor", registered_sensor);
    page(cfg, "/server/pending_sensor", pending_sensor);
    action(cfg, "/server/approve_sensor", approve_sensor, true);
    action(
        cfg,
        "/server/delete_pending_sensor",
        delete_pending_sensor,
        true,
    );
    action(
        cfg,
        "/server/delete_registered_sensor",
        delete_registered_sensor,
        true,
    );
}

/// An accepted-type row.
#[derive(Debug, Serialize)]
struct TypeRow {
    ty: u32,
    description: String,
}

fn flag(p: &Params, name: &str) -> Option<i64> {
    p.get(name).map(|v| v.trim().parse().unwrap_or(0))
}

async fn server_management(u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let (types, ext) = server::accepted_types(&st.stores.meta).await?;
    let (registered, pending) = server::registration_counts(&st.stores.meta).await?;
    let rows: Vec<TypeRow> = types
        .iter()
        .map(|t| TypeRow {
            ty: *t,
            description: describe(&t.to_string()),
        })
        .collect();
    let mut ctx = base(&u, "nav-server");
    ctx.insert("server_mode", &st.settings.server_mode);
    ctx.insert("nb_registered", &registered);
    ctx.insert("nb_pending", &pending);
    ctx.insert("types", &rows);
    ctx.insert("extended_types", &ext);
    for f in [
        "blacklisted_ip",
        "unblacklisted_ip",
        "blacklisted_uuid",
        "unblacklisted_uuid",
    ] {
        ctx.insert(f, &flag(&p, f));
    }
    // Success message after `create_queue_post` (which redirects here with `created`).
    ctx.insert(
        "created",
        &p.non_empty("created").filter(|q| is_valid_uuid(q)),
    );
    super::queues::insert_listing(&st, &types, &mut ctx).await?;
    ctx.insert(
        "queue_alerts",
        &sensors::queue_alerts(&st.stores.meta).await?,
    );
    ctx.insert("new_uuid", &crate::util::new_uuid());
    ctx.insert("default_max_size", &st.settings.analyzer_default_max);
    render("server_management.html", &ctx)
}

fn type_param(p: &Params) -> Result<u32, WebError> {
    let raw = p.get("type").unwrap_or("").trim();
    let ty: u32 = raw
        .parse()
        .map_err(|_| WebError::BadRequest(format!("Invalid type {raw:?}: expected an integer")))?;
    lookup(ty).map(|_| ty).ok_or_else(|| {
        WebError::BadRequest(format!(
            "Unknown type {ty}: known types are {}",
            known_list()
        ))
    })
}

async fn add_accepted_type(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let ty = type_param(&a.params)?;
    let ext = if ty == 254 {
        let name = a.params.non_empty("extended_type_name").ok_or_else(|| {
            WebError::BadRequest("type 254 needs a non-empty extended_type_name".into())
        })?;
        Some(name)
    } else {
        None
    };
    server::add_accepted_type(&st.stores.meta, ty, ext).await?;
    Ok(redirect("/server_management"))
}

async fn remove_accepted_type(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let ty = type_param(&a.params)?;
    server::remove_accepted_type(&st.stores.meta, ty).await?;
    Ok(redirect("/server_management"))
}

async fn remove_accepted_extended_type(
    a: UserAction,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let name = a
        .params
        .non_empty("type_name")
        .ok_or_else(|| WebError::BadRequest("missing parameter: type_name".into()))?;
    server::remove_accepted_extended_type(&st.stores.meta, name).await?;
    Ok(redirect("/server_management"))
}

async fn registered_sensor(
    a: Admin,
    req: HttpRequest,
    p: Params,
) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let all =
        sensors::sorted_members(&st.stores.meta, d4_core::keys::meta::REGISTERED_UUID).await?;
    let (slice, paging) = super::sensors::paginate(all, &p);
    let rows = sensors::status_rows(&st.stores.meta, &st.stores.stream, &slice, &describe).await?;
    let mut ctx = base(&a, "nav-server");
    ctx.insert("rows", &rows);
    ctx.insert("paging", &paging);
    render("registered_sensors.html", &ctx)
}

async fn pending_sensor(a: Admin, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let rows = sensors::pending(&st.stores.meta).await?;
    let mut ctx = base(&a, "nav-server");
    ctx.insert("rows", &rows);
    render("pending_sensor.html", &ctx)
}

fn refusal(r: RegistrationRefusal) -> WebError {
    match r {
        RegistrationRefusal::AlreadyApproved => {
            WebError::Conflict("Sensor already approved".into())
        }
        RegistrationRefusal::NotPending => WebError::NotFound("Not Pending Sensor".into()),
        RegistrationRefusal::NotRegistered => WebError::NotFound("Sensor not registered".into()),
        RegistrationRefusal::AlreadyRegistered => {
            WebError::Conflict("Sensor already registered".into())
        }
    }
}

async fn approve_sensor(a: AdminAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    sensors::approve(&st.stores.meta, &id)
        .await?
        .map_err(refusal)?;
    Ok(redirect("/server/pending_sensor"))
}

async fn delete_pending_sensor(a: AdminAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    sensors::delete_pending(&st.stores.meta, &id)
        .await?
        .map_err(refusal)?;
    Ok(redirect("/server/pending_sensor"))
}

async fn delete_registered_sensor(
    a: AdminAction,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    sensors::delete_registered(&st.stores.meta, &id)
        .await?
        .map_err(refusal)?;
    Ok(redirect("/server/registered_sensor"))
}
