//! What a worker tells its family after a batch, and the one way a worker rejects a
//! session (upstream `on_error`).

use d4_core::keys::{meta, stream};
use d4_core::store::{Cmd, Pipeline, StoreError};

use crate::ctx::Ctx;

/// Whether a session goes on after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    Continue,
    /// The worker rejected the session and cleaned it up; forget it.
    Abort,
}

/// A worker's rejection of a session's data (upstream `on_error`): flag it for the
/// server (`Error:IncorrectType`), write the sensor's `Error` field, then run `cleanup`
/// (the session's stream and sets, on the STREAM store).
pub(crate) async fn record_rejection(
    ctx: &Ctx,
    session: &str,
    sensor: &str,
    error_text: &str,
    cleanup: &Pipeline,
) -> Result<(), StoreError> {
    ctx.stream
        .query::<()>(&Cmd::sadd(stream::ERROR_INCORRECT_TYPE, session))
        .await?;
    ctx.meta
        .query::<()>(&Cmd::hset(
            meta::metadata_uuid(sensor),
            meta::field::ERROR,
            error_text,
        ))
        .await?;
    ctx.stream.run::<()>(cleanup).await
}
