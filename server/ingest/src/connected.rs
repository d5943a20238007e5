//! Which sensors are connected now, read from the live-connection sets the ingest server
//! maintains in STREAM (upstream `lib/d4_server.py`).
//!
//! Upstream read `active_connection_extended_type:<ext>` for extended types, a key
//! nothing writes (spec §9 item 31); here the sensors streaming an extended type are
//! found through `active_connection:254` and each sensor's
//! `active_connection_extended_type:<uuid>` set, which is what the workers write.

use fred::prelude::*;

use d4_core::keys::stream;

/// Every sensor uuid with at least one live session (`active_connection`), sorted.
pub async fn all(stream_db: &Client) -> Result<Vec<String>, fred::error::Error> {
    let mut v: Vec<String> = stream_db.smembers(stream::ACTIVE_CONNECTION).await?;
    v.sort();
    Ok(v)
}

/// Whether `uuid` has a live session.
pub async fn is_connected(stream_db: &Client, uuid: &str) -> Result<bool, fred::error::Error> {
    stream_db.sismember(stream::ACTIVE_CONNECTION, uuid).await
}

/// Sensors connected with type `ty`; for 254 with `ext`, only those streaming that
/// extended type. Sorted.
pub async fn by_type(
    stream_db: &Client,
    ty: u8,
    ext: Option<&str>,
) -> Result<Vec<String>, fred::error::Error> {
    let mut sensors: Vec<String> = stream_db.smembers(stream::active_connection(ty)).await?;
    sensors.sort();
    let Some(ext) = ext.filter(|_| ty == 254) else {
        return Ok(sensors);
    };
    if sensors.is_empty() {
        return Ok(sensors);
    }
    let p = stream_db.pipeline();
    for s in &sensors {
        let _: () = p
            .sismember(stream::active_connection_extended_type(s), ext)
            .await?;
    }
    let flags: Vec<Value> = p.all().await?;
    Ok(sensors
        .into_iter()
        .zip(flags)
        .filter_map(|(s, on)| on.as_bool().unwrap_or(false).then_some(s))
        .collect())
}
