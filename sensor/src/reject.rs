//! Telling a rejected sensor from a dropped connection.
//!
//! A D4 server never answers: when it rejects a sensor (uuid not registered or not
//! approved, wrong HMAC key, type not accepted, blacklisted, already connected) it just
//! closes the connection after reading the first packet. The only sign the client gets
//! is that close, arriving right after its first write. One such close can be a server
//! restart or a store hiccup; several in a row, each within [`REJECT_WINDOW`] of the
//! connection's first packet, mean the server rejects this sensor. The
//! [`RejectTracker`] counts them, logs one ERROR naming the likely causes (again every
//! [`LOG_EVERY`] attempts while it keeps retrying) and says when to give up.

use std::time::{Duration, Instant};

/// A server close within this delay after the connection's first packet counts as a
/// rejection.
pub const REJECT_WINDOW: Duration = Duration::from_secs(5);
/// Rejections in a row before the sensor is reported as rejected (and, for a finite
/// input, before the client gives up).
pub const REJECTED_AFTER: u32 = 5;
/// While retrying, the ERROR is logged again every this many rejections.
pub const LOG_EVERY: u32 = 20;

/// Who the sensor is and what to do when the server keeps rejecting it.
#[derive(Debug, Clone)]
pub struct RejectPolicy {
    /// Sensor uuid (canonical text), for the message.
    pub uuid: String,
    /// Configured D4 type, for the message.
    pub data_type: u8,
    /// Whether TLS is used (plain TCP to a TLS server looks like a rejection too).
    pub tls: bool,
    /// Stop after [`REJECTED_AFTER`] rejections in a row (finite inputs), or keep retrying.
    pub give_up: bool,
    /// At the end of the input, how long after its first packet a connection is watched
    /// for a rejection before the graceful close (0: not watched).
    pub accept_wait: Duration,
}

/// The server kept rejecting the sensor and the policy says to stop.
#[derive(Debug, thiserror::Error)]
#[error(
    "the D4 server closed the connection right after the first packet {attempts} times in a row: \
     it rejects this sensor (causes listed in the ERROR above; --retry-rejected keeps retrying)"
)]
pub struct Rejected {
    /// Rejections in a row.
    pub attempts: u32,
}

/// Counts consecutive rejections of one sender.
#[derive(Debug)]
pub struct RejectTracker {
    policy: RejectPolicy,
    in_a_row: u32,
}

impl RejectTracker {
    /// A tracker with no rejection seen yet.
    pub fn new(policy: RejectPolicy) -> RejectTracker {
        RejectTracker {
            policy,
            in_a_row: 0,
        }
    }

    /// The policy it applies.
    pub fn policy(&self) -> &RejectPolicy {
        &self.policy
    }

    /// Whether a server close now, on a connection whose first packet was written at
    /// `first_write`, looks like a rejection.
    pub fn is_early(first_write: Option<Instant>) -> bool {
        first_write.is_some_and(|t| t.elapsed() < REJECT_WINDOW)
    }

    /// Records that the server closed a connection (`early`: right after its first
    /// packet). Logs the ERROR when due; `Err` when the sender must give up.
    pub fn server_closed(&mut self, early: bool) -> Result<(), Rejected> {
        if !early {
            self.in_a_row = 0;
            return Ok(());
        }
        self.in_a_row += 1;
        let n = self.in_a_row;
        if n < REJECTED_AFTER {
            return Ok(());
        }
        if self.policy.give_up {
            self.log(n);
            return Err(Rejected { attempts: n });
        }
        if (n - REJECTED_AFTER).is_multiple_of(LOG_EVERY) {
            self.log(n);
        }
        Ok(())
    }

    /// Records a connection the server kept open: the sensor is accepted.
    pub fn accepted(&mut self) {
        self.in_a_row = 0;
    }

    /// Rejections in a row so far.
    pub fn in_a_row(&self) -> u32 {
        self.in_a_row
    }

    /// The ERROR an operator needs: what happened, the likely causes, where to look.
    fn log(&self, attempts: u32) {
        let p = &self.policy;
        let next = if p.give_up {
            "giving up"
        } else {
            "still retrying"
        };
        tracing::error!(
            uuid = %p.uuid,
            data_type = p.data_type,
            attempts,
            "The D4 server closed the connection right after the first packet {attempts} times in a row: \
             it rejects this sensor ({next}). Likely causes: {causes}. To check: the d4-server log has the \
             reason for this uuid, written there as {hex} (reason=not_registered, bad_hmac, type_not_accepted, ...); in \
             registration mode the web UI lists the uuid under Server Management -> Pending Sensors \
             until it is approved.",
            causes = causes(p),
            hex = p.uuid.replace('-', ""),
        );
    }
}

/// The likely causes of a rejection, most common first.
pub fn causes(p: &RejectPolicy) -> String {
    let mut c = vec![
        "the uuid is not registered or not yet approved (server in registration mode: approve it in the web UI, Server Management -> Pending Sensors)".to_string(),
        "wrong HMAC key (CONFDIR/key differs from the key the server has for this uuid, or from its default key)".to_string(),
        format!("type {} is not accepted by the server", p.data_type),
        "the uuid or this IP address is blacklisted".to_string(),
        "another client is already connected with this uuid and type".to_string(),
    ];
    if !p.tls {
        c.push("plain TCP (-ce=false) to a server that expects TLS".to_string());
    }
    c.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(give_up: bool) -> RejectPolicy {
        RejectPolicy {
            uuid: "u".into(),
            data_type: 8,
            tls: true,
            give_up,
            accept_wait: Duration::from_secs(1),
        }
    }

    #[test]
    fn gives_up_after_consecutive_rejections_only() {
        let mut t = RejectTracker::new(policy(true));
        for _ in 0..REJECTED_AFTER - 1 {
            assert!(t.server_closed(true).is_ok());
        }
        // A connection that lived resets the count.
        t.server_closed(false).unwrap();
        assert_eq!(t.in_a_row(), 0);
        for _ in 0..REJECTED_AFTER - 1 {
            assert!(t.server_closed(true).is_ok());
        }
        t.accepted();
        for _ in 0..REJECTED_AFTER - 1 {
            assert!(t.server_closed(true).is_ok());
        }
        let e = t.server_closed(true).unwrap_err();
        assert_eq!(e.attempts, REJECTED_AFTER);
    }

    #[test]
    fn keeps_retrying_when_told() {
        let mut t = RejectTracker::new(policy(false));
        for _ in 0..3 * REJECTED_AFTER + LOG_EVERY {
            assert!(t.server_closed(true).is_ok());
        }
    }

    #[test]
    fn early_means_within_the_window_after_a_write() {
        assert!(!RejectTracker::is_early(None));
        assert!(RejectTracker::is_early(Some(Instant::now())));
        let old = Instant::now().checked_sub(REJECT_WINDOW + Duration::from_secs(1));
        if let Some(t) = old {
            assert!(!RejectTracker::is_early(Some(t)));
        }
    }

    #[test]
    fn causes_mention_plain_tcp_only_without_tls() {
        let mut p = policy(true);
        assert!(!causes(&p).contains("plain TCP"));
        p.tls = false;
        assert!(causes(&p).contains("plain TCP"));
        assert!(causes(&p).contains("type 8 is not accepted"));
    }
}
