//! Landing page `/` (web spec §5.1): today's packets per sensor and per type as SVG bars
//! (refreshed every 4 s by a small script), and the last 7 days per type and per sensor.
//! Also upstream's JSON feeds and the `/delete_data` demo action.

use super::common::{action, base, json, page, render};
use crate::auth::guard::state;
use crate::auth::{User, UserAction};
use crate::charts::{hbar, stacked, Bar};
use crate::error::{redirect, WebError};
use crate::store::server::{self, Daily};
use crate::types::describe;
use crate::util::today_key;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Local;
use std::collections::BTreeMap;

/// Rows drawn in the today charts.
const TOP: usize = 30;
/// Sensors kept as separate series in the history chart (the rest are summed).
const HISTORY_SENSORS: usize = 10;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    page(cfg, "/", index);
    page(cfg, "/_json_daily_uuid_stats", json_uuid);
    page(cfg, "/_json_daily_type_stats", json_type);
    page(cfg, "/_svg_daily_uuid_stats", svg_uuid);
    page(cfg, "/_svg_daily_type_stats", svg_type);
    action(cfg, "/delete_data", delete_data, false);
}

async fn uuid_bars(req: &HttpRequest) -> Result<Vec<Bar>, WebError> {
    let st = state(req)?;
    let rows = server::daily_uuid(&st.stores.meta, &today_key()).await?;
    Ok(rows
        .into_iter()
        .map(|(u, v)| Bar {
            href: Some(format!("/uuid_management?uuid={u}")),
            label: u,
            value: v,
        })
        .collect())
}

async fn type_bars(req: &HttpRequest) -> Result<Vec<Bar>, WebError> {
    let st = state(req)?;
    let rows = server::daily_type(&st.stores.meta, &today_key()).await?;
    Ok(rows
        .into_iter()
        .map(|(t, v)| Bar {
            label: format!("{t}: {}", describe(&t)),
            value: v,
            href: None,
        })
        .collect())
}

fn top_sensors(mut series: BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Vec<f64>> {
    if series.len() <= HISTORY_SENSORS {
        return series;
    }
    let mut by_total: Vec<(String, f64)> = series
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().sum()))
        .collect();
    by_total.sort_by(|a, b| b.1.total_cmp(&a.1));
    let keep: Vec<String> = by_total
        .into_iter()
        .take(HISTORY_SENSORS)
        .map(|(k, _)| k)
        .collect();
    let mut other: Vec<f64> = Vec::new();
    series.retain(|k, v| {
        if keep.contains(k) {
            return true;
        }
        other.resize(v.len().max(other.len()), 0.0);
        for (o, x) in other.iter_mut().zip(v.iter()) {
            *o += x;
        }
        false
    });
    let short: BTreeMap<String, Vec<f64>> = series
        .into_iter()
        .map(|(k, v)| (k.chars().take(8).collect::<String>(), v))
        .collect();
    let mut out = short;
    out.insert("(others)".into(), other);
    out
}

async fn index(u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let mut ctx = base(&u, "nav-home");
    ctx.insert("date", &Local::now().format("%Y/%m/%d").to_string());
    ctx.insert(
        "uuid_svg",
        &hbar(&uuid_bars(&req).await?, TOP, "No packets received today"),
    );
    ctx.insert(
        "type_svg",
        &hbar(&type_bars(&req).await?, TOP, "No packets received today"),
    );
    let (days, by_type) = server::history(&st.stores.meta, Daily::Type, 7).await?;
    let by_type: BTreeMap<String, Vec<f64>> = by_type
        .into_iter()
        .map(|(t, v)| (format!("{t} {}", describe(&t)), v))
        .collect();
    ctx.insert(
        "type_history_svg",
        &stacked(&days, &by_type, "No packets in the last 7 days"),
    );
    let (days, by_uuid) = server::history(&st.stores.meta, Daily::Uuid, 7).await?;
    ctx.insert(
        "uuid_history_svg",
        &stacked(
            &days,
            &top_sensors(by_uuid),
            "No packets in the last 7 days",
        ),
    );
    render("index.html", &ctx)
}

fn key_values(bars: Vec<Bar>) -> Vec<serde_json::Value> {
    bars.into_iter()
        .map(|b| serde_json::json!({"key": b.label, "value": b.value as i64}))
        .collect()
}

async fn json_uuid(_u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(json(&key_values(uuid_bars(&req).await?)))
}

async fn json_type(_u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(json(&key_values(type_bars(&req).await?)))
}

fn svg(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

async fn svg_uuid(_u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(svg(hbar(
        &uuid_bars(&req).await?,
        TOP,
        "No packets received today",
    )))
}

async fn svg_type(_u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(svg(hbar(
        &type_bars(&req).await?,
        TOP,
        "No packets received today",
    )))
}

async fn delete_data(_a: UserAction, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    server::delete_daily(&st.stores.meta, &today_key()).await?;
    Ok(redirect("/"))
}
