//! The control connection: reading bounded lines (ABOR as urgent data included), writing
//! replies, and which commands are answered while a transfer runs.

use std::pin::Pin;
use std::task::{Context, Poll};

use ferry_proto::{LineBuffer, LineError, Reply, is_urgent};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::stream::Stream;
use crate::transfer::{Event, Running};

use super::replies::{Fault, refuse};
use super::{Flow, Session};

/// Waits for control-connection bytes and appends them to `lines`; `Ok(0)` when the client has
/// closed. A plain connection holds no buffer while it waits: readiness first, then
/// non-blocking reads into the stack.
pub(super) async fn read_some(
    stream: &mut Stream,
    lines: &mut LineBuffer,
    tls_buffer: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match stream {
        Stream::Plain(tcp) => loop {
            tcp.readable().await?;
            let read = std::future::poll_fn(|cx| Poll::Ready(read_available(tcp, lines, cx))).await;
            match read {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        },
        Stream::Tls(tls) => {
            if tls_buffer.is_empty() {
                tls_buffer.resize(READ_CHUNK, 0);
            }
            let read = tls.read(tls_buffer).await?;
            lines.extend(&tls_buffer[..read]);
            Ok(read)
        }
        Stream::Closed => Err(std::io::ErrorKind::NotConnected.into()),
    }
}

/// Reads what the socket holds; `WouldBlock` if nothing (yet).
///
/// The first read goes through tokio, which takes a short read as proof that the socket is
/// empty and re-arms the readiness itself: most commands then cost one read, not a second one
/// that ends in EAGAIN. A short read that does not end a line may have stopped at a TCP urgent
/// mark (ABOR sent as urgent data, with SO_OOBINLINE set), where a read stops before the urgent
/// byte even though more is queued; so does one that filled the buffer. Those go on with
/// plain reads until the socket is empty (or a few chunks, to stay fair to other sessions).
pub(super) fn read_available(
    tcp: &mut TcpStream,
    lines: &mut LineBuffer,
    cx: &mut Context<'_>,
) -> std::io::Result<usize> {
    let mut buffer = [0u8; READ_CHUNK];
    let mut first = ReadBuf::new(&mut buffer);
    match Pin::new(&mut *tcp).poll_read(cx, &mut first) {
        Poll::Pending => return Err(std::io::ErrorKind::WouldBlock.into()),
        Poll::Ready(result) => result?,
    }
    let mut total = first.filled().len();
    let ends_line = first.filled().last() == Some(&b'\n');
    lines.extend(first.filled());
    if total == 0 || (total < READ_CHUNK && ends_line) {
        return Ok(total);
    }
    for _ in 0..8 {
        match rustix::net::recv(&*tcp, &mut buffer, rustix::net::RecvFlags::empty()) {
            Ok((0, _)) => break,
            Ok((read, _)) => {
                lines.extend(&buffer[..read]);
                total += read;
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(total)
}

pub(super) async fn next_event(running: &mut Option<Running>) -> Option<Event> {
    match running {
        Some(running) => running.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Bytes read from the control connection at a time.
pub(super) const READ_CHUNK: usize = 4096;

/// Commands held back while a transfer runs; past this we stop reading.
pub(super) const MAX_DEFERRED: usize = 16;

impl Session {
    /// Writes a reply and flushes it. Over TLS the flush matters: when the socket is not
    /// known to be writable, tokio-rustls takes the bytes, keeps the record in its buffer and
    /// reports success, so without it a reply (seen: a 226) could wait for the next one.
    pub(super) async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.shared.observer.metrics.reply(reply.code.0);
        self.send_bytes(&reply.to_bytes()).await
    }

    /// Writes encoded reply bytes and flushes them (see [`Session::send`]).
    pub(super) async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// False when the client has closed the control connection (a non-blocking peek sees the
    /// end of the stream). Bytes waiting to be read, or none yet, mean it is alive.
    pub(super) fn control_alive(&self) -> bool {
        let tcp = match &self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
            Stream::Closed => return false,
        };
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(tcp).peek(&mut probe) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }

    /// Handles the lines that can be handled now.
    pub(super) async fn drain_lines(&mut self) -> Option<&'static str> {
        loop {
            let line = if !self.busy() && !self.deferred.is_empty() {
                self.deferred.pop_front().map(Ok)
            } else {
                self.lines.next_line()
            };
            let line = line?;
            let line = match line {
                Ok(line) => line,
                Err(LineError::TooLong) => {
                    let too_long = refuse(Fault::LineTooLong);
                    if self.send(&too_long).await.is_err() {
                        return Some("write failed");
                    }
                    continue;
                }
            };
            if self.busy() && !is_urgent(&line) {
                self.deferred.push_back(line);
                if self.deferred.len() >= MAX_DEFERRED {
                    return None;
                }
                continue;
            }
            match self.handle_line(&line).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return Some("quit"),
                Err(_) => return Some("write failed"),
            }
        }
    }
}
