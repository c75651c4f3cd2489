//! Exponential backoff with full jitter.

use std::time::Duration;

/// Delays that double from `min` up to `max`, each drawn uniformly from `[d/2, d]` so that
/// many retrying partitions do not retry in lockstep.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { min: Duration::from_millis(50), max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first retry); `jitter` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let full = self.min.saturating_mul(1 << doublings).min(self.max);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stop_at_the_maximum() {
        let backoff = Backoff { min: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(backoff.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff.delay(4, 1.0), Duration::from_millis(800));
        assert_eq!(backoff.delay(5, 1.0), Duration::from_secs(1));
        assert_eq!(backoff.delay(60, 1.0), Duration::from_secs(1));
        assert_eq!(backoff.delay(2, 0.0), Duration::from_millis(100));
    }
}
