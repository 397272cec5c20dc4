//! What a transfer's bytes go through: the bandwidth limits that applied when it started, and
//! for an upload its claim on the quota. A transfer with neither takes the fast paths
//! (sendfile, splice) exactly as before; [`Meter::is_free`] tells it so.

use std::sync::Arc;

use super::quota::Ticket;
use super::rate::RateLimit;

/// The limits of one transfer.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    rates: Vec<Arc<RateLimit>>,
    quota: Option<Ticket>,
}

impl Meter {
    /// The limits among `rates` that limit anything, and the quota claim if there is one.
    pub(super) fn new(rates: &[&Arc<RateLimit>], quota: Option<Ticket>) -> Meter {
        Meter {
            rates: rates
                .iter()
                .filter(|rate| rate.rate() != 0)
                .map(|rate| Arc::clone(rate))
                .collect(),
            quota,
        }
    }

    /// True when nothing limits the transfer.
    pub(crate) fn is_free(&self) -> bool {
        self.rates.is_empty() && self.quota.is_none()
    }

    /// The most bytes to move between two [`Meter::pace`]s.
    pub(crate) fn step(&self) -> usize {
        self.rates
            .iter()
            .map(|rate| rate.step())
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Waits until `bytes` may move under every rate.
    pub(crate) async fn pace(&self, bytes: usize) {
        for rate in &self.rates {
            rate.take(bytes).await;
        }
    }

    /// How many of the next `bytes` an upload may write; fewer means the quota is reached.
    pub(crate) fn grant(&mut self, bytes: usize) -> usize {
        match &mut self.quota {
            None => bytes,
            Some(ticket) => usize::try_from(ticket.grant(bytes as u64)).unwrap_or(bytes),
        }
    }

    /// The quota's byte limit, for the message when it is reached.
    pub(crate) fn byte_limit(&self) -> u64 {
        self.quota.as_ref().map_or(0, Ticket::byte_limit)
    }

    /// The upload committed: its size counts from now on.
    pub(crate) fn commit(self) {
        if let Some(ticket) = self.quota {
            ticket.commit();
        }
    }
}
