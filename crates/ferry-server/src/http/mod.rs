//! The HTTP(S) front end: files over plain HTTP/1.1 and over TLS with HTTP/1.1 or HTTP/2 (by
//! ALPN), for browsers, scripts (curl, wget) and WebDAV clients ([`dav`]).
//!
//! ferryd drives each connection itself with hyper's connection builders rather than a
//! ready-made server loop, so that HTTP connections meet the same door as FTP and SFTP (the
//! listener's session limits and bans), the same TLS certificate, and the same shutdown: on
//! shutdown a connection finishes the requests it is serving (for up to the shutdown grace
//! period) and closes. Requests go through an axum router to [`files::handle`]; the
//! connection's peer and login travel with each request as an extension.
//!
//! Limits per connection: request headers of at most [`MAX_HEADER_BYTES`] (431 beyond); the
//! headers of a request, and the wait for the next request on a kept-alive connection, within
//! the login timeout (or the idle timeout when shorter); at most [`MAX_STREAMS`] concurrent
//! HTTP/2 streams; an upload body that sends nothing for the data timeout is cut, and so is a
//! connection whose client takes no byte of a response for that long ([`stall`]).
//!
//! This module does NOT touch files (the file service does) or check passwords (the shared
//! login does, through [`login`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::Shared;

mod body;
mod conditional;
mod dav;
mod dav_locks;
mod digest;
mod errors;
mod files;
mod login;
mod mime;
mod page;
pub(crate) mod path;
mod sendfile;
pub(crate) mod session;
pub(crate) mod share;
mod stall;
pub(crate) mod tus;
mod zip;

pub(crate) use dav::DavState;
use sendfile::{Outbox, SendfileStream};
use stall::StallGuard;

/// Largest request head (request line and headers) accepted.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Concurrent streams of one HTTP/2 connection.
const MAX_STREAMS: u32 = 64;

/// One HTTP connection's state, shared by its requests.
#[derive(Debug)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
    /// The client's address.
    peer: SocketAddr,
    /// Whether a password may be sent here: on TLS, on loopback, or when the server was told
    /// `--http-allow-insecure-login`.
    passwords_allowed: bool,
    /// Whether the connection runs over TLS (cookies are `Secure`, origins `https`, and the
    /// links `POST /.share` answers).
    tls: bool,
    /// The login the connection's requests use until one brings another credential.
    login: tokio::sync::Mutex<Option<login::Held>>,
    /// One `Repr-Digest` computed at a time per connection (HTTP/2 streams wait their turn),
    /// as FTP and SFTP sessions compute one digest at a time.
    digesting: tokio::sync::Semaphore,
    /// Where file bodies queue the pieces the socket sends with sendfile: plain HTTP/1.1
    /// only (TLS encrypts in user space; HTTP/2 frames the bytes).
    outbox: Option<Arc<Outbox>>,
}

/// Whether a connection runs over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Plain,
    Tls,
}

/// Runs one HTTP connection to its end.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    transport: Transport,
) {
    let local_loopback = stream
        .local_addr()
        .is_ok_and(|local| local.ip().to_canonical().is_loopback());
    let passwords_allowed =
        transport == Transport::Tls || local_loopback || shared.config.http_allow_insecure_login;
    let config = &shared.config;
    let head_timeout = config.login_timeout.min(config.idle_timeout);
    let grace = config.shutdown_grace;
    let stall_limit = config.data_timeout;
    let tls = config.tls.as_ref().map(|tls| Arc::clone(&tls.http_config));
    let outbox = (transport == Transport::Plain).then(|| Arc::new(Outbox::default()));
    let connection = Arc::new(Connection {
        shared: Arc::clone(&shared),
        peer,
        passwords_allowed,
        tls: transport == Transport::Tls,
        login: tokio::sync::Mutex::new(None),
        digesting: tokio::sync::Semaphore::new(1),
        outbox: outbox.clone(),
    });
    // `/.tus/` is the tus endpoint and `/s/` holds share links (see `share`), `/.share` makes
    // them: none of them is a folder of the user's. `with_state` turns the handlers into
    // services once per connection; without it axum does so (cloning and boxing the handler)
    // for every request.
    let router: Router = Router::new()
        .route("/s/", axum::routing::any(share::handle))
        .route("/s/{*link}", axum::routing::any(share::handle))
        .route("/.share", axum::routing::any(share::endpoint))
        .route("/.tus", axum::routing::any(tus::handle))
        .route("/.tus/", axum::routing::any(tus::handle))
        .route("/.tus/{*upload}", axum::routing::any(tus::handle))
        .route("/.login", axum::routing::any(page::login))
        .route("/.logout", axum::routing::any(page::logout))
        .route("/.assets/{name}", axum::routing::any(page::asset))
        .fallback(files::handle)
        .with_state(Arc::clone(&connection));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let connection = Arc::clone(&connection);
        let mut router = router.clone();
        async move {
            // A path no route can match (nothing under `/s/` or a name starting with a dot)
            // goes straight to the router's fallback: the route look-up and axum's boxing are
            // a tenth of ferryd's own time per small file. hyper sets `Content-Length` from
            // the body and sends no body to `HEAD`, as axum would.
            let path = request.uri().path();
            if !path.starts_with("/s/") && !path.starts_with("/.") {
                let request = request.map(axum::body::Body::new);
                Ok(files::handle(State(connection), request).await)
            } else {
                tower_service::Service::call(&mut router, request).await
            }
        }
    });
    match transport {
        Transport::Plain => {
            let outbox = outbox.unwrap_or_default();
            let stream = SendfileStream::new(stream, outbox);
            let io = TokioIo::new(StallGuard::new(stream, stall_limit));
            serve_http1(io, service, head_timeout, grace, &shutdown, peer).await;
        }
        Transport::Tls => {
            let Some(tls) = tls else {
                tracing::warn!(%peer, protocol = "https", "HTTPS connection without a certificate configured; closed");
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let stream = StallGuard::new(stream, stall_limit);
            let handshake = tokio::time::timeout(head_timeout, acceptor.accept(stream));
            let stream = tokio::select! {
                () = shutdown.cancelled() => return,
                result = handshake => match result {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::info!(%peer, %error, protocol = "https", "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, protocol = "https", "TLS handshake timed out");
                        return;
                    }
                },
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(stream);
            if h2 {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(MAX_STREAMS)
                    .max_header_list_size(MAX_HEADER_BYTES as u32)
                    .keep_alive_interval(Some(head_timeout))
                    .keep_alive_timeout(Duration::from_secs(20));
                let connection = builder.serve_connection(io, service);
                drive(
                    connection,
                    |c| c.graceful_shutdown(),
                    grace,
                    &shutdown,
                    peer,
                )
                .await;
            } else {
                serve_http1(io, service, head_timeout, grace, &shutdown, peer).await;
            }
        }
    }
}

/// Serves HTTP/1.1 on `io`.
async fn serve_http1<I, S>(
    io: I,
    service: S,
    head_timeout: Duration,
    grace: Duration,
    shutdown: &CancellationToken,
    peer: SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Vectored writes: hyper queues the body's `Bytes` as they are, never copied, which
    // `sendfile`'s markers rely on.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .writev(true);
    let connection = builder.serve_connection(io, service);
    drive(
        connection,
        |c| c.graceful_shutdown(),
        grace,
        &shutdown.clone(),
        peer,
    )
    .await;
}

/// Polls `connection` to its end; on shutdown, asks it to finish (`graceful`) and gives it
/// `grace` to do so before it is dropped.
async fn drive<C, E>(
    connection: C,
    graceful: impl FnOnce(Pin<&mut C>),
    grace: Duration,
    shutdown: &CancellationToken,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            graceful(connection.as_mut());
            match tokio::time::timeout(grace, connection.as_mut()).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::info!(%peer, protocol = "http", "requests cut at shutdown after the grace period");
                    return;
                }
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, protocol = "http", "connection ended with an error");
    }
}

/// The answer to a connection refused at the door (session limits, a banned address) on a
/// plain HTTP listener.
pub(crate) fn refusal(status: u16, reason: &str, text: &str, retry_after: u64) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: {retry_after}\r\nConnection: close\r\n\r\n{text}\n",
        text.len() + 1
    )
    .into_bytes()
}
