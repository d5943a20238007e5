//! Process counters shared by the capture and the sender, printed on SIGUSR1 and at exit.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters (relaxed atomics: they are only ever reported).
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames read from the capture.
    pub packets_seen: AtomicU64,
    /// DNS responses decoded.
    pub dns_answers: AtomicU64,
    /// Frames/messages that could not be decoded (any reason).
    pub bad_packets: AtomicU64,
    /// passivedns lines produced.
    pub lines: AtomicU64,
    /// Bytes read from the source.
    pub source_bytes: AtomicU64,
    /// D4 packets written (first transmission).
    pub d4_packets: AtomicU64,
    /// Bytes written (headers included, replays excluded).
    pub d4_bytes: AtomicU64,
    /// Successful connections after the first.
    pub reconnects: AtomicU64,
    /// Failed connection attempts.
    pub connect_failures: AtomicU64,
    /// Packets sent again after a reconnect.
    pub replayed_packets: AtomicU64,
    /// Bytes sent again after a reconnect.
    pub replayed_bytes: AtomicU64,
    /// Packets dropped because the buffer was full (live capture only).
    pub dropped_packets: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// One-line summary, `name=value` pairs.
    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "packets_seen={} dns_answers={} bad_packets={} lines={} source_bytes={} d4_packets={} d4_bytes={} \
             reconnects={} connect_failures={} replayed_packets={} replayed_bytes={} dropped_packets={}",
            g(&self.packets_seen),
            g(&self.dns_answers),
            g(&self.bad_packets),
            g(&self.lines),
            g(&self.source_bytes),
            g(&self.d4_packets),
            g(&self.d4_bytes),
            g(&self.reconnects),
            g(&self.connect_failures),
            g(&self.replayed_packets),
            g(&self.replayed_bytes),
            g(&self.dropped_packets),
        )
    }
}
