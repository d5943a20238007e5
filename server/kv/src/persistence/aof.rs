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
    written: u64,
    synced: u64,
    size: u64,
    base_size: u64,
    /// Last write or fsync error (for `INFO persistence`).
    pub last_error: Option<String>,
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
                last_error: None,
            }),
            fsync: Mutex::new(fsync),
            dump_path,
            rewriting: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Writes everything fed up to `seq` (and fsyncs with `always`) before replies go out.
    pub(crate) fn flush(&self, store: &Mutex<Store>, seq: u64) {
        let mut f = self.file.lock();
        let always = *self.fsync.lock() == Fsync::Always;
        if f.written < seq {
            let (buf, upto) = store.lock().aof.take();
            f.write(&buf, upto);
        }
        if always && f.synced < seq {
            f.sync();
        }
    }

    /// fsyncs if anything was written since the last fsync (the `everysec` tick).
    pub(crate) fn sync_if_needed(&self) {
        let mut f = self.file.lock();
        if f.synced < f.written {
            f.sync();
        }
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
            f.write(&buf, upto);
            st.aof.start_rewrite();
            (f.path.clone(), serialize(&st))
        };
        let tmp = path.with_extension("rewrite.tmp");
        let res = write_new(&tmp, &snapshot);
        let mut f = self.file.lock();
        let mut st = store.lock();
        let tail = st.aof.finish_rewrite();
        let mut tmpf = res?;
        tmpf.write_all(&tail).map_err(io(&tmp))?;
        tmpf.sync_all().map_err(io(&tmp))?;
        // Whatever is still pending is also in `tail`; the new file supersedes the old.
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
        f.written = f.written.max(upto);
        f.synced = f.written;
        f.size = size;
        f.base_size = size;
        Ok(())
    }

    /// Writes a snapshot file from serialised bytes (temp file + rename).
    pub(crate) fn write_snapshot(&self, data: &[u8]) -> Result<(), AofError> {
        let tmp = self.dump_path.with_extension("tmp");
        write_new(&tmp, data)?.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.dump_path).map_err(io(&self.dump_path))?;
        sync_dir(&self.dump_path);
        Ok(())
    }

    /// Enables logging to a (new) file when `CONFIG SET appendonly yes` turns it on.
    pub(crate) fn ensure_open(&self) -> Result<(), AofError> {
        let mut f = self.file.lock();
        if f.file.is_none() {
            let path = f.path.clone();
            f.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io(&path))?,
            );
        }
        Ok(())
    }

    /// Final flush and fsync at shutdown.
    pub(crate) fn close(&self, store: &Mutex<Store>) {
        let seq = store.lock().aof.seq;
        self.flush(store, seq);
        self.sync_if_needed();
    }
}

impl AofFile {
    fn write(&mut self, buf: &[u8], upto: u64) {
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.write_all(buf) {
                tracing::error!(path = %self.path.display(), error = %e, "Append-only write failed; acknowledged writes may be lost.");
                self.last_error = Some(e.to_string());
                return;
            }
            self.size += buf.len() as u64;
        }
        self.written = self.written.max(upto);
    }

    fn sync(&mut self) {
        if let Some(file) = self.file.as_ref() {
            if let Err(e) = file.sync_data() {
                tracing::error!(path = %self.path.display(), error = %e, "Append-only fsync failed.");
                self.last_error = Some(e.to_string());
                return;
            }
        }
        self.synced = self.written;
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
