//! Users, roles and API tokens in SERV, login counters in CACHE (web spec §2.1-2.7).
//!
//! Layout kept exactly as upstream: `user:all` (id → bcrypt hash), `user:tokens`
//! (token → id), `user_metadata:<id>` (`token`, `role`, `change_passwd`="True"),
//! cumulative `user_role:<role>` sets and the `d4:all_role` zset. Role changes recompute
//! every membership from the target score (upstream's demotion bug is not kept).

use super::StoreResult;
use d4_core::keys::{cache, serv};
use d4_core::store::{cmd, pipe, Cmd, Store};
use std::collections::HashMap;

/// Role names and scores created when `d4:all_role` is missing.
pub const DEFAULT_ROLES: [(&str, f64); 3] =
    [("admin", 1.0), ("user", 2.0), ("sensor_register", 20.0)];
/// Highest score a role may have (upstream's `ZRANGEBYSCORE score 50`).
const MAX_ROLE_SCORE: f64 = 50.0;
/// Value of `change_passwd` while a change is required.
pub const CHANGE_PASSWD_TRUE: &str = "True";

/// What a request needs to know about a logged-in user, read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserState {
    /// `HEXISTS user:all <id>`.
    pub exists: bool,
    /// Member of `user_role:user`.
    pub is_user: bool,
    /// Member of `user_role:admin`.
    pub is_admin: bool,
    /// `change_passwd == "True"`.
    pub must_change_password: bool,
}

/// One row of the users list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserRow {
    /// User id (an email).
    pub email: String,
    /// Role name.
    pub role: String,
    /// Current API token.
    pub api_key: String,
}

/// Creates `d4:all_role` with the default roles if it is missing.
pub async fn ensure_roles(serv: &Store) -> StoreResult<()> {
    let exists: bool = serv.query(&Cmd::exists(serv::ALL_ROLES)).await?;
    if !exists {
        let members: Vec<(f64, &str)> = DEFAULT_ROLES.iter().map(|(r, s)| (*s, *r)).collect();
        serv.query::<()>(&Cmd::zadd_multiple(serv::ALL_ROLES, &members))
            .await?;
    }
    Ok(())
}

/// Every role with its score, most privileged first.
pub async fn roles(serv: &Store) -> StoreResult<Vec<(String, f64)>> {
    serv.query(&Cmd::zrange_withscores(serv::ALL_ROLES, 0, -1))
        .await
}

/// The score of `role`, if it is a known role.
pub async fn role_score(serv: &Store, role: &str) -> StoreResult<Option<f64>> {
    serv.query(&Cmd::zscore(serv::ALL_ROLES, role)).await
}

/// Number of users.
pub async fn user_count(serv: &Store) -> StoreResult<i64> {
    serv.query(&Cmd::hlen(serv::USER_ALL)).await
}

/// Whether a user exists (`HEXISTS user:all`).
pub async fn user_exists(serv: &Store, id: &str) -> StoreResult<bool> {
    serv.query(&Cmd::hexists(serv::USER_ALL, id)).await
}

/// The stored bcrypt hash of a user.
pub async fn password_hash(serv: &Store, id: &str) -> StoreResult<Option<String>> {
    serv.query(&Cmd::hget(serv::USER_ALL, id)).await
}

/// Membership in `user_role:<role>`.
pub async fn has_role(serv: &Store, id: &str, role: &str) -> StoreResult<bool> {
    serv.query(&Cmd::sismember(serv::user_role(role), id)).await
}

/// Existence, roles and password-change flag of a user, in one pipeline.
pub async fn user_state(serv: &Store, id: &str) -> StoreResult<UserState> {
    let mut p = pipe();
    p.hexists(serv::USER_ALL, id)
        .sismember(serv::user_role("user"), id)
        .sismember(serv::user_role("admin"), id)
        .hget(serv::user_metadata(id), serv::field::CHANGE_PASSWD);
    let (exists, is_user, is_admin, flag): (bool, bool, bool, Option<String>) =
        serv.run(&p).await?;
    Ok(UserState {
        exists,
        is_user,
        is_admin,
        must_change_password: flag.as_deref() == Some(CHANGE_PASSWD_TRUE),
    })
}

/// `user_metadata:<id>` as a map (empty when the user is unknown).
pub async fn metadata(serv: &Store, id: &str) -> StoreResult<HashMap<String, String>> {
    serv.query(&Cmd::hgetall(serv::user_metadata(id))).await
}

/// Replaces a user's API token: the old one leaves `user:tokens`, the new one is stored
/// in both places (web spec §2.7).
pub async fn set_token(serv: &Store, id: &str, token: &str) -> StoreResult<()> {
    let meta = serv::user_metadata(id);
    let old: Option<String> = serv.query(&Cmd::hget(&meta, serv::field::TOKEN)).await?;
    if let Some(old) = old {
        serv.query::<()>(&Cmd::hdel(serv::USER_TOKENS, old)).await?;
    }
    serv.query::<()>(&Cmd::hset(serv::USER_TOKENS, token, id))
        .await?;
    serv.query::<()>(&Cmd::hset(&meta, serv::field::TOKEN, token))
        .await
}

/// The user owning an API token.
pub async fn token_user(serv: &Store, token: &str) -> StoreResult<Option<String>> {
    serv.query(&Cmd::hget(serv::USER_TOKENS, token)).await
}

/// Stores a new password hash.
pub async fn set_password_hash(serv: &Store, id: &str, hash: &str) -> StoreResult<()> {
    serv.query(&Cmd::hset(serv::USER_ALL, id, hash)).await
}

/// Sets or clears the forced password change flag.
pub async fn set_change_password(serv: &Store, id: &str, required: bool) -> StoreResult<()> {
    let meta = serv::user_metadata(id);
    let c = if required {
        Cmd::hset(meta, serv::field::CHANGE_PASSWD, CHANGE_PASSWD_TRUE)
    } else {
        Cmd::hdel(meta, serv::field::CHANGE_PASSWD)
    };
    serv.query(&c).await
}

/// Gives `id` exactly the role sets implied by `role`'s score (cumulative: every role
/// whose score is ≥ it), and records the role name.
pub async fn set_role(serv: &Store, id: &str, role: &str, score: f64) -> StoreResult<()> {
    for (r, s) in roles(serv).await? {
        let key = serv::user_role(&r);
        let c = if s >= score && s <= MAX_ROLE_SCORE {
            Cmd::sadd(key, id)
        } else {
            Cmd::srem(key, id)
        };
        serv.query::<()>(&c).await?;
    }
    serv.query(&Cmd::hset(serv::user_metadata(id), serv::field::ROLE, role))
        .await
}

/// Creates a user the way upstream's `create_user_db` does: token, flag, role sets, hash.
pub async fn create_user(
    serv: &Store,
    id: &str,
    hash: &str,
    role: &str,
    score: f64,
    token: &str,
    change_password: bool,
) -> StoreResult<()> {
    set_token(serv, id, token).await?;
    if change_password {
        set_change_password(serv, id, true).await?;
    }
    set_role(serv, id, role, score).await?;
    set_password_hash(serv, id, hash).await
}

/// Deletes a user: role sets, token, metadata, hash (spec §3.7 `delete_user`).
pub async fn delete_user(serv: &Store, id: &str) -> StoreResult<bool> {
    let meta = serv::user_metadata(id);
    let known: bool = serv.query(&Cmd::exists(&meta)).await?;
    let in_all = user_exists(serv, id).await?;
    if !known && !in_all {
        return Ok(false);
    }
    for (r, _) in roles(serv).await? {
        serv.query::<()>(&Cmd::srem(serv::user_role(&r), id))
            .await?;
    }
    let token: Option<String> = serv.query(&Cmd::hget(&meta, serv::field::TOKEN)).await?;
    if let Some(t) = token {
        serv.query::<()>(&Cmd::hdel(serv::USER_TOKENS, t)).await?;
    }
    serv.query::<()>(&Cmd::del(&meta)).await?;
    serv.query::<()>(&Cmd::hdel(serv::USER_ALL, id)).await?;
    Ok(true)
}

/// Every user with role and token, sorted by id.
pub async fn list_users(serv: &Store) -> StoreResult<Vec<UserRow>> {
    let mut ids: Vec<String> = serv.query(&Cmd::hkeys(serv::USER_ALL)).await?;
    ids.sort();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let m = metadata(serv, &id).await?;
        rows.push(UserRow {
            role: m.get(serv::field::ROLE).cloned().unwrap_or_default(),
            api_key: m.get(serv::field::TOKEN).cloned().unwrap_or_default(),
            email: id,
        });
    }
    Ok(rows)
}

/// A brute-force counter and its remaining lifetime in seconds.
pub async fn counter(cache_db: &Store, key: &str) -> StoreResult<(i64, i64)> {
    let v: Option<String> = cache_db.query(&Cmd::get(key)).await?;
    let n = v.and_then(|s| s.parse().ok()).unwrap_or(0);
    if n == 0 {
        return Ok((0, 0));
    }
    let ttl: i64 = cache_db.query(&Cmd::ttl(key)).await?;
    Ok((n, ttl.max(0)))
}

/// `INCR` + `EXPIRE 300` on each counter key.
pub async fn count_failure(cache_db: &Store, keys: &[String]) -> StoreResult<()> {
    for k in keys {
        cache_db.query::<()>(cmd("INCR").arg(k)).await?;
        cache_db
            .query::<()>(&Cmd::expire(k, cache::FAILED_LOGIN_TTL))
            .await?;
    }
    Ok(())
}
