//! What ferryd tells the outside world besides its log: events for hooks, the transfer log and
//! (later) metrics. One [`Observer`] per server, shared by the file service, the logins and
//! the front ends, each of which reports what happened once.
//!
//! This module does NOT decide what happened (the file service, the logins and the front ends
//! do) nor how a front end answers its client.

pub mod events;

use events::{Event, Events};

/// Where every report of a server goes.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    pub(crate) events: Events,
}

impl Observer {
    /// Reports `event` to its consumers.
    pub(crate) fn emit(&self, event: Event) {
        self.events.emit(event);
    }
}
