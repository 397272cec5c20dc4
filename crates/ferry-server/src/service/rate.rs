//! Bandwidth limits: a token bucket that many transfers share (all the sessions of one user, or
//! the whole server), with a rate that a reload may change while transfers run.
//!
//! The bucket holds at most an eighth of a second's worth of bytes, so a transfer that starts
//! after a pause goes no faster than the rate for long. A transfer takes what it is about to
//! move and, when that leaves the bucket in debt, waits until the debt is paid: the sessions
//! that share a bucket take turns and each gets its share.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much of a second's worth the bucket holds.
const BURST_SECONDS: f64 = 0.125;
/// The smallest step a limited transfer takes.
const MIN_STEP: usize = 4096;

/// Bytes per second, shared by everything that holds it; a rate of 0 is no limit.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: AtomicU64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may go now; negative while transfers wait for their turn.
    balance: f64,
    updated: Instant,
}

impl RateLimit {
    /// A limit of `rate` bytes per second (0: none).
    pub(crate) fn new(rate: u64) -> RateLimit {
        RateLimit {
            rate: AtomicU64::new(rate),
            bucket: Mutex::new(Bucket {
                balance: rate as f64 * BURST_SECONDS,
                updated: Instant::now(),
            }),
        }
    }

    /// Changes the rate from now on.
    pub(crate) fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// The rate; 0 is no limit.
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// The most bytes a transfer should move between two [`RateLimit::take`]s: a tenth of a
    /// second's worth, so that sessions sharing the bucket interleave finely.
    pub(crate) fn step(&self) -> usize {
        match self.rate() {
            0 => usize::MAX,
            rate => usize::try_from(rate / 10).map_or(usize::MAX, |step| step.max(MIN_STEP)),
        }
    }

    /// Waits until `bytes` may move.
    pub(crate) async fn take(&self, bytes: usize) {
        let wait = self.debit(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes `bytes` from the bucket at `now`; how long to wait before moving them.
    fn debit(&self, bytes: usize, now: Instant) -> Duration {
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        let rate = rate as f64;
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.balance = (bucket.balance + elapsed * rate).min(rate * BURST_SECONDS);
        bucket.updated = now;
        bucket.balance -= bytes as f64;
        if bucket.balance >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.balance / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_never_waits() {
        let limit = RateLimit::new(0);
        assert_eq!(limit.debit(usize::MAX, Instant::now()), Duration::ZERO);
        assert_eq!(limit.step(), usize::MAX);
    }

    #[test]
    fn bytes_beyond_the_burst_wait_their_time() {
        let limit = RateLimit::new(1_000_000);
        let now = Instant::now();
        // The burst (an eighth of a second) goes at once; the next 500,000 bytes wait 0.5 s.
        assert_eq!(limit.debit(125_000, now), Duration::ZERO);
        let wait = limit.debit(500_000, now);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Two takers share: the second waits behind the first's debt.
        let wait = limit.debit(100_000, now);
        assert!((wait.as_secs_f64() - 0.6).abs() < 1e-6, "{wait:?}");
        // After a long pause the bucket holds no more than the burst.
        let later = now + Duration::from_secs(10);
        assert_eq!(limit.debit(125_000, later), Duration::ZERO);
        assert!(limit.debit(1, later) > Duration::ZERO);
    }

    #[test]
    fn a_new_rate_applies_to_the_next_take() {
        let limit = RateLimit::new(1_000_000);
        let now = Instant::now();
        limit.debit(125_000, now);
        limit.set_rate(0);
        assert_eq!(limit.debit(10_000_000, now), Duration::ZERO);
        assert_eq!(limit.step(), usize::MAX);
        limit.set_rate(100_000);
        assert_eq!(limit.step(), 10_000);
    }
}
