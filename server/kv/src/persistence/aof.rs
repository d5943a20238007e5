//! The append-only file (AOF): writing, fsync, rewrite, snapshot files, and recovery.
//!
//! # Design
//!
//! **Constraints.** A client that was told a write succeeded must find it after a crash
//! of the process (`kill -9`) with any policy, and after a power loss with
//! `appendfsync always`. Replay must reproduce the exact keyspace, including deadlines.
//!
//! **Record layout.** The file is a plain sequence of RESP multibulk commands, exactly
//! what a client would send (`SELECT`, `SET k v PXAT t`, `RPUSH ...`, `MULTI`/`EXEC`
//! around transactions), so `redis-cli --pipe` could replay it. Commands are logged in
//! their *effect* form: relative deadlines become absolute (`PEXPIREAT`, `SET ... PXAT`),
//! `SPOP` becomes `SREM` of the popped members, blocking pops become plain pops,
//! `XADD *` carries the generated ID, float increments become `SET ... KEEPTTL`.
//!
//! **Write path.** Commands append to [`Feed`](crate::keyspace::feed::Feed) inside the store lock, so file order is
//! execution order. Before a connection sends replies that follow writes, it calls
//! [`Persistence::flush`]: under the file lock it takes the whole pending buffer (its own
//! and anybody else's: group commit) and `write(2)`s it; with `always` it also fsyncs
//! before returning. With `everysec` a background thread fsyncs once per second; with
//! `no` the OS decides. So a kill -9 never loses an acknowledged write (the kernel has
//! it), and `always` also survives power loss.
//!
//! **Write failures** (a full disk, an I/O error). [`Persistence::flush`] reports whether
//! the records are durable; when not, the connection answers the write commands of that
//! batch with `MISCONF` instead of their replies, and [`DiskStatus`] refuses every later
//! write command until a write succeeds again (Redis 7's behaviour, minus its exit under
//! `always`). A failed `write(2)` may have appended part of a record: the file is cut back
//! to the last complete record at once (`ftruncate`, which needs no free space), so the
//! next successful write never follows half a command. The unwritten records stay
//! pending, in order, and the background thread retries them every second; they already
//! changed the keyspace, so they must reach the file before anything newer. A failed
//! fsync is retried the same way.
//!
//! **Rewrite.** `BGREWRITEAOF` or growth past `auto-aof-rewrite-percentage` (and
//! `auto-aof-rewrite-min-size`) makes the background thread serialise the keyspace under
//! the store lock into a minimal command list, then write it to a temp file *without*
//! holding any lock while new commands are also copied into a rewrite buffer. At the end
//! the buffer is appended, the temp file fsynced and renamed over the old one, and the
//! directory fsynced. A crash at any point leaves either the old or the new file whole.
//!
//! **Snapshots.** `SAVE`/`BGSAVE` (and `save` rules, and shutdown when rules exist) write
//! the same serialisation to `dbfilename` (temp file + rename). It is loaded at start
//! when append-only persistence is off (or on, but no AOF exists yet).
//!
//! **Recovery.** At start the file is parsed command by command. A tail that ends in the
//! middle of a command or inside an unfinished `MULTI` (a crash during `write(2)`) is cut
//! off: the file is truncated to the last complete command and a warning is logged
//! (`aof-load-truncated yes`, the default; `no` makes it an error). Garbage in the middle
//! is an error naming the offset. Expiry is suspended during replay.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::snapshot::serialize;
use super::status::{DiskStatus, Target};
use crate::config::Fsync;
use crate::keyspace::Store;
use crate::protocol::frame::parse_request;

/// A persistence failure.
#[derive(Debug, thiserror::Error)]
pub enum AofError {
    /// I/O on a data file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Unparseable content.
    #[error("{path}: bad format at byte {offset}: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: usize,
        /// What.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AofError + '_ {
    move |source| AofError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Splits a data file into commands; returns them and the length of the complete prefix
/// (`< data.len()` when the tail is truncated).
pub(crate) fn parse_file(path: &Path, data: &[u8]) -> Result<(Vec<Vec<Bytes>>, usize), AofError> {
    let mut buf = BytesMut::from(data);
    let mut cmds = Vec::new();
    let (mut good, mut good_cmds, mut in_multi) = (0usize, 0usize, false);
    loop {
        let before = data.len() - buf.len();
        if buf.is_empty() {
            break;
        }
        if buf[0] != b'*' {
            return Err(AofError::Format {
                path: path.into(),
                offset: before,
                why: "expected '*'".into(),
            });
        }
        match parse_request(&mut buf) {
            Ok(Some(cmd)) => {
                let name = cmd
                    .first()
                    .map(|n| n.to_ascii_uppercase())
                    .unwrap_or_default();
                in_multi = match &name[..] {
                    b"MULTI" => true,
                    b"EXEC" => false,
                    _ => in_multi,
                };
                cmds.push(cmd);
                if !in_multi {
                    good = data.len() - buf.len();
                    good_cmds = cmds.len();
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err(AofError::Format {
                    path: path.into(),
                    offset: before,
                    why: e.to_string(),
                })
            }
        }
    }
    cmds.truncate(good_cmds);
    Ok((cmds, good))
}

/// The open append-only file and how far it has been written and synced.
#[derive(Debug)]
pub(crate) struct AofFile {
    file: Option<File>,
    path: PathBuf,
    /// Feed position up to which records are in the file.
    written: u64,
    /// Feed position up to which records are fsynced.
    synced: u64,
    /// Length of the file's complete records: the truncation point after a failed write.
    size: u64,
    base_size: u64,
    /// Records taken from the feed whose write failed, retried before anything newer.
    pending: Vec<u8>,
    /// Feed position at the end of `pending`.
    pending_upto: u64,
    /// A failed write left bytes past `size` that truncation could not remove yet.
    torn: bool,
    /// The last write failed (cleared by the next successful one).
    write_failed: bool,
    /// The last fsync failed (cleared by the next successful one).
    sync_failed: bool,
}

/// Persistence state shared by connections and the background thread.
pub(crate) struct Persistence {
    /// The append-only file.
    pub file: Mutex<AofFile>,
    /// fsync policy.
    pub fsync: Mutex<Fsync>,
    /// Snapshot file path.
    pub dump_path: PathBuf,
    /// True while a rewrite runs.
    pub rewriting: std::sync::atomic::AtomicBool,
    /// Whether writes are acknowledged (see [`DiskStatus`]).
    pub status: DiskStatus,
}

impl Persistence {
    /// Opens (creating) the append-only file if `enabled`.
    pub(crate) fn open(
        aof_path: PathBuf,
        dump_path: PathBuf,
        enabled: bool,
        fsync: Fsync,
    ) -> Result<Persistence, AofError> {
        let (file, size) = if enabled {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&aof_path)
                .map_err(io(&aof_path))?;
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            (Some(f), size)
        } else {
            (None, 0)
        };
        Ok(Persistence {
            file: Mutex::new(AofFile {
                file,
                path: aof_path,
                written: 0,
                synced: 0,
                size,
                base_size: size,
                pending: Vec::new(),
                pending_upto: 0,
                torn: false,
                write_failed: false,
                sync_failed: false,
            }),
            fsync: Mutex::new(fsync),
            dump_path,
            rewriting: std::sync::atomic::AtomicBool::new(false),
            status: DiskStatus::default(),
        })
    }

    /// Re-reads the file's length after loading cut a torn tail off, so that a failed
    /// write later truncates back to a record boundary and never past the end.
    pub(crate) fn refresh_size(&self) {
        let mut f = self.file.lock();
        if let Some(len) = f
            .file
            .as_ref()
            .and_then(|h| h.metadata().ok())
            .map(|m| m.len())
        {
            f.size = len;
            f.base_size = len;
        }
    }

    /// Writes everything fed up to `seq` (and fsyncs with `always`) before replies go
    /// out. Returns whether those records are now as durable as the policy promises;
    /// when not, the caller must not acknowledge the writes that produced them.
    pub(crate) fn flush(&self, store: &Mutex<Store>, seq: u64) -> bool {
        let mut f = self.file.lock();
        let always = *self.fsync.lock() == Fsync::Always;
        if f.written < seq || f.write_failed {
            let (buf, upto) = store.lock().aof.take();
            f.pending.extend_from_slice(&buf);
            f.pending_upto = f.pending_upto.max(upto);
            // A failure is recorded in the status and shows in the result below.
            let _ = f.write_pending(&self.status);
        }
        if always && f.synced < f.written {
            f.sync(&self.status);
        }
        f.written >= seq && (!always || f.synced >= seq)
    }

    /// fsyncs if anything was written since the last fsync (the `everysec` tick).
    pub(crate) fn sync_if_needed(&self) {
        let mut f = self.file.lock();
        if f.synced < f.written || f.sync_failed {
            f.sync(&self.status);
        }
    }

    /// Retries a failed write or fsync (the background thread calls this every second
    /// while the append-only file is failing), so writes resume once space returns.
    pub(crate) fn retry(&self, store: &Mutex<Store>) {
        let seq = store.lock().aof.seq;
        self.flush(store, seq);
        self.sync_if_needed();
    }

    /// True when the file outgrew the automatic rewrite threshold.
    pub(crate) fn wants_rewrite(&self, pct: u64, min: u64) -> bool {
        let f = self.file.lock();
        f.file.is_some()
            && pct > 0
            && f.size >= min
            && f.size >= f.base_size + f.base_size * pct / 100
    }

    /// Rewrites the append-only file from the current keyspace (see the module doc).
    pub(crate) fn rewrite(&self, store: &Mutex<Store>) -> Result<(), AofError> {
        let (path, snapshot) = {
            let mut f = self.file.lock();
            let mut st = store.lock();
            let (buf, upto) = st.aof.take();
            f.pending.extend_from_slice(&buf);
            f.pending_upto = f.pending_upto.max(upto);
            if let Err(source) = f.write_pending(&self.status) {
                // Start from a file that holds every record fed so far, or not at all.
                return Err(AofError::Io {
                    path: f.path.clone(),
                    source,
                });
            }
            st.aof.start_rewrite();
            (f.path.clone(), serialize(&st))
        };
        let tmp = path.with_extension("rewrite.tmp");
        let res = write_new(&tmp, &snapshot);
        let mut f = self.file.lock();
        let mut st = store.lock();
        let tail = st.aof.finish_rewrite();
        let res = res.and_then(|mut tmpf| {
            tmpf.write_all(&tail).map_err(io(&tmp))?;
            tmpf.sync_all().map_err(io(&tmp))
        });
        if let Err(e) = res {
            // The temp file would keep a full disk full; the old file is still whole.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // Whatever is still pending (in the feed, or in `pending` after a failed write
        // during the rewrite) is also in `tail`; the new file supersedes the old.
        let (_, upto) = st.aof.take();
        drop(st);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&path);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let size = (snapshot.len() + tail.len()) as u64;
        f.file = Some(file);
        f.written = f.written.max(upto).max(f.pending_upto);
        f.synced = f.written;
        f.size = size;
        f.base_size = size;
        f.pending.clear();
        f.torn = false;
        f.write_failed = false;
        f.sync_failed = false;
        self.status.succeeded(Target::Aof);
        Ok(())
    }

    /// Writes a snapshot file from serialised bytes (temp file + rename). A failure
    /// removes the temp file and marks snapshots as failing, which refuses writes while
    /// `stop-writes-on-bgsave-error` is on and save rules exist; a success clears it.
    pub(crate) fn write_snapshot(&self, data: &[u8]) -> Result<(), AofError> {
        let tmp = self.dump_path.with_extension("tmp");
        let res = write_new(&tmp, data)
            .and_then(|f| f.sync_all().map_err(io(&tmp)))
            .and_then(|()| std::fs::rename(&tmp, &self.dump_path).map_err(io(&self.dump_path)));
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            if let AofError::Io { source, .. } = &e {
                self.status.failed(Target::Snapshot, "snapshot", source);
            }
            return Err(e);
        }
        sync_dir(&self.dump_path);
        self.status.succeeded(Target::Snapshot);
        Ok(())
    }

    /// Enables logging to a (new) file when `CONFIG SET appendonly yes` turns it on.
    pub(crate) fn ensure_open(&self) -> Result<(), AofError> {
        let mut f = self.file.lock();
        if f.file.is_none() {
            let path = f.path.clone();
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(&path))?;
            f.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            f.file = Some(file);
        }
        Ok(())
    }

    /// Final flush and fsync at shutdown. Records that still cannot be written were
    /// answered with `MISCONF`, never acknowledged; they are reported, not retried.
    pub(crate) fn close(&self, store: &Mutex<Store>) {
        let seq = store.lock().aof.seq;
        self.flush(store, seq);
        self.sync_if_needed();
        let f = self.file.lock();
        if !f.pending.is_empty() {
            tracing::error!(path = %f.path.display(), bytes = f.pending.len(), "Stopping with append-only records that could not be written (their commands were refused with MISCONF).");
        }
    }
}

impl AofFile {
    /// Writes `pending` after the last complete record. On failure the file is cut
    /// back to that record (a partial write must not leave half a command for the next
    /// record to follow), the records stay pending for a retry, and the status refuses
    /// writes.
    fn write_pending(&mut self, status: &DiskStatus) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            self.pending.clear();
            self.written = self.written.max(self.pending_upto);
            return Ok(());
        };
        let res = (|| {
            if self.torn {
                file.set_len(self.size)?;
                self.torn = false;
            }
            file.write_all(&self.pending)
        })();
        match res {
            Ok(()) => {
                self.size += self.pending.len() as u64;
                self.pending.clear();
                self.written = self.written.max(self.pending_upto);
                self.write_failed = false;
                if !self.sync_failed {
                    status.succeeded(Target::Aof);
                }
                Ok(())
            }
            Err(e) => {
                self.torn = file.set_len(self.size).is_err();
                self.write_failed = true;
                status.failed(Target::Aof, "append-only write", &e);
                Err(e)
            }
        }
    }

    fn sync(&mut self, status: &DiskStatus) {
        if let Some(file) = self.file.as_ref() {
            if let Err(e) = file.sync_data() {
                self.sync_failed = true;
                status.failed(Target::Aof, "append-only fsync", &e);
                return;
            }
        }
        self.synced = self.written;
        self.sync_failed = false;
        if !self.write_failed {
            status.succeeded(Target::Aof);
        }
    }
}

fn write_new(path: &Path, data: &[u8]) -> Result<File, AofError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(data).map_err(io(path))?;
    Ok(f)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_request;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn truncated_tail_and_open_multi_are_cut() {
        let mut data = Vec::new();
        encode_request(&mut data, &[b("SET"), b("a"), b("1")]);
        let good = data.len();
        encode_request(&mut data, &[b("MULTI")]);
        encode_request(&mut data, &[b("SET"), b("b"), b("2")]);
        let (cmds, n) = parse_file(Path::new("x"), &data).unwrap();
        assert_eq!((cmds.len(), n), (1, good));
        data.truncate(good);
        encode_request(&mut data, &[b("SET"), b("b"), b("2")]);
        let full = data.len();
        data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc");
        let (cmds, n) = parse_file(Path::new("x"), &data).unwrap();
        assert_eq!((cmds.len(), n), (2, full));
        assert!(parse_file(Path::new("x"), b"garbage").is_err());
    }
}
