//! Append-only output pending under the store lock.
//!
//! Commands append their effect form to the [`Feed`] while the lock is held, so the order
//! of records is the order of execution. The persistence layer takes the pending bytes
//! ([`Feed::take`]) and writes them to the file; a rewrite collects what is fed while it
//! runs ([`Feed::start_rewrite`], [`Feed::finish_rewrite`]). See `persistence::aof` for
//! the design note (record layout, fsync policy, recovery).

use bytes::Bytes;

use crate::protocol::frame::encode_request;

/// Pending append-only output, owned by the store (filled under its lock).
#[derive(Debug)]
pub(crate) struct Feed {
    /// Logging on/off.
    pub enabled: bool,
    buf: Vec<u8>,
    /// Bytes ever fed (a logical position, not a file offset).
    pub seq: u64,
    selected: Option<usize>,
    rewrite_buf: Option<Vec<u8>>,
}

/// A saved [`Feed`] position, to undo an empty `MULTI`/`EXEC` wrapper.
pub(crate) struct Mark(usize, u64, Option<usize>, Option<usize>);

impl Feed {
    /// A new feed.
    pub(crate) fn new(enabled: bool) -> Feed {
        Feed {
            enabled,
            buf: Vec::new(),
            seq: 0,
            selected: None,
            rewrite_buf: None,
        }
    }

    /// Logs one command run on database `db`.
    pub(crate) fn push(&mut self, db: usize, args: &[Bytes]) {
        if !self.enabled {
            return;
        }
        let start = self.buf.len();
        if self.selected != Some(db) {
            encode_request(
                &mut self.buf,
                &[Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())],
            );
            self.selected = Some(db);
        }
        encode_request(&mut self.buf, args);
        if let Some(rb) = self.rewrite_buf.as_mut() {
            rb.extend_from_slice(&self.buf[start..]);
        }
        self.seq += (self.buf.len() - start) as u64;
    }

    /// Current position (for [`Feed::rollback`]).
    pub(crate) fn mark(&self) -> Mark {
        Mark(
            self.buf.len(),
            self.seq,
            self.selected,
            self.rewrite_buf.as_ref().map(Vec::len),
        )
    }

    /// Drops everything fed since `m`.
    pub(crate) fn rollback(&mut self, m: Mark) {
        self.buf.truncate(m.0);
        self.seq = m.1;
        self.selected = m.2;
        if let (Some(rb), Some(n)) = (self.rewrite_buf.as_mut(), m.3) {
            rb.truncate(n);
        }
    }

    /// Takes the pending bytes and the position they end at.
    pub(crate) fn take(&mut self) -> (Vec<u8>, u64) {
        (std::mem::take(&mut self.buf), self.seq)
    }

    /// Starts copying what is fed into a rewrite buffer (the rewrite serialises the
    /// keyspace meanwhile); the next command re-selects its database.
    pub(crate) fn start_rewrite(&mut self) {
        self.selected = None;
        self.rewrite_buf = Some(Vec::new());
    }

    /// Ends the rewrite: everything fed since [`Feed::start_rewrite`].
    pub(crate) fn finish_rewrite(&mut self) -> Vec<u8> {
        self.rewrite_buf.take().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::parse_request;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn feed_selects_db_and_rolls_back() {
        let mut f = Feed::new(true);
        f.push(0, &[b("SET"), b("a"), b("1")]);
        let m = f.mark();
        f.push(2, &[b("MULTI")]);
        f.rollback(m);
        f.push(0, &[b("DEL"), b("a")]);
        let (buf, seq) = f.take();
        assert_eq!(seq, buf.len() as u64);
        let mut buf = bytes::BytesMut::from(&buf[..]);
        let mut cmds = Vec::new();
        while let Some(c) = parse_request(&mut buf).unwrap() {
            cmds.push(c);
        }
        assert_eq!(cmds.len(), 3, "SELECT 0, SET, DEL");
    }
}
