//! `--limit-rate RATE`: parsing `500K`, `2M`, `1.5G` (bytes a second; K, M and G are powers of
//! 1024, as curl and lftp read them) and pacing a transfer to it.
//!
//! A [`Pacer`] counts the bytes a transfer moved and says how long to wait so that the average
//! since its start stays at or below the rate (a token bucket whose burst is one buffer). It
//! only computes; the transfer loops sleep (`tokio::time::sleep`).

use std::time::{Duration, Instant};

/// Parses a rate: a number of bytes a second, with an optional `K`, `M` or `G` (x1024 each)
/// and an optional `B` or `/s` after it. Zero and garbage are refused with a one-line reason.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_suffix("/s").unwrap_or(trimmed);
    let trimmed = trimmed
        .strip_suffix(['B', 'b'])
        .filter(|rest| !rest.is_empty())
        .unwrap_or(trimmed);
    let (number, unit) = match trimmed.char_indices().last() {
        Some((at, suffix)) if suffix.is_ascii_alphabetic() => (&trimmed[..at], Some(suffix)),
        _ => (trimmed, None),
    };
    let factor: u64 = match unit.map(|unit| unit.to_ascii_uppercase()) {
        None => 1,
        Some('K') => 1 << 10,
        Some('M') => 1 << 20,
        Some('G') => 1 << 30,
        Some(other) => return Err(format!("{text}: unknown unit {other} (use K, M or G)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text}: not a rate (such as 500K or 2M)"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("{text}: the rate must be more than zero"));
    }
    let bytes = (value * factor as f64).round();
    if bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text}: out of range"));
    }
    Ok(bytes as u64)
}

/// Keeps a transfer at or below a rate: call [`Pacer::wait`] after each chunk.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: u64,
    started: Instant,
    moved: u64,
}

impl Pacer {
    /// A pacer for `rate` bytes a second, starting now.
    pub fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate.max(1),
            started: Instant::now(),
            moved: 0,
        }
    }

    /// Counts `bytes` more moved at `now`; returns how long to wait before moving more.
    pub fn due(&mut self, bytes: u64, now: Instant) -> Duration {
        self.moved = self.moved.saturating_add(bytes);
        let allowed = Duration::from_secs_f64(self.moved as f64 / self.rate as f64);
        allowed.saturating_sub(now.saturating_duration_since(self.started))
    }

    /// Counts `bytes` and sleeps as long as the rate asks.
    pub async fn wait(&mut self, bytes: u64) {
        let due = self.due(bytes, Instant::now());
        if !due.is_zero() {
            tokio::time::sleep(due).await;
        }
    }
}

/// Paces `bytes` when there is a pacer.
pub(crate) async fn pace(pacer: &mut Option<Pacer>, bytes: u64) {
    if let Some(pacer) = pacer {
        pacer.wait(bytes).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_as_people_write_them() {
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("2M"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("2m"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("1.5G"), Ok(3 << 29));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert_eq!(parse_rate("64KB"), Ok(64 * 1024));
        assert_eq!(parse_rate("64K/s"), Ok(64 * 1024));
        for bad in ["", "0", "-5K", "K", "5X", "fast", "nanK"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pacer_waits_for_what_ran_ahead() {
        let mut pacer = Pacer::new(1000);
        let start = pacer.started;
        // 500 bytes at once: half a second ahead.
        assert_eq!(pacer.due(500, start), Duration::from_millis(500));
        // A second later, 500 more are on time.
        assert_eq!(
            pacer.due(500, start + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(
            pacer.due(2000, start + Duration::from_secs(1)),
            Duration::from_secs(2)
        );
    }
}
