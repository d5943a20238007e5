//! Saving a session's raw stream to disk with rotation and gzip (spec §4.1, §4.4-4.7).
//!
//! Path: `<data>/<uuid>/<type>/YYYY/MM/DD/[<ext>/]<uuid>-YYYY-MM-DD-HHMMSS.<suffix>`
//! (local time of opening). A file is rotated once it is older than
//! [`ROTATION_CYCLE`] or the local date changed, at the next split point the caller's
//! splitter finds (after the last `\n` of a message for line types, before `[` of a
//! `\n[` for dnscap); the closed file is gzipped to `<file>.gz` (or `.1.gz`, `.2.gz`, …
//! if taken) in a blocking task and the original removed.
//!
//! Every byte is written exactly once and in order: concatenating the files of a session
//! gives its byte stream. (Upstream wrote partial lines twice and dropped the newline at
//! each rotation point, spec §9 item 19.)
//!
//! [`save_element`] is the other way to save: one received element as one whole file,
//! whose path is then queued (ja3-jl, filewatcher, filewatcherjson). It writes a hidden
//! temporary file and renames it, so an analyzer that pops the path never reads a
//! partial file, and a second element with the same name replaces the first whole.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use tokio::task::JoinHandle;

/// Age after which a file is rotated (upstream `rotation_save_cycle`).
pub(crate) const ROTATION_CYCLE: Duration = Duration::from_secs(300);

/// Where a session's files go and how they are named.
#[derive(Debug, Clone)]
pub(crate) struct Naming {
    /// `<data>/<uuid>/<type>`.
    pub(crate) base: PathBuf,
    /// Optional directory under the date (the extended type for 254).
    pub(crate) sub: Option<String>,
    /// Sensor uuid (file name prefix).
    pub(crate) uuid: String,
    /// File suffix without the leading dot, e.g. `passivedns.txt`.
    pub(crate) suffix: String,
}

impl Naming {
    /// Naming for `<data>/<uuid>/<ty>/…/<uuid>-….<suffix>`.
    pub(crate) fn new(data: &Path, uuid: &str, ty: impl std::fmt::Display, suffix: &str) -> Self {
        Naming {
            base: data.join(uuid).join(ty.to_string()),
            sub: None,
            uuid: uuid.to_string(),
            suffix: suffix.to_string(),
        }
    }

    /// The directory of files opened at `t`.
    pub(crate) fn dir(&self, t: DateTime<Local>) -> PathBuf {
        let d = self.base.join(t.format("%Y/%m/%d").to_string());
        match &self.sub {
            Some(s) => d.join(s),
            None => d,
        }
    }

    /// The path of a file opened at `t`.
    pub(crate) fn path(&self, t: DateTime<Local>) -> PathBuf {
        self.dir(t).join(format!(
            "{}-{}.{}",
            self.uuid,
            t.format("%Y-%m-%d-%H%M%S"),
            self.suffix
        ))
    }
}

struct Open {
    path: PathBuf,
    out: BufWriter<File>,
    opened: Instant,
    date: chrono::NaiveDate,
}

/// A session's current output file.
pub(crate) struct RotatingFile {
    naming: Naming,
    current: Option<Open>,
    cycle: Duration,
    waiting: bool,
    gzip: bool,
    prologue: Vec<u8>,
    gzips: Vec<JoinHandle<std::io::Result<PathBuf>>>,
}

impl RotatingFile {
    /// A file set that rotates every `cycle` (and on date change).
    pub(crate) fn new(naming: Naming, cycle: Duration) -> Self {
        RotatingFile {
            naming,
            current: None,
            cycle,
            waiting: false,
            gzip: true,
            prologue: Vec::new(),
            gzips: Vec::new(),
        }
    }

    fn open(&mut self) -> std::io::Result<&mut Open> {
        if self.current.is_none() {
            let now = Local::now();
            std::fs::create_dir_all(self.naming.dir(now))?;
            let path = self.naming.path(now);
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            let fresh = file.metadata()?.len() == 0;
            let mut out = BufWriter::with_capacity(256 * 1024, file);
            if fresh {
                out.write_all(&self.prologue)?;
            }
            self.current = Some(Open {
                path,
                out,
                opened: Instant::now(),
                date: now.date_naive(),
            });
        }
        match self.current.as_mut() {
            Some(o) => Ok(o),
            None => Err(std::io::Error::other("file not open")),
        }
    }

    /// Keeps closed files as they are (type 4 is not compressed upstream).
    pub(crate) fn without_gzip(mut self) -> Self {
        self.gzip = false;
        self
    }

    /// Bytes written at the start of every new file (e.g. a pcap global header).
    pub(crate) fn set_prologue(&mut self, prologue: Vec<u8>) {
        self.prologue = prologue;
    }

    fn due(&self) -> bool {
        self.current.as_ref().is_some_and(|o| {
            o.opened.elapsed() >= self.cycle || o.date != Local::now().date_naive()
        })
    }

    /// Appends `data`. When rotation is due, `split(data)` gives the offset where the
    /// new file starts; without one the whole message stays in the current file.
    pub(crate) fn write(
        &mut self,
        data: &[u8],
        split: impl Fn(&[u8]) -> Option<usize>,
    ) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.waiting && self.due() {
            self.waiting = true;
        }
        if self.waiting {
            if let Some(at) = split(data).filter(|at| *at <= data.len()) {
                let (old, new) = data.split_at(at);
                self.open()?.out.write_all(old)?;
                self.close()?;
                self.waiting = false;
                if !new.is_empty() {
                    self.open()?.out.write_all(new)?;
                }
                return Ok(());
            }
        }
        self.open()?.out.write_all(data)
    }

    /// Flushes buffered bytes to the file (end of each batch).
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some(o) => o.out.flush(),
            None => Ok(()),
        }
    }

    /// Closes the current file (if any) and gzips it in the background (unless
    /// [`Self::without_gzip`]).
    pub(crate) fn close(&mut self) -> std::io::Result<()> {
        if let Some(mut o) = self.current.take() {
            o.out.flush()?;
            drop(o.out);
            let path = o.path;
            if self.gzip {
                self.gzips
                    .push(tokio::task::spawn_blocking(move || gzip(&path)));
            }
        }
        Ok(())
    }

    /// Closes the current file and waits for every pending gzip; returns the `.gz` paths.
    pub(crate) async fn finish(&mut self) -> std::io::Result<Vec<PathBuf>> {
        self.close()?;
        let mut done = Vec::new();
        for h in self.gzips.drain(..) {
            match h.await {
                Ok(r) => done.push(r?),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        Ok(done)
    }

    /// Takes the gzips that already completed (their `.gz` paths).
    pub(crate) async fn completed(&mut self) -> Vec<std::io::Result<PathBuf>> {
        let mut out = Vec::new();
        let mut keep = Vec::new();
        for h in self.gzips.drain(..) {
            if h.is_finished() {
                out.push(h.await.unwrap_or_else(|e| Err(std::io::Error::other(e))));
            } else {
                keep.push(h);
            }
        }
        self.gzips = keep;
        out
    }
}

/// Offset after the last `\n` (line types).
pub(crate) fn split_after_last_newline(data: &[u8]) -> Option<usize> {
    data.iter().rposition(|b| *b == b'\n').map(|i| i + 1)
}

/// Offset of the `[` of the first `\n[` (dnscap).
pub(crate) fn split_before_bracket(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\n[").map(|i| i + 1)
}

/// Saves `bytes` as the file `<dir>/<name>` (`<name>.gz`, gzipped, if `gzip`), creating
/// `dir`; returns the path. The file appears complete or not at all (see the module doc).
pub(crate) fn save_element(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    gzip: bool,
) -> std::io::Result<PathBuf> {
    /// Makes temporary names unique among the tasks of this process.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let name = if gzip {
        format!("{name}.gz")
    } else {
        name.to_string()
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let written = write_file(&tmp, bytes, gzip);
    let target = dir.join(name);
    match written.and_then(|()| std::fs::rename(&tmp, &target)) {
        Ok(()) => Ok(target),
        Err(e) => {
            // Best effort: the error that matters is the one returned.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates `path` holding `bytes`, gzipped if asked.
fn write_file(path: &Path, bytes: &[u8], gzip: bool) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        enc.write_all(bytes)?;
        out = enc.finish()?;
    } else {
        out.write_all(bytes)?;
    }
    out.flush()
}

/// Gzips `path` to `<path>.gz` (or `<path>.N.gz` if taken) and removes the original.
pub(crate) fn gzip(path: &Path) -> std::io::Result<PathBuf> {
    let target = gz_name(path);
    let mut input = File::open(path)?;
    let out = File::create(&target)?;
    let mut enc =
        flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default());
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::remove_file(path)?;
    Ok(target)
}

fn gz_name(path: &Path) -> PathBuf {
    let base = path.as_os_str().to_string_lossy().into_owned();
    let first = PathBuf::from(format!("{base}.gz"));
    if !first.exists() {
        return first;
    }
    (1..)
        .map(|n| PathBuf::from(format!("{base}.{n}.gz")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(p: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(File::open(p).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn paths_follow_upstream_layout() {
        let n = Naming::new(Path::new("data"), "ff7b", 8, "passivedns.txt");
        let t = chrono::TimeZone::with_ymd_and_hms(&Local, 2023, 12, 23, 9, 5, 7).unwrap();
        assert_eq!(
            n.path(t),
            PathBuf::from("data/ff7b/8/2023/12/23/ff7b-2023-12-23-090507.passivedns.txt")
        );
    }

    #[test]
    fn splitters() {
        assert_eq!(split_after_last_newline(b"a\nb\nc"), Some(4));
        assert_eq!(split_after_last_newline(b"abc"), None);
        assert_eq!(split_before_bracket(b"x\n[y\n[z"), Some(2));
    }

    /// Rotation keeps every byte exactly once, including the newline at the split.
    #[tokio::test]
    async fn rotation_keeps_every_byte_once() {
        let dir = tempfile::tempdir().unwrap();
        let n = Naming::new(dir.path(), "u", 8, "passivedns.txt");
        let mut f = RotatingFile::new(n, Duration::ZERO);
        f.write(b"a\nb", split_after_last_newline).unwrap();
        f.write(b"c", split_after_last_newline).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        f.write(b"d\ne\nf", split_after_last_newline).unwrap();
        let gz = f.finish().await.unwrap();
        assert_eq!(gz.len(), 2);
        let mut all = Vec::new();
        for p in &gz {
            assert!(p.to_string_lossy().ends_with(".gz"));
            all.extend(gunzip(p));
        }
        assert_eq!(all, b"a\nbcd\ne\nf");
        assert_eq!(
            gunzip(&gz[0]),
            b"a\nb"
                .iter()
                .chain(b"c")
                .chain(b"d\ne\n")
                .copied()
                .collect::<Vec<u8>>()
        );
    }

    #[test]
    fn elements_are_saved_whole_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/files");
        let p = save_element(&sub, "x.bin", b"one", false).unwrap();
        assert_eq!(p, sub.join("x.bin"));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        save_element(&sub, "x.bin", b"two", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let gz = save_element(&sub, "x.bin", b"three", true).unwrap();
        assert_eq!(gz, sub.join("x.bin.gz"));
        assert_eq!(gunzip(&gz), b"three");
        let names: Vec<String> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn gzip_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.txt");
        for n in 0..3 {
            std::fs::write(&p, format!("{n}")).unwrap();
            let gz = gzip(&p).unwrap();
            let want = if n == 0 {
                "x.txt.gz".to_string()
            } else {
                format!("x.txt.{n}.gz")
            };
            assert_eq!(gz.file_name().unwrap().to_string_lossy(), want);
            assert!(!p.exists());
        }
    }
}
