//! Downloads from S3: [`S3Storage::read`] checks the object and opens a stream of ranged reads
//! from the offset on, pinned to the object's ETag so that a file replaced meanwhile fails
//! rather than mixes; [`S3Download`] hands the stream's bytes to the reader.
//!
//! This module does NOT write, and does NOT read ahead beyond `READS_IN_FLIGHT` ranges of
//! `READ_CHUNK` bytes.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::Stream;
use opendal::{Buffer, BufferStream};
use tokio::io::{AsyncRead, ReadBuf};

use crate::names::check_name;
use crate::{Download, DownloadInner, ErrorKind, Result, StorageError, VirtualPath};

use super::{READ_CHUNK, READS_IN_FLIGHT, S3Storage, io_error, key, not_found, storage_error};

impl S3Storage {
    pub(crate) async fn read(&self, path: &VirtualPath, offset: u64) -> Result<Download> {
        check_name(path)?;
        let key = key(path)?;
        let meta = self
            .file_metadata(path, &key)
            .await?
            .ok_or_else(not_found)?;
        let size = meta.content_length();
        if offset > size {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "offset beyond end of file",
            ));
        }
        let stream = if offset == size {
            None
        } else {
            let mut reader = self
                .operator
                .reader_with(&key)
                .chunk(READ_CHUNK)
                .concurrent(READS_IN_FLIGHT);
            // Read the very object we measured, not one written since.
            if let Some(etag) = meta.etag() {
                reader = reader.if_match(etag);
            }
            let reader = reader.await.map_err(storage_error)?;
            Some(
                reader
                    .into_stream(offset..size)
                    .await
                    .map_err(storage_error)?,
            )
        };
        Ok(Download::new(
            size,
            offset,
            DownloadInner::S3(Box::new(S3Download {
                stream,
                buffer: None,
                current: Bytes::new(),
            })),
        )
        .modified(meta.last_modified().map(|t| t.into_inner().as_second())))
    }
}

/// The S3 half of a [`Download`]: a stream of ranged reads.
pub(crate) struct S3Download {
    /// `None` once the stream has ended (or for an empty read).
    stream: Option<BufferStream>,
    /// The chunks of the last buffer the stream gave.
    buffer: Option<Buffer>,
    /// What is left of the current chunk.
    current: Bytes,
}

impl fmt::Debug for S3Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Download")
            .field("ended", &self.stream.is_none())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for S3Download {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.current.is_empty() {
                let n = self.current.len().min(buf.remaining());
                buf.put_slice(&self.current.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if let Some(chunk) = self.buffer.as_mut().and_then(Iterator::next) {
                self.current = chunk;
                continue;
            }
            let Some(stream) = self.stream.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match ready!(Pin::new(stream).poll_next(cx)) {
                Some(Ok(buffer)) => self.buffer = Some(buffer),
                Some(Err(e)) => {
                    self.stream = None;
                    return Poll::Ready(Err(io_error(e)));
                }
                None => self.stream = None,
            }
        }
    }
}
