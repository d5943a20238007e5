//! d4-web: the D4 web admin (HTTPS on `[Flask_Server] host:port`) and REST API.
//!
//! A drop-in for the upstream Flask admin: same routes, parameters, Redis keys and JSON,
//! with CSRF-checked POST actions, enforced password changes and no 500s on bad input.
//!
//! - [`app`]: the application factory shared by `main`, the tests and the benchmark.
//! - [`state`]: shared state (stores, sessions, type table, settings).
//! - [`store`]: Redis reads and writes on the store facade (key names from `d4_core::keys`
//!   only), one file per area.
//! - [`auth`]: sessions, CSRF, passwords, tokens, roles, login lockout, default users.
//! - `routes`: one module per page or API area, each with its `configure`.
//! - `params`: the form/query extractor (urlencoded and multipart).
//! - `error`: `error::WebError` and `error::ApiError`, mapped to safe responses.
//! - [`templates`]: tera templates compiled once; `assets`: embedded static files.
//! - `charts`: server-rendered SVG charts.
//! - `types`: the D4 type table (`type.json`), from the one type registry.

pub mod app;
pub(crate) mod assets;
pub mod auth;
pub(crate) mod charts;
pub(crate) mod error;
pub(crate) mod params;
pub(crate) mod routes;
pub mod state;
pub mod store;
pub mod templates;
pub(crate) mod types;
pub mod util;

pub use app::{build_state, configure};
pub use state::{AppState, Settings};
