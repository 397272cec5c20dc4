//! sendfile(2) for plain HTTP/1.1 downloads from the local disk, with hyper still writing the
//! response.
//!
//! hyper owns the connection and writes only the `Bytes` a body yields. A file sent with
//! sendfile yields, instead of its bytes, *markers*: slices of one private buffer that no
//! other allocation can overlap, as long as the pieces of the file they stand for. Each marker
//! is matched by a [`Piece`] (the open file, where, how much) queued on the connection's
//! [`Outbox`] when the body yields it. hyper counts the markers against `Content-Length`, keeps
//! the connection alive and parses the next request exactly as for bytes; the connection's
//! socket ([`SendfileStream`]) recognises a marker by its address when hyper writes it and
//! sends the queued piece from the file instead, so the file's bytes never enter user space.
//! The bytes before a marker (the response head) go out with `MSG_MORE`, so the head and the
//! file's first bytes leave in one segment.
//!
//! This relies on hyper writing the body's `Bytes` as they are (its "queue" write strategy,
//! which [`super::serve_http1`] asks for with `writev(true)`), never copied into a buffer of
//! its own: a copy would send the marker's zeros in place of the file. The HTTP tests
//! download files of random bytes (several markers long, ranges, several files on one
//! kept-alive connection, pipelined requests) and compare them, so a hyper that changed this
//! fails them. A marker met with no piece queued fails the connection rather than send
//! anything.
//!
//! This module does NOT decide when sendfile applies (a local file, nothing limiting the
//! transfer, plain HTTP/1.1: [`super::body::file`] does), nor parse HTTP.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::body::Sent;

/// The longest marker: one piece of a file is at most this long.
pub(crate) const MARKER_LEN: usize = 4 * 1024 * 1024;
/// Pieces from this long on are sent corked (see [`SendfileStream::poll_piece`]); a small
/// file goes out with its head in one segment without it (`MSG_MORE`).
const CORK_FROM: usize = 256 * 1024;

/// The marker buffer: zeroed memory that is never written or read (its pages are never even
/// touched, so it costs address space, not memory).
fn marker_buffer() -> &'static [u8] {
    static BUFFER: OnceLock<&'static [u8]> = OnceLock::new();
    BUFFER.get_or_init(|| Vec::leak(vec![0u8; MARKER_LEN]))
}

/// A marker standing for `len` (at most [`MARKER_LEN`]) bytes of a queued piece.
pub(crate) fn marker(len: usize) -> Bytes {
    let buffer = marker_buffer();
    Bytes::from_static(&buffer[..len.min(buffer.len())])
}

/// Whether `slice` lies in the marker buffer.
fn is_marker(slice: &[u8]) -> bool {
    let buffer = marker_buffer();
    let start = buffer.as_ptr() as usize;
    let at = slice.as_ptr() as usize;
    !slice.is_empty() && at >= start && at < start + buffer.len()
}

/// A piece of a file to send where its marker is written.
struct Piece {
    file: Arc<std::fs::File>,
    offset: u64,
    left: usize,
    /// The download's report, with its last piece: told of each byte sent, and that the
    /// download is whole once the piece is.
    report: Option<Sent>,
}

/// The pieces of files a connection has yet to send, in the order their markers were yielded
/// (which is the order hyper writes them).
#[derive(Default)]
pub(crate) struct Outbox {
    pieces: Mutex<VecDeque<Piece>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl Outbox {
    /// Queues `len` bytes of `file` from `offset`, and returns the marker that stands for
    /// them; `report` (with a download's last piece) hears how the piece went.
    pub(crate) fn queue(
        &self,
        file: &Arc<std::fs::File>,
        offset: u64,
        len: usize,
        report: Option<Sent>,
    ) -> Bytes {
        let len = len.min(MARKER_LEN);
        let piece = Piece {
            file: Arc::clone(file),
            offset,
            left: len,
            report,
        };
        self.pieces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(piece);
        marker(len)
    }
}

/// A plain TCP connection that sends markers' pieces with sendfile(2).
pub(crate) struct SendfileStream {
    tcp: TcpStream,
    outbox: Arc<Outbox>,
    /// Whether `TCP_CORK` holds partial segments back while a large file goes out.
    corked: bool,
}

impl SendfileStream {
    pub(crate) fn new(tcp: TcpStream, outbox: Arc<Outbox>) -> SendfileStream {
        SendfileStream {
            tcp,
            outbox,
            corked: false,
        }
    }

    /// Sends up to `len` bytes of the first queued piece.
    fn poll_piece(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<usize>> {
        let mut pieces = self
            .outbox
            .pieces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(piece) = pieces.front_mut() else {
            return Poll::Ready(Err(io::Error::other(
                "a sendfile marker with no file queued for it",
            )));
        };
        let want = len.min(piece.left);
        if !self.corked && piece.left >= CORK_FROM {
            // As nginx's `tcp_nopush`: only full segments while the file goes out, the
            // last one pushed when the outbox empties.
            self.corked = rustix::net::sockopt::set_tcp_cork(&self.tcp, true).is_ok();
        }
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                let mut offset = piece.offset;
                rustix::fs::sendfile(
                    self.tcp.as_fd(),
                    piece.file.as_fd(),
                    Some(&mut offset),
                    want,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    tracing::warn!(
                        offset = piece.offset,
                        left = piece.left,
                        "a file got shorter while it was sent; connection closed"
                    );
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file got shorter",
                    )));
                }
                Ok(sent) => {
                    piece.offset += sent as u64;
                    piece.left -= sent;
                    if let Some(report) = &mut piece.report {
                        report.add(sent as u64);
                        if piece.left == 0 {
                            report.complete();
                        }
                    }
                    if piece.left == 0 {
                        pieces.pop_front();
                        if pieces.is_empty() && self.corked {
                            self.corked = false;
                            // Should it fail, the kernel pushes the tail within 200 ms.
                            if let Err(error) = rustix::net::sockopt::set_tcp_cork(&self.tcp, false)
                            {
                                tracing::debug!(%error, "uncorking a connection failed");
                            }
                        }
                    }
                    return Poll::Ready(Ok(sent));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// Sends `bufs`, which a marker follows: `MSG_MORE` holds them for the file's bytes.
    fn poll_before_piece(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        use rustix::net::{SendAncillaryBuffer, SendFlags};
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                rustix::net::sendmsg(
                    &self.tcp,
                    bufs,
                    &mut SendAncillaryBuffer::default(),
                    SendFlags::MORE | SendFlags::NOSIGNAL,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                done => return Poll::Ready(done),
            }
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match bufs.iter().position(|buf| is_marker(buf)) {
            None => Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs),
            Some(0) => self.poll_piece(cx, bufs[0].len()),
            Some(first) => self.poll_before_piece(cx, &bufs[..first]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_recognised_by_address_only() {
        let whole = marker(MARKER_LEN);
        assert!(is_marker(&whole));
        assert!(is_marker(&whole[MARKER_LEN - 1..]));
        assert!(!is_marker(&whole[..0]));
        // The same zeros elsewhere are not a marker.
        let zeros = vec![0u8; 16];
        assert!(!is_marker(&zeros));
        assert_eq!(marker(MARKER_LEN + 1).len(), MARKER_LEN);
    }
}
