//! The connection pieces the server and the client share: a control or data connection that is
//! plain TCP or TLS over it ([`Stream`]), and the receive low-water mark of a socket.
//!
//! This crate does NOT speak FTP (that is `ferry-proto`, sans-IO), make TLS configurations or
//! run handshakes: each side does, with its own rustls role.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TLS stream over TCP, of either role.
pub trait TlsLayer: AsyncRead + AsyncWrite + Unpin {
    /// The TCP connection under the TLS.
    fn tcp(&self) -> &TcpStream;
    /// The TLS state (version, whether the handshake resumed a session).
    fn state(&self) -> &rustls::CommonState;
}

impl TlsLayer for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn state(&self) -> &rustls::CommonState {
        self.get_ref().1
    }
}

impl TlsLayer for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn state(&self) -> &rustls::CommonState {
        self.get_ref().1
    }
}

/// A connection that is plain TCP or TLS over TCP (`T`: the server's or the client's TLS
/// stream), so that sessions and transfers need not care which.
#[derive(Debug)]
pub enum Stream<T> {
    /// Clear text.
    Plain(TcpStream),
    /// TLS (boxed: the TLS state is large and most connections do not use it).
    Tls(Box<T>),
    /// Taken out for a TLS handshake and not put back (the handshake failed, or is running):
    /// reads and writes fail, flush and shutdown do nothing.
    Closed,
}

impl<T: TlsLayer> Stream<T> {
    /// True when TLS protects this connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The TCP connection, plain or under the TLS; `None` once closed.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(tcp) => Some(tcp),
            Stream::Tls(tls) => Some(tls.tcp()),
            Stream::Closed => None,
        }
    }

    /// True when this is TLS whose handshake resumed an earlier session.
    pub fn is_resumed(&self) -> bool {
        match self {
            Stream::Tls(tls) => {
                tls.state().handshake_kind() == Some(rustls::HandshakeKind::Resumed)
            }
            Stream::Plain(_) | Stream::Closed => false,
        }
    }

    /// `TLSv1_3, session resumed` or `..., full handshake` (for logs and `--verbose`); `None`
    /// without TLS.
    pub fn tls_summary(&self) -> Option<String> {
        let Stream::Tls(tls) = self else {
            return None;
        };
        let version = tls
            .state()
            .protocol_version()
            .map_or_else(|| "TLS".to_string(), |v| format!("{v:?}"));
        let kind = match self.is_resumed() {
            true => "session resumed",
            false => "full handshake",
        };
        Some(format!("{version}, {kind}"))
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was closed")
}

impl<T: TlsLayer> AsyncRead for Stream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(context, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(context, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl<T: TlsLayer> AsyncWrite for Stream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(context, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(context, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(context),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(context),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }

    /// For TLS: sends close_notify, then ends the TCP write side.
    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(context),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(context),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// Sets a socket's receive low-water mark (SO_RCVLOWAT): a read wakes up only once this many
/// bytes are queued (or the stream ended). A failure leaves the mark where it was, which only
/// costs wake-ups. Nothing on systems other than Linux. (Neither rustix nor socket2 offers this
/// option.)
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn set_receive_low_water(socket: &impl std::os::fd::AsRawFd, bytes: i32) {
    // SAFETY: setsockopt reads size_of::<c_int>() bytes from a pointer to a live c_int, on a
    // descriptor borrowed from a live socket.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Sets a socket's receive low-water mark: nothing here (not Linux).
#[cfg(not(target_os = "linux"))]
pub fn set_receive_low_water(_socket: &impl std::os::fd::AsRawFd, _bytes: i32) {}
