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

/// Failure records per client IP.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    policy: LoginPolicy,
    records: Mutex<HashMap<IpAddr, Record>>,
    /// One lock per IP with a password check running or waiting; an entry lives only while
    /// someone holds or waits for it, so IPs never share a lock and the map stays small.
    turns: Arc<Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>>,
}

/// The right to check a password for one IP; see [`LoginThrottle::turn`].
#[derive(Debug)]
pub(crate) struct Turn {
    ip: IpAddr,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    turns: Arc<Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut turns = lock(&self.turns);
        // Nobody else holds or waits for this IP's lock: forget it.
        if turns
            .get(&self.ip)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            turns.remove(&self.ip);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LoginThrottle {
    pub(crate) fn new(policy: LoginPolicy) -> LoginThrottle {
        LoginThrottle {
            policy,
            records: Mutex::default(),
            turns: Arc::default(),
        }
    }

    /// Waits until no other password check from `ip` is running; holds the turn until the
    /// guard is dropped (after the failure delay, if any). Checks from other IPs never wait
    /// for it.
    pub(crate) async fn turn(&self, ip: IpAddr) -> Turn {
        let ip_lock = Arc::clone(lock(&self.turns).entry(ip).or_default());
        // Made before the wait, so that a session that goes away while waiting still forgets
        // the lock when nobody else needs it.
        let mut turn = Turn {
            ip,
            guard: None,
            turns: Arc::clone(&self.turns),
        };
        turn.guard = Some(ip_lock.lock_owned().await);
        turn
    }

    /// IPs with a turn held or awaited now.
    #[cfg(test)]
    fn turns_tracked(&self) -> usize {
        lock(&self.turns).len()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        lock(&self.records)
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

    /// True when `ip` has failed a login within the ban time.
    pub(crate) fn failed_recently(&self, ip: IpAddr, now: Instant) -> bool {
        self.records()
            .get(&ip)
            .is_some_and(|r| r.failures > 0 && now.duration_since(r.last) < self.policy.ban_time)
    }

    /// IPs remembered now (for tests and metrics).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.records().len()
    }

    /// A named user logged in from `ip`: its failures are forgotten.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        let mut records = self.records();
        if records.get(&ip).is_some_and(|r| r.banned_until.is_none()) {
            records.remove(&ip);
        }
    }
}

/// The Argon2id checks that may run at once: one per core in all, and of those at most one
/// for an IP that failed recently. Each check takes a core (and 19 MiB) for tens of
/// milliseconds, so a flood of guesses from many addresses would otherwise queue a new
/// address's first login behind all of theirs.
#[derive(Debug)]
pub(crate) struct PasswordChecks {
    all: tokio::sync::Semaphore,
    suspects: tokio::sync::Semaphore,
}

/// The right to run one password check; released on drop.
#[derive(Debug)]
pub(crate) struct CheckPermit<'a> {
    _suspect: Option<tokio::sync::SemaphorePermit<'a>>,
    _check: tokio::sync::SemaphorePermit<'a>,
}

impl PasswordChecks {
    pub(crate) fn new(cores: usize) -> PasswordChecks {
        PasswordChecks {
            all: tokio::sync::Semaphore::new(cores.max(1)),
            suspects: tokio::sync::Semaphore::new(1),
        }
    }

    /// Waits for a check's turn; `suspect` (the IP failed recently) waits in the narrow lane
    /// first. `None` only if the semaphores were closed, which they never are.
    pub(crate) async fn permit(&self, suspect: bool) -> Option<CheckPermit<'_>> {
        let suspect = match suspect {
            true => Some(self.suspects.acquire().await.ok()?),
            false => None,
        };
        Some(CheckPermit {
            _suspect: suspect,
            _check: self.all.acquire().await.ok()?,
        })
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

    #[tokio::test]
    async fn turns_are_per_ip_and_forgotten_when_free() {
        let throttle = throttle(0);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let held = throttle.turn(a).await;
        // Another IP gets its turn at once while `a`'s is held; `a` itself waits.
        let other = tokio::time::timeout(Duration::from_secs(5), throttle.turn(b)).await;
        assert!(other.is_ok());
        let same = tokio::time::timeout(Duration::from_millis(50), throttle.turn(a)).await;
        assert!(same.is_err());
        assert_eq!(throttle.turns_tracked(), 2);
        // A waiter that gave up leaves nothing behind once the holder is done.
        drop(other);
        drop(held);
        assert_eq!(throttle.turns_tracked(), 0);
        let again = tokio::time::timeout(Duration::from_secs(5), throttle.turn(a)).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn suspects_take_one_check_at_a_time_and_never_all_of_them() {
        let checks = PasswordChecks::new(2);
        let suspect = checks.permit(true).await;
        assert!(suspect.is_some());
        // A second suspect waits; a clean address gets the other core at once.
        let second = tokio::time::timeout(Duration::from_millis(50), checks.permit(true)).await;
        assert!(second.is_err());
        let clean = tokio::time::timeout(Duration::from_secs(5), checks.permit(false)).await;
        assert!(clean.is_ok_and(|p| p.is_some()));
        drop(suspect);
        let second = tokio::time::timeout(Duration::from_secs(5), checks.permit(true)).await;
        assert!(second.is_ok_and(|p| p.is_some()));
    }

    #[test]
    fn failures_make_an_address_suspect_for_the_ban_time() {
        let throttle = throttle(0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        assert!(!throttle.failed_recently(ip, now));
        throttle.failed(ip, now);
        assert!(throttle.failed_recently(ip, now));
        assert!(!throttle.failed_recently(ip, now + Duration::from_secs(61)));
        throttle.succeeded(ip);
        assert!(!throttle.failed_recently(ip, now));
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
