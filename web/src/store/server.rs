//! Server-wide META data: accepted types, registration counters, daily statistics
//! (web spec §3.1, §3.4, §5.1, §5.4).

use super::StoreResult;
use crate::util::last_days;
use d4_core::keys::meta;
use d4_core::store::{pipe, Cmd, Store, Value};
use std::collections::BTreeMap;

/// Accepted plain types (ascending) and extended type names (sorted).
pub(crate) async fn accepted_types(meta_db: &Store) -> StoreResult<(Vec<u32>, Vec<String>)> {
    let t: Vec<String> = meta_db.query(&Cmd::smembers(meta::ACCEPTED_TYPE)).await?;
    let mut types: Vec<u32> = t.iter().filter_map(|s| s.parse().ok()).collect();
    types.sort_unstable();
    let mut ext: Vec<String> = meta_db
        .query(&Cmd::smembers(meta::ACCEPTED_EXTENDED_TYPE))
        .await?;
    ext.sort();
    Ok((types, ext))
}

/// Adds a type (and for 254 a non-empty extended name).
pub(crate) async fn add_accepted_type(
    meta_db: &Store,
    ty: u32,
    ext: Option<&str>,
) -> StoreResult<()> {
    meta_db
        .query::<()>(&Cmd::sadd(meta::ACCEPTED_TYPE, ty.to_string()))
        .await?;
    if let Some(e) = ext {
        meta_db
            .query::<()>(&Cmd::sadd(meta::ACCEPTED_EXTENDED_TYPE, e))
            .await?;
    }
    Ok(())
}

/// Removes a type.
pub(crate) async fn remove_accepted_type(meta_db: &Store, ty: u32) -> StoreResult<bool> {
    let n: i64 = meta_db
        .query(&Cmd::srem(meta::ACCEPTED_TYPE, ty.to_string()))
        .await?;
    Ok(n > 0)
}

/// Removes an extended type.
pub(crate) async fn remove_accepted_extended_type(meta_db: &Store, ext: &str) -> StoreResult<bool> {
    let n: i64 = meta_db
        .query(&Cmd::srem(meta::ACCEPTED_EXTENDED_TYPE, ext))
        .await?;
    Ok(n > 0)
}

/// `SCARD registered_uuid`, `SCARD sensor_pending_registration`.
pub(crate) async fn registration_counts(meta_db: &Store) -> StoreResult<(i64, i64)> {
    let mut p = pipe();
    p.scard(meta::REGISTERED_UUID)
        .scard(meta::SENSOR_PENDING_REGISTRATION);
    meta_db.run(&p).await
}

/// `(member, count)` of `daily_uuid:<date>` or `daily_type:<date>`, ascending by count.
pub(crate) async fn daily(meta_db: &Store, key: &str) -> StoreResult<Vec<(String, f64)>> {
    meta_db.query(&Cmd::zrange_withscores(key, 0, -1)).await
}

/// Today's per-sensor packet counts.
pub(crate) async fn daily_uuid(meta_db: &Store, date: &str) -> StoreResult<Vec<(String, f64)>> {
    daily(meta_db, &meta::daily_uuid(date)).await
}

/// Today's per-type packet counts.
pub(crate) async fn daily_type(meta_db: &Store, date: &str) -> StoreResult<Vec<(String, f64)>> {
    daily(meta_db, &meta::daily_type(date)).await
}

/// Deletes a day's landing statistics (upstream "demo" route).
pub(crate) async fn delete_daily(meta_db: &Store, date: &str) -> StoreResult<()> {
    meta_db
        .query(&Cmd::del(vec![
            meta::daily_type(date),
            meta::daily_uuid(date),
        ]))
        .await
}

/// Which daily series a history chart shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Daily {
    /// `daily_type:<date>`.
    Type,
    /// `daily_uuid:<date>`.
    Uuid,
}

/// Packets per member per day over the last `days` days.
pub(crate) async fn history(
    meta_db: &Store,
    which: Daily,
    days: u32,
) -> StoreResult<(Vec<String>, BTreeMap<String, Vec<f64>>)> {
    let d = last_days(days);
    let mut p = pipe();
    for (k, _) in &d {
        let key = match which {
            Daily::Type => meta::daily_type(k),
            Daily::Uuid => meta::daily_uuid(k),
        };
        p.zrange_withscores(key, 0, -1);
    }
    let v: Vec<Value> = if d.is_empty() {
        Vec::new()
    } else {
        meta_db.run(&p).await?
    };
    Ok(super::sensors::collect_series(&d, v))
}
