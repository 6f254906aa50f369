//! Reconnection delays: exponential backoff with jitter, so a fleet of
//! relying services that lost Tessera at the same moment does not come back
//! at the same moment.

use std::time::Duration;

/// Exponential backoff with "equal jitter": the n-th delay is half of
/// `min · 2ⁿ` (capped at `max`) plus a random share of the other half. It
/// never comes sooner than half the step, and never later than `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The first step.
    min: Duration,
    /// The largest step.
    max: Duration,
    /// Failed attempts since the last reset.
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `min` and growing to at most `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; `random` is uniform in `[0, 1)`.
    pub(crate) fn next_delay(&mut self, random: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(31));
        let step = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }

    /// Starts over from `min` (after a connection that worked).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniform random number in `[0, 1)` from the operating system's CSPRNG
/// (jitter needs no more, and this needs no extra dependency).
pub(crate) fn random_fraction() -> f64 {
    let bits = u64::from_le_bytes(tessera_token::crypto::random_bytes::<8>()) >> 11;
    // 53 random bits: exactly representable, strictly below 1.
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn delays_double_until_the_cap() {
        let mut b = Backoff::new(MIN, MAX);
        // With the largest jitter every delay is the whole step.
        let steps: Vec<u64> = (0..9)
            .map(|_| b.next_delay(1.0).as_millis() as u64)
            .collect();
        assert_eq!(
            steps,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[test]
    fn jitter_keeps_each_delay_between_half_and_the_whole_step() {
        let mut low = Backoff::new(MIN, MAX);
        let mut high = Backoff::new(MIN, MAX);
        for _ in 0..40 {
            let (a, b) = (low.next_delay(0.0), high.next_delay(0.999_999));
            assert!(a <= b);
            assert!(b <= MAX);
            assert!(a >= MIN / 2);
            assert!(b >= a * 2 - Duration::from_millis(1));
        }
    }

    #[test]
    fn reset_starts_over_from_the_first_step() {
        let mut b = Backoff::new(MIN, MAX);
        for _ in 0..5 {
            b.next_delay(0.5);
        }
        b.reset();
        assert_eq!(b.next_delay(1.0), MIN);
    }

    #[test]
    fn many_attempts_never_overflow() {
        let mut b = Backoff::new(MIN, MAX);
        for _ in 0..10_000 {
            assert!(b.next_delay(0.7) <= MAX);
        }
    }

    #[test]
    fn random_fractions_are_in_the_unit_interval_and_vary() {
        let xs: Vec<f64> = (0..64).map(|_| random_fraction()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }
}
