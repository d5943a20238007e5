//! The worker of one session, by family ([`Kind`], from the type registry): text types
//! (3, 4, 8), meta/extended (2/254) and pcap (1). Each variant wraps one worker file's
//! type; a new handler adds one variant here and one arm per method (the compiler lists
//! them: every match is exhaustive).

use bytes::Bytes;
use tracing::{error, warn};

use super::dispatch::Kind;
use super::entry::Entry;
use super::flow::{record_rejection, Flow};
use super::meta::MetaWorker;
use super::pcap::{PcapError, PcapWorker};
use super::text::TextWorker;
use crate::ctx::Ctx;
use d4_core::keys::stream;
use d4_core::queues::QueueKind;
use d4_core::store::pipe;

/// A session's worker.
pub(crate) enum Worker {
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
        /// The D4 type.
        ty: u8,
        /// The worker.
        worker: Box<PcapWorker>,
        /// Sensor uuid.
        sensor: String,
        /// Session uuid.
        session: String,
    },
}

impl Worker {
    /// A worker of family `kind` for a session whose first entry names `sensor`.
    pub(crate) fn new(kind: Kind, ctx: &Ctx, session: &str, sensor: &str) -> Worker {
        match kind {
            Kind::Text(k) => Worker::Text {
                worker: Box::new(TextWorker::new(k, &ctx.data_dir, sensor)),
                sensor: sensor.to_string(),
                session: session.to_string(),
            },
            Kind::Meta => Worker::Meta(Box::new(MetaWorker::new(&ctx.data_dir, session, sensor))),
            Kind::Pcap(ty) => Worker::Pcap {
                ty,
                worker: Box::new(PcapWorker::new(&ctx.data_dir, sensor, ty)),
                sensor: sensor.to_string(),
                session: session.to_string(),
            },
        }
    }

    /// Stream types to read now.
    pub(crate) fn reading(&self) -> Vec<u8> {
        match self {
            Worker::Text { worker, .. } => vec![worker.kind().ty()],
            Worker::Meta(m) => vec![m.reading()],
            Worker::Pcap { ty, .. } => vec![*ty],
        }
    }

    /// Entries of stream `ty` the worker keeps in the store until the session ends.
    pub(crate) fn kept(&self, ty: u8) -> u64 {
        match self {
            Worker::Text { .. } | Worker::Pcap { .. } => 0,
            Worker::Meta(m) => m.kept(ty),
        }
    }

    /// Sensor uuid.
    pub(crate) fn sensor(&self) -> &str {
        match self {
            Worker::Text { sensor, .. } | Worker::Pcap { sensor, .. } => sensor,
            Worker::Meta(m) => m.sensor(),
        }
    }

    /// Queues this session's lines go to now.
    pub(crate) fn queue_kind(&self) -> Option<QueueKind> {
        match self {
            Worker::Text { worker, .. } => worker.kind().queue_kind(),
            Worker::Meta(m) => m.queue_kind(),
            Worker::Pcap { ty, .. } => Some(QueueKind::Plain(*ty)),
        }
    }

    /// Processes entries of stream type `ty`; complete lines go to `out`.
    pub(crate) async fn entries(
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
                ty,
                worker,
                sensor,
                session,
            } => {
                for e in entries {
                    match worker.message(&e.message) {
                        Ok(()) => {}
                        Err(PcapError::Io(io)) => {
                            error!(%session, error = %io, "Cannot save data to disk.");
                        }
                        Err(err) => {
                            warn!(%session, error = %err, "Incorrect file format.");
                            reject_pcap(ctx, *ty, session, sensor).await;
                            return Flow::Abort;
                        }
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
    pub(crate) async fn finish(&mut self, ctx: &Ctx, out: &mut Vec<Bytes>) {
        let r = match self {
            Worker::Text {
                worker, session, ..
            } => {
                if worker.forced_lines() > 0 {
                    warn!(%session, cut = worker.forced_lines(), "Lines longer than the maximum were cut.");
                }
                worker.finish(out).await
            }
            Worker::Meta(m) => m.finish(ctx, out).await,
            Worker::Pcap { worker, .. } => worker.finish().await.map(|p| out.extend(p)),
        };
        if let Err(e) = r {
            warn!(error = %e, "Cannot finish the session's files.");
        }
    }

    /// Worker stop: files closed (items they produce, e.g. `.gz` paths, go to `out`);
    /// returns the unfinished data to save for the next run.
    pub(crate) async fn suspend(&mut self, out: &mut Vec<Bytes>) -> Option<Bytes> {
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

    /// What [`Self::suspend`] would save if called now; taken before each batch so that
    /// a batch whose lines could not be queued before shutdown is read again by the next
    /// run from the state before it.
    pub(crate) fn checkpoint(&self) -> Option<Bytes> {
        match self {
            Worker::Text { worker, .. } => worker.checkpoint(),
            Worker::Meta(m) => m.checkpoint(),
            Worker::Pcap { worker, .. } => worker.checkpoint(),
        }
    }

    /// Restores an unfinished line saved by a previous run.
    pub(crate) fn restore(&mut self, tail: &[u8]) {
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

/// Type 1 data that is not pcap (upstream `data_incorrect_format`): the session is
/// rejected and its stream and sets dropped.
async fn reject_pcap(ctx: &Ctx, ty: u8, session: &str, sensor: &str) {
    let mut cleanup = pipe();
    cleanup
        .srem(stream::ENDED_SESSION, session)
        .ignore()
        .srem(stream::session_uuid(ty), session)
        .ignore()
        .srem(stream::working_session_uuid(ty), session)
        .ignore()
        .hdel(stream::map_type_session_uuid(ty), session)
        .ignore()
        .del(stream::stream(ty, session))
        .ignore();
    let error = format!("Error: Type={ty}, Incorrect file format");
    if let Err(e) = record_rejection(ctx, session, sensor, &error, &cleanup).await {
        warn!(%session, error = %e, "Cannot record the session error.");
    }
}
