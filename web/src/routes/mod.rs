//! Routes: one module per page area, each with `configure`, merged in [`configure`].
//! The helpers they share (registration with the method rules, 404/405, rendering) are in
//! [`common`].

pub(crate) mod api;
pub(crate) mod blacklist;
pub(crate) mod common;
pub(crate) mod dashboard;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod queues;
pub(crate) mod sensors;
pub(crate) mod server;
pub(crate) mod settings;

pub(crate) use common::not_found;

use actix_web::web;

/// Registers every route.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    crate::assets::configure(cfg);
    login::configure(cfg);
    dashboard::configure(cfg);
    sensors::configure(cfg);
    blacklist::configure(cfg);
    server::configure(cfg);
    queues::configure(cfg);
    settings::configure(cfg);
    api::configure(cfg);
    metrics::configure(cfg);
}
