//! Session workers for line-oriented types: 8 (passivedns CSV, `.passivedns.txt`) and
//! 3 (generic log lines, `.syslog.txt`), spec §4.4 and §4.6; and type 4 (dnscap,
//! `.dnscap.txt`, no queue), §4.5.
//!
//! Each message is appended to the session's rotating file as received (every byte
//! once); for 3 and 8 complete lines go to the analyzer queues. At session end the
//! unfinished last line is pushed too (upstream dropped it) and the file gzipped.

use std::path::Path;

use bytes::Bytes;

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
}

impl TextKind {
    /// The D4 type.
    pub fn ty(self) -> u8 {
        match self {
            TextKind::PassiveDns => 8,
            TextKind::LogLine => 3,
            TextKind::Dnscap => 4,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            TextKind::PassiveDns => "passivedns.txt",
            TextKind::LogLine => "syslog.txt",
            TextKind::Dnscap => "dnscap.txt",
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
pub struct TextWorker {
    kind: TextKind,
    file: RotatingFile,
    lines: LineBuffer,
}

impl TextWorker {
    /// A worker saving under `data` for sensor `uuid`.
    pub fn new(kind: TextKind, data: &Path, uuid: &str) -> Self {
        let file = RotatingFile::new(
            Naming::new(data, uuid, kind.ty(), kind.suffix()),
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
    pub fn kind(&self) -> TextKind {
        self.kind
    }

    /// Saves one message and collects its complete lines into `out`.
    pub fn message(&mut self, msg: &Bytes, out: &mut Vec<Bytes>) -> std::io::Result<()> {
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
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// End of session: the unfinished last line (for queues) and the file gzipped.
    pub async fn finish(&mut self, out: &mut Vec<Bytes>) -> std::io::Result<()> {
        if self.kind != TextKind::Dnscap {
            out.extend(self.lines.take_tail());
        }
        self.file.finish().await.map(|_| ())
    }

    /// Worker stop before the session ended: the unfinished line to save, files closed.
    pub async fn suspend(&mut self) -> std::io::Result<Option<Bytes>> {
        self.file.finish().await?;
        Ok(self.lines.take_tail())
    }

    /// Restores an unfinished line saved by [`Self::suspend`].
    pub fn restore(&mut self, tail: &[u8]) {
        self.lines.restore(tail);
    }

    /// Lines cut for exceeding the maximum length so far.
    pub fn forced_lines(&self) -> u64 {
        self.lines.forced
    }
}
