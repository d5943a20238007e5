//! Blacklist pages and actions (web spec §3.1 #8-9, §3.2-3.3, §5.5).
//!
//! With `redirect=0` an action returns to `/server_management` with upstream's feedback
//! code (1 added/removed, 2 already/not present, 0 invalid; 3 network too large is ours).
//! Without `redirect`, invalid input is a 400 page instead of upstream's 500.

use super::common::{action, base, page, render, uuid_param};
use crate::auth::guard::state;
use crate::auth::{User, UserAction};
use crate::error::{redirect, WebError};
use crate::params::Params;
use crate::store::blacklist::{self, parse_ip_target, IpError, IpTarget, UuidList};
use crate::util::sensor_uuid;
use crate::util::urlencode;
use actix_web::{web, HttpRequest, HttpResponse};

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    page(cfg, "/blacklisted_ip", blacklisted_ip);
    page(cfg, "/blacklisted_uuid", blacklisted_uuid);
    action(cfg, "/blacklist_ip", blacklist_ip, false);
    action(cfg, "/unblacklist_ip", unblacklist_ip, false);
    action(cfg, "/blacklist_uuid", blacklist_uuid, false);
    action(cfg, "/unblacklist_uuid", unblacklist_uuid, false);
    action(cfg, "/blacklist_ip_by_uuid", blacklist_ip_by_uuid, false);
    action(
        cfg,
        "/unblacklist_ip_by_uuid",
        unblacklist_ip_by_uuid,
        false,
    );
}

fn feedback(param: &str, code: u8) -> HttpResponse {
    redirect(&format!("/server_management?{param}={code}"))
}

async fn list_page(
    u: User,
    req: HttpRequest,
    p: Params,
    kind: &str,
) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let key = if kind == "ip" {
        blacklist::IP_KEY
    } else {
        blacklist::UUID_KEY
    };
    let want = p
        .get("page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1);
    let (items, total, pages) = blacklist::page(&st.stores.meta, key, want).await?;
    let page = want.clamp(1, pages);
    let half = items.len().div_ceil(2);
    let mut ctx = base(&u, "nav-server");
    ctx.insert("kind", kind);
    ctx.insert("left", &items[..half]);
    ctx.insert("right", &items[half..]);
    ctx.insert("total", &total);
    ctx.insert("page", &page);
    ctx.insert("pages", &pages);
    render("blacklist.html", &ctx)
}

async fn blacklisted_ip(u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    list_page(u, req, p, "ip").await
}

async fn blacklisted_uuid(u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    list_page(u, req, p, "uuid").await
}

async fn ip_action(a: UserAction, req: HttpRequest, add: bool) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let param = if add {
        "blacklisted_ip"
    } else {
        "unblacklisted_ip"
    };
    let with_feedback = a.params.has("redirect");
    let raw = a.params.get("ip").unwrap_or("");
    let target = match parse_ip_target(raw) {
        Ok(t) => t,
        Err(e) if with_feedback => {
            return Ok(feedback(param, if e == IpError::TooLarge { 3 } else { 0 }))
        }
        Err(e) => {
            return Err(WebError::BadRequest(format!(
                "{e}: {raw:?} (expected an address or a CIDR network with zero host bits)"
            )))
        }
    };
    let changed = blacklist::set_ip(&st.stores.meta, &target, add).await?;
    if !add {
        if let (Some(page), IpTarget::Single(_)) = (a.params.non_empty("page"), &target) {
            return Ok(redirect(&format!(
                "/blacklisted_ip?page={}",
                urlencode(page)
            )));
        }
    }
    Ok(feedback(param, if changed { 1 } else { 2 }))
}

async fn blacklist_ip(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    ip_action(a, req, true).await
}

async fn unblacklist_ip(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    ip_action(a, req, false).await
}

async fn uuid_action(a: UserAction, req: HttpRequest, add: bool) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let param = if add {
        "blacklisted_uuid"
    } else {
        "unblacklisted_uuid"
    };
    let to_server = a.params.get("redirect") == Some("0");
    let raw = a.params.get("uuid").unwrap_or("").trim().to_string();
    let Some(id) = sensor_uuid(&raw) else {
        if to_server {
            return Ok(feedback(param, 0));
        }
        return Err(WebError::BadRequest(format!("Invalid uuid: {raw:?}")));
    };
    let changed = if add {
        blacklist::add_uuid(&st.stores.meta, UuidList::Uuid, &id).await?
    } else {
        blacklist::remove_uuid(&st.stores.meta, UuidList::Uuid, &id, &raw).await?
    };
    if !add {
        if let Some(page) = a.params.non_empty("page") {
            return Ok(redirect(&format!(
                "/blacklisted_uuid?page={}",
                urlencode(page)
            )));
        }
    }
    if to_server {
        return Ok(feedback(param, if changed { 1 } else { 2 }));
    }
    Ok(redirect(&format!("/uuid_management?uuid={id}")))
}

async fn blacklist_uuid(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    uuid_action(a, req, true).await
}

async fn unblacklist_uuid(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    uuid_action(a, req, false).await
}

async fn ip_by_uuid(a: UserAction, req: HttpRequest, add: bool) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    let raw = a.params.get("uuid").unwrap_or("").trim().to_string();
    if add {
        blacklist::add_uuid(&st.stores.meta, UuidList::IpByUuid, &id).await?;
    } else {
        blacklist::remove_uuid(&st.stores.meta, UuidList::IpByUuid, &id, &raw).await?;
    }
    Ok(redirect(&format!("/uuid_management?uuid={id}")))
}

async fn blacklist_ip_by_uuid(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    ip_by_uuid(a, req, true).await
}

async fn unblacklist_ip_by_uuid(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    ip_by_uuid(a, req, false).await
}
