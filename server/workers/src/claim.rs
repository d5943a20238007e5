//! Session claims: several `d4-workers` sharing one stream store each read a session once.
//!
//! A worker family reads a session only while it holds `worker_claim:<type>:<session>`
//! (d4-rs key), taken with `SET NX` and an expiry of [`CLAIM_SECONDS`], renewed every
//! [`RENEW`]. A worker that stops cleanly gives its claims up after saving its state; one
//! that dies loses them when they expire, and another worker takes the session over.
//!
//! Where a takeover continues: delivered entries are deleted (`XDEL`) together with the
//! session's unfinished last line (`worker_tail:<type>:<session>`, written after every
//! delivered batch), so the next owner reads what is left of the stream from its start
//! with the right partial line. Exactly once while the owner lives; at least once across
//! a crash (a batch queued but not yet deleted when the worker died is queued again).
//! A worker stalled for longer than the claim (e.g. retrying a delivery while the analyzer
//! store is down) loses it: the next owner reads that batch again, so its lines may be
//! queued twice. Renewal reads the claim and then extends it (no script: `d4-kv` has none).

use std::time::Duration;

use d4_core::keys::stream;
use d4_core::store::{cmd, pipe, Cmd, Store, StoreError};

/// Seconds a claim lives without renewal.
pub(crate) const CLAIM_SECONDS: u64 = 10;
/// How often claims are renewed.
pub(crate) const RENEW: Duration = Duration::from_secs(2);

/// Tries to claim each of `sessions` for worker `me`; returns those it won.
pub(crate) async fn take(
    stream_db: &Store,
    ty: u8,
    me: &str,
    sessions: Vec<String>,
) -> Result<Vec<String>, StoreError> {
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let mut p = pipe();
    for s in &sessions {
        p.add_command(claim_cmd(ty, s, me));
    }
    let won: Vec<Option<String>> = stream_db.run(&p).await?;
    Ok(sessions
        .into_iter()
        .zip(won)
        .filter_map(|(s, w)| w.map(|_| s))
        .collect())
}

/// `SET worker_claim:<ty>:<session> <me> NX EX <claim>`.
fn claim_cmd(ty: u8, session: &str, me: &str) -> Cmd {
    let mut c = cmd("SET");
    c.arg(stream::worker_claim(ty, session))
        .arg(me)
        .arg("NX")
        .arg("EX")
        .arg(CLAIM_SECONDS);
    c
}

/// Renews the claims of `sessions` held by `me`; returns the sessions whose claim is no
/// longer `me`'s (expired, or taken by another worker), which must be dropped.
pub(crate) async fn renew(
    stream_db: &Store,
    ty: u8,
    me: &str,
    sessions: &[String],
) -> Result<Vec<String>, StoreError> {
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = pipe();
    for s in sessions {
        p.get(stream::worker_claim(ty, s));
    }
    let holders: Vec<Option<String>> = stream_db.run(&p).await?;
    let mut lost = Vec::new();
    let mut p = pipe();
    for (s, h) in sessions.iter().zip(holders) {
        if h.as_deref() == Some(me) {
            p.expire(stream::worker_claim(ty, s), CLAIM_SECONDS as i64)
                .ignore();
        } else {
            lost.push(s.clone());
        }
    }
    if lost.len() < sessions.len() {
        stream_db.run::<()>(&p).await?;
    }
    Ok(lost)
}

/// Gives a claim up (clean stop), if it is still `me`'s.
pub(crate) async fn give_up(
    stream_db: &Store,
    ty: u8,
    me: &str,
    session: &str,
) -> Result<(), StoreError> {
    let key = stream::worker_claim(ty, session);
    let holder: Option<String> = stream_db.query(&Cmd::get(&key)).await?;
    if holder.as_deref() == Some(me) {
        let () = stream_db.query(&Cmd::del(&key)).await?;
    }
    Ok(())
}
