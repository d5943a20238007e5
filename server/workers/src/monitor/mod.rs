//! The sensor and queue monitor of `d4-workers` (upstream's `sensors_manager.py`, plus
//! queue alerts and notifications): every `[Notifications] check_interval` it
//!
//! - keeps `sensors_monitoring:sensors_error` right for the sensors the web put under
//!   monitoring (`sensors`),
//! - keeps `sensors_monitoring:queue_full` / `:queue_not_consumed` right for every
//!   analyzer queue (`queues`),
//! - and sends each change once to the sinks of `[Notifications]` (`notify`: `webhook`,
//!   `smtp`, `syslog`), logging it at WARN (problem) or INFO (recovery).
//!
//! A store error skips one check (logged); the monitor never stops the workers.

mod event;
mod notify;
mod queues;
mod sensors;
mod smtp;
mod syslog;
mod webhook;

use std::time::Instant;

use d4_core::config::monitoring::NotificationSettings;
use d4_core::queues::{QueueError, Queues};
use d4_core::store::{Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use event::{Event, EventKind};

/// Why one check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Reading or writing the META store failed.
    #[error("monitor: {0}")]
    Store(#[from] StoreError),
    /// Listing the analyzer queues failed.
    #[error("monitor: listing analyzer queues: {0}")]
    Queues(#[from] QueueError),
}

/// The monitor task's state.
pub struct Monitor {
    meta: Store,
    queues: Queues,
    cfg: NotificationSettings,
    notifier: notify::Notifier,
    stalls: queues::StallTracker,
}

impl Monitor {
    /// A monitor over the META store and the analyzer queues, alerting as `cfg` says.
    pub fn new(meta: Store, queues: Queues, cfg: NotificationSettings) -> Self {
        Monitor {
            meta,
            queues,
            notifier: notify::Notifier::new(cfg.clone()),
            cfg,
            stalls: queues::StallTracker::default(),
        }
    }

    /// Checks every `check_interval` until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        info!(
            interval = ?self.cfg.check_interval,
            webhook = self.cfg.webhook.as_ref().map(|w| w.url.as_str()),
            smtp = self.cfg.smtp.as_ref().map(|s| s.host.as_str()),
            syslog = self.cfg.syslog_socket.as_deref(),
            "Monitor started."
        );
        if !self.cfg.any_sink() {
            info!("Monitor: no sink in [Notifications]; alerts go to this log and the web only.");
        }
        let mut tick = tokio::time::interval(self.cfg.check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            // A check waiting on a store that is down must not delay shutdown.
            let checked = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.check() => r,
            };
            match checked {
                Ok(events) => {
                    for ev in &events {
                        self.notifier.notify(ev).await;
                    }
                }
                Err(e) => warn!(error = %e, "Monitor check skipped."),
            }
        }
        info!("Monitor stopped.");
    }

    /// One check of sensors and queues; returns the transitions it made.
    pub async fn check(&mut self) -> Result<Vec<Event>, CheckError> {
        let now = chrono::Utc::now().timestamp();
        let watched = sensors::watched(&self.meta).await?;
        let mut events = sensors::check(&self.meta, &watched, now).await?;
        let list = self.queues.list().await?;
        self.stalls.retain(&list);
        queues::forget_removed(&self.meta, &list).await?;
        let at = Instant::now();
        let delay = self.cfg.queue_not_consumed_delay;
        let verdicts: Vec<_> = list
            .iter()
            .map(|q| {
                let v = queues::Verdict {
                    full: queues::full_state(q.length, q.size_limit),
                    stalled: self.stalls.observe(&q.uuid, q.length, at, delay),
                };
                (q, v)
            })
            .collect();
        events.extend(queues::apply(&self.meta, &verdicts, now).await?);
        Ok(events)
    }
}
