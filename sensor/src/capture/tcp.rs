//! DNS over TCP: per-direction stream reassembly and RFC 1035 §4.2.2 framing (2-byte
//! big-endian length before each message). passivedns parses only the first message of
//! a segment and fails on messages spanning segments; here every complete message is
//! returned, in order, whatever the segmentation.
//!
//! Bounds: at most [`MAX_STREAMS`] streams (idle ones expire after 300 s of packet
//! time; when full the oldest is evicted), a buffer of at most one maximum-size message
//! per stream, and at most [`MAX_OOO`] out-of-order segments held per stream.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::slice::TcpInfo;

/// Most concurrent streams tracked.
pub const MAX_STREAMS: usize = 65_536;
/// Most out-of-order segments held per stream.
pub const MAX_OOO: usize = 32;
/// Largest buffered bytes per stream (one 65535-byte message plus its prefix).
const MAX_BUF: usize = 65_537;
/// Idle time after which a stream is forgotten.
const IDLE_SECS: u64 = 300;

/// One direction of a TCP connection.
pub type StreamKey = (IpAddr, u16, IpAddr, u16);

#[derive(Debug, Default)]
struct Stream {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    ooo: BTreeMap<u32, Vec<u8>>,
    last_seen: u64,
}

/// Signed distance from `b` to `a` in sequence space.
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl Stream {
    fn accept(&mut self, seq: u32, data: &[u8]) {
        let next = *self.next_seq.get_or_insert(seq);
        let d = seq_diff(seq, next);
        if d > 0 {
            if self.ooo.len() < MAX_OOO {
                self.ooo.insert(seq, data.to_vec());
            }
            return;
        }
        // Retransmission or overlap: keep only the new tail.
        let skip = d.unsigned_abs() as usize;
        if let Some(tail) = data.get(skip..) {
            self.append(tail);
        }
        while let Some(mut e) = self.ooo.first_entry() {
            let next = self.next_seq.unwrap_or(0);
            let d = seq_diff(*e.key(), next);
            if d > 0 {
                break;
            }
            let bytes = std::mem::take(e.get_mut());
            e.remove();
            if let Some(tail) = bytes.get(d.unsigned_abs() as usize..) {
                self.append(tail);
            }
        }
    }

    fn append(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.next_seq = self.next_seq.map(|n| n.wrapping_add(data.len() as u32));
    }

    /// Complete messages at the front of the buffer.
    fn drain_messages(&mut self, out: &mut Vec<Vec<u8>>) -> bool {
        let mut used = 0;
        while let (Some(&hi), Some(&lo)) = (self.buf.get(used), self.buf.get(used + 1)) {
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            match self.buf.get(used + 2..used + 2 + len) {
                Some(msg) => {
                    out.push(msg.to_vec());
                    used += 2 + len;
                }
                None => break,
            }
        }
        self.buf.drain(..used);
        self.buf.len() <= MAX_BUF
    }
}

/// All tracked streams.
#[derive(Debug, Default)]
pub struct Reassembler {
    streams: HashMap<StreamKey, Stream>,
    last_sweep: u64,
    /// Streams reset because their buffer overflowed (not DNS framing).
    pub overflows: u64,
}

impl Reassembler {
    /// Feeds one segment (at packet time `now`, seconds); complete DNS messages
    /// (without the length prefix) are appended to `out`.
    pub fn segment(
        &mut self,
        key: StreamKey,
        tcp: TcpInfo,
        payload: &[u8],
        now: u64,
        out: &mut Vec<Vec<u8>>,
    ) {
        self.sweep(now);
        if tcp.syn {
            let s = self.streams.entry(key).or_default();
            *s = Stream {
                next_seq: Some(tcp.seq.wrapping_add(1)),
                last_seen: now,
                ..Stream::default()
            };
        }
        if !payload.is_empty() {
            if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
                self.evict_oldest();
            }
            let s = self.streams.entry(key).or_default();
            s.last_seen = now;
            s.accept(tcp.seq, payload);
            if !s.drain_messages(out) {
                self.overflows += 1;
                self.streams.remove(&key);
            }
        }
        if tcp.fin {
            self.streams.remove(&key);
        }
    }

    /// Number of streams currently tracked.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// True when no stream is tracked.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    fn sweep(&mut self, now: u64) {
        if now.saturating_sub(self.last_sweep) < 60 {
            return;
        }
        self.last_sweep = now;
        self.streams
            .retain(|_, s| now.saturating_sub(s.last_seen) < IDLE_SECS);
    }

    fn evict_oldest(&mut self) {
        if let Some(k) = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(k, _)| *k)
        {
            self.streams.remove(&k);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        ([10, 0, 0, 1].into(), 53, [10, 0, 0, 2].into(), 40000)
    }

    fn seg(r: &mut Reassembler, seq: u32, data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        r.segment(
            key(),
            TcpInfo {
                seq,
                syn: false,
                fin: false,
            },
            data,
            1,
            &mut out,
        );
        out
    }

    #[test]
    fn message_split_across_segments_and_two_in_one() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.segment(
            key(),
            TcpInfo {
                seq: 99,
                syn: true,
                fin: false,
            },
            &[],
            1,
            &mut out,
        );
        assert!(seg(&mut r, 100, &[0, 5, b'h', b'e']).is_empty());
        assert_eq!(
            seg(&mut r, 104, &[b'l', b'l', b'o', 0, 1, b'x', 0]),
            vec![b"hello".to_vec(), b"x".to_vec()]
        );
        assert_eq!(seg(&mut r, 111, &[2, b'o', b'k']), vec![b"ok".to_vec()]);
    }

    #[test]
    fn out_of_order_and_retransmitted_segments() {
        let mut r = Reassembler::default();
        assert!(seg(&mut r, 1000, &[0, 4, b'a']).is_empty());
        assert!(seg(&mut r, 1005, b"d").is_empty());
        assert!(
            seg(&mut r, 1000, &[0, 4, b'a']).is_empty(),
            "retransmission ignored"
        );
        assert_eq!(seg(&mut r, 1003, b"bc"), vec![b"abcd".to_vec()]);
    }

    #[test]
    fn sequence_wraps() {
        let mut r = Reassembler::default();
        assert!(seg(&mut r, u32::MAX - 1, &[0, 3]).is_empty());
        assert_eq!(seg(&mut r, 0, b"xyz"), vec![b"xyz".to_vec()]);
    }
}
