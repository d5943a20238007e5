//! Session workers for the types whose registry handler is `Handler::Lines`: 8
//! (passivedns CSV, `.passivedns.txt`) and 3 (generic log lines, `.syslog.txt`), spec §4.4
//! and §4.6; and type 4 (dnscap, `.dnscap.txt`, no queue), §4.5. Another type registered
//! as `Lines` is saved as `.<name>.txt` and queued line by line as 3 and 8 are; a type
//! that needs other naming or queueing gets its own [`TextKind`] variant here.
//!
//! Each message is appended to the session's rotating file as received (every byte
//! once); for 3 and 8 complete lines go to the analyzer queues. At session end the
//! unfinished last line is pushed too (upstream dropped it) and the file gzipped.

use std::borrow::Cow;
use std::path::Path;

use bytes::Bytes;
use d4_proto::{DataType, TypeInfo};

use super::files::{self, Naming, RotatingFile, ROTATION_CYCLE};
use super::lines::{LineBuffer, MAX_LINE};
use d4_core::queues::QueueKind;

/// How a text type is saved and delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Type 8, passivedns lines.
    PassiveDns,
    /// Type 3, log lines.
    LogLine,
    /// Type 4, dnscap output (saved only).
    Dnscap,
    /// Another type registered as line-based: `.<name>.txt` files, lines queued.
    Other {
        /// The D4 type.
        ty: u8,
        /// Its registry name.
        name: &'static str,
    },
}

impl TextKind {
    /// The text kind of a type whose registry handler is `Lines`.
    pub fn of(info: &TypeInfo) -> TextKind {
        match info.ty {
            DataType::PASSIVEDNS => TextKind::PassiveDns,
            DataType::LOG_LINE => TextKind::LogLine,
            DataType::DNSCAP => TextKind::Dnscap,
            DataType(ty) => TextKind::Other {
                ty,
                name: info.name,
            },
        }
    }

    /// The D4 type.
    pub fn ty(self) -> u8 {
        match self {
            TextKind::PassiveDns => DataType::PASSIVEDNS.0,
            TextKind::LogLine => DataType::LOG_LINE.0,
            TextKind::Dnscap => DataType::DNSCAP.0,
            TextKind::Other { ty, .. } => ty,
        }
    }

    fn suffix(self) -> Cow<'static, str> {
        match self {
            TextKind::PassiveDns => "passivedns.txt".into(),
            TextKind::LogLine => "syslog.txt".into(),
            TextKind::Dnscap => "dnscap.txt".into(),
            TextKind::Other { name, .. } => format!("{name}.txt").into(),
        }
    }

    /// Queues the lines go to (none for dnscap).
    pub fn queue_kind(self) -> Option<QueueKind> {
        match self {
            TextKind::Dnscap => None,
            k => Some(QueueKind::Plain(k.ty())),
        }
    }
}

/// One session of a text type.
pub(crate) struct TextWorker {
    kind: TextKind,
    file: RotatingFile,
    lines: LineBuffer,
}

impl TextWorker {
    /// A worker saving under `data` for sensor `uuid`.
    pub(crate) fn new(kind: TextKind, data: &Path, uuid: &str) -> Self {
        let file = RotatingFile::new(
            Naming::new(data, uuid, kind.ty(), &kind.suffix()),
            ROTATION_CYCLE,
        );
        TextWorker {
            kind,
            // Upstream never compressed dnscap files.
            file: if kind == TextKind::Dnscap {
                file.without_gzip()
            } else {
                file
            },
            lines: LineBuffer::new(MAX_LINE),
        }
    }

    /// What this worker handles.
    pub(crate) fn kind(&self) -> TextKind {
        self.kind
    }

    /// Saves one message and collects its complete lines into `out`.
    pub(crate) fn message(&mut self, msg: &Bytes, out: &mut Vec<Bytes>) -> std::io::Result<()> {
        match self.kind {
            TextKind::Dnscap => self.file.write(msg, files::split_before_bracket),
            _ => {
                self.file.write(msg, files::split_after_last_newline)?;
                self.lines.push(msg, out);
                Ok(())
            }
        }
    }

    /// Flushes file buffers (end of a batch).
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// End of session: the unfinished last line (for queues) and the file gzipped.
    pub(crate) async fn finish(&mut self, out: &mut Vec<Bytes>) -> std::io::Result<()> {
        if self.kind != TextKind::Dnscap {
            out.extend(self.lines.take_tail());
        }
        self.file.finish().await.map(|_| ())
    }

    /// Worker stop before the session ended: the unfinished line to save, files closed.
    pub(crate) async fn suspend(&mut self) -> std::io::Result<Option<Bytes>> {
        self.file.finish().await?;
        Ok(self.lines.take_tail())
    }

    /// Restores an unfinished line saved by [`Self::suspend`].
    pub(crate) fn restore(&mut self, tail: &[u8]) {
        self.lines.restore(tail);
    }

    /// What [`Self::suspend`] would save now (taken before a batch, in case its lines
    /// cannot be queued before shutdown).
    pub(crate) fn checkpoint(&self) -> Option<Bytes> {
        let t = self.lines.tail();
        (!t.is_empty()).then(|| Bytes::copy_from_slice(t))
    }

    /// Lines cut for exceeding the maximum length so far.
    pub(crate) fn forced_lines(&self) -> u64 {
        self.lines.forced
    }
}
