//! Rebuilding lines across D4 packets (types 3, 8 and the default 254 handler).
//!
//! Each stream entry carries an arbitrary slice of the sensor's byte stream. Complete
//! lines (without their `\n`; a `\r` is kept, as upstream) come out once each, in order;
//! the unfinished tail waits for the next entry. Lines are slices of the entries
//! (`Bytes`), so nothing is copied unless a line spans entries.
//!
//! Upstream's guard against endless lines was dead code (spec §9 item 19); here a tail
//! longer than the buffer's maximum is emitted as a line of its own and counted, or, for
//! elements that are only useful whole (files sent by a file watcher,
//! [`LineBuffer::dropping`]), dropped with the rest of its line and counted.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use memchr::memchr;

/// Longest line kept waiting for its end (upstream's default handler uses 100000).
pub(crate) const MAX_LINE: usize = 100_000;

/// The unfinished tail of a session's byte stream.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: BytesMut,
    max: usize,
    /// Lines cut (or dropped) because they exceeded the maximum.
    pub(crate) forced: u64,
    /// Drop an oversized line instead of emitting its pieces.
    drop_oversized: bool,
    /// Inside a dropped line: discard bytes up to the next `\n`.
    skipping: bool,
}

impl LineBuffer {
    /// A buffer that cuts lines longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        LineBuffer {
            pending: BytesMut::new(),
            max: max.max(1),
            forced: 0,
            drop_oversized: false,
            skipping: false,
        }
    }

    /// A buffer that drops (and counts) a line longer than `max` bytes whole, rather
    /// than emitting it in pieces: a piece of a file is no file.
    pub(crate) fn dropping(max: usize) -> Self {
        LineBuffer {
            drop_oversized: true,
            ..LineBuffer::new(max)
        }
    }

    /// Feeds one message; appends every completed non-empty line to `out`.
    pub(crate) fn push(&mut self, msg: &Bytes, out: &mut Vec<Bytes>) {
        let mut rest = msg.clone();
        while let Some(i) = memchr(b'\n', &rest) {
            let head = rest.slice(..i);
            rest = rest.slice(i + 1..);
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if self.pending.is_empty() {
                if !head.is_empty() {
                    out.push(head);
                }
            } else {
                self.pending.extend_from_slice(&head);
                out.push(self.pending.split().freeze());
            }
        }
        if self.skipping {
            return;
        }
        if !rest.is_empty() {
            self.pending.extend_from_slice(&rest);
        }
        if self.pending.len() > self.max {
            self.forced += 1;
            let cut = self.pending.split().freeze();
            if self.drop_oversized {
                self.skipping = true;
            } else {
                out.push(cut);
            }
        }
    }

    /// The unfinished tail, taken out (end of session).
    pub(crate) fn take_tail(&mut self) -> Option<Bytes> {
        (!self.pending.is_empty()).then(|| self.pending.split().freeze())
    }

    /// The unfinished tail, left in place (saved across a restart).
    pub(crate) fn tail(&self) -> &[u8] {
        &self.pending
    }

    /// Restores a tail saved by a previous run.
    pub(crate) fn restore(&mut self, tail: &[u8]) {
        self.pending.extend_from_slice(tail);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(msgs: &[&[u8]]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut b = LineBuffer::new(MAX_LINE);
        let mut out = Vec::new();
        for m in msgs {
            b.push(&Bytes::copy_from_slice(m), &mut out);
        }
        (
            out.into_iter().map(|l| l.to_vec()).collect(),
            b.take_tail().map(|t| t.to_vec()),
        )
    }

    /// Spec §9 item 19's example: messages `a\nb`, `c\n` give `a`, `bc` (each once).
    #[test]
    fn lines_split_across_messages_come_out_once() {
        let (lines, tail) = feed(&[b"a\nb", b"c\n"]);
        assert_eq!(lines, vec![b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(tail, None);
        let (lines, tail) = feed(&[b"x\r\n\n\ny", b"", b"z"]);
        assert_eq!(lines, vec![b"x\r".to_vec()]);
        assert_eq!(tail, Some(b"yz".to_vec()));
    }

    #[test]
    fn endless_lines_are_cut() {
        let mut b = LineBuffer::new(4);
        let mut out = Vec::new();
        b.push(&Bytes::from_static(b"abcdef"), &mut out);
        assert_eq!(out, vec![Bytes::from_static(b"abcdef")]);
        assert_eq!(b.forced, 1);
    }

    #[test]
    fn oversized_lines_can_be_dropped_whole() {
        let mut b = LineBuffer::dropping(4);
        let mut out = Vec::new();
        for m in [&b"ok\nabc"[..], b"def", b"gh\nyes", b"\n"] {
            b.push(&Bytes::copy_from_slice(m), &mut out);
        }
        assert_eq!(
            out,
            vec![Bytes::from_static(b"ok"), Bytes::from_static(b"yes")]
        );
        assert_eq!(b.forced, 1);
        assert_eq!(b.take_tail(), None);
    }

    proptest! {
        /// Any split of a byte stream into messages yields the same lines.
        #[test]
        fn splitting_does_not_matter(data in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..400),
                                     cuts in proptest::collection::vec(0usize..400, 0..20)) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= data.len()).collect();
            cuts.push(0);
            cuts.push(data.len());
            cuts.sort();
            let msgs: Vec<&[u8]> = cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect();
            let (lines, tail) = feed(&msgs);
            let mut expect: Vec<Vec<u8>> = data.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let last = expect.pop().filter(|l| !l.is_empty());
            expect.retain(|l| !l.is_empty());
            prop_assert_eq!(lines, expect);
            prop_assert_eq!(tail, last);
        }
    }
}
