//! The COF HTTP API (spec `pdns.md` §2): `/query/<q>`, `/fquery/<q>`, `/info`, plus `/metrics`.
//!
//! [`configure`] registers every route; `pdns-cof-server` and the tests build the same app from
//! it. Handlers stay thin: parse the request ([`request`]), call [`crate::query::Lookup`],
//! render NDJSON ([`crate::cof`]). Errors go through [`error::WebError`].

pub mod error;
pub mod metrics;
pub mod request;

use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use fred::prelude::*;

use crate::cof;
use crate::config::Auth;
use crate::keys;
use crate::query::Lookup;
use crate::store::{int_value, StoreError};
use error::WebError;
use metrics::{Metrics, Route};
use request::Page;

/// NDJSON content type (COF draft §3.8).
pub const NDJSON: &str = "application/x-ndjson";
/// Response header carrying the next page's cursor (CIRCL pDNS 2.0).
pub const CURSOR_HEADER: &str = "x-dribble-cursor";

/// State of one HTTP worker: its own store connection (driven on the worker's thread, so a
/// request never hops threads to reach Redis) and the settings and counters shared by all.
pub struct State {
    /// Store connection of this worker.
    pub client: Client,
    /// `origin` field value.
    pub origin: String,
    /// Access control.
    pub auth: Auth,
    /// Counters for `/metrics`, shared by every worker.
    pub metrics: std::sync::Arc<Metrics>,
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/query/{q:.*}").route(web::get().to(query)))
        .service(web::resource("/fquery/{q:.*}").route(web::get().to(fquery)))
        .service(web::resource("/info").route(web::get().to(info)))
        .service(web::resource("/metrics").route(web::get().to(metrics_page)));
}

async fn query(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, WebError> {
    lookup(req, st, Route::Query).await
}

async fn fquery(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, WebError> {
    lookup(req, st, Route::Fquery).await
}

async fn lookup(
    req: HttpRequest,
    st: web::Data<State>,
    route: Route,
) -> Result<HttpResponse, WebError> {
    let started = Instant::now();
    let res = lookup_inner(&req, &st, route).await;
    st.metrics.observe(
        route,
        res.as_ref().map(|(_, n)| *n).map_err(WebError::status),
        started.elapsed(),
    );
    res.map(|(r, _)| r)
}

async fn lookup_inner(
    req: &HttpRequest,
    st: &State,
    route: Route,
) -> Result<(HttpResponse, usize), WebError> {
    request::check_auth(req, &st.auth)?;
    let prefix = if route == Route::Query {
        "/query/"
    } else {
        "/fquery/"
    };
    let q = request::query_text(req.uri().path(), prefix)?;
    let page = Page::from_headers(req.headers())?;
    let types = page.types();
    let client = &st.client;
    let lookup = Lookup {
        client,
        origin: &st.origin,
        types: &types,
    };
    let records = if route == Route::Query {
        lookup.query(&q).await?
    } else {
        lookup.fquery(&q).await?
    };
    let (slice, next) = page.slice(&records);
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, NDJSON));
    if let Some(next) = next {
        resp.insert_header((CURSOR_HEADER, next.to_string()));
    }
    Ok((resp.body(cof::ndjson(slice)), slice.len()))
}

async fn info(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, WebError> {
    let started = Instant::now();
    let res = info_inner(&req, &st).await;
    st.metrics.observe(
        Route::Info,
        res.as_ref().map(|_| 0).map_err(WebError::status),
        started.elapsed(),
    );
    res
}

async fn info_inner(req: &HttpRequest, st: &State) -> Result<HttpResponse, WebError> {
    request::check_auth(req, &st.auth)?;
    let (stats, sensors) = read_info(&st.client).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        ))
        .body(cof::info_json(stats, &sensors)))
}

/// `stats:processed` (0 when absent: upstream answered 500) and `stats:sensors` by score.
async fn read_info(client: &Client) -> Result<(i64, Vec<(String, i64)>), StoreError> {
    let stats: fred::types::Value = client.get(keys::STATS_PROCESSED).await?;
    let flat: Vec<fred::types::Value> = client.zrevrange(keys::STATS_SENSORS, 0, -1, true).await?;
    let sensors = sensor_pairs(flat);
    Ok((int_value(&stats).unwrap_or(0), sensors))
}

fn sensor_pairs(flat: Vec<fred::types::Value>) -> Vec<(String, i64)> {
    use fred::types::Value;
    let mut out = Vec::new();
    let mut push = |m: &Value, s: &Value| {
        let id = m.as_string().unwrap_or_default();
        let score = match s {
            Value::Double(d) => *d as i64,
            other => int_value(other).unwrap_or(0),
        };
        out.push((id, score));
    };
    if flat.iter().all(|v| matches!(v, Value::Array(_))) {
        for pair in &flat {
            if let Value::Array(p) = pair {
                if let [m, s] = p.as_slice() {
                    push(m, s);
                }
            }
        }
    } else {
        for p in flat.chunks(2) {
            if let [m, s] = p {
                push(m, s);
            }
        }
    }
    out
}

async fn metrics_page(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, WebError> {
    request::check_auth(&req, &st.auth)?;
    let processed = read_info(&st.client).await.map(|(s, _)| s).ok();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(st.metrics.render(processed)))
}
