//! Exponential backoff with jitter: the one formula for every retry delay in Herald (a
//! relay's failed partition, a consumer's transport errors and delayed retries, the
//! notification dispatcher's resends).

use std::time::Duration;

/// Delays that double from `min` up to `max`, each multiplied by a random factor in
/// `1 ± jitter`, so that many retrying partitions or messages do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay (before jitter).
    pub min: Duration,
    /// The largest delay (before jitter).
    pub max: Duration,
    /// The spread of the random factor, from 0 (none) to 1; 0.2 gives `0.8..=1.2`.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 50 ms doubling up to 5 s, ±20 %.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(50), Duration::from_secs(5))
    }
}

impl Backoff {
    /// The default spread of the random factor: ±20 %.
    pub const DEFAULT_JITTER: f64 = 0.2;

    /// Delays from `min` doubling up to `max`, with the default jitter.
    pub const fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, jitter: Backoff::DEFAULT_JITTER }
    }

    /// The delay before retry number `attempt` (1 for the first retry), for `random` in
    /// `[0, 1]` (0.5 gives the delay without jitter).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let base = self.min.saturating_mul(1 << doublings).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 + jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0))
    }

    /// [`Backoff::delay`] with a fresh random draw.
    pub fn random_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stop_at_the_maximum() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(backoff.delay(2, 0.5), Duration::from_millis(200));
        assert_eq!(backoff.delay(4, 0.5), Duration::from_millis(800));
        assert_eq!(backoff.delay(5, 0.5), Duration::from_secs(1));
        assert_eq!(backoff.delay(60, 0.5), Duration::from_secs(1));
        assert_eq!(backoff.delay(u32::MAX, 0.5), Duration::from_secs(1), "no overflow");
    }

    #[test]
    fn jitter_spreads_each_delay_around_its_base() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(backoff.delay(1, 0.0), Duration::from_millis(800), "1 - jitter");
        assert_eq!(backoff.delay(1, 1.0), Duration::from_millis(1200), "1 + jitter");
        let none = Backoff { jitter: 0.0, ..backoff };
        assert_eq!(none.delay(2, 0.0), Duration::from_secs(2));
        let wild = Backoff { jitter: 7.0, ..backoff };
        assert_eq!(wild.delay(1, 0.0), Duration::ZERO, "jitter is clamped to 1");
        for attempt in 1..12 {
            let delay = backoff.random_delay(attempt);
            let base = backoff.delay(attempt, 0.5);
            assert!(delay >= base.mul_f64(0.8) && delay <= base.mul_f64(1.2), "{delay:?}");
        }
    }
}
