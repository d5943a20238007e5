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

mod ask;
mod batch;
mod dnsdb;
mod error;
mod feed;
mod framing;
mod limit;
mod metrics;
mod page;
pub(crate) mod query;
mod quota;
pub(crate) mod record;
mod request;
mod saf;
mod server;

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use d4_core::store::{tolerant_pipe, value, Store, StoreError, Value};

pub use server::{serve, ServeOptions};

use crate::model::config::Auth;
use crate::model::keys;
use crate::search;
use error::WebError;
use limit::AuthLimiter;
use metrics::{Metrics, Route};
use query::Lookup;
use quota::{Caller, QuotaBook, Refused};
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
    /// Query quotas per caller, shared by every worker.
    quotas: Arc<QuotaBook>,
}

/// Registers every route.
fn configure(cfg: &mut web::ServiceConfig) {
    // Static prefixes instead of `/query/{q:.*}`: a pattern with a parameter is matched by a
    // regex on every request, which showed up in the server's profile.
    cfg.service(web::scope("/query").default_service(web::to(query)))
        .service(web::scope("/fquery").default_service(web::to(fquery)))
        .service(web::scope("/dnsdb/v2").default_service(web::to(dnsdb_v2)))
        .service(
            web::resource("/search")
                .route(web::get().to(search_page))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/new")
                .route(web::get().to(new_feed))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/batch")
                .app_data(web::PayloadConfig::new(batch::MAX_BODY))
                .route(web::post().to(batch_post))
                .default_service(web::to(method_not_allowed)),
        )
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

/// Checks the credentials of a request (`Authorization`, or `X-API-Key` as DNSDB clients
/// send it), unless its address failed too often lately (then 429 with `Retry-After`,
/// without looking at them). Returns who is asking, for quotas.
fn authenticate(req: &HttpRequest, st: &State) -> Result<Caller, WebError> {
    if !st.auth.enabled() {
        return Ok(Caller::of(req, false));
    }
    let ip = req.peer_addr().map(|a| a.ip());
    let now = Instant::now();
    if let Some(wait) = ip.and_then(|ip| st.limiter.blocked(ip, now)) {
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        return Err(WebError::TooManyRequests { retry_after });
    }
    let res = match quota::api_key_ok(req, &st.auth) {
        Some(true) => Ok(()),
        Some(false) => Err(WebError::Unauthorized),
        None => request::check_auth(req, &st.auth),
    };
    if let (Err(WebError::Unauthorized), Some(ip)) = (&res, ip) {
        st.limiter.failed(ip, now);
    }
    res.map(|()| Caller::of(req, true))
}

/// Authenticates and counts one query against the caller's quota; returns the most
/// records the answer may hold (`None` = no limit).
fn admit(req: &HttpRequest, st: &State) -> Result<Option<usize>, Refused> {
    let caller = authenticate(req, st)?;
    if !st.quotas.enabled() {
        return Ok(None);
    }
    let quota = st.quotas.admit(&caller, quota::now())?;
    Ok((quota.results > 0).then(|| usize::try_from(quota.results).unwrap_or(usize::MAX)))
}

async fn query(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, Refused> {
    lookup(req, st, Route::Query).await
}

async fn fquery(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, Refused> {
    lookup(req, st, Route::Fquery).await
}

async fn lookup(
    req: HttpRequest,
    st: web::Data<State>,
    route: Route,
) -> Result<HttpResponse, Refused> {
    let started = Instant::now();
    let res = lookup_inner(&req, &st, route).await;
    st.metrics.observe(
        route,
        res.as_ref().map(|(_, n)| *n).map_err(Refused::status),
        started.elapsed(),
    );
    res.map(|(r, _)| r)
}

async fn lookup_inner(
    req: &HttpRequest,
    st: &State,
    route: Route,
) -> Result<(HttpResponse, usize), Refused> {
    if req.method() != actix_web::http::Method::GET {
        return Err(WebError::MethodNotAllowed.into());
    }
    let results_max = admit(req, st)?;
    let prefix = if route == Route::Query {
        "/query/"
    } else {
        "/fquery/"
    };
    // The scope also matches the bare `/query`, which upstream did not serve.
    if !req.uri().path().starts_with(prefix) {
        return Err(WebError::NotFound.into());
    }
    let q = request::query_text(req.uri().path(), prefix)?;
    let format = request::format(req.query_string(), st.format)?;
    let opts = framing::Options::of(req)?;
    let fquery = route == Route::Fquery;
    if let Some(q) = request::search_request(&q, req.query_string(), req.headers(), fquery)? {
        return search(st, q, format, opts, results_max).await;
    }
    let mut page = Page::from_headers(req.headers())?;
    if let Some(max) = results_max {
        page.count = Some(page.count.map_or(max, |n| n.min(max)));
    }
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
    let mut end = saf::End::Succeeded;
    if let Some(next) = next {
        resp.insert_header((CURSOR_HEADER, next.to_string()));
        end = saf::End::Limited(format!("page ends; continue from cursor {next}"));
        if let Some(max) = results_max.filter(|m| slice.len() == *m) {
            resp.insert_header((framing::ERRORS_HEADER, framing::quota_error(max)));
        }
    }
    let lines = if format.bailiwick {
        let mut page = slice.to_vec();
        lookup.fill_bailiwicks(&mut page).await?;
        record::ndjson(&page, format)
    } else {
        record::ndjson(slice, format)
    };
    let body = if opts.summarize {
        framing::summary_body(opts, saf::Summary::of(&records))
    } else {
        framing::records_body(opts, lines, &end)
    };
    Ok((resp.body(body), slice.len()))
}

/// A `/query` or `/fquery` with search parameters: one page of the engine, newest first,
/// the next page's cursor in `x-dribble-cursor`.
async fn search(
    st: &State,
    mut q: search::Query,
    format: record::Format,
    opts: framing::Options,
    results_max: Option<usize>,
) -> Result<(HttpResponse, usize), Refused> {
    let engine = search::Engine {
        store: &st.store,
        origin: &st.origin,
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, NDJSON));
    if opts.summarize {
        let s = engine.summarize(&q).await?;
        let summary = saf::Summary {
            count: s.count,
            num_results: usize::try_from(s.records).unwrap_or(usize::MAX),
            time_first: s.time_first.unwrap_or(0),
            time_last: s.time_last.unwrap_or(0),
        };
        return Ok((resp.body(framing::summary_body(opts, summary)), 0));
    }
    let asked = q.limit;
    if let Some(max) = results_max {
        q.limit = q.limit.min(max);
    }
    let mut page = engine.search(&q).await?;
    let mut end = saf::End::Succeeded;
    if let Some(next) = &page.next {
        resp.insert_header((CURSOR_HEADER, next.encode()));
        end = saf::End::Limited(format!(
            "limit of {} records reached; continue with the cursor",
            q.limit
        ));
        if q.limit < asked {
            resp.insert_header((framing::ERRORS_HEADER, framing::quota_error(q.limit)));
        }
    }
    if format.bailiwick {
        let lookup = Lookup {
            store: &st.store,
            origin: &st.origin,
            types: &[],
        };
        lookup.fill_bailiwicks(&mut page.records).await?;
    }
    let lines = record::ndjson(&page.records, format);
    let n = page.records.len();
    Ok((resp.body(framing::records_body(opts, lines, &end)), n))
}

/// `/dnsdb/v2/...`: DNSDB v2-shaped lookups, summaries and `rate_limit` (see `dnsdb`).
async fn dnsdb_v2(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, Refused> {
    if req.method() != actix_web::http::Method::GET {
        return Err(WebError::MethodNotAllowed.into());
    }
    let now = quota::now();
    let parsed = dnsdb::parse(req.uri().path(), req.query_string(), now);
    let (mut ask, summarize) = match parsed {
        Ok(dnsdb::Request::RateLimit) => {
            let caller = authenticate(&req, &st)?;
            return Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .body(st.quotas.status(&caller, now).dnsdb_json()));
        }
        Ok(dnsdb::Request::Lookup { ask, summarize }) => (*ask, summarize),
        Err(msg) => {
            authenticate(&req, &st)?;
            return Err(WebError::BadRequest(msg).into());
        }
    };
    if let Some(max) = admit(&req, &st)? {
        ask.query.limit = ask.query.limit.min(max);
    }
    let body = if summarize {
        dnsdb::summary_body(&ask::summarize(&st.store, &st.origin, &ask).await?)
    } else {
        let answer = ask::run(&st.store, &st.origin, &ask).await?;
        dnsdb::lookup_body(&ask, &answer)
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, NDJSON))
        .body(body))
}

/// `POST /batch`: one answer line per query line, streamed in input order (see `batch`).
async fn batch_post(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, Refused> {
    use futures_util::StreamExt as _;
    let caller = authenticate(&req, &st)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| WebError::BadRequest("batch body is not UTF-8".into()))?;
    let now = quota::now();
    let lines = batch::parse(text, now).map_err(WebError::BadRequest)?;
    let answers = futures_util::stream::iter(lines)
        .map(move |line| {
            let (st, caller) = (st.clone(), caller.clone());
            async move {
                let answer = batch_answer(&st, &caller, &line).await;
                Ok::<_, std::convert::Infallible>(web::Bytes::from(batch::answer_line(
                    &line, answer,
                )))
            }
        })
        .buffered(batch::IN_FLIGHT);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, NDJSON))
        .streaming(answers))
}

/// The answer to one batch line, after its quota.
async fn batch_answer(
    st: &State,
    caller: &Caller,
    line: &batch::Line,
) -> Result<ask::Answer, String> {
    let mut ask = line.ask.clone()?;
    if st.quotas.enabled() {
        let quota = st
            .quotas
            .admit(caller, quota::now())
            .map_err(|e| format!("quota exceeded: {}; retry in {} s", e.what, e.retry_after))?;
        if quota.results > 0 {
            let max = usize::try_from(quota.results).unwrap_or(usize::MAX);
            ask.query.limit = ask.query.limit.min(max);
        }
    }
    ask::run(&st.store, &st.origin, &ask)
        .await
        .map_err(|e| match e {
            search::SearchError::Store(e) => {
                tracing::error!(error = %e, "Store error while answering a batch line.");
                "passive DNS store unavailable".to_string()
            }
            other => other.to_string(),
        })
}

/// `GET /search`: the search page (see `page`).
async fn search_page(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, Refused> {
    let form = page::Form::parse(req.query_string());
    let outcome = if form.q.trim().is_empty() {
        authenticate(&req, &st)?;
        page::Outcome::Empty
    } else {
        let results_max = admit(&req, &st)?;
        match form.ask() {
            Err(msg) => page::Outcome::Error(msg),
            Ok(mut ask) => {
                if let Some(max) = results_max {
                    ask.query.limit = ask.query.limit.min(max);
                }
                match ask::run(&st.store, &st.origin, &ask).await {
                    Ok(a) => page::Outcome::Records(a.records, a.next),
                    Err(search::SearchError::BadRequest(msg)) => page::Outcome::Error(msg),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"))
        .body(page::render(&form, &outcome)))
}

/// Where `/new` is in its stream.
struct FeedState {
    st: web::Data<State>,
    q: feed::FeedQuery,
    /// Entries sent so far.
    sent: usize,
    /// Id of the last entry sent.
    last_id: String,
    /// Where the next chunk starts; `None` once the last chunk was read.
    next: Option<String>,
    /// The first chunk, read before answering so that a store failure is a 503.
    prefetched: Option<Vec<feed::Entry>>,
    /// Whether the terminator was written.
    finished: bool,
}

impl FeedState {
    /// The lines of the next chunk, with `begin` first and the terminator last on request;
    /// `None` after the end.
    async fn step(&mut self) -> Option<String> {
        if self.finished {
            return None;
        }
        let mut out = String::new();
        let chunk = match (self.prefetched.take(), self.next.clone()) {
            (Some(c), _) => {
                if self.q.saf {
                    out.push_str(saf::BEGIN);
                }
                Ok(c)
            }
            (None, Some(start)) => feed::read(&self.st.store, &start, feed::CHUNK).await,
            (None, None) => Ok(Vec::new()),
        };
        let end = match chunk {
            Err(e) => {
                tracing::error!(error = %e, "Store error while streaming the feed.");
                Some(saf::End::Failed("passive DNS store unavailable".into()))
            }
            Ok(chunk) => self.take(&chunk, &mut out),
        };
        if let Some(end) = end {
            self.finished = true;
            if self.q.saf {
                out.push_str(&end.line());
            }
        }
        Some(out)
    }

    /// Writes the entries of `chunk` that pass the filter, up to the limit; how the answer
    /// ends, if it does.
    fn take(&mut self, chunk: &[feed::Entry], out: &mut String) -> Option<saf::End> {
        let full = chunk.len() == feed::CHUNK;
        self.next = chunk
            .last()
            .filter(|_| full)
            .map(|(id, _)| format!("({id}"));
        for (id, fields) in chunk {
            if self.sent == self.q.limit {
                return Some(saf::End::Limited(format!(
                    "limit of {} entries reached; continue with after={}",
                    self.q.limit, self.last_id
                )));
            }
            if let Some(l) = feed::line(id, fields, self.q.kind.as_deref()) {
                out.push_str(&l);
                self.sent += 1;
            }
            self.last_id.clone_from(id);
        }
        self.next.is_none().then_some(saf::End::Succeeded)
    }
}

/// `GET /new`: the newly observed feed, streamed chunk by chunk (see `feed`).
async fn new_feed(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, Refused> {
    admit(&req, &st)?;
    let q = feed::parse(req.query_string(), quota::now()).map_err(WebError::BadRequest)?;
    let first = feed::read(&st.store, &q.start, feed::CHUNK).await?;
    let state = FeedState {
        st: st.clone(),
        q,
        sent: 0,
        last_id: String::new(),
        next: None,
        prefetched: Some(first),
        finished: false,
    };
    let stream = futures_util::stream::unfold(state, |mut fs| async move {
        let out = fs.step().await?;
        Some((Ok::<_, std::convert::Infallible>(web::Bytes::from(out)), fs))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, NDJSON))
        .streaming(stream))
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
    let mut replies = query::refusals(store.run::<Vec<Value>>(&pipe).await?)?.into_iter();
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
