//! Who gets a connection slot, and how much memory peers that have not authenticated may
//! hold (the `[D4_Server]` limits of [`AdmissionSettings`]).
//!
//! A connection is *pending* from its TCP accept until its first packet passed the HMAC
//! check, then *authenticated*. Pending connections are the only ones an unknown peer
//! can hold, so they are the ones bounded:
//!
//! - at most `max_unauthenticated_per_address` pending connections per IPv4 address or
//!   IPv6 /64; a connection over that is refused;
//! - at `max_connections` a new connection evicts the oldest pending one (an attacker
//!   holding every slot loses the oldest to each reconnecting sensor); it is refused only
//!   when every slot is authenticated;
//! - payload bytes buffered by pending connections are reserved from one budget of
//!   `unauthenticated_buffer_bytes`; a reservation that does not fit evicts the oldest
//!   other pending connections holding reservations.
//!
//! The deadline of a pending connection is enforced by
//! [`connection`](crate::connection); eviction cancels the connection's token. Nothing
//! here touches a socket: [`Admission::admit`] hands out a [`Ticket`] whose drop frees
//! the slot.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use d4_core::config::AdmissionSettings;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Least time between two warnings summarising refusals and evictions.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Why a new connection gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address already holds `max_unauthenticated_per_address` pending connections.
    PerAddress,
    /// Every slot is held by an authenticated sensor.
    Full,
}

/// Counts of what admission refused or evicted since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Refused: too many pending connections from the address.
    pub refused_per_address: u64,
    /// Refused: every slot authenticated.
    pub refused_full: u64,
    /// Pending connections evicted for a new connection's slot.
    pub evicted_for_slot: u64,
    /// Pending connections evicted for another one's buffer reservation.
    pub evicted_for_buffer: u64,
}

/// A pending connection.
struct Pending {
    addr: IpAddr,
    cancel: CancellationToken,
    reserved: usize,
}

/// The shared bookkeeping, under one lock held only for map updates.
#[derive(Default)]
struct State {
    /// Live connections, pending and authenticated.
    total: usize,
    next_seq: u64,
    /// Pending connections by accept order (oldest first).
    pending: BTreeMap<u64, Pending>,
    /// Pending connections per address key.
    per_addr: HashMap<IpAddr, usize>,
    /// Bytes reserved by pending connections.
    reserved: usize,
    counts: Counts,
    last_report: Option<Instant>,
}

impl State {
    /// Removes a pending connection from the books (not from `total`).
    fn take_pending(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        if let Some(n) = self.per_addr.get_mut(&p.addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_addr.remove(&p.addr);
            }
        }
        self.reserved = self.reserved.saturating_sub(p.reserved);
        Some(p)
    }

    /// Frees a pending connection's slot now and cancels it.
    fn evict(&mut self, seq: u64) {
        if let Some(p) = self.take_pending(seq) {
            self.total = self.total.saturating_sub(1);
            p.cancel.cancel();
        }
    }

    /// The counts, when a summary is due (at most every [`REPORT_EVERY`]).
    fn report_due(&mut self) -> Option<Counts> {
        let now = Instant::now();
        if self.last_report.is_some_and(|t| now - t < REPORT_EVERY) {
            return None;
        }
        self.last_report = Some(now);
        Some(self.counts)
    }
}

/// The connection slots and the pending-buffer budget of one `d4-server`.
pub struct Admission {
    settings: AdmissionSettings,
    state: Mutex<State>,
}

impl Admission {
    /// Empty books under `settings`.
    pub fn new(settings: AdmissionSettings) -> Arc<Admission> {
        Arc::new(Admission {
            settings,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives a just-accepted connection from `peer` a pending slot, evicting the oldest
    /// pending connection at the global cap. `cancel` is cancelled if it is evicted later.
    pub fn admit(
        self: &Arc<Self>,
        peer: SocketAddr,
        cancel: CancellationToken,
    ) -> Result<Ticket, Refusal> {
        let addr = address_key(peer.ip());
        let mut st = self.lock();
        let before = st.counts;
        let result = self.admit_locked(&mut st, addr, cancel);
        let report = if st.counts == before {
            None
        } else {
            st.report_due()
        };
        drop(st);
        if let Some(counts) = report {
            summarise(&counts);
        }
        let seq = result?;
        Ok(Ticket {
            admission: self.clone(),
            seq,
            peer,
            accepted: Instant::now(),
            authenticated: false,
        })
    }

    fn admit_locked(
        &self,
        st: &mut State,
        addr: IpAddr,
        cancel: CancellationToken,
    ) -> Result<u64, Refusal> {
        let from_addr = st.per_addr.get(&addr).copied().unwrap_or(0);
        if from_addr >= self.settings.max_unauthenticated_per_address {
            st.counts.refused_per_address += 1;
            debug!(%addr, "Too many unauthenticated connections from this address, refused.");
            return Err(Refusal::PerAddress);
        }
        if st.total >= self.settings.max_connections {
            let Some(oldest) = st.pending.keys().next().copied() else {
                st.counts.refused_full += 1;
                debug!("Every connection slot is authenticated, refused.");
                return Err(Refusal::Full);
            };
            st.evict(oldest);
            st.counts.evicted_for_slot += 1;
            debug!("Connection cap reached: oldest unauthenticated connection evicted.");
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.total += 1;
        *st.per_addr.entry(addr).or_insert(0) += 1;
        let reserved = 0;
        st.pending.insert(
            seq,
            Pending {
                addr,
                cancel,
                reserved,
            },
        );
        Ok(seq)
    }

    /// What was refused and evicted so far.
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    /// Live connections (pending and authenticated).
    pub fn live(&self) -> usize {
        self.lock().total
    }

    /// Bytes reserved by pending connections now.
    pub fn reserved(&self) -> usize {
        self.lock().reserved
    }
}

/// Logs the refusals and evictions so far (under attack this replaces one line per
/// connection).
fn summarise(c: &Counts) {
    warn!(
        refused_per_address = c.refused_per_address,
        refused_full = c.refused_full,
        evicted_for_slot = c.evicted_for_slot,
        evicted_for_buffer = c.evicted_for_buffer,
        "Connections refused or evicted to keep slots for sensors (totals since start)."
    );
}

/// The key pending connections are counted under: the IPv4 address (IPv4-mapped IPv6
/// included) or the /64 of an IPv6 address, the block one host usually holds.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// One admitted connection's slot; dropping it frees the slot (and its reservation).
pub struct Ticket {
    admission: Arc<Admission>,
    seq: u64,
    peer: SocketAddr,
    accepted: Instant,
    authenticated: bool,
}

impl Ticket {
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When the connection must have authenticated.
    pub fn deadline(&self) -> Instant {
        self.accepted + self.admission.settings.unauthenticated_timeout
    }

    /// Whether the connection authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Moves the connection out of the pending books (its per-address count and buffer
    /// reservation are released; its slot stays taken). `false` if it was evicted.
    pub fn authenticate(&mut self) -> bool {
        if self.authenticated {
            return true;
        }
        self.authenticated = self.admission.lock().take_pending(self.seq).is_some();
        self.authenticated
    }

    /// Makes the connection's buffer reservation `bytes` (no-op if it already is that
    /// large), evicting the oldest other pending connections holding reservations until
    /// the budget fits. `false` if the connection was evicted or `bytes` exceeds the
    /// whole budget. An authenticated connection needs no reservation.
    pub fn reserve(&mut self, bytes: usize) -> bool {
        if self.authenticated {
            return true;
        }
        let budget = self.admission.settings.unauthenticated_buffer_bytes;
        if bytes > budget {
            return false;
        }
        let mut st = self.admission.lock();
        let Some(old) = st.pending.get(&self.seq).map(|p| p.reserved) else {
            return false;
        };
        if bytes <= old {
            return true;
        }
        let mut evicted = false;
        while st.reserved - old + bytes > budget {
            let victim = st
                .pending
                .iter()
                .find(|(seq, p)| **seq != self.seq && p.reserved > 0)
                .map(|(seq, _)| *seq);
            let Some(victim) = victim else {
                return false;
            };
            st.evict(victim);
            st.counts.evicted_for_buffer += 1;
            evicted = true;
        }
        st.reserved = st.reserved - old + bytes;
        if let Some(p) = st.pending.get_mut(&self.seq) {
            p.reserved = bytes;
        }
        let report = if evicted { st.report_due() } else { None };
        drop(st);
        if evicted {
            debug!("Unauthenticated buffer budget full: oldest reservations evicted.");
        }
        if let Some(counts) = report {
            summarise(&counts);
        }
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut st = self.admission.lock();
        let had_slot = self.authenticated || st.take_pending(self.seq).is_some();
        if had_slot {
            st.total = st.total.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: usize, per_addr: usize, budget: usize) -> AdmissionSettings {
        AdmissionSettings {
            max_connections: max,
            max_unauthenticated_per_address: per_addr,
            unauthenticated_timeout: Duration::from_secs(30),
            unauthenticated_buffer_bytes: budget,
        }
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_cap_counts_only_pending_connections() {
        let a = Admission::new(settings(100, 2, 1000));
        let mut t1 = a
            .admit(peer("192.0.2.1:1"), CancellationToken::new())
            .unwrap();
        let _t2 = a
            .admit(peer("[::ffff:192.0.2.1]:2"), CancellationToken::new())
            .unwrap();
        let refused = a.admit(peer("192.0.2.1:3"), CancellationToken::new());
        assert_eq!(refused.err(), Some(Refusal::PerAddress));
        assert!(a
            .admit(peer("192.0.2.2:1"), CancellationToken::new())
            .is_ok());
        assert!(t1.authenticate());
        let _t3 = a
            .admit(peer("192.0.2.1:4"), CancellationToken::new())
            .unwrap();
        assert_eq!(a.counts().refused_per_address, 1);
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let a = Admission::new(settings(100, 1, 1000));
        let _t = a
            .admit(peer("[2001:db8::1]:1"), CancellationToken::new())
            .unwrap();
        let same_64 = a.admit(peer("[2001:db8::ffff:1]:1"), CancellationToken::new());
        assert_eq!(same_64.err(), Some(Refusal::PerAddress));
        assert!(a
            .admit(peer("[2001:db8:0:1::1]:1"), CancellationToken::new())
            .is_ok());
    }

    #[test]
    fn at_the_cap_the_oldest_pending_connection_is_evicted() {
        let a = Admission::new(settings(3, 10, 1000));
        let (c1, c2, c3) = (
            CancellationToken::new(),
            CancellationToken::new(),
            CancellationToken::new(),
        );
        let mut t1 = a.admit(peer("192.0.2.1:1"), c1.clone()).unwrap();
        let t2 = a.admit(peer("192.0.2.2:1"), c2.clone()).unwrap();
        let _t3 = a.admit(peer("192.0.2.3:1"), c3.clone()).unwrap();
        assert!(t1.authenticate(), "the first one is a sensor");
        let _t4 = a
            .admit(peer("192.0.2.4:1"), CancellationToken::new())
            .unwrap();
        assert!(
            !c1.is_cancelled(),
            "authenticated connections are never evicted"
        );
        assert!(c2.is_cancelled(), "the oldest pending one is");
        assert!(!c3.is_cancelled());
        assert_eq!(a.live(), 3);
        drop(t2);
        assert_eq!(a.live(), 3, "an evicted ticket frees its slot once");
        assert_eq!(a.counts().evicted_for_slot, 1);
    }

    #[test]
    fn a_cap_full_of_sensors_refuses_new_connections() {
        let a = Admission::new(settings(1, 10, 1000));
        let mut t = a
            .admit(peer("192.0.2.1:1"), CancellationToken::new())
            .unwrap();
        assert!(t.authenticate());
        let r = a.admit(peer("192.0.2.2:1"), CancellationToken::new());
        assert_eq!(r.err(), Some(Refusal::Full));
        drop(t);
        assert_eq!(a.live(), 0);
        assert!(a
            .admit(peer("192.0.2.2:1"), CancellationToken::new())
            .is_ok());
    }

    #[test]
    fn reservations_evict_the_oldest_other_reservation() {
        let a = Admission::new(settings(10, 10, 100));
        let (c1, c2) = (CancellationToken::new(), CancellationToken::new());
        let mut t1 = a.admit(peer("192.0.2.1:1"), c1.clone()).unwrap();
        let mut t2 = a.admit(peer("192.0.2.2:1"), c2.clone()).unwrap();
        let mut t3 = a
            .admit(peer("192.0.2.3:1"), CancellationToken::new())
            .unwrap();
        assert!(t1.reserve(60));
        assert!(t2.reserve(30));
        assert!(t3.reserve(50));
        assert!(c1.is_cancelled() && !c2.is_cancelled());
        assert_eq!(a.reserved(), 80);
        assert!(!t1.reserve(10), "an evicted connection reserves nothing");
        assert!(!t3.reserve(101), "more than the whole budget");
        assert!(t2.authenticate());
        assert_eq!(a.reserved(), 50, "authentication releases the reservation");
        drop(t3);
        assert_eq!(a.reserved(), 0);
        assert_eq!(a.counts().evicted_for_buffer, 1);
    }
}
