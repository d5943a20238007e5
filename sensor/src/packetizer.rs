//! Cuts source bytes into D4 payloads of at most `snaplen` bytes and signs them with
//! the shared codec ([`d4_proto::encode_packet`]).
//!
//! Binary types (pcap, ...) keep goclient's rule: one source read → one payload.
//! Line-based types (`DataType::is_line_based` in the d4-proto registry: log lines, JSON
//! lines, passivedns, extended) never cut a record: complete lines are packed together up to `snaplen`, a trailing partial line
//! waits for the next read, and only a single line longer than `snaplen` is split (the
//! pieces are consecutive packets on one connection, so the server joins them again).
//! At the end of the input the remaining partial line is sent as is.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use d4_proto::{encode_packet, DataType};

/// Splits a byte stream into payloads.
#[derive(Debug)]
pub struct Chunker {
    snaplen: usize,
    lines: bool,
    pending: Vec<u8>,
    /// Number of lines longer than `snaplen` that had to be split.
    pub split_lines: u64,
}

impl Chunker {
    /// A chunker for payloads of at most `snaplen` (≥ 1) bytes.
    pub fn new(snaplen: usize, lines: bool) -> Chunker {
        Chunker {
            snaplen: snaplen.max(1),
            lines,
            pending: Vec::new(),
            split_lines: 0,
        }
    }

    /// Feeds one read's worth of bytes; pushes the payloads that are ready to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) {
        if !self.lines {
            out.extend(data.chunks(self.snaplen).map(<[u8]>::to_vec));
            return;
        }
        self.pending.extend_from_slice(data);
        let Some(last_nl) = self.pending.iter().rposition(|&b| b == b'\n') else {
            self.split_overlong(out);
            return;
        };
        let rest = self.pending.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut self.pending, rest);
        self.pack_lines(&complete, out);
        self.split_overlong(out);
    }

    /// End of input: the remaining partial line (if any) as final payloads.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        let rest = std::mem::take(&mut self.pending);
        out.extend(rest.chunks(self.snaplen).map(<[u8]>::to_vec));
    }

    /// Bytes of an incomplete line waiting for its newline.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// A partial line that already exceeds `snaplen` cannot fit in one packet anyway:
    /// send its full-size pieces now instead of buffering without bound.
    fn split_overlong(&mut self, out: &mut Vec<Vec<u8>>) {
        if self.pending.len() <= self.snaplen {
            return;
        }
        let keep = self.pending.len() % self.snaplen;
        let keep = if keep == 0 { self.snaplen } else { keep };
        let tail = self.pending.split_off(self.pending.len() - keep);
        let head = std::mem::replace(&mut self.pending, tail);
        self.split_lines += 1;
        out.extend(head.chunks(self.snaplen).map(<[u8]>::to_vec));
    }

    /// Packs complete lines (the slice ends with `\n`) greedily into payloads.
    fn pack_lines(&mut self, complete: &[u8], out: &mut Vec<Vec<u8>>) {
        let mut cur: Vec<u8> = Vec::new();
        for line in complete.split_inclusive(|&b| b == b'\n') {
            if cur.len() + line.len() > self.snaplen && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if line.len() > self.snaplen {
                self.split_lines += 1;
                out.extend(line.chunks(self.snaplen).map(<[u8]>::to_vec));
            } else {
                cur.extend_from_slice(line);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
}

/// Signs payloads into D4 packets for one sensor identity.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Header version byte.
    pub version: u8,
    /// Sensor uuid.
    pub uuid: [u8; 16],
    /// HMAC key.
    pub key: Vec<u8>,
}

impl Signer {
    /// One complete packet of type `t`, stamped with `timestamp` (Unix seconds).
    pub fn packet(&self, t: DataType, timestamp: u64, payload: &[u8]) -> Vec<u8> {
        encode_packet(self.version, t, self.uuid, timestamp, &self.key, payload)
    }

    /// The meta-header packets (type 2) for `meta`, chunked at `snaplen` as goclient does.
    pub fn meta_packets(&self, meta: &[u8], snaplen: usize, timestamp: u64) -> Vec<Vec<u8>> {
        meta.chunks(snaplen.max(1))
            .map(|c| self.packet(DataType::META_HEADER, timestamp, c))
            .collect()
    }
}

/// Current Unix time in seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn run(snaplen: usize, lines: bool, reads: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut c = Chunker::new(snaplen, lines);
        let mut out = Vec::new();
        for r in reads {
            c.push(r, &mut out);
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn binary_reads_become_snaplen_chunks() {
        let data = vec![7u8; 2500];
        let out = run(1000, false, &[&data]);
        assert_eq!(
            out.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
    }

    #[test]
    fn lines_are_never_cut() {
        let out = run(10, true, &[b"aaaa\nbbbb\ncc", b"cc\ndd\n"]);
        assert_eq!(out, [b"aaaa\nbbbb\n".to_vec(), b"cccc\ndd\n".to_vec()]);
        for p in &out {
            assert!(p.ends_with(b"\n"));
        }
    }

    #[test]
    fn overlong_line_is_split_and_counted() {
        let mut c = Chunker::new(4, true);
        let mut out = Vec::new();
        c.push(b"abcdefghij\nxy\n", &mut out);
        c.finish(&mut out);
        assert_eq!(out.concat(), b"abcdefghij\nxy\n");
        assert!(out.iter().all(|p| p.len() <= 4));
        assert_eq!(c.split_lines, 1);
    }

    #[test]
    fn partial_line_without_newline_is_bounded() {
        let mut c = Chunker::new(8, true);
        let mut out = Vec::new();
        c.push(&[b'x'; 30], &mut out);
        assert!(c.pending_len() <= 8);
        c.finish(&mut out);
        assert_eq!(out.concat(), vec![b'x'; 30]);
    }

    #[test]
    fn meta_header_chunks_like_goclient() {
        let s = Signer {
            version: 1,
            uuid: [0x11; 16],
            key: b"k".to_vec(),
        };
        let meta = [b'm'; 46];
        let p = s.meta_packets(&meta, 20, 1);
        assert_eq!(
            p.iter().map(|x| x.len() - 62).collect::<Vec<_>>(),
            [20, 20, 6]
        );
        assert!(p.iter().all(|x| x[1] == 2));
    }
}
