//! The one retry back-off of every daemon: capped exponential delays that reset after a
//! success, and a wait that ends at once when shutdown is requested.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Capped exponential back-off between retries of a failing store call.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s: a store restart is noticed within seconds, a store that
    /// stays down costs one attempt per 5 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Delays from `min` doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay the next [`wait`](Self::wait) sleeps.
    pub fn delay(&self) -> Duration {
        self.next
    }

    /// Back to the shortest delay (call after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// Sleeps the next delay and doubles it; returns `false` at once if `stop` fires first.
    pub async fn wait(&mut self, stop: &CancellationToken) -> bool {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_up_to_the_cap_and_resets() {
        let stop = CancellationToken::new();
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(b.delay());
            assert!(b.wait(&stop).await);
        }
        let ms = |n| Duration::from_millis(n);
        assert_eq!(seen, vec![ms(100), ms(200), ms(350), ms(350)]);
        b.reset();
        assert_eq!(b.delay(), ms(100));
    }

    #[tokio::test]
    async fn shutdown_ends_the_wait_at_once() {
        let stop = CancellationToken::new();
        let mut b = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
        stop.cancel();
        let t = std::time::Instant::now();
        assert!(!b.wait(&stop).await);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
