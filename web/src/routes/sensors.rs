//! Sensor pages and actions (web spec §3.1 #4-7, #13-14, #17, §3.2, §5.2-5.3, §5.8).
//!
//! Differences from upstream, all on crash or corruption paths: uuids are stored undashed
//! (the form the server reads), missing parameters are 400s, monitoring validation errors
//! are shown instead of dropped, and every action redirects whether or not `redirect` is
//! given.

use super::common::{action, base, json, page, render, uuid_param};
use crate::auth::guard::state;
use crate::auth::{User, UserAction};
use crate::charts::stacked;
use crate::error::{pretty_json, redirect, WebError};
use crate::params::Params;
use crate::store::sensors;
use crate::types::describe;
use crate::util::urlencode;
use crate::util::{last_days, sensor_uuid, stored_hmac_key};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    page(cfg, "/sensors_status", sensors_status);
    page(cfg, "/show_active_uuid", show_active_uuid);
    page(cfg, "/uuid_management", uuid_management);
    page(cfg, "/get_uuid_type_history_json", type_history_json);
    page(cfg, "/get_uuid_stats_history_json", stats_history_json);
    page(cfg, "/whois_data", whois_data);
    page(cfg, "/sensors/monitoring/add", monitoring_add_page);
    page(cfg, "/sensors/monitoring/errors", monitoring_errors);
    action(cfg, "/uuid_change_description", change_description, false);
    action(
        cfg,
        "/uuid_change_stream_max_size",
        change_stream_max_size,
        false,
    );
    action(cfg, "/set_uuid_hmac_key", set_hmac_key, false);
    action(cfg, "/kick_uuid", kick, false);
    action(cfg, "/sensors/monitoring/add_post", monitoring_add, false);
    action(cfg, "/sensors/monitoring/delete", monitoring_delete, false);
}

/// Sensor rows per page on the status and registered pages, unless `per_page` says otherwise.
pub(crate) const SENSORS_PER_PAGE: usize = 100;

/// The page sizes offered by the lists (`per_page`); anything else falls back to the default.
pub(crate) const PAGE_SIZES: &[usize] = &[25, 50, 100, 250, 1000];

/// One page of a sorted uuid list, filtered by a uuid substring.
#[derive(Debug, Serialize)]
pub(crate) struct Paging {
    /// Current page (1-based).
    pub page: usize,
    /// Number of pages.
    pub pages: usize,
    /// Matching sensors.
    pub total: usize,
    /// The filter text.
    pub q: String,
    /// Rows per page.
    pub per_page: usize,
    /// The page sizes to choose from.
    pub sizes: &'static [usize],
    /// Page numbers to link, in order; `0` stands for a gap ("…") between them.
    pub links: Vec<usize>,
}

/// The page numbers a pager shows: the first two, the last two and two either side of
/// `page`, with `0` where numbers are skipped, so "1 2 … 9 10 11 … 40" never reads as if
/// pages were missing.
pub(crate) fn page_links(page: usize, pages: usize) -> Vec<usize> {
    let shown = |p: usize| p <= 2 || p + 2 > pages || p.abs_diff(page) <= 2;
    let mut out = Vec::new();
    for p in 1..=pages {
        if shown(p) {
            out.push(p);
        } else if out.last() != Some(&0) {
            out.push(0);
        }
    }
    out
}

/// Sorts, filters (`q`, a uuid substring, dashes ignored) and cuts one page of uuids
/// (`page`, `per_page`).
pub(crate) fn paginate(mut uuids: Vec<String>, p: &Params) -> (Vec<String>, Paging) {
    let q = p.get("q").unwrap_or("").trim().to_lowercase();
    let needle = q.replace('-', "");
    let per_page = p
        .get("per_page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| PAGE_SIZES.contains(n))
        .unwrap_or(SENSORS_PER_PAGE);
    uuids.sort();
    uuids.dedup();
    uuids.retain(|u| needle.is_empty() || u.contains(&needle));
    let total = uuids.len();
    let pages = total.div_ceil(per_page).max(1);
    let page = p
        .get("page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let slice = uuids
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    (
        slice,
        Paging {
            page,
            pages,
            total,
            q,
            per_page,
            sizes: PAGE_SIZES,
            links: page_links(page, pages),
        },
    )
}

async fn sensors_status(u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let active = p.get("active_connection_filter") == Some("True");
    // The one search box: a whole uuid opens that sensor (seen today or not), anything
    // else filters the list.
    if let Some(id) = p.non_empty("q").and_then(sensor_uuid) {
        return Ok(sensor_page(&id));
    }
    let uuids: Vec<String> = if active {
        sensors::connected(&st.stores.stream)
            .await?
            .into_iter()
            .collect()
    } else {
        sensors::daily_uuids(&st.stores.meta, &crate::util::today_key()).await?
    };
    let (slice, paging) = paginate(uuids, &p);
    let rows = sensors::status_rows(&st.stores.meta, &st.stores.stream, &slice, &describe).await?;
    let mut ctx = base(&u, "nav-sensor");
    ctx.insert("rows", &rows);
    ctx.insert("paging", &paging);
    ctx.insert("active_connection_filter", &active);
    render("sensors_status.html", &ctx)
}

async fn show_active_uuid(_u: User, p: Params) -> HttpResponse {
    let next = if p.get("show_active_connection") == Some("True") {
        "False"
    } else {
        "True"
    };
    redirect(&format!("/sensors_status?active_connection_filter={next}"))
}

fn sensor_page(u: &str) -> HttpResponse {
    redirect(&format!("/uuid_management?uuid={}", urlencode(u)))
}

/// Per-type disk usage of a sensor: (type, bytes, files), plus an `All` row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DiskRow {
    /// Type directory name or `All`.
    pub ty: String,
    /// Bytes.
    pub size: u64,
    /// Files.
    pub files: u64,
}

/// Most directory entries visited per statistics request.
const MAX_WALK: usize = 200_000;

fn walk(dir: &Path, budget: &mut usize, acc: &mut (u64, u64)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&e.path(), budget, acc),
            Ok(t) if t.is_file() => {
                acc.0 += e.metadata().map(|m| m.len()).unwrap_or(0);
                acc.1 += 1;
            }
            _ => {}
        }
    }
}

fn type_dirs(data: &Path, u: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data.join(u))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Disk usage per type directory under `<data>/<uuid>/`.
pub(crate) fn disk_rows(data: &Path, u: &str) -> Vec<DiskRow> {
    let mut budget = MAX_WALK;
    let mut rows: Vec<DiskRow> = type_dirs(data, u)
        .into_iter()
        .map(|t| {
            let mut acc = (0, 0);
            walk(&data.join(u).join(&t), &mut budget, &mut acc);
            DiskRow {
                ty: t,
                size: acc.0,
                files: acc.1,
            }
        })
        .collect();
    let all = DiskRow {
        ty: "All".into(),
        size: rows.iter().map(|r| r.size).sum(),
        files: rows.iter().map(|r| r.files).sum(),
    };
    rows.push(all);
    rows
}

/// Files (or bytes) per type per day for the last 7 days.
pub(crate) fn disk_history(
    data: &Path,
    u: &str,
    size: bool,
) -> (Vec<String>, BTreeMap<String, Vec<f64>>) {
    let days = last_days(7);
    let mut budget = MAX_WALK;
    let mut series = BTreeMap::new();
    for t in type_dirs(data, u) {
        let vals = days
            .iter()
            .map(|(k, _)| {
                let dir = data
                    .join(u)
                    .join(&t)
                    .join(&k[0..4])
                    .join(&k[4..6])
                    .join(&k[6..8]);
                let mut acc = (0, 0);
                walk(&dir, &mut budget, &mut acc);
                if size {
                    acc.0 as f64
                } else {
                    acc.1 as f64
                }
            })
            .collect();
        series.insert(t, vals);
    }
    (days.into_iter().map(|(_, l)| l).collect(), series)
}

async fn uuid_management(u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&p, "uuid")?;
    let d = sensors::detail(&st.stores.meta, &st.stores.stream, &id).await?;
    let (days, hist) = sensors::type_history(&st.stores.meta, &id).await?;
    let data = st.settings.data_dir.clone();
    let id2 = id.clone();
    let (disk, (ddays, dhist)) =
        web::block(move || (disk_rows(&data, &id2), disk_history(&data, &id2, false)))
            .await
            .map_err(|e| WebError::Template(e.to_string()))?;
    let mut ctx = base(&u, "nav-sensor");
    ctx.insert("s", &d);
    ctx.insert(
        "type_history_svg",
        &stacked(&days, &hist, "No packets in the last 7 days"),
    );
    ctx.insert("disk", &disk);
    ctx.insert(
        "disk_history_svg",
        &stacked(&ddays, &dhist, "No files saved in the last 7 days"),
    );
    render("uuid_management.html", &ctx)
}

fn incorrect_uuid() -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("application/json")
        .body("\"Incorrect UUID\"\n")
}

fn history_json(
    days: &[String],
    series: &BTreeMap<String, Vec<f64>>,
    float: bool,
) -> Vec<serde_json::Value> {
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            let mut o = serde_json::Map::new();
            o.insert("date".into(), d.clone().into());
            for (k, v) in series {
                let x = v.get(i).copied().unwrap_or(0.0);
                let val = if x == 0.0 {
                    serde_json::Value::from(0)
                } else if float {
                    serde_json::Value::from(x)
                } else {
                    serde_json::Value::from(x as u64)
                };
                o.insert(k.clone(), val);
            }
            serde_json::Value::Object(o)
        })
        .collect()
}

async fn type_history_json(
    _u: User,
    req: HttpRequest,
    p: Params,
) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let Some(id) = p.get("uuid_sensor").and_then(sensor_uuid) else {
        return Ok(incorrect_uuid());
    };
    let (days, hist) = sensors::type_history(&st.stores.meta, &id).await?;
    Ok(json(&history_json(&days, &hist, true)))
}

async fn stats_history_json(
    _u: User,
    req: HttpRequest,
    p: Params,
) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let Some(id) = p.get("uuid_sensor").and_then(sensor_uuid) else {
        return Ok(incorrect_uuid());
    };
    let size = p.get("stats") == Some("total_size");
    let data = st.settings.data_dir.clone();
    let (days, hist) = web::block(move || disk_history(&data, &id, size))
        .await
        .map_err(|e| WebError::Template(e.to_string()))?;
    Ok(json(&history_json(&days, &hist, false)))
}

/// Shown instead of the raw "No such file or directory (os error 2)" when the server has
/// no `whois` program.
pub(crate) const WHOIS_MISSING: &str =
    "whois is not installed on the server (install the whois package to use this lookup)";

async fn whois_data(_u: User, req: HttpRequest, p: Params) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let Some(ip) = p
        .get("ip")
        .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok())
    else {
        return Ok(HttpResponse::BadRequest()
            .content_type("application/json")
            .body("\"\"\n"));
    };
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        tokio::process::Command::new(&st.settings.whois_program)
            .arg(ip.to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    let text = match out {
        Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .trim_matches('\n')
            .to_string(),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => WHOIS_MISSING.into(),
        Ok(Err(e)) => format!("whois could not run on the server: {e}"),
        Err(_) => "whois timed out".into(),
    };
    Ok(json(&text))
}

async fn change_description(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let Some(id) = a.params.get("uuid").and_then(sensor_uuid) else {
        return Ok(HttpResponse::BadRequest().json(serde_json::json!({"error": "invalid uuid"})));
    };
    let Some(d) = a.params.get("description") else {
        return Ok(
            HttpResponse::BadRequest().json(serde_json::json!({"error": "missing description"}))
        );
    };
    sensors::set_description(&st.stores.meta, &id, d).await?;
    Ok(json(&serde_json::Value::Null))
}

async fn change_stream_max_size(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    let n: u64 = a
        .params
        .get("max_uuid_stream")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            WebError::BadRequest(
                "stream max size, Invalid Integer: max_uuid_stream must be an integer ≥ 0".into(),
            )
        })?;
    sensors::set_stream_max_size(&st.stores.meta, &id, n).await?;
    Ok(sensor_page(&id))
}

async fn set_hmac_key(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    let key = a
        .params
        .non_empty("key")
        .ok_or_else(|| WebError::BadRequest("missing parameter: key (the new HMAC key)".into()))?;
    sensors::set_hmac_key(&st.stores.meta, &id, &stored_hmac_key(key)).await?;
    Ok(sensor_page(&id))
}

async fn kick(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    sensors::kick(&st.stores.stream, &id).await?;
    Ok(sensor_page(&id))
}

async fn monitoring_add_page(u: User, p: Params) -> Result<HttpResponse, WebError> {
    let id = uuid_param(&p, "uuid")?;
    let mut ctx = base(&u, "nav-sensor");
    ctx.insert("uuid", &id);
    ctx.insert("error", &Option::<String>::None);
    render("add_sensor_to_monitor.html", &ctx)
}

async fn monitoring_add(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    let delta = a
        .params
        .get("delta_time")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|d| *d >= 1);
    let Some(delta) = delta else {
        let mut ctx = base(&a, "nav-sensor");
        ctx.insert("uuid", &id);
        ctx.insert(
            "error",
            "Maximum time must be an integer number of seconds ≥ 1",
        );
        return super::common::render_status(
            StatusCode::BAD_REQUEST,
            "add_sensor_to_monitor.html",
            &ctx,
        );
    };
    sensors::monitor_add(&st.stores.meta, &id, delta).await?;
    Ok(sensor_page(&id))
}

async fn monitoring_delete(a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let id = uuid_param(&a.params, "uuid")?;
    sensors::monitor_delete(&st.stores.meta, &id).await?;
    Ok(sensor_page(&id))
}

async fn monitoring_errors(_u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let v = sensors::monitoring_errors(&st.stores.meta).await?;
    Ok(pretty_json(StatusCode::OK, &serde_json::json!(v)))
}

#[cfg(test)]
mod tests {
    use super::page_links;

    #[test]
    fn pager_marks_gaps() {
        assert_eq!(page_links(1, 1), vec![1]);
        assert_eq!(page_links(1, 5), vec![1, 2, 3, 4, 5]);
        assert_eq!(page_links(1, 11), vec![1, 2, 3, 0, 10, 11]);
        assert_eq!(page_links(6, 11), vec![1, 2, 0, 4, 5, 6, 7, 8, 0, 10, 11]);
        assert_eq!(page_links(11, 11), vec![1, 2, 0, 9, 10, 11]);
    }
}
