//! Landing page `/` (web spec §5.1): today's packets per sensor and per type as SVG bars
//! (refreshed every 4 s by a small script), and the last 7 days per type and per sensor.
//! Also upstream's JSON feeds and the `/delete_data` demo action.

use super::common::{action, base, json, page, render};
use crate::auth::guard::state;
use crate::auth::{User, UserAction};
use crate::charts::{hbar, stacked, Bar};
use crate::error::{redirect, WebError};
use crate::state::AppState;
use crate::store::sensors;
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

/// The per-sensor history reduced to the [`HISTORY_SENSORS`] biggest senders over the
/// period (by total), with the count and packets of the rest for the caption: stacking the
/// rest as one "others" bar would hide every sensor once there are hundreds of them.
#[derive(Debug, Default)]
struct TopSensors {
    /// Series of the kept sensors, keyed by uuid.
    series: BTreeMap<String, Vec<f64>>,
    /// Sensors in the period.
    total: usize,
    /// Packets of the sensors not drawn.
    rest_packets: f64,
}

fn top_sensors(mut series: BTreeMap<String, Vec<f64>>) -> TopSensors {
    let total = series.len();
    if total <= HISTORY_SENSORS {
        return TopSensors {
            series,
            total,
            rest_packets: 0.0,
        };
    }
    let mut by_total: Vec<(String, f64)> = series
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().sum()))
        .collect();
    by_total.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest_packets = by_total.iter().skip(HISTORY_SENSORS).map(|(_, n)| n).sum();
    let keep: Vec<String> = by_total
        .into_iter()
        .take(HISTORY_SENSORS)
        .map(|(k, _)| k)
        .collect();
    series.retain(|k, _| keep.contains(k));
    TopSensors {
        series,
        total,
        rest_packets,
    }
}

/// Puts the monitoring state on the dashboard: sensors in `sensors_monitoring:sensors_error`
/// and the queue alerts of the monitor.
async fn insert_monitoring(st: &AppState, ctx: &mut tera::Context) -> Result<(), WebError> {
    let down = sensors::monitoring_errors(&st.stores.meta).await?;
    let queues = sensors::queue_alerts(&st.stores.meta).await?;
    ctx.insert("sensors_down", &down);
    ctx.insert("queue_alerts", &queues);
    Ok(())
}

async fn index(u: User, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let st = state(&req)?;
    let mut ctx = base(&u, "nav-home");
    ctx.insert("date", &Local::now().format("%Y/%m/%d").to_string());
    let bars = uuid_bars(&req).await?;
    ctx.insert("uuid_total", &bars.len());
    ctx.insert("uuid_top", &TOP.min(bars.len()));
    ctx.insert("uuid_svg", &hbar(&bars, TOP, "No packets received today"));
    insert_monitoring(&st, &mut ctx).await?;
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
    let top = top_sensors(by_uuid);
    ctx.insert("history_total", &top.total);
    ctx.insert("history_top", &top.series.len());
    ctx.insert("history_rest_packets", &(top.rest_packets as u64));
    ctx.insert(
        "uuid_history_svg",
        &stacked(&days, &top.series, "No packets in the last 7 days"),
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
