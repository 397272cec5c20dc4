//! What ferryd tells the outside world besides its log: events for hooks, the transfer log and
//! (later) metrics. One `Observer` per server, shared by the file service, the logins and
//! the front ends, each of which reports what happened once.
//!
//! This module does NOT decide what happened (the file service, the logins and the front ends
//! do) nor how a front end answers its client.

pub mod events;
pub mod hooks;
pub(crate) mod metrics;
mod xferlog;

use events::{Event, Events};
use xferlog::XferLog;

use crate::service::{Client, Transferred};

/// Where every report of a server goes.
#[derive(Debug)]
pub(crate) struct Observer {
    pub(crate) events: Events,
    /// `--xferlog`.
    xferlog: Option<XferLog>,
    pub(crate) metrics: metrics::Metrics,
}

impl Observer {
    /// The observer of a server configured with `config`: its hooks subscribed and running
    /// (which needs a tokio runtime when there are hooks).
    pub(crate) fn new(config: &crate::Config) -> std::io::Result<Observer> {
        let mut events = Events::default();
        if !config.hooks.is_empty() {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(std::io::Error::other("hooks need a tokio runtime"));
            }
            hooks::start(&config.hooks, &mut events);
        }
        let xferlog =
            match &config.xferlog {
                Some(path) => Some(XferLog::open(path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?),
                None => None,
            };
        let metrics = metrics::Metrics::new(events.dropped.clone());
        Ok(Observer {
            events,
            xferlog,
            metrics,
        })
    }

    /// Reports a file transfer that ended, completed or not, by `user` (`anonymous` or a
    /// named account) of `client`.
    pub(crate) fn transferred(
        &self,
        user: &str,
        anonymous: bool,
        client: Client,
        transfer: &Transferred<'_>,
    ) {
        if let Some(xferlog) = &self.xferlog {
            xferlog.write(user, anonymous, client, transfer);
        }
        let ok = transfer.failure.is_none();
        let (transfers, bytes) = self
            .metrics
            .transfer(client.protocol, transfer.direction, ok);
        transfers.inc();
        bytes.inc_by(transfer.bytes);
    }

    /// Counts a TLS handshake (FTPS control or data connection) and whether it resumed.
    pub(crate) fn tls_handshake(&self, ok: bool, resumed: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.metrics
            .tls_handshakes
            .get_or_create(&metrics::ResultLabels {
                protocol: "ftp",
                result,
            })
            .inc();
        if resumed {
            self.metrics
                .tls_resumptions
                .get_or_create(&metrics::ProtocolLabel { protocol: "ftp" })
                .inc();
        }
    }

    /// Counts a login attempt's `result` (`ok`, `failed`, `refused`).
    pub(crate) fn login(&self, client: Client, result: &'static str) {
        self.metrics
            .logins
            .get_or_create(&metrics::ResultLabels {
                protocol: client.protocol.name(),
                result,
            })
            .inc();
    }

    /// Opens the transfer log again (SIGHUP, after logrotate moved it).
    pub(crate) fn reopen(&self) {
        if let Some(xferlog) = &self.xferlog {
            xferlog.reopen();
        }
    }

    /// Reports `event` to its consumers.
    pub(crate) fn emit(&self, event: Event) {
        self.events.emit(event);
    }
}
