//! Type 1: a libpcap byte stream saved as rotating capture files (spec §4.2).
//!
//! Upstream piped the stream into `tcpdump -r - -G 300 -w …` and gzipped rotated
//! files from a second process. Here the stream is parsed directly: the 24-byte global
//! header (any of the four libpcap magics), then records (16-byte header + `incl_len`
//! bytes). Files `<data>/<uuid>/1/YYYY/MM/DD/<uuid>-YYYY-MM-DD-HHMMSS.cap` rotate every
//! 300 s (or on date change) at a record boundary; each file starts with the stream's
//! global header. Closed files are gzipped (`.cap.gz`) and their paths pushed to the
//! type-1 queues (type and group queues alike; upstream's compressor skipped groups).
//!
//! A stream that is not pcap is rejected as upstream: `Error:IncorrectType` and
//! `Error: Type=1, Incorrect file format`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use bytes::{Bytes, BytesMut};

use super::files::{Naming, RotatingFile, ROTATION_CYCLE};

/// Largest record accepted (a sanity bound, well above any snaplen).
pub(crate) const MAX_RECORD: usize = 16 * 1024 * 1024;
const GLOBAL_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// The stream is not a pcap stream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PcapError {
    /// Unknown magic number.
    #[error("not a pcap stream (magic {0:02x?})")]
    Magic([u8; 4]),
    /// A record larger than [`MAX_RECORD`].
    #[error("pcap record of {0} bytes")]
    Record(usize),
    /// Writing the file failed.
    #[error("cannot save the capture: {0}")]
    Io(#[from] std::io::Error),
}

/// One type-1 session.
pub(crate) struct PcapWorker {
    file: RotatingFile,
    pending: BytesMut,
    global: Option<Bytes>,
    little_endian: bool,
}

impl PcapWorker {
    /// A worker saving type-`ty` captures under `data` for sensor `uuid`.
    pub(crate) fn new(data: &Path, uuid: &str, ty: u8) -> Self {
        PcapWorker {
            file: RotatingFile::new(Naming::new(data, uuid, ty, "cap"), ROTATION_CYCLE),
            pending: BytesMut::new(),
            global: None,
            little_endian: true,
        }
    }

    /// Consumes one message: complete records are written.
    pub(crate) fn message(&mut self, msg: &[u8]) -> Result<(), PcapError> {
        self.pending.extend_from_slice(msg);
        if self.global.is_none() {
            if self.pending.len() < GLOBAL_HEADER {
                return Ok(());
            }
            let magic: [u8; 4] = match self.pending.get(..4).map(<[u8; 4]>::try_from) {
                Some(Ok(m)) => m,
                _ => return Ok(()),
            };
            self.little_endian = match magic {
                [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
                [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
                m => return Err(PcapError::Magic(m)),
            };
            let g = self.pending.split_to(GLOBAL_HEADER).freeze();
            self.file.set_prologue(g.to_vec());
            self.global = Some(g);
        }
        let complete = self.complete_records()?;
        if complete > 0 {
            let records = self.pending.split_to(complete);
            // Rotation may happen before any record: the new file gets the prologue.
            self.file.write(&records, |_| Some(0))?;
        }
        Ok(())
    }

    /// Length of the complete records at the front of the pending bytes.
    fn complete_records(&self) -> Result<usize, PcapError> {
        let mut off = 0;
        while let Some(h) = self.pending.get(off..off + RECORD_HEADER) {
            let Some(Ok(len_bytes)) = h.get(8..12).map(<[u8; 4]>::try_from) else {
                break;
            };
            let incl = if self.little_endian {
                u32::from_le_bytes(len_bytes)
            } else {
                u32::from_be_bytes(len_bytes)
            } as usize;
            if incl > MAX_RECORD {
                return Err(PcapError::Record(incl));
            }
            let end = off + RECORD_HEADER + incl;
            if end > self.pending.len() {
                break;
            }
            off = end;
        }
        Ok(off)
    }

    /// Flushes buffered bytes (end of a batch).
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// Paths of capture files gzipped since the last call.
    pub(crate) async fn compressed(&mut self) -> Vec<Bytes> {
        self.file
            .completed()
            .await
            .into_iter()
            .filter_map(Result::ok)
            .map(|p| Bytes::from(p.to_string_lossy().into_owned()))
            .collect()
    }

    /// Worker stop: files gzipped (paths to `out`); returns the global header and the
    /// incomplete record, to be fed back by the next run.
    pub(crate) async fn suspend(&mut self, out: &mut Vec<Bytes>) -> std::io::Result<Option<Bytes>> {
        out.extend(self.finish().await?);
        let Some(g) = &self.global else {
            return Ok((!self.pending.is_empty()).then(|| self.pending.split().freeze()));
        };
        let mut tail = BytesMut::from(&g[..]);
        tail.extend_from_slice(&self.pending.split());
        Ok(Some(tail.freeze()))
    }

    /// What [`Self::suspend`] would save now (taken before a batch): the global header
    /// and the incomplete record.
    pub(crate) fn checkpoint(&self) -> Option<Bytes> {
        let mut tail = BytesMut::new();
        if let Some(g) = &self.global {
            tail.extend_from_slice(g);
        }
        tail.extend_from_slice(&self.pending);
        (!tail.is_empty()).then(|| tail.freeze())
    }

    /// End of session: the last file gzipped; every `.gz` path not yet pushed.
    pub(crate) async fn finish(&mut self) -> std::io::Result<Vec<Bytes>> {
        Ok(self
            .file
            .finish()
            .await?
            .into_iter()
            .map(|p| Bytes::from(p.to_string_lossy().into_owned()))
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn record(payload: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; 16];
        r[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        r[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        r.extend_from_slice(payload);
        r
    }

    #[tokio::test]
    async fn records_split_across_messages_are_saved_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PcapWorker::new(dir.path(), "u", 1);
        let mut stream = vec![0xd4, 0xc3, 0xb2, 0xa1];
        stream.extend_from_slice(&[0u8; 20]);
        stream.extend(record(b"abc"));
        stream.extend(record(b"defgh"));
        for chunk in stream.chunks(7) {
            w.message(chunk).unwrap();
        }
        w.flush().unwrap();
        let gz = w.finish().await.unwrap();
        assert_eq!(gz.len(), 1);
        let path = String::from_utf8(gz[0].to_vec()).unwrap();
        assert!(path.ends_with(".cap.gz"), "{path}");
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, stream);
    }

    #[test]
    fn non_pcap_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PcapWorker::new(dir.path(), "u", 1);
        assert!(matches!(w.message(&[b'x'; 30]), Err(PcapError::Magic(_))));
    }
}
