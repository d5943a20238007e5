//! `pdns-cof-server`: the COF HTTP API (spec `pdns.md` §2): `/query/<q>`, `/fquery/<q>`,
//! `/info`, plus `/metrics`.
//!
//! - [`serve`] (`server`): the HTTP server, one store connection per worker, until shutdown.
//! - `request`: the query text, the `dribble-*` headers, the format options and
//!   authentication of a request.
//! - `limit`: the slow-down of failed authentications per client address.
//! - `query`: COF lookups in the store (`query::Lookup`).
//! - `record`: COF records and the `/info` body as upstream's bytes.
//! - `error`: request errors as statuses and JSON bodies; `metrics`: the Prometheus counters.
//!
//! This file registers the routes (`configure`) and holds the handlers. Handlers stay thin:
//! parse the request, call the lookup, render NDJSON.

mod error;
mod limit;
mod metrics;
mod query;
mod record;
mod request;
mod server;

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use d4_core::store::{tolerant_pipe, value, Store, StoreError, Value};

pub use server::{serve, ServeOptions};

use crate::model::config::Auth;
use crate::model::keys;
use error::WebError;
use limit::AuthLimiter;
use metrics::{Metrics, Route};
use query::Lookup;
use record::Format;
use request::Page;

/// NDJSON content type (COF draft §3.8).
const NDJSON: &str = "application/x-ndjson";
/// Response header carrying the next page's cursor (CIRCL pDNS 2.0).
const CURSOR_HEADER: &str = "x-dribble-cursor";

/// State of one HTTP worker: its own store connection (driven on the worker's thread, so a
/// request never hops threads to reach the store) and the settings and counters shared by all.
struct State {
    /// Store connection of this worker.
    store: Store,
    /// `origin` field value.
    origin: String,
    /// Access control.
    auth: Auth,
    /// Failed authentications per client address, shared by every worker.
    limiter: Arc<AuthLimiter>,
    /// Record shape when the request does not ask for one.
    format: Format,
    /// Counters for `/metrics`, shared by every worker.
    metrics: Arc<Metrics>,
}

/// Registers every route.
fn configure(cfg: &mut web::ServiceConfig) {
    // Static prefixes instead of `/query/{q:.*}`: a pattern with a parameter is matched by a
    // regex on every request, which showed up in the server's profile.
    cfg.service(web::scope("/query").default_service(web::to(query)))
        .service(web::scope("/fquery").default_service(web::to(fquery)))
        .service(
            web::resource("/info")
                .route(web::get().to(info))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(metrics_page))
                .default_service(web::to(method_not_allowed)),
        )
        .default_service(web::to(not_found));
}

/// Any other path: the JSON 404 of every error.
async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound)
}

/// A method other than GET on `/info` or `/metrics`.
async fn method_not_allowed() -> Result<HttpResponse, WebError> {
    Err(WebError::MethodNotAllowed)
}

/// Checks the credentials of a request, unless its address failed too often lately
/// (then 429 with `Retry-After`, without looking at them).
fn authenticate(req: &HttpRequest, st: &State) -> Result<(), WebError> {
    if !st.auth.enabled() {
        return Ok(());
    }
    let ip = req.peer_addr().map(|a| a.ip());
    let now = Instant::now();
    if let Some(wait) = ip.and_then(|ip| st.limiter.blocked(ip, now)) {
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        return Err(WebError::TooManyRequests { retry_after });
    }
    let res = request::check_auth(req, &st.auth);
    if let (Err(WebError::Unauthorized), Some(ip)) = (&res, ip) {
        st.limiter.failed(ip, now);
    }
    res
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
    if req.method() != actix_web::http::Method::GET {
        return Err(WebError::MethodNotAllowed);
    }
    authenticate(req, st)?;
    let prefix = if route == Route::Query {
        "/query/"
    } else {
        "/fquery/"
    };
    // The scope also matches the bare `/query`, which upstream did not serve.
    if !req.uri().path().starts_with(prefix) {
        return Err(WebError::NotFound);
    }
    let q = request::query_text(req.uri().path(), prefix)?;
    let page = Page::from_headers(req.headers())?;
    let format = request::format(req.query_string(), st.format)?;
    let types = page.types();
    let lookup = Lookup {
        store: &st.store,
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
    let body = if format.bailiwick {
        let mut page = slice.to_vec();
        lookup.fill_bailiwicks(&mut page).await?;
        record::ndjson(&page, format)
    } else {
        record::ndjson(slice, format)
    };
    Ok((resp.body(body), slice.len()))
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
    authenticate(req, st)?;
    let (stats, sensors) = read_info(&st.store).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        ))
        .body(record::info_json(stats, &sensors)))
}

/// `stats:processed` (0 when absent: upstream answered 500) and `stats:sensors` by score.
async fn read_info(store: &Store) -> Result<(i64, Vec<(String, i64)>), StoreError> {
    let mut pipe = tolerant_pipe();
    pipe.get(keys::STATS_PROCESSED)
        .zrevrange_withscores(keys::STATS_SENSORS, 0, -1);
    let mut replies = store.run::<Vec<Value>>(&pipe).await?.into_iter();
    let processed = replies.next().as_ref().and_then(value::int).unwrap_or(0);
    let sensors = replies.next().map(value::scored_pairs).unwrap_or_default();
    Ok((processed, sensors))
}

async fn metrics_page(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, WebError> {
    authenticate(&req, &st)?;
    let processed = read_info(&st.store).await.map(|(s, _)| s).ok();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, d4_core::metrics::CONTENT_TYPE))
        .body(st.metrics.render(processed)))
}
