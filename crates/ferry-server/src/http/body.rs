//! Response bodies produced a piece at a time by an async step: a file's bytes through the
//! transfer limits, a listing as it is read. Nothing is read ahead of what the connection
//! takes: hyper polls for the next piece only when it has sent the last one, and a client
//! that goes away drops the body and with it the open file or listing.
//!
//! This module does NOT know what it streams; [`file`] and the listing give it their steps.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use ferry_storage::Download;
use http_body::{Frame, SizeHint};

use super::sendfile::Outbox;
use crate::service::{Direction, FileService, Meter, Transferred};

/// The largest piece of a file sent at once.
const FILE_CHUNK: usize = 256 * 1024;

/// One step's future: the state back, and the next piece (`None` at the end).
type Step<S> = Pin<Box<dyn Future<Output = (S, Option<io::Result<Bytes>>)> + Send>>;

/// A body whose pieces come from calling `step` on its state, one after another.
pub(crate) struct PullBody<S> {
    state: Option<S>,
    running: Option<Step<S>>,
    step: fn(S) -> Step<S>,
    /// Bytes still to come, when known in advance (sets `Content-Length`).
    remaining: Option<u64>,
}

impl<S: Send + 'static> PullBody<S> {
    /// A body of `length` bytes (when known) made by `step`s from `state`.
    pub(crate) fn new(state: S, step: fn(S) -> Step<S>, length: Option<u64>) -> PullBody<S> {
        PullBody {
            state: Some(state),
            running: None,
            step,
            remaining: length,
        }
    }
}

impl<S: Send + Unpin + 'static> http_body::Body for PullBody<S> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.running.is_none() {
            let Some(state) = this.state.take() else {
                return Poll::Ready(None);
            };
            this.running = Some((this.step)(state));
        }
        let Some(running) = this.running.as_mut() else {
            return Poll::Ready(None);
        };
        let (state, piece) = match running.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        this.running = None;
        match piece {
            None => Poll::Ready(None),
            Some(Err(error)) => Poll::Ready(Some(Err(error))),
            Some(Ok(bytes)) => {
                if let Some(remaining) = &mut this.remaining {
                    *remaining = remaining.saturating_sub(bytes.len() as u64);
                }
                this.state = Some(state);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0) || (self.state.is_none() && self.running.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(remaining) => SizeHint::with_exact(remaining),
            None => SizeHint::default(),
        }
    }
}

/// A file being sent: the open download, its limits, and how many bytes are left to send.
pub(crate) struct FileSend {
    download: Download,
    meter: Meter,
    left: u64,
    sent: Sent,
}

/// Who hears how a download ended: the transfer log, events and metrics, through the file
/// service, once, when the body is dropped (sent whole, or cut by the client going away).
pub(crate) struct Sent {
    files: Arc<FileService>,
    path: String,
    bytes: u64,
    started: Instant,
    failure: Option<&'static str>,
}

impl Sent {
    /// A download of `path` (the user's view) starting now.
    pub(crate) fn new(files: Arc<FileService>, path: String) -> Sent {
        Sent {
            files,
            path,
            bytes: 0,
            started: Instant::now(),
            failure: Some("the client went away"),
        }
    }
}

impl Sent {
    /// Counts `bytes` more as sent.
    pub(crate) fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// Marks the download whole: it reports success when dropped.
    pub(crate) fn complete(&mut self) {
        self.failure = None;
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.files.transferred(&Transferred {
            direction: Direction::Down,
            path: &self.path,
            bytes: self.bytes,
            seconds: self.started.elapsed().as_secs_f64(),
            failure: self.failure,
        });
    }
}

/// The body for `length` bytes of `download` (already at its first byte), paced by `meter`;
/// `sent` reports how it ended. With an `outbox` (a plain HTTP/1.1 connection), a local file
/// that nothing limits goes out with sendfile ([`super::sendfile`]); otherwise its bytes are
/// read here, a piece at a time.
pub(crate) fn file(
    download: Download,
    meter: Meter,
    length: u64,
    sent: Sent,
    outbox: Option<&Arc<Outbox>>,
) -> axum::body::Body {
    let mut sent = sent;
    if length == 0 {
        // hyper asks nothing of an empty body: the download is whole as it starts.
        sent.complete();
    }
    let download = match outbox {
        Some(outbox) if meter.is_free() => {
            let offset = download.offset;
            match download.into_local_file() {
                Ok(file) => {
                    return axum::body::Body::new(SendfileBody {
                        file: Arc::new(file),
                        outbox: Arc::clone(outbox),
                        offset,
                        left: length,
                        sent: Some(sent),
                    });
                }
                Err(download) => download,
            }
        }
        _ => download,
    };
    let state = FileSend {
        download,
        meter,
        left: length,
        sent,
    };
    axum::body::Body::new(PullBody::new(
        state,
        |state| Box::pin(file_step(state)),
        Some(length),
    ))
}

/// A local file sent with sendfile: each frame is a marker queued on the connection's outbox
/// for the piece of the file it stands for. The last piece takes the download's report with
/// it, so that the download counts as whole only once the socket took its last byte (and as
/// cut, with the bytes that went, when the connection ends before).
struct SendfileBody {
    file: Arc<std::fs::File>,
    outbox: Arc<Outbox>,
    /// Where the next piece starts in the file.
    offset: u64,
    left: u64,
    /// Until the last piece is queued.
    sent: Option<Sent>,
}

impl http_body::Body for SendfileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(this.left)
            .unwrap_or(usize::MAX)
            .min(super::sendfile::MARKER_LEN);
        this.left -= len as u64;
        let report = if this.left == 0 {
            this.sent.take()
        } else {
            // hyper asks for the next piece once this one is written: counted now.
            if let Some(sent) = &mut this.sent {
                sent.add(len as u64);
            }
            None
        };
        let marker = this.outbox.queue(&this.file, this.offset, len, report);
        this.offset += len as u64;
        Poll::Ready(Some(Ok(Frame::data(marker))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

async fn file_step(mut send: FileSend) -> (FileSend, Option<io::Result<Bytes>>) {
    if send.left == 0 {
        send.sent.failure = None;
        return (send, None);
    }
    let want = usize::try_from(send.left)
        .unwrap_or(usize::MAX)
        .min(FILE_CHUNK)
        .min(send.meter.step());
    // Read straight into the buffer's spare capacity (nothing zeroed first, see
    // `Download::read_append`); the buffer then becomes the piece without a copy.
    let mut buffer = Vec::with_capacity(want);
    while buffer.len() < want {
        let max = want - buffer.len();
        match send.download.read_append(&mut buffer, max).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                send.sent.failure = Some("storage read failed");
                return (send, Some(Err(error)));
            }
        }
    }
    if buffer.is_empty() {
        // The file shrank under the download: the promised length cannot be sent.
        let error = io::Error::new(io::ErrorKind::UnexpectedEof, "the file got shorter");
        send.sent.failure = Some("the file got shorter");
        return (send, Some(Err(error)));
    }
    send.meter.pace(buffer.len()).await;
    send.left -= buffer.len() as u64;
    send.sent.bytes += buffer.len() as u64;
    if send.left == 0 {
        // hyper may not ask again once the length is reached: the download is whole now.
        send.sent.failure = None;
    }
    (send, Some(Ok(Bytes::from(buffer))))
}
