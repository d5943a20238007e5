//! Hands each [`Event`] to every configured sink and logs it; a sink that fails is logged
//! and skipped (the event is not retried: the state sets in the store keep the truth).

use std::time::Duration;

use d4_core::config::monitoring::NotificationSettings;
use tracing::{info, warn};

use super::event::Event;
use super::{smtp, syslog, webhook};

/// Longest wait for one sink to take one event.
const SINK_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured sinks.
pub(crate) struct Notifier {
    cfg: NotificationSettings,
    hostname: String,
}

impl Notifier {
    /// Sinks of `[Notifications]`, signing as this machine's host name.
    pub(crate) fn new(cfg: NotificationSettings) -> Self {
        Notifier {
            cfg,
            hostname: hostname(),
        }
    }

    /// Logs `ev` (WARN for a problem, INFO for its end) and sends it to every sink.
    pub(crate) async fn notify(&self, ev: &Event) {
        if ev.kind.is_problem() {
            warn!(event = ev.kind.name(), subject = %ev.subject, "Monitor: {}", ev.message);
        } else {
            info!(event = ev.kind.name(), subject = %ev.subject, "Monitor: {}", ev.message);
        }
        if let Some(hook) = &self.cfg.webhook {
            let body = ev.to_json(&self.hostname);
            match webhook::post(hook, &body, SINK_TIMEOUT).await {
                Ok(()) => info!(event = ev.kind.name(), url = %hook.url, "Webhook notified."),
                Err(e) => warn!(event = ev.kind.name(), error = %e, "Webhook notification failed."),
            }
        }
        if let Some(smtp) = &self.cfg.smtp {
            let body = format!(
                "{}\n\nEvent: {}\nSubject: {}\nHost: {}\nTime: {}\n",
                ev.message,
                ev.kind.name(),
                ev.subject,
                self.hostname,
                ev.time
            );
            match smtp::send(smtp, &self.hostname, &ev.summary(), &body, SINK_TIMEOUT).await {
                Ok(()) => info!(event = ev.kind.name(), to = ?smtp.to, "Mail notification sent."),
                Err(e) => warn!(event = ev.kind.name(), error = %e, "Mail notification failed."),
            }
        }
        if let Some(path) = &self.cfg.syslog_socket {
            let text = ev.summary();
            let sent = syslog::send(path, &self.hostname, ev.kind.is_problem(), &text).await;
            if let Err(e) = sent {
                warn!(event = ev.kind.name(), socket = %path, error = %e, "Syslog notification failed.");
            }
        }
    }
}

/// This machine's name for mails and syslog (`localhost` when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
