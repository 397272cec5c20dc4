//! Metrics in the Prometheus text format (`prometheus-client`), and the HTTP endpoint that
//! serves them with the health checks: `/metrics`, `/healthz` (the process answers) and
//! `/readyz` (the storage answers and the server is not draining).
//!
//! Names follow Prometheus conventions: a `ferry_` prefix, counters ending in `_total`, units
//! in the name (`_seconds`, `_bytes`), labels for the protocol, the direction and the result.
//! The file service, the logins, the listener and the FTP replies update them where the
//! event happens; updating one is an atomic add.
//!
//! This module does NOT decide what is counted (the callers do).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::service::{Direction, Protocol};

/// How long `/readyz` waits for the storage to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Labels: the protocol.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProtocolLabel {
    pub(crate) protocol: &'static str,
}

/// Labels: the protocol and a result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub(crate) protocol: &'static str,
    pub(crate) result: &'static str,
}

/// Labels: the protocol and the direction (`up`, `down`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DirectionLabels {
    pub(crate) protocol: &'static str,
    pub(crate) direction: &'static str,
}

/// Labels: the protocol, the direction and the result (`ok`, `failed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TransferLabels {
    pub(crate) protocol: &'static str,
    pub(crate) direction: &'static str,
    pub(crate) result: &'static str,
}

/// Labels: a reply's class (`2xx`...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClassLabel {
    pub(crate) class: &'static str,
}

/// Labels: a file service operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OperationLabel {
    pub(crate) operation: &'static str,
}

/// The storage latency buckets: 1 ms to about 16 s, doubling (a local disk answers in
/// microseconds to a few ms, an object store in tens to hundreds of ms).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric of a server.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) sessions_open: Family<ProtocolLabel, Gauge>,
    pub(crate) sessions: Family<ProtocolLabel, Counter>,
    pub(crate) logins: Family<ResultLabels, Counter>,
    pub(crate) bans: Counter,
    pub(crate) transfers: Family<TransferLabels, Counter>,
    pub(crate) transfer_bytes: Family<DirectionLabels, Counter>,
    pub(crate) replies: Family<ClassLabel, Counter>,
    pub(crate) storage_seconds: Family<OperationLabel, Histogram, fn() -> Histogram>,
    pub(crate) tls_handshakes: Family<ResultLabels, Counter>,
    pub(crate) tls_resumptions: Family<ProtocolLabel, Counter>,
    /// The `transfers` and `transfer_bytes` series of each kind of transfer (see
    /// [`Metrics::transfer`]), by [`transfer_index`].
    transfer_series: [OnceLock<(Counter, Counter)>; 12],
    /// The `storage_operation_seconds` series of each operation used so far, one a slot, in
    /// the order first used (see [`Metrics::storage_operation`]).
    storage_series: [OnceLock<(&'static str, Histogram)>; STORAGE_SLOTS],
}

/// Operations whose latency series [`Metrics`] keeps at hand; the file service has fewer.
const STORAGE_SLOTS: usize = 32;

impl Metrics {
    /// The metrics, registered; `events_dropped` counts the events that found a full queue.
    pub(crate) fn new(events_dropped: Counter) -> Metrics {
        let mut registry = Registry::with_prefix("ferry");
        let metrics = Metrics {
            sessions_open: Family::default(),
            sessions: Family::default(),
            logins: Family::default(),
            bans: Counter::default(),
            transfers: Family::default(),
            transfer_bytes: Family::default(),
            replies: Family::default(),
            storage_seconds: Family::new_with_constructor(latency_histogram),
            tls_handshakes: Family::default(),
            tls_resumptions: Family::default(),
            transfer_series: Default::default(),
            storage_series: std::array::from_fn(|_| OnceLock::new()),
            registry: Registry::default(),
        };
        registry.register(
            "sessions_open",
            "Sessions open now, by protocol",
            metrics.sessions_open.clone(),
        );
        registry.register(
            "sessions",
            "Sessions accepted (past the limits at the door), by protocol",
            metrics.sessions.clone(),
        );
        registry.register(
            "logins",
            "Login attempts by protocol and result (ok, failed, refused)",
            metrics.logins.clone(),
        );
        registry.register(
            "bans",
            "Addresses banned for too many failed logins",
            metrics.bans.clone(),
        );
        registry.register(
            "transfers",
            "File transfers ended, by protocol, direction (up, down) and result (ok, failed)",
            metrics.transfers.clone(),
        );
        registry.register_with_unit(
            "transfer",
            "Bytes moved by file transfers, by protocol and direction",
            Unit::Bytes,
            metrics.transfer_bytes.clone(),
        );
        registry.register(
            "ftp_replies",
            "FTP replies sent, by class (1xx to 5xx)",
            metrics.replies.clone(),
        );
        registry.register_with_unit(
            "storage_operation",
            "Time the file service took per operation, storage calls included",
            Unit::Seconds,
            metrics.storage_seconds.clone(),
        );
        registry.register(
            "tls_handshakes",
            "TLS handshakes on FTPS control and data connections, by result (ok, failed)",
            metrics.tls_handshakes.clone(),
        );
        registry.register(
            "tls_resumptions",
            "TLS handshakes that resumed an earlier session (data connections reusing the control connection's)",
            metrics.tls_resumptions.clone(),
        );
        registry.register(
            "events_dropped",
            "Events dropped because a hook's queue was full",
            events_dropped,
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The metrics in the Prometheus text format (0.0.4), which `promtool check metrics`
    /// and every Prometheus read.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "metrics not encoded");
        }
        classic_text(&text)
    }

    /// The `transfers` series (by protocol, direction and result) and the `transfer_bytes`
    /// series (by protocol and direction) of a transfer of `protocol` going `direction` that
    /// ended `ok` or not. Each is taken from its family at its first use, as before, and then
    /// kept: a clone of a `Counter` counts into the family's series, and a transfer's end (one
    /// per HTTP download) then costs no label hashing and no lock.
    pub(crate) fn transfer(
        &self,
        protocol: Protocol,
        direction: Direction,
        ok: bool,
    ) -> &(Counter, Counter) {
        let slot = &self.transfer_series[transfer_index(protocol, direction, ok)];
        slot.get_or_init(|| {
            let (protocol, direction) = (protocol.name(), direction.name());
            let result = if ok { "ok" } else { "failed" };
            let transfers = self
                .transfers
                .get_or_create(&TransferLabels {
                    protocol,
                    direction,
                    result,
                })
                .clone();
            let bytes = self
                .transfer_bytes
                .get_or_create(&DirectionLabels {
                    protocol,
                    direction,
                })
                .clone();
            (transfers, bytes)
        })
    }

    /// The `storage_operation_seconds` series of `operation`. Taken from its family at its
    /// first use, as before, then kept in a slot (a `Histogram` clone observes into the
    /// family's series), so that each file operation (two per HTTP download) costs no label
    /// hashing and no lock on the family.
    pub(crate) fn storage_operation(&self, operation: &'static str) -> Histogram {
        let series = || {
            self.storage_seconds
                .get_or_create(&OperationLabel { operation })
                .clone()
        };
        for slot in &self.storage_series {
            // A slot another operation took is passed; a free one is taken for this one (or,
            // when another thread takes it first for another, passed as well).
            let (kept, histogram) = slot.get_or_init(|| (operation, series()));
            if *kept == operation {
                return histogram.clone();
            }
        }
        series()
    }

    /// Counts a reply of `code`.
    pub(crate) fn reply(&self, code: u16) {
        let class = match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.replies.get_or_create(&ClassLabel { class }).inc();
    }
}

/// Where the series of a kind of transfer are kept in [`Metrics::transfer_series`].
fn transfer_index(protocol: Protocol, direction: Direction, ok: bool) -> usize {
    let protocol = match protocol {
        Protocol::Ftp => 0,
        Protocol::Sftp => 1,
        Protocol::Http => 2,
    };
    let direction = match direction {
        Direction::Up => 0,
        Direction::Down => 1,
    };
    protocol * 4 + direction * 2 + usize::from(ok)
}

/// `openmetrics` (what prometheus-client writes) in the classic text format: a counter's
/// HELP and TYPE name its samples' `_total` name, and the OpenMetrics-only `# UNIT` and
/// `# EOF` lines go (the unit is in the name already).
fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(renamed) => out.push_str(&renamed),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `stop` is cancelled;
/// `/readyz` answers 503 once `draining` is cancelled or while the storage does not answer.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<crate::Shared>,
    draining: tokio_util::sync::CancellationToken,
    stop: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;

    let metrics_shared = Arc::clone(&shared);
    let router = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = metrics_shared.observer.metrics.encode();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let shared = Arc::clone(&shared);
                let draining = draining.clone();
                async move {
                    if draining.is_cancelled() {
                        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_string());
                    }
                    match tokio::time::timeout(READY_TIMEOUT, shared.storage.check()).await {
                        Ok(Ok(())) => (StatusCode::OK, "ready\n".to_string()),
                        Ok(Err(error)) => {
                            tracing::warn!(cause = %error, "readiness: the storage failed");
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("storage: {error}\n"),
                            )
                        }
                        Err(_) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "storage: no answer\n".to_string(),
                        ),
                    }
                }
            }),
        );
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        let metrics = Metrics::new(Counter::default());
        metrics
            .sessions
            .get_or_create(&ProtocolLabel { protocol: "ftp" })
            .inc();
        metrics
            .transfer_bytes
            .get_or_create(&DirectionLabels {
                protocol: "sftp",
                direction: "up",
            })
            .inc_by(5);
        metrics
            .storage_seconds
            .get_or_create(&OperationLabel { operation: "stat" })
            .observe(0.002);
        metrics.reply(226);
        let text = metrics.encode();
        for expected in [
            "ferry_sessions_total{protocol=\"ftp\"} 1",
            "ferry_transfer_bytes_total{protocol=\"sftp\",direction=\"up\"} 5",
            "ferry_storage_operation_seconds_count{operation=\"stat\"} 1",
            "ferry_ftp_replies_total{class=\"2xx\"} 1",
            "ferry_events_dropped_total 0",
            "# TYPE ferry_sessions_total counter",
            "# HELP ferry_sessions_total Sessions accepted",
            "# TYPE ferry_storage_operation_seconds histogram",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
    }

    #[test]
    fn kept_transfer_series_count_into_the_families() {
        let metrics = Metrics::new(Counter::default());
        assert!(!metrics.encode().contains("ferry_transfers_total{"));
        for (ok, bytes) in [(true, 4096), (true, 10), (false, 3)] {
            let (transfers, sent) = metrics.transfer(Protocol::Http, Direction::Down, ok);
            transfers.inc();
            sent.inc_by(bytes);
        }
        let text = metrics.encode();
        for expected in [
            "ferry_transfers_total{protocol=\"http\",direction=\"down\",result=\"ok\"} 2",
            "ferry_transfers_total{protocol=\"http\",direction=\"down\",result=\"failed\"} 1",
            "ferry_transfer_bytes_total{protocol=\"http\",direction=\"down\"} 4109",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        // Only the series used appear.
        assert!(!text.contains("direction=\"up\""), "{text}");
        let slots: Vec<usize> = [Protocol::Ftp, Protocol::Sftp, Protocol::Http]
            .into_iter()
            .flat_map(|p| [Direction::Up, Direction::Down].map(|d| (p, d)))
            .flat_map(|(p, d)| [false, true].map(|ok| transfer_index(p, d, ok)))
            .collect();
        assert_eq!(slots, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn kept_storage_series_observe_into_the_family() {
        let metrics = Metrics::new(Counter::default());
        for operation in ["read", "stat", "read"] {
            metrics.storage_operation(operation).observe(0.002);
        }
        // More operations than slots still count.
        let names: Vec<&'static str> = (0..STORAGE_SLOTS + 2)
            .map(|i| &*Box::leak(format!("op{i}").into_boxed_str()))
            .collect();
        for name in &names {
            metrics.storage_operation(name).observe(0.5);
        }
        metrics
            .storage_operation(names[STORAGE_SLOTS + 1])
            .observe(0.5);
        let text = metrics.encode();
        for expected in [
            "ferry_storage_operation_seconds_count{operation=\"read\"} 2",
            "ferry_storage_operation_seconds_count{operation=\"stat\"} 1",
            "ferry_storage_operation_seconds_count{operation=\"op0\"} 1",
            "ferry_storage_operation_seconds_count{operation=\"op33\"} 2",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        assert_eq!(
            text.matches("ferry_storage_operation_seconds_count{operation=\"read\"}")
                .count(),
            1
        );
    }
}
