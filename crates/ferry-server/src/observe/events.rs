//! Events: what happened to a user's files and logins (an upload committed, a download
//! finished, a delete, a rename, a folder made or removed, a login, a failed login, a ban).
//! The file service and the login emit each event once, for every front end; `Events` hands
//! it to its consumers (the hooks) through bounded queues and never waits: a full queue drops
//! the event with a WARN and a count, so a slow consumer cannot slow a transfer or a login.
//!
//! Each consumer has a few lanes, each a queue taken in order by one task; a session's events
//! always go to the same lane (chosen by the client's address and port), so they arrive in the
//! order they happened, while other sessions' events go on beside them.
//!
//! This module does NOT run hooks (`hooks.rs` does) nor decide when an event happened (the
//! file service and the login do).

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::service::{Client, Protocol};

/// Events a consumer's queue holds at most, over its lanes: about a second of small uploads on
/// a busy server, and a few hundred KiB of memory at worst.
pub const QUEUE: usize = 1024;
/// Lanes per consumer: how many events of different sessions a consumer handles at once.
pub const LANES: usize = 4;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A file was committed under its final name (never for an aborted, cut or refused upload).
    Upload,
    /// A download ran to its end.
    Download,
    /// A file was deleted.
    Delete,
    /// A file or folder was renamed (`path` to `target`).
    Rename,
    /// A folder was made.
    Mkdir,
    /// A folder was removed.
    Rmdir,
    /// A user logged in.
    Login,
    /// A login was refused (wrong name or password).
    LoginFailed,
    /// An address was banned for too many failed logins.
    Ban,
}

impl EventKind {
    /// Every kind, in the order the README lists them.
    pub const ALL: [EventKind; 9] = [
        EventKind::Upload,
        EventKind::Download,
        EventKind::Delete,
        EventKind::Rename,
        EventKind::Mkdir,
        EventKind::Rmdir,
        EventKind::Login,
        EventKind::LoginFailed,
        EventKind::Ban,
    ];

    /// The name written in the config file, the JSON and `FERRY_EVENT`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Upload => "upload",
            EventKind::Download => "download",
            EventKind::Delete => "delete",
            EventKind::Rename => "rename",
            EventKind::Mkdir => "mkdir",
            EventKind::Rmdir => "rmdir",
            EventKind::Login => "login",
            EventKind::LoginFailed => "login-failed",
            EventKind::Ban => "ban",
        }
    }
}

/// One event, as consumers get it (and as hooks send it, in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Event {
    pub(crate) event: EventKind,
    /// Seconds since the epoch.
    pub(crate) time: u64,
    /// The account (for a failed login: the name the client gave).
    pub(crate) user: String,
    pub(crate) protocol: Protocol,
    /// The client's address and port (after any PROXY header).
    pub(crate) client: SocketAddr,
    /// The file or folder, in the user's view (`/` is the user's home).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// A rename's new path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<String>,
    /// Bytes: an upload's size, a download's bytes sent, a deleted file's size when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
}

impl Event {
    /// An event of `kind` by `user` of `client`, now, naming no file yet.
    pub(crate) fn new(kind: EventKind, user: &str, client: Client) -> Event {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Event {
            event: kind,
            time,
            user: user.to_string(),
            protocol: client.protocol,
            client: client.peer,
            path: None,
            target: None,
            size: None,
        }
    }

    /// The same event naming `path`.
    pub(crate) fn path(mut self, path: impl Into<String>) -> Event {
        self.path = Some(path.into());
        self
    }

    /// The same event with a rename's `target`.
    pub(crate) fn target(mut self, target: impl Into<String>) -> Event {
        self.target = Some(target.into());
        self
    }

    /// The same event with `size` bytes.
    pub(crate) fn size(mut self, size: Option<u64>) -> Event {
        self.size = size;
        self
    }
}

/// One consumer's side of the queues.
#[derive(Debug)]
struct Consumer {
    /// For the WARN when its queue is full.
    name: String,
    /// The kinds it wants.
    kinds: Vec<EventKind>,
    lanes: Vec<mpsc::Sender<Arc<Event>>>,
}

/// The consumers of events, and how many events were dropped because a queue was full.
#[derive(Debug, Default)]
pub(crate) struct Events {
    consumers: Vec<Consumer>,
    /// Events dropped on full queues, over all consumers.
    pub(crate) dropped: Counter,
}

impl Events {
    /// Adds a consumer named `name` of the `kinds` events; returns its lanes' receivers
    /// ([`LANES`] lanes of [`QUEUE`]` / LANES` events each unless `queue` says otherwise).
    pub(crate) fn subscribe(
        &mut self,
        name: &str,
        kinds: &[EventKind],
        queue: usize,
    ) -> Vec<mpsc::Receiver<Arc<Event>>> {
        let per_lane = (queue / LANES).max(1);
        let (senders, receivers) = (0..LANES).map(|_| mpsc::channel(per_lane)).unzip();
        self.consumers.push(Consumer {
            name: name.to_string(),
            kinds: kinds.to_vec(),
            lanes: senders,
        });
        receivers
    }

    /// Whether any consumer wants events of `kind`: when none does, a caller may skip making
    /// the event (its strings) at all, as a download does on a server without hooks.
    pub(crate) fn wanted(&self, kind: EventKind) -> bool {
        self.consumers.iter().any(|c| c.kinds.contains(&kind))
    }

    /// Hands `event` to every consumer that wants it, without waiting.
    pub(crate) fn emit(&self, event: Event) {
        if self.consumers.is_empty() {
            return;
        }
        let kind = event.event;
        let mut wanted = self
            .consumers
            .iter()
            .filter(|c| c.kinds.contains(&kind))
            .peekable();
        if wanted.peek().is_none() {
            return;
        }
        let lane = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            event.client.hash(&mut hasher);
            (hasher.finish() % LANES as u64) as usize
        };
        let event = Arc::new(event);
        for consumer in wanted {
            let Some(sender) = consumer.lanes.get(lane) else {
                continue;
            };
            match sender.try_send(Arc::clone(&event)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped.inc();
                    tracing::warn!(
                        consumer = consumer.name,
                        event = event.event.name(),
                        user = event.user,
                        "event queue full; event dropped"
                    );
                }
                // The consumer has stopped (the server is stopping).
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn client(port: u16) -> Client {
        Client {
            protocol: Protocol::Ftp,
            peer: ([127, 0, 0, 1], port).into(),
        }
    }

    #[tokio::test]
    async fn consumers_get_the_kinds_they_want_in_order_per_session() {
        let mut events = Events::default();
        let mut uploads = events.subscribe("uploads", &[EventKind::Upload], 64);
        let mut all = events.subscribe("all", &[EventKind::Upload, EventKind::Delete], 64);
        for n in 0..5 {
            events.emit(Event::new(EventKind::Upload, "alice", client(1000)).path(format!("/{n}")));
        }
        events.emit(Event::new(EventKind::Delete, "alice", client(1000)).path("/0"));
        let take = |lanes: &mut Vec<mpsc::Receiver<Arc<Event>>>| {
            let mut got = Vec::new();
            for lane in lanes.iter_mut() {
                while let Ok(event) = lane.try_recv() {
                    got.push((event.event, event.path.clone().unwrap()));
                }
            }
            got
        };
        let expected: Vec<_> = (0..5)
            .map(|n| (EventKind::Upload, format!("/{n}")))
            .collect();
        assert_eq!(take(&mut uploads), expected);
        let mut with_delete = expected.clone();
        with_delete.push((EventKind::Delete, "/0".into()));
        assert_eq!(take(&mut all), with_delete);
        assert_eq!(events.dropped.get(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        let mut events = Events::default();
        // One event per lane.
        let _lanes = events.subscribe("slow", &[EventKind::Login], LANES);
        for _ in 0..3 {
            events.emit(Event::new(EventKind::Login, "bob", client(7)));
        }
        assert_eq!(events.dropped.get(), 2);
    }

    #[test]
    fn json_names_and_optional_fields() {
        let event = Event::new(EventKind::LoginFailed, "eve", client(5))
            .path("/a b")
            .size(Some(3));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "login-failed");
        assert_eq!(json["protocol"], "ftp");
        assert_eq!(json["client"], "127.0.0.1:5");
        assert_eq!(json["path"], "/a b");
        assert_eq!(json["size"], 3);
        assert!(json.get("target").is_none());
        let kinds: Vec<EventKind> =
            serde_json::from_str(r#"["upload","login-failed","ban"]"#).unwrap();
        assert_eq!(
            kinds,
            [EventKind::Upload, EventKind::LoginFailed, EventKind::Ban]
        );
    }
}
