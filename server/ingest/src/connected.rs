//! Which sensors are connected now, read from the live-connection sets the ingest server
//! maintains in STREAM (upstream `lib/d4_server.py`).
//!
//! Upstream read `active_connection_extended_type:<ext>` for extended types, a key
//! nothing writes (spec §9 item 31); here the sensors streaming an extended type are
//! found through `active_connection:254` and each sensor's
//! `active_connection_extended_type:<uuid>` set, which is what the workers write.

use d4_core::keys::stream;
use d4_core::store::value::flag;
use d4_core::store::{pipe, Cmd, Store, StoreError, Value};
use d4_proto::DataType;

/// Every sensor uuid with at least one live session (`active_connection`), sorted.
pub async fn all(stream_db: &Store) -> Result<Vec<String>, StoreError> {
    let mut v: Vec<String> = stream_db
        .query(&Cmd::smembers(stream::ACTIVE_CONNECTION))
        .await?;
    v.sort();
    Ok(v)
}

/// Whether `uuid` has a live session.
pub async fn is_connected(stream_db: &Store, uuid: &str) -> Result<bool, StoreError> {
    stream_db
        .query(&Cmd::sismember(stream::ACTIVE_CONNECTION, uuid))
        .await
}

/// Sensors connected with type `ty`; for 254 with `ext`, only those streaming that
/// extended type. Sorted.
pub async fn by_type(
    stream_db: &Store,
    ty: DataType,
    ext: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut sensors: Vec<String> = stream_db
        .query(&Cmd::smembers(stream::active_connection(ty)))
        .await?;
    sensors.sort();
    let Some(ext) = ext.filter(|_| ty == DataType::EXTENDED) else {
        return Ok(sensors);
    };
    if sensors.is_empty() {
        return Ok(sensors);
    }
    let mut p = pipe();
    for s in &sensors {
        p.sismember(stream::active_connection_extended_type(s), ext);
    }
    let flags: Vec<Value> = stream_db.run(&p).await?;
    Ok(sensors
        .into_iter()
        .zip(flags)
        .filter_map(|(s, on)| flag(&on).then_some(s))
        .collect())
}
