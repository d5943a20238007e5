//! goclient's `folder` source: every new file of a watched directory (recursively) is
//! sent once, base64 in 3072-byte pieces (raw at snaplen with `-json`), followed by a
//! packet holding `\n`. The directory is polled every `-rl`; a file is taken once its
//! size stopped changing between two polls.
//!
//! With `-daily` the watched directory is `folder/YYYYMMDD` of the current UTC day and
//! follows the day without a restart (d4-goclient rotates since `f1a5bc2`): each poll
//! checks whether the day changed and the new day's folder exists. Until it exists the
//! current folder stays watched (d4-goclient#18: the goclient stopped in a wait for a
//! folder not created yet); after the switch the previous day's folder is watched
//! until the next switch, so files finished there just after midnight still go out.
//! The time comes from a [`Clock`] so that tests can move it.
//!
//! Files present in the folder at start are skipped, as with inotify, unless
//! `--send-existing` (d4-goclient#17). Files in a day folder that appears while the
//! client runs are all new, so they are sent.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::source::{Emitter, SourceError};
use crate::stats::Stats;

/// Bytes of file content per base64 payload (goclient's piece size).
const BASE64_PIECE: usize = 3072;

/// Shortest poll delay, whatever `-rl` says.
const MIN_POLL: Duration = Duration::from_millis(50);

/// The current Unix time in seconds; the client uses [`crate::packetizer::now_secs`].
pub type Clock = dyn Fn() -> u64 + Send + Sync;

/// What to watch and how to send it.
#[derive(Debug, Clone)]
pub struct FolderOptions {
    /// The configured `folder`.
    pub base: PathBuf,
    /// Watch `base/YYYYMMDD` of the current UTC day (`-daily`).
    pub daily: bool,
    /// Send the files already present at start too (`--send-existing`).
    pub send_existing: bool,
    /// Send raw bytes at snaplen instead of base64 pieces (`-json`).
    pub json: bool,
    /// Poll delay (`-rl`).
    pub poll: Duration,
    /// Largest payload.
    pub snaplen: usize,
}

/// `YYYYMMDD` of a Unix time (UTC).
pub fn utc_day(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default()
        .format("%Y%m%d")
        .to_string()
}

/// The folder to watch at time `now`: `base`, or `base/YYYYMMDD` when `daily`.
pub fn folder_at(base: &Path, daily: bool, now: u64) -> PathBuf {
    if daily {
        base.join(utc_day(now))
    } else {
        base.to_path_buf()
    }
}

/// The watcher's state: which folders, which files were already sent (or skipped), and
/// the sizes seen at the last poll of files not taken yet.
struct Watch {
    current: PathBuf,
    previous: Option<PathBuf>,
    done: HashSet<PathBuf>,
    sizes: HashMap<PathBuf, u64>,
}

impl Watch {
    /// Moves to the folder of `now` if the day changed and that folder exists; returns
    /// whether it moved. The previous day's folder stays watched; older ones are
    /// forgotten.
    fn follow_day(&mut self, opts: &FolderOptions, now: u64) -> bool {
        let today = folder_at(&opts.base, opts.daily, now);
        if today == self.current || !today.is_dir() {
            return false;
        }
        let old = std::mem::replace(&mut self.current, today);
        self.previous = Some(old);
        let (cur, prev) = (&self.current, self.previous.as_deref());
        let watched = |p: &Path| p.starts_with(cur) || prev.is_some_and(|d| p.starts_with(d));
        self.done.retain(|p| watched(p));
        self.sizes.retain(|p, _| watched(p));
        true
    }

    /// The files of every watched folder whose size did not change since the last poll
    /// and that were not handled yet; they are marked handled.
    fn settled_files(&mut self) -> Vec<PathBuf> {
        let mut files = list_files(&self.current);
        if let Some(p) = &self.previous {
            files.extend(list_files(p));
        }
        let mut ready = Vec::new();
        for (path, size) in files {
            if self.done.contains(&path) || self.sizes.insert(path.clone(), size) != Some(size) {
                continue;
            }
            self.sizes.remove(&path);
            self.done.insert(path.clone());
            ready.push(path);
        }
        ready.sort();
        ready
    }
}

/// Watches the folder until cancelled (the caller drops the future) or the sender is gone.
pub async fn watch_folder(
    opts: FolderOptions,
    clock: &Clock,
    em: Emitter,
) -> Result<(), SourceError> {
    let current = folder_at(&opts.base, opts.daily, clock());
    let mut done = HashSet::new();
    if !opts.send_existing {
        done.extend(list_files(&current).into_iter().map(|(p, _)| p));
    }
    tracing::info!(folder = %current.display(), existing = done.len(), send_existing = opts.send_existing, "Watching folder for new files.");
    if !current.is_dir() {
        tracing::warn!(folder = %current.display(), "The folder does not exist yet; waiting for it.");
    }
    let mut w = Watch {
        current,
        previous: None,
        done,
        sizes: HashMap::new(),
    };
    loop {
        if opts.daily && w.follow_day(&opts, clock()) {
            tracing::info!(folder = %w.current.display(), "New day: watching the new day's folder.");
        }
        for path in w.settled_files() {
            send_file(&path, &opts, &em).await?;
        }
        tokio::time::sleep(opts.poll.max(MIN_POLL)).await;
    }
}

/// Sends one file: its payloads, then the `\n` packet. An unreadable file is logged
/// and skipped.
async fn send_file(path: &Path, opts: &FolderOptions, em: &Emitter) -> Result<(), SourceError> {
    use base64::Engine as _;
    let data = match tokio::fs::read(path).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "Cannot read new file.");
            return Ok(());
        }
    };
    Stats::add(&em.stats.source_bytes, data.len() as u64);
    let mut payloads: Vec<Vec<u8>> = if opts.json {
        data.chunks(opts.snaplen.max(1))
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        data.chunks(BASE64_PIECE)
            .map(|c| {
                base64::engine::general_purpose::STANDARD
                    .encode(c)
                    .into_bytes()
            })
            .collect()
    };
    payloads.push(b"\n".to_vec());
    em.emit(&mut payloads).await
}

/// Regular files under `dir`, recursively, with their sizes (none if `dir` is missing).
fn list_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => out.push((e.path(), m.len())),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_folder_names() {
        assert_eq!(utc_day(0), "19700101");
        assert_eq!(utc_day(1_703_350_733), "20231223");
        assert_eq!(utc_day(951_782_400), "20000229");
        let base = Path::new("/data");
        assert_eq!(folder_at(base, false, 0), PathBuf::from("/data"));
        assert_eq!(folder_at(base, true, 0), PathBuf::from("/data/19700101"));
    }
}
