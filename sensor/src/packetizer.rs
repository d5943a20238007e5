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

use d4_proto::{encode_packet, DataType, Header, HEADER_SIZE};
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
        self.push_with(data, &mut |p: &[u8]| out.push(p.to_vec()));
    }

    /// End of input: the remaining partial line (if any) as final payloads.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        self.finish_with(&mut |p: &[u8]| out.push(p.to_vec()));
    }

    /// [`push`](Self::push) handing each payload to `f` as a borrowed slice, so the
    /// caller can sign it straight into its packet buffer without a copy per payload.
    pub fn push_with(&mut self, data: &[u8], f: &mut dyn FnMut(&[u8])) {
        if !self.lines {
            data.chunks(self.snaplen).for_each(&mut *f);
            return;
        }
        let data = self.join_pending(data, f);
        match memchr::memrchr(b'\n', data) {
            Some(last_nl) => {
                let (complete, rest) = data.split_at(last_nl + 1);
                self.pack_lines(complete, f);
                self.pending.extend_from_slice(rest);
            }
            None => self.pending.extend_from_slice(data),
        }
        self.split_overlong(f);
    }

    /// [`finish`](Self::finish) handing each payload to `f`.
    pub fn finish_with(&mut self, f: &mut dyn FnMut(&[u8])) {
        let rest = std::mem::take(&mut self.pending);
        rest.chunks(self.snaplen).for_each(f);
    }

    /// Bytes of an incomplete line waiting for its newline.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Completes the partial line left by the previous read with the start of `data`
    /// and sends the first payload (that line and the whole lines after it that still
    /// fit, as if both reads had come as one). Returns the part of `data` not used.
    fn join_pending<'d>(&mut self, data: &'d [u8], f: &mut dyn FnMut(&[u8])) -> &'d [u8] {
        if self.pending.is_empty() {
            return data;
        }
        let Some(first_nl) = memchr::memchr(b'\n', data) else {
            return data;
        };
        let held = self.pending.len();
        // At most one payload's worth past the held part, but always the whole first line.
        let take = (first_nl + 1).max(self.snaplen.saturating_sub(held).min(data.len()));
        self.pending
            .extend_from_slice(data.get(..take).unwrap_or_default());
        let joined = std::mem::take(&mut self.pending);
        let line_end = held + first_nl + 1;
        let used = if line_end > self.snaplen {
            // The completed line alone is longer than a payload: split it.
            self.split_lines += 1;
            joined
                .get(..line_end)
                .unwrap_or_default()
                .chunks(self.snaplen)
                .for_each(&mut *f);
            line_end
        } else {
            let window = joined
                .get(..self.snaplen.min(joined.len()))
                .unwrap_or_default();
            let end = memchr::memrchr(b'\n', window).map_or(line_end, |i| i + 1);
            f(joined.get(..end).unwrap_or_default());
            end
        };
        // What was joined but not sent goes back in front of the rest of `data`.
        let back = joined.len() - used;
        let mut reuse = joined;
        reuse.clear();
        self.pending = reuse;
        data.get(take - back..).unwrap_or_default()
    }

    /// A partial line that already exceeds `snaplen` cannot fit in one packet anyway:
    /// send its full-size pieces now instead of buffering without bound.
    fn split_overlong(&mut self, f: &mut dyn FnMut(&[u8])) {
        if self.pending.len() <= self.snaplen {
            return;
        }
        let keep = self.pending.len() % self.snaplen;
        let keep = if keep == 0 { self.snaplen } else { keep };
        let cut = self.pending.len() - keep;
        self.split_lines += 1;
        self.pending
            .get(..cut)
            .unwrap_or_default()
            .chunks(self.snaplen)
            .for_each(&mut *f);
        self.pending.drain(..cut);
    }

    /// Packs complete lines (`complete` ends with `\n`) greedily into payloads: each
    /// payload ends at the last newline of the next `snaplen` bytes; a line longer than
    /// that is split into `snaplen` pieces and sent alone.
    fn pack_lines(&mut self, complete: &[u8], f: &mut dyn FnMut(&[u8])) {
        let mut rest = complete;
        while !rest.is_empty() {
            if rest.len() <= self.snaplen {
                f(rest);
                return;
            }
            let window = rest.get(..self.snaplen).unwrap_or_default();
            let end = match memchr::memrchr(b'\n', window) {
                Some(i) => {
                    f(window.get(..=i).unwrap_or_default());
                    i + 1
                }
                None => {
                    let line_end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
                    self.split_lines += 1;
                    rest.get(..line_end)
                        .unwrap_or_default()
                        .chunks(self.snaplen)
                        .for_each(&mut *f);
                    line_end
                }
            };
            rest = rest.get(end..).unwrap_or_default();
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

/// Where the HMAC sits in a D4 header (spec §1.1).
const HMAC_FIELD: std::ops::Range<usize> = 26..58;

/// Signs payloads straight into one growing buffer of concatenated D4 packets, the
/// form the queue and the connection take them in: no allocation and no copy per packet,
/// and the HMAC key is prepared once (its two padded key blocks are not hashed again for
/// every packet). The bytes are exactly [`Signer::packet`]'s.
pub struct PacketBuf {
    header: Header,
    mac: Hmac<Sha256>,
    buf: Vec<u8>,
}

impl PacketBuf {
    /// An empty buffer for data packets of type `t` signed by `signer`.
    pub fn new(signer: &Signer, t: DataType) -> PacketBuf {
        // HMAC accepts keys of any length (long keys are hashed first, RFC 2104).
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&signer.key)
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of any length"));
        PacketBuf {
            header: Header {
                version: signer.version,
                data_type: t,
                uuid: signer.uuid,
                timestamp: 0,
                hmac: [0; 32],
                size: 0,
            },
            mac,
            buf: Vec::new(),
        }
    }

    /// Appends one packet carrying `payload`, stamped with `timestamp`.
    pub fn push(&mut self, timestamp: u64, payload: &[u8]) {
        self.header.timestamp = timestamp;
        self.header.size = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let header = self.header.to_bytes();
        let mut mac = self.mac.clone();
        mac.update(&header);
        mac.update(payload);
        let start = self.buf.len();
        self.buf.extend_from_slice(&header);
        self.buf.extend_from_slice(payload);
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        if let Some(field) = self
            .buf
            .get_mut(start + HMAC_FIELD.start..start + HMAC_FIELD.end)
        {
            field.copy_from_slice(&tag);
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands over the packets held (whole packets, concatenated) and starts empty again
    /// with room for as many bytes.
    pub fn take(&mut self) -> Vec<u8> {
        let cap = self.buf.capacity().max(HEADER_SIZE);
        std::mem::replace(&mut self.buf, Vec::with_capacity(cap))
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

    /// The line-by-line packing the chunker did before it used memchr: the model the
    /// fast one must match payload for payload, whatever the read boundaries.
    fn model(snaplen: usize, reads: &[Vec<u8>]) -> (Vec<Vec<u8>>, u64) {
        let (mut pending, mut out, mut split) = (Vec::<u8>::new(), Vec::new(), 0u64);
        let overlong = |pending: &mut Vec<u8>, out: &mut Vec<Vec<u8>>, split: &mut u64| {
            if pending.len() > snaplen {
                let keep = match pending.len() % snaplen {
                    0 => snaplen,
                    k => k,
                };
                let tail = pending.split_off(pending.len() - keep);
                out.extend(pending.chunks(snaplen).map(<[u8]>::to_vec));
                *pending = tail;
                *split += 1;
            }
        };
        for r in reads {
            pending.extend_from_slice(r);
            if let Some(nl) = pending.iter().rposition(|&b| b == b'\n') {
                let rest = pending.split_off(nl + 1);
                let mut cur = Vec::new();
                for line in pending.split_inclusive(|&b| b == b'\n') {
                    if cur.len() + line.len() > snaplen && !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    if line.len() > snaplen {
                        split += 1;
                        out.extend(line.chunks(snaplen).map(<[u8]>::to_vec));
                    } else {
                        cur.extend_from_slice(line);
                    }
                }
                if !cur.is_empty() {
                    out.push(cur);
                }
                pending = rest;
            }
            overlong(&mut pending, &mut out, &mut split);
        }
        out.extend(pending.chunks(snaplen).map(<[u8]>::to_vec));
        (out, split)
    }

    proptest::proptest! {
        #[test]
        fn memchr_packing_matches_the_line_model(
            snaplen in 1usize..40,
            reads in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'\n']), 0..120),
                0..8,
            ),
        ) {
            let mut c = Chunker::new(snaplen, true);
            let mut out = Vec::new();
            for r in &reads {
                c.push(r, &mut out);
                proptest::prop_assert!(c.pending_len() <= snaplen);
            }
            c.finish(&mut out);
            let (want, split) = model(snaplen, &reads);
            proptest::prop_assert_eq!(out, want);
            proptest::prop_assert_eq!(c.split_lines, split);
        }
    }

    #[test]
    fn packet_buf_bytes_are_signer_packets() {
        for key in [b"k".to_vec(), vec![0x5a; 200]] {
            let s = Signer {
                version: 1,
                uuid: [0x42; 16],
                key,
            };
            let mut b = PacketBuf::new(&s, DataType::PASSIVEDNS);
            let payloads: [&[u8]; 3] = [b"one\n", b"", &[b'x'; 5000]];
            for (ts, p) in payloads.iter().enumerate() {
                b.push(ts as u64 + 7, p);
            }
            let want: Vec<u8> = payloads
                .iter()
                .enumerate()
                .flat_map(|(ts, p)| s.packet(DataType::PASSIVEDNS, ts as u64 + 7, p))
                .collect();
            assert_eq!(b.take(), want);
            assert!(b.is_empty());
        }
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
