//! Server-wide META data: accepted types, registration counters, daily statistics
//! (web spec §3.1, §3.4, §5.1, §5.4).

use super::StoreResult;
use crate::util::last_days;
use d4_core::keys::meta;
use fred::prelude::*;
use fred::types::Value;
use std::collections::BTreeMap;

/// Accepted plain types (ascending) and extended type names (sorted).
pub async fn accepted_types(meta_db: &Client) -> StoreResult<(Vec<u32>, Vec<String>)> {
    let t: Vec<String> = meta_db.smembers(meta::ACCEPTED_TYPE).await?;
    let mut types: Vec<u32> = t.iter().filter_map(|s| s.parse().ok()).collect();
    types.sort_unstable();
    let mut ext: Vec<String> = meta_db.smembers(meta::ACCEPTED_EXTENDED_TYPE).await?;
    ext.sort();
    Ok((types, ext))
}

/// Whether a type is accepted.
pub async fn is_accepted_type(meta_db: &Client, ty: u32) -> StoreResult<bool> {
    Ok(meta_db
        .sismember(meta::ACCEPTED_TYPE, ty.to_string())
        .await?)
}

/// Whether an extended type is accepted.
pub async fn is_accepted_extended_type(meta_db: &Client, ext: &str) -> StoreResult<bool> {
    Ok(meta_db.sismember(meta::ACCEPTED_EXTENDED_TYPE, ext).await?)
}

/// Adds a type (and for 254 a non-empty extended name).
pub async fn add_accepted_type(meta_db: &Client, ty: u32, ext: Option<&str>) -> StoreResult<()> {
    let _: i64 = meta_db.sadd(meta::ACCEPTED_TYPE, ty.to_string()).await?;
    if let Some(e) = ext {
        let _: i64 = meta_db.sadd(meta::ACCEPTED_EXTENDED_TYPE, e).await?;
    }
    Ok(())
}

/// Removes a type.
pub async fn remove_accepted_type(meta_db: &Client, ty: u32) -> StoreResult<bool> {
    let n: i64 = meta_db.srem(meta::ACCEPTED_TYPE, ty.to_string()).await?;
    Ok(n > 0)
}

/// Removes an extended type.
pub async fn remove_accepted_extended_type(meta_db: &Client, ext: &str) -> StoreResult<bool> {
    let n: i64 = meta_db.srem(meta::ACCEPTED_EXTENDED_TYPE, ext).await?;
    Ok(n > 0)
}

/// `SCARD registered_uuid`, `SCARD sensor_pending_registration`.
pub async fn registration_counts(meta_db: &Client) -> StoreResult<(i64, i64)> {
    let p = meta_db.pipeline();
    let _: () = p.scard(meta::REGISTERED_UUID).await?;
    let _: () = p.scard(meta::SENSOR_PENDING_REGISTRATION).await?;
    Ok(p.all().await?)
}

/// `(member, count)` of `daily_uuid:<date>` or `daily_type:<date>`, ascending by count.
pub async fn daily(meta_db: &Client, key: &str) -> StoreResult<Vec<(String, f64)>> {
    Ok(meta_db.zrange(key, 0, -1, None, false, None, true).await?)
}

/// Today's per-sensor packet counts.
pub async fn daily_uuid(meta_db: &Client, date: &str) -> StoreResult<Vec<(String, f64)>> {
    daily(meta_db, &meta::daily_uuid(date)).await
}

/// Today's per-type packet counts.
pub async fn daily_type(meta_db: &Client, date: &str) -> StoreResult<Vec<(String, f64)>> {
    daily(meta_db, &meta::daily_type(date)).await
}

/// Deletes a day's landing statistics (upstream "demo" route).
pub async fn delete_daily(meta_db: &Client, date: &str) -> StoreResult<()> {
    let _: i64 = meta_db
        .del(vec![meta::daily_type(date), meta::daily_uuid(date)])
        .await?;
    Ok(())
}

/// Which daily series a history chart shows.
#[derive(Debug, Clone, Copy)]
pub enum Daily {
    /// `daily_type:<date>`.
    Type,
    /// `daily_uuid:<date>`.
    Uuid,
}

/// Packets per member per day over the last `days` days.
pub async fn history(
    meta_db: &Client,
    which: Daily,
    days: u32,
) -> StoreResult<(Vec<String>, BTreeMap<String, Vec<f64>>)> {
    let d = last_days(days);
    let p = meta_db.pipeline();
    for (k, _) in &d {
        let key = match which {
            Daily::Type => meta::daily_type(k),
            Daily::Uuid => meta::daily_uuid(k),
        };
        let _: () = p.zrange(key, 0, -1, None, false, None, true).await?;
    }
    let v: Vec<Value> = p.all().await?;
    Ok(super::sensors::collect_series(&d, v))
}
