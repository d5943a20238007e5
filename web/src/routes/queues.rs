//! Analyzer queue pages and actions (web spec §3.5, §5.4-5.5, §5.9-5.10).

use super::{json, page};
use crate::auth::User;
use crate::error::WebError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use tera::Context;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    page(cfg, "/generate_uuid", generate_uuid);
}

/// Adds the queue tables of the server management page to `ctx`.
pub async fn insert_listing(
    _st: &AppState,
    _accepted: &[u32],
    ctx: &mut Context,
) -> Result<(), WebError> {
    ctx.insert("queues", &Vec::<String>::new());
    ctx.insert("extended_queues", &Vec::<String>::new());
    Ok(())
}

async fn generate_uuid(_u: User) -> HttpResponse {
    json(&serde_json::json!({"uuid": crate::util::new_uuid()}))
}
