//! The application factory used by `main`, the request tests and the benchmark:
//! [`build_state`] connects the stores ([`state_for`] takes them connected); [`app`] assembles routes, limits and headers.

use crate::auth::Sessions;
use crate::routes;
use crate::state::{AppState, Settings};
use crate::store::{StoreResult, Stores};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App};
use d4_core::config::ServerConfig;

/// Connects the stores and builds the shared state.
pub async fn build_state(
    cfg: &ServerConfig,
    settings: Settings,
) -> StoreResult<web::Data<AppState>> {
    Ok(state_for(Stores::connect(cfg).await?, settings))
}

/// The shared state over stores already connected.
pub fn state_for(stores: Stores, settings: Settings) -> web::Data<AppState> {
    let queues = crate::store::queues::manager(
        &stores.meta,
        &stores.analyzer,
        settings.analyzer_default_max,
    );
    let decoy_hash = crate::auth::password::decoy_hash(settings.bcrypt_cost);
    let sessions = Sessions::new(stores.cache.clone());
    web::Data::new(AppState {
        stores,
        queues,
        sessions,
        settings,
        decoy_hash,
    })
}

/// Registers every route and the 404 fallback (for `App::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes::configure(cfg);
    cfg.default_service(web::to(routes::not_found));
}

/// The complete application: state, routes, body limits, security headers.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(crate::params::MAX_BODY))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Frame-Options", "DENY"))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "same-origin"))
                .add((
                    "Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
                ))
                .add(("Strict-Transport-Security", "max-age=31536000")),
        )
        .wrap(actix_web::middleware::from_fn(routes::metrics::track))
        .configure(configure)
}
