//! What ferryd tells the outside world besides its log: events for hooks, the transfer log and
//! (later) metrics. One [`Observer`] per server, shared by the file service, the logins and
//! the front ends, each of which reports what happened once.
//!
//! This module does NOT decide what happened (the file service, the logins and the front ends
//! do) nor how a front end answers its client.

pub mod events;
pub mod hooks;
mod xferlog;

use events::{Event, Events};
use xferlog::XferLog;

use crate::service::{Client, Transferred};

/// Where every report of a server goes.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    pub(crate) events: Events,
    /// `--xferlog`.
    xferlog: Option<XferLog>,
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
        Ok(Observer { events, xferlog })
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
