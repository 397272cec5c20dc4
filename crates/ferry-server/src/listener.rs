//! The accept loop and the limits applied at the door.
//!
//! Sessions in total and per client IP are counted here; over a limit the connection is
//! accepted, told `421` and closed, rather than left queued in the kernel. Accept errors (out of
//! file descriptors) back off briefly instead of spinning.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_proto::{Reply, ReplyCode, proxy};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::{Shared, ftp, http, sftp};

/// Which front end a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Ftp,
    ImplicitFtps,
    Sftp,
    Http,
    Https,
}

/// How long the accept loop pauses after an accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A running server: shared state and the sessions it spawned.
#[derive(Debug, Clone)]
pub struct Server {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    counts: Arc<Mutex<SessionCounts>>,
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Users no longer in the users file (their sessions were told to end).
    pub removed: Vec<String>,
    /// The new certificate's SHA-256 fingerprint, when TLS is on.
    pub certificate: Option<String>,
    /// Settings that differ but apply only at the next start.
    pub restart_needed: Vec<&'static str>,
}

#[derive(Debug, Default)]
struct SessionCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted session; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct SessionPermit {
    counts: Arc<Mutex<SessionCounts>>,
    ip: IpAddr,
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

impl Server {
    /// Checks the configuration and opens the storage.
    pub fn new(config: Config) -> io::Result<Server> {
        Ok(Server {
            shared: Shared::new(config)?,
            tracker: TaskTracker::new(),
            counts: Arc::default(),
        })
    }

    /// Accepts sessions on `listener` until `shutdown` is cancelled.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) {
        self.accept_loop(listener, shutdown, Front::Ftp).await;
    }

    /// Accepts implicit-FTPS sessions (TLS from the first byte) on `listener`.
    pub async fn serve_implicit(&self, listener: TcpListener, shutdown: CancellationToken) {
        self.accept_loop(listener, shutdown, Front::ImplicitFtps)
            .await;
    }

    /// Accepts SFTP (SSH) connections on `listener`; needs `Config::ssh_host_key`.
    pub async fn serve_sftp(&self, listener: TcpListener, shutdown: CancellationToken) {
        self.accept_loop(listener, shutdown, Front::Sftp).await;
    }

    /// Accepts plain HTTP/1.1 connections on `listener`.
    pub async fn serve_http(&self, listener: TcpListener, shutdown: CancellationToken) {
        self.accept_loop(listener, shutdown, Front::Http).await;
    }

    /// Accepts HTTPS connections (HTTP/2 or HTTP/1.1 by ALPN) on `listener`; needs
    /// `Config::tls`.
    pub async fn serve_https(&self, listener: TcpListener, shutdown: CancellationToken) {
        self.accept_loop(listener, shutdown, Front::Https).await;
    }

    async fn accept_loop(&self, listener: TcpListener, shutdown: CancellationToken, front: Front) {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer, &shutdown, front),
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    /// Deletes partial uploads older than the configured age (left by a crash); returns how
    /// many, and logs the count.
    pub async fn remove_stale_partials(&self) -> usize {
        let max_age = self.shared.config.partial_max_age;
        match self.shared.storage.remove_stale_partials(max_age).await {
            Ok(count) => {
                if count > 0 {
                    tracing::info!(count, "removed stale partial uploads");
                }
                count
            }
            Err(error) => {
                tracing::warn!(%error, "could not clean stale partial uploads");
                0
            }
        }
    }

    /// Takes the settings of a reload (SIGHUP): the users file and anonymous access, the
    /// server-wide rates and the TLS certificate apply at once (new logins, the next command
    /// of open sessions, the next handshake); the sessions of removed users end. Settings
    /// that only a restart can change are named in the result, and keep their old values.
    pub fn reload(&self, config: Config) -> Reloaded {
        let old = &self.shared.config;
        let accounts = &self.shared.accounts;
        let removed = accounts.reload(config.users.clone(), config.anonymous);
        accounts.set_rates(config.max_rate_up, config.max_rate_down);
        let certificate = match (&old.tls, &config.tls) {
            (Some(old), Some(new)) => Some(old.take_certificate(new)),
            _ => None,
        };
        Reloaded {
            removed,
            certificate,
            restart_needed: old.restart_needed(&config),
        }
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `stop` is cancelled;
    /// `/readyz` answers 503 once `draining` is cancelled (shutdown has begun) or while the
    /// storage does not answer.
    pub async fn serve_metrics(
        &self,
        listener: TcpListener,
        draining: CancellationToken,
        stop: CancellationToken,
    ) -> io::Result<()> {
        crate::observe::metrics::serve(listener, Arc::clone(&self.shared), draining, stop).await
    }

    /// Opens the log files again (SIGHUP, after logrotate moved them): the transfer log.
    pub fn reopen_logs(&self) {
        self.shared.observer.reopen();
    }

    /// Waits until every session has ended (after shutdown).
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: &CancellationToken,
        front: Front,
    ) {
        let _ = stream.set_nodelay(true);
        // Clients send ABOR as TCP urgent data (ftplib's MSG_OOB, RFC 959 section 4.1.3 Synch);
        // without this the kernel takes the urgent byte (the LF) out of the stream.
        let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
        let config = &self.shared.config;
        let from_balancer =
            config.proxy_protocol && config.proxy_from.contains(&peer.ip().to_canonical());
        if !from_balancer {
            self.enter(stream, peer, shutdown, front);
            return;
        }
        // The balancer's connection: the real client's address comes first, in a PROXY header.
        let server = self.clone();
        let shutdown = shutdown.clone();
        let timeout = config.login_timeout;
        self.tracker.spawn(async move {
            match read_proxy_header(&stream, timeout).await {
                Ok(source) => {
                    let client = source.unwrap_or(peer);
                    server.enter(stream, client, &shutdown, front);
                }
                Err(error) => {
                    tracing::warn!(balancer = %peer, %error, "connection without a valid PROXY header refused");
                }
            }
        });
    }

    /// Applies the limits for `peer` (the real client) and starts its session.
    fn enter(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: &CancellationToken,
        front: Front,
    ) {
        let ip = peer.ip().to_canonical();
        let config = &self.shared.config;
        let permit = {
            let mut counts = self
                .counts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let per_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
            if counts.total >= config.max_sessions || per_ip >= config.max_sessions_per_ip {
                None
            } else {
                counts.total += 1;
                *counts.per_ip.entry(ip).or_insert(0) += 1;
                Some(SessionPermit {
                    counts: Arc::clone(&self.counts),
                    ip,
                })
            }
        };
        let Some(permit) = permit else {
            tracing::warn!(%peer, "session limit reached; refused");
            match front {
                Front::Ftp | Front::ImplicitFtps => {
                    let text = "Too many sessions; try again later.";
                    self.tracker.spawn(refuse(stream, ftp_refusal(text)));
                }
                Front::Http => {
                    let text = "too many connections; try again later";
                    let answer = http::refusal(503, "Service Unavailable", text, 5);
                    self.tracker.spawn(refuse(stream, answer));
                }
                Front::Sftp | Front::Https => {}
            }
            return;
        };
        if self.shared.logins.is_banned(ip, std::time::Instant::now()) {
            tracing::warn!(%peer, "banned address refused");
            match front {
                Front::Ftp | Front::ImplicitFtps => {
                    let text = "Too many failed logins from your address; try again later.";
                    self.tracker.spawn(refuse(stream, ftp_refusal(text)));
                }
                Front::Http => {
                    let text = "too many failed logins from your address; try again later";
                    let wait = config.ban_time.as_secs().max(1);
                    let answer = http::refusal(429, "Too Many Requests", text, wait);
                    self.tracker.spawn(refuse(stream, answer));
                }
                Front::Sftp | Front::Https => {}
            }
            return;
        }
        let shared = Arc::clone(&self.shared);
        let shutdown = shutdown.child_token();
        let label = crate::observe::metrics::ProtocolLabel {
            protocol: match front {
                Front::Ftp | Front::ImplicitFtps => "ftp",
                Front::Sftp => "sftp",
                Front::Http | Front::Https => "http",
            },
        };
        let metrics = &shared.observer.metrics;
        metrics.sessions.get_or_create(&label).inc();
        metrics.sessions_open.get_or_create(&label).inc();
        self.tracker.spawn(async move {
            let open = shared
                .observer
                .metrics
                .sessions_open
                .get_or_create(&label)
                .clone();
            match front {
                Front::Ftp => ftp::run(stream, peer, shared, shutdown, false).await,
                Front::ImplicitFtps => ftp::run(stream, peer, shared, shutdown, true).await,
                Front::Sftp => sftp::run(stream, peer, shared, shutdown).await,
                Front::Http => {
                    http::run(stream, peer, shared, shutdown, http::Transport::Plain).await;
                }
                Front::Https => {
                    http::run(stream, peer, shared, shutdown, http::Transport::Tls).await;
                }
            }
            open.dec();
            drop(permit);
        });
    }
}

/// Reads a PROXY protocol header (v1 or v2) and consumes exactly its bytes; returns the client
/// address it names (`None` for the balancer's own LOCAL/UNKNOWN connections).
async fn read_proxy_header(
    stream: &TcpStream,
    timeout: Duration,
) -> io::Result<Option<SocketAddr>> {
    let work = async {
        let mut peeked = vec![0u8; proxy::V2_MAX];
        let mut seen = 0;
        loop {
            let count = stream.peek(&mut peeked).await?;
            if count == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before the header",
                ));
            }
            match proxy::parse(&peeked[..count]) {
                Ok(Some(header)) => {
                    let mut header_bytes = vec![0u8; header.length];
                    stream.readable().await?;
                    let mut read = 0;
                    while read < header.length {
                        stream.readable().await?;
                        match stream.try_read(&mut header_bytes[read..]) {
                            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                            Ok(n) => read += n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Err(e),
                        }
                    }
                    return Ok(header.source);
                }
                Ok(None) if count == peeked.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "header too long",
                    ));
                }
                // A header split across packets: peek returns the same bytes until more
                // arrive, so wait a little instead of spinning.
                Ok(None) => {
                    if count == seen {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    seen = count;
                }
                Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY header in time"))?
}

/// FTP's `421` with `text`.
fn ftp_refusal(text: &str) -> Vec<u8> {
    Reply::new(ReplyCode::SERVICE_NOT_AVAILABLE, text).to_bytes()
}

/// Sends `answer` and closes.
async fn refuse(mut stream: TcpStream, answer: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
