//! The two value types that need more than a std collection: sorted sets and streams.
//!
//! [`ZSet`] keeps a member → score map plus an ordered index of `(score, member)`, so
//! lookups are O(1) and range scans are ordered like Redis (score, then member bytes).
//! [`Stream`] is an ordered map of entry IDs to field/value pairs plus the stream's
//! last generated ID, which survives deletions (new IDs must stay increasing).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::hash::Map;
use super::owned::own;

/// A score with a total order (NaN never stored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score(pub f64);

impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        // -0.0 and 0.0 compare equal, like in C.
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// A sorted set.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZSet {
    scores: Map<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }
    /// True if empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    /// Score of a member.
    pub(crate) fn score(&self, m: &[u8]) -> Option<f64> {
        self.scores.get(m).copied()
    }
    /// Sets a member's score; true if the member is new. A new member is stored as its
    /// own copy (see `keyspace::own`), shared by the score map and the order index.
    pub(crate) fn insert(&mut self, m: &[u8], s: f64) -> bool {
        let Some((k, &old)) = self.scores.get_key_value(m) else {
            let k = own(m);
            self.scores.insert(k.clone(), s);
            self.order.insert((Score(s), k));
            return true;
        };
        if old != s || old.is_sign_negative() != s.is_sign_negative() {
            let k = k.clone();
            self.order.remove(&(Score(old), k.clone()));
            self.order.insert((Score(s), k.clone()));
            self.scores.insert(k, s);
        }
        false
    }
    /// Removes a member; true if it was there.
    pub(crate) fn remove(&mut self, m: &[u8]) -> bool {
        match self.scores.remove_entry(m) {
            Some((k, s)) => {
                self.order.remove(&(Score(s), k));
                true
            }
            None => false,
        }
    }
    /// 0-based rank in ascending order.
    pub(crate) fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = self.score(m)?;
        Some(
            self.order
                .range(..(Score(s), Bytes::copy_from_slice(m)))
                .count(),
        )
    }
    /// Ascending iterator over `(member, score)`.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }
    /// Ascending iterator starting at the first member with score >= `min`.
    pub(crate) fn iter_from(&self, min: f64) -> impl Iterator<Item = (&Bytes, f64)> {
        self.order
            .range((Score(min), Bytes::new())..)
            .map(|(s, m)| (m, s.0))
    }
    /// Descending iterator starting at the last member with score <= `max`. (Only the
    /// unit tests call it since it stopped being `pub`; reverse score ranges walk
    /// `iter().rev()` in `cmd::zsets`.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn iter_rev_from(&self, max: f64) -> impl Iterator<Item = (&Bytes, f64)> {
        self.order
            .iter()
            .rev()
            .skip_while(move |(s, _)| s.0 > max)
            .map(|(s, m)| (m, s.0))
    }
    /// Lowest-scored member.
    pub(crate) fn first(&self) -> Option<(Bytes, f64)> {
        self.order.first().map(|(s, m)| (m.clone(), s.0))
    }
    /// Highest-scored member.
    pub(crate) fn last(&self) -> Option<(Bytes, f64)> {
        self.order.last().map(|(s, m)| (m.clone(), s.0))
    }
}

/// A stream entry ID `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub(crate) struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The largest ID.
    pub(crate) const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };
    /// The ID right after this one, if any.
    pub(crate) fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }
    /// The ID right before this one, if any.
    pub(crate) fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }
    /// `ms-seq` as bytes.
    pub(crate) fn to_bytes(self) -> Bytes {
        let (mut ms, mut seq) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (ms, seq) = (
            ms.format(self.ms).as_bytes(),
            seq.format(self.seq).as_bytes(),
        );
        // Exactly sized, so the `Bytes` takes the vector's block as it is.
        let mut out = Vec::with_capacity(ms.len() + 1 + seq.len());
        out.extend_from_slice(ms);
        out.push(b'-');
        out.extend_from_slice(seq);
        Bytes::from(out)
    }
}

/// Field/value pairs of one entry.
pub(crate) type Fields = Vec<(Bytes, Bytes)>;

/// A stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stream {
    /// Entries in ID order.
    pub entries: BTreeMap<StreamId, Fields>,
    /// Last ID ever added (new IDs must be greater).
    pub last_id: StreamId,
    /// Number of entries ever added.
    pub entries_added: u64,
}

impl Stream {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
    /// True if empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Deletes the oldest entries until at most `max` remain; returns how many went.
    pub(crate) fn trim_maxlen(&mut self, max: usize, limit: usize) -> usize {
        let mut n = 0;
        while self.entries.len() > max && n < limit {
            self.entries.pop_first();
            n += 1;
        }
        n
    }
    /// Deletes entries with IDs below `min`; returns how many went.
    pub(crate) fn trim_minid(&mut self, min: StreamId, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.entries.first_key_value() {
                Some((id, _)) if *id < min => {
                    self.entries.pop_first();
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zset_order_and_rank() {
        let mut z = ZSet::default();
        assert!(z.insert(b"b", 1.0));
        assert!(z.insert(b"a", 1.0));
        assert!(z.insert(b"c", 0.5));
        assert!(!z.insert(b"c", 2.0));
        let order: Vec<_> = z.iter().map(|(m, _)| m.clone()).collect();
        assert_eq!(
            order,
            vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c")]
        );
        assert_eq!(z.rank(b"c"), Some(2));
        assert!(z.remove(b"a"));
        assert_eq!(z.rank(b"b"), Some(0));
        assert_eq!(z.iter_from(1.5).count(), 1);
        assert_eq!(z.iter_rev_from(1.5).count(), 1);
    }

    #[test]
    fn stream_ids() {
        let id = StreamId {
            ms: 1,
            seq: u64::MAX,
        };
        assert_eq!(id.next(), Some(StreamId { ms: 2, seq: 0 }));
        assert_eq!(StreamId { ms: 2, seq: 0 }.prev(), Some(id));
        assert_eq!(StreamId::MAX.next(), None);
    }
}
