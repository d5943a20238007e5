//! The worker of one session, by family: text types (3, 4, 8) and meta/extended (2/254).

use bytes::Bytes;
use tracing::{error, warn};

use super::family::Entry;
use super::meta::MetaWorker;
use super::pcap::PcapWorker;
use super::text::{TextKind, TextWorker};
use super::Ctx;
use d4_core::queues::QueueKind;

/// Whether a session goes on after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// The worker rejected the session and cleaned it up; forget it.
    Abort,
}

/// A session's worker.
pub enum Worker {
    /// Types 3, 4, 8.
    Text {
        /// The worker.
        worker: Box<TextWorker>,
        /// Sensor uuid.
        sensor: String,
        /// Session uuid.
        session: String,
    },
    /// Types 2 and 254.
    Meta(Box<MetaWorker>),
    /// Type 1.
    Pcap {
        /// The worker.
        worker: Box<PcapWorker>,
        /// Sensor uuid.
        sensor: String,
        /// Session uuid.
        session: String,
    },
}

impl Worker {
    /// Stream types a family's sessions use (`2` reads `stream:2:` and `stream:254:`).
    pub fn all_types(family: u8) -> Vec<u8> {
        match family {
            2 => vec![2, 254],
            t => vec![t],
        }
    }

    /// The stream read first.
    pub fn first_type(family: u8) -> u8 {
        family
    }

    /// A worker for a session whose first entry names `sensor`.
    pub fn new(family: u8, ctx: &Ctx, session: &str, sensor: &str) -> Worker {
        let text = |k| Worker::Text {
            worker: Box::new(TextWorker::new(k, &ctx.data_dir, sensor)),
            sensor: sensor.to_string(),
            session: session.to_string(),
        };
        match family {
            3 => text(TextKind::LogLine),
            4 => text(TextKind::Dnscap),
            2 => Worker::Meta(Box::new(MetaWorker::new(&ctx.data_dir, session, sensor))),
            1 => Worker::Pcap {
                worker: Box::new(PcapWorker::new(&ctx.data_dir, sensor)),
                sensor: sensor.to_string(),
                session: session.to_string(),
            },
            _ => text(TextKind::PassiveDns),
        }
    }

    /// Stream types to read now.
    pub fn reading(&self) -> Vec<u8> {
        match self {
            Worker::Text { worker, .. } => vec![worker.kind().ty()],
            Worker::Meta(m) => vec![m.reading()],
            Worker::Pcap { .. } => vec![1],
        }
    }

    /// Entries of stream `ty` the worker keeps in the store until the session ends.
    pub fn kept(&self, ty: u8) -> u64 {
        match self {
            Worker::Text { .. } | Worker::Pcap { .. } => 0,
            Worker::Meta(m) => m.kept(ty),
        }
    }

    /// Sensor uuid.
    pub fn sensor(&self) -> &str {
        match self {
            Worker::Text { sensor, .. } | Worker::Pcap { sensor, .. } => sensor,
            Worker::Meta(m) => m.sensor(),
        }
    }

    /// Queues this session's lines go to now.
    pub fn queue_kind(&self) -> Option<QueueKind> {
        match self {
            Worker::Text { worker, .. } => worker.kind().queue_kind(),
            Worker::Meta(m) => m.queue_kind(),
            Worker::Pcap { .. } => Some(QueueKind::Plain(1)),
        }
    }

    /// Processes entries of stream type `ty`; complete lines go to `out`.
    pub async fn entries(
        &mut self,
        ctx: &Ctx,
        ty: u8,
        entries: &[Entry],
        out: &mut Vec<Bytes>,
    ) -> Flow {
        match self {
            Worker::Text {
                worker, session, ..
            } => {
                for e in entries {
                    if let Err(err) = worker.message(&e.message, out) {
                        error!(%session, error = %err, "Cannot save data to disk.");
                    }
                }
                if let Err(err) = worker.flush() {
                    error!(%session, error = %err, "Cannot save data to disk.");
                }
                Flow::Continue
            }
            Worker::Meta(m) => m.entries(ctx, ty, entries, out).await,
            Worker::Pcap {
                worker,
                sensor,
                session,
            } => {
                for e in entries {
                    if let Err(err) = worker.message(&e.message) {
                        if let super::pcap::PcapError::Io(io) = &err {
                            error!(%session, error = %io, "Cannot save data to disk.");
                            continue;
                        }
                        warn!(%session, error = %err, "Incorrect file format.");
                        reject_session(
                            ctx,
                            1,
                            session,
                            sensor,
                            "Error: Type=1, Incorrect file format",
                        )
                        .await;
                        return Flow::Abort;
                    }
                }
                if let Err(err) = worker.flush() {
                    error!(%session, error = %err, "Cannot save data to disk.");
                }
                out.extend(worker.compressed().await);
                Flow::Continue
            }
        }
    }

    /// End of session: final lines to `out`, files closed.
    pub async fn finish(&mut self, ctx: &Ctx, out: &mut Vec<Bytes>) {
        let r = match self {
            Worker::Text { worker, .. } => worker.finish(out).await,
            Worker::Meta(m) => m.finish(ctx, out).await,
            Worker::Pcap { worker, .. } => worker.finish().await.map(|p| out.extend(p)),
        };
        if let Err(e) = r {
            warn!(error = %e, "Cannot finish the session's files.");
        }
    }

    /// Worker stop: files closed (items they produce, e.g. `.gz` paths, go to `out`);
    /// returns the unfinished data to save for the next run.
    pub async fn suspend(&mut self, out: &mut Vec<Bytes>) -> Option<Bytes> {
        let r = match self {
            Worker::Text { worker, .. } => worker.suspend().await,
            Worker::Meta(m) => m.suspend().await,
            Worker::Pcap { worker, .. } => worker.suspend(out).await,
        };
        r.unwrap_or_else(|e| {
            warn!(error = %e, "Cannot close the session's files.");
            None
        })
    }

    /// Restores an unfinished line saved by a previous run.
    pub fn restore(&mut self, tail: &[u8]) {
        match self {
            Worker::Text { worker, .. } => worker.restore(tail),
            Worker::Meta(m) => m.restore(tail),
            Worker::Pcap {
                worker, session, ..
            } => {
                if let Err(e) = worker.message(tail) {
                    warn!(%session, error = %e, "Cannot restore the saved capture data.");
                }
            }
        }
    }
}

/// A worker's rejection of a session's data (upstream `data_incorrect_format` /
/// `on_error`): flag it for the server, write the Error field, drop its stream and sets.
pub async fn reject_session(ctx: &Ctx, ty: u8, session: &str, sensor: &str, error_text: &str) {
    use d4_core::keys::{meta, stream};
    use fred::prelude::*;
    let r = async {
        let _: () = ctx
            .stream
            .sadd(stream::ERROR_INCORRECT_TYPE, session)
            .await?;
        let _: () = ctx
            .meta
            .hset(
                meta::metadata_uuid(sensor),
                (meta::field::ERROR, error_text),
            )
            .await?;
        let p = ctx.stream.pipeline();
        let _: () = p.srem(stream::ENDED_SESSION, session).await?;
        let _: () = p.srem(stream::session_uuid(ty), session).await?;
        let _: () = p.srem(stream::working_session_uuid(ty), session).await?;
        let _: () = p.hdel(stream::map_type_session_uuid(ty), session).await?;
        let _: () = p.del(stream::stream(ty, session)).await?;
        p.all::<Vec<Value>>().await.map(|_| ())
    }
    .await;
    if let Err(e) = r {
        warn!(%session, error = %e, "Cannot record the session error.");
    }
}
