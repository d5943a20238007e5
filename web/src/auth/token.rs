//! REST API authentication (web spec §4.1): the `Authorization` header (all spaces
//! removed) must be a 41-character token from `user:tokens` whose user holds the route's
//! role. Failures count in CACHE `failed_login_ip_api:<ip>`; at 5 every request of that
//! IP gets 401 until the counter expires (300 s).

use super::login::{jitter, peer_ip, MAX_ATTEMPTS};
use super::password::is_token_format;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use d4_core::keys::cache;

/// Authenticates an API request for `role`; returns the user id.
pub async fn authenticate(
    st: &AppState,
    req: &HttpRequest,
    role: &str,
) -> Result<String, ApiError> {
    let unauthorized = |r: &str| ApiError::new(StatusCode::UNAUTHORIZED, r);
    let raw = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if raw.is_empty() {
        return Err(unauthorized("Authentication needed"));
    }
    let token: String = raw.chars().filter(|c| *c != ' ').collect();
    let ip = peer_ip(req);
    let counter = cache::failed_login_ip_api(&ip);
    let (n, ttl) = users::counter(&st.stores.cache, &counter).await?;
    if n >= MAX_ATTEMPTS {
        return Err(unauthorized(&format!(
            "Max Connection Attempts reached, Please wait {ttl}s"
        )));
    }
    let user = if is_token_format(&token) {
        jitter(st).await;
        users::token_user(&st.stores.serv, &token).await?
    } else {
        None
    };
    let Some(user) = user else {
        users::count_failure(&st.stores.cache, &[counter]).await?;
        return Err(unauthorized("Authentication failed"));
    };
    if !users::has_role(&st.stores.serv, &user, role).await? {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "Access Forbidden"));
    }
    Ok(user)
}
