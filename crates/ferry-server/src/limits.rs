//! Failed-login throttling: a growing delay before each 530, and a temporary ban of an IP after
//! too many failures (logged). Shared by all sessions of a node; bounded in memory.
//!
//! This module does NOT count sessions (the listener does) or time out idle ones (the session
//! does).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most IPs remembered at once; past this, entries with nothing recent are forgotten first.
const MAX_TRACKED: usize = 65_536;
/// Longest delay before a 530.
const MAX_DELAY: Duration = Duration::from_secs(8);

/// The policy, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginPolicy {
    /// Failures from one IP before it is banned; 0 never bans.
    pub(crate) max_failures: u32,
    /// How long a ban lasts, and how long failures are remembered.
    pub(crate) ban_time: Duration,
    /// Delay before the first 530; it doubles with each further failure (up to 8 s).
    pub(crate) failure_delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
    banned_until: Option<Instant>,
}

/// What happened to a failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Wait this long, then answer 530.
    Delay(Duration),
    /// The IP is now banned: answer 421 and close.
    Banned,
}

/// Lock stripes for [`LoginThrottle::turn`]: IPs that share a stripe wait for each other, which
/// costs nothing noticeable when password checks take microseconds (cached) to milliseconds.
const TURN_STRIPES: usize = 64;

/// Failure records per client IP.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    policy: LoginPolicy,
    records: Mutex<HashMap<IpAddr, Record>>,
    turns: Vec<Arc<tokio::sync::Mutex<()>>>,
}

impl LoginThrottle {
    pub(crate) fn new(policy: LoginPolicy) -> LoginThrottle {
        let turns = (0..TURN_STRIPES).map(|_| Arc::default()).collect();
        LoginThrottle {
            policy,
            records: Mutex::default(),
            turns,
        }
    }

    /// Waits until no other password check from `ip` is running; holds the turn until the
    /// guard is dropped (after the failure delay, if any).
    pub(crate) async fn turn(&self, ip: IpAddr) -> tokio::sync::OwnedMutexGuard<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ip.hash(&mut hasher);
        let stripe = (hasher.finish() % TURN_STRIPES as u64) as usize;
        Arc::clone(&self.turns[stripe]).lock_owned().await
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True while `ip` is banned.
    pub(crate) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.records()
            .get(&ip)
            .and_then(|r| r.banned_until)
            .is_some_and(|until| until > now)
    }

    /// Records a failed login from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) -> Verdict {
        let policy = self.policy;
        let mut records = self.records();
        if records.len() >= MAX_TRACKED && !records.contains_key(&ip) {
            records.retain(|_, r| {
                now.duration_since(r.last) < policy.ban_time
                    || r.banned_until.is_some_and(|until| until > now)
            });
            if records.len() >= MAX_TRACKED {
                // Still full of recent offenders: slow this one down without remembering it.
                return Verdict::Delay(MAX_DELAY);
            }
        }
        let record = records.entry(ip).or_insert(Record {
            failures: 0,
            last: now,
            banned_until: None,
        });
        if now.duration_since(record.last) >= policy.ban_time {
            // Old failures are forgiven.
            record.failures = 0;
        }
        record.failures += 1;
        record.last = now;
        if policy.max_failures > 0 && record.failures >= policy.max_failures {
            record.banned_until = Some(now + policy.ban_time);
            record.failures = 0;
            return Verdict::Banned;
        }
        let doubling = record.failures.saturating_sub(1).min(16);
        Verdict::Delay(
            policy
                .failure_delay
                .saturating_mul(1 << doubling)
                .min(MAX_DELAY),
        )
    }

    /// A named user logged in from `ip`: its failures are forgotten.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        let mut records = self.records();
        if records.get(&ip).is_some_and(|r| r.banned_until.is_none()) {
            records.remove(&ip);
        }
    }

    /// IPs remembered now (for tests and metrics).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.records().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max_failures: u32) -> LoginThrottle {
        LoginThrottle::new(LoginPolicy {
            max_failures,
            ban_time: Duration::from_secs(60),
            failure_delay: Duration::from_millis(100),
        })
    }

    #[test]
    fn delay_grows_then_ban() {
        let throttle = throttle(4);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        assert_eq!(
            throttle.failed(ip, now),
            Verdict::Delay(Duration::from_millis(100))
        );
        assert_eq!(
            throttle.failed(ip, now),
            Verdict::Delay(Duration::from_millis(200))
        );
        assert_eq!(
            throttle.failed(ip, now),
            Verdict::Delay(Duration::from_millis(400))
        );
        assert!(!throttle.is_banned(ip, now));
        assert_eq!(throttle.failed(ip, now), Verdict::Banned);
        assert!(throttle.is_banned(ip, now));
        assert!(!throttle.is_banned("10.0.0.2".parse().unwrap(), now));
        assert!(!throttle.is_banned(ip, now + Duration::from_secs(61)));
        // A success does not lift a ban.
        throttle.succeeded(ip);
        assert!(throttle.is_banned(ip, now));
    }

    #[test]
    fn old_failures_are_forgiven_and_delay_is_capped() {
        let throttle = throttle(0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..40 {
            assert!(matches!(throttle.failed(ip, now), Verdict::Delay(d) if d <= MAX_DELAY));
        }
        let later = now + Duration::from_secs(61);
        assert_eq!(
            throttle.failed(ip, later),
            Verdict::Delay(Duration::from_millis(100))
        );
    }

    #[test]
    fn memory_is_bounded() {
        let throttle = throttle(3);
        let start = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 10) {
            let ip = IpAddr::from(n.to_be_bytes());
            throttle.failed(ip, start);
        }
        assert!(throttle.tracked() <= MAX_TRACKED + 1);
        let later = start + Duration::from_secs(120);
        throttle.failed("192.0.2.1".parse().unwrap(), later);
        assert!(throttle.tracked() < 10);
    }
}
