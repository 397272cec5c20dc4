//! Uploads to S3: [`S3Storage::write`] picks the target (STOU's unused name), takes the busy
//! set's hold and starts a multipart upload whose first bytes, for APPE and REST over an
//! object, are the old object's (copied server-side); [`S3Upload`] streams the client's bytes
//! into it and completes it on commit, or aborts it (on abort and on drop).
//!
//! This module does NOT keep anything of an interrupted upload (S3 has no partial to resume)
//! and never uses OpenDAL's append (ordinary S3 servers replace the object).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use opendal::options::ReadOptions;
use opendal::{Metadata, Writer};
use tokio::io::AsyncWrite;

use crate::busy::BusyGuard;
use crate::names::{check_new_name, no_unused_name, unique_candidates};
use crate::{
    EntryKind, ErrorKind, Result, StorageError, Upload, UploadInner, VirtualPath, WriteMode,
};

use super::{PART_SIZE, PARTS_IN_FLIGHT, S3Storage, io_error, key, storage_error};

impl S3Storage {
    pub(crate) async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Upload> {
        check_new_name(path)?;
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::WrongKind, "the root"));
        }
        let (target, unique_guard) = if mode == WriteMode::Unique {
            let (target, guard) = self.unused_name(path).await?;
            (target, Some(guard))
        } else {
            (path.clone(), None)
        };
        if self
            .lookup(&target)
            .await?
            .is_some_and(|entry| entry.kind == EntryKind::Dir)
        {
            return Err(StorageError::new(
                ErrorKind::WrongKind,
                "target is a folder",
            ));
        }
        let guard = match unique_guard {
            Some(guard) => guard,
            None => BusyGuard::take(&self.busy, target.clone())?,
        };
        let key = key(&target)?;
        // The old object's bytes that the new one starts with, and its ETag.
        let (keep, etag) = match mode {
            WriteMode::Create | WriteMode::Unique | WriteMode::Resume(0) => (0, None),
            WriteMode::Append | WriteMode::Resume(_) => {
                let meta = self.file_metadata(&target, &key).await?;
                let size = meta.as_ref().map(Metadata::content_length);
                let etag = meta.and_then(|meta| meta.etag().map(str::to_string));
                match (mode, size) {
                    (WriteMode::Resume(offset), Some(size)) if offset <= size => (offset, etag),
                    (WriteMode::Resume(_), _) => {
                        return Err(StorageError::new(
                            ErrorKind::Unsupported,
                            "restart point beyond the stored object (S3 keeps no partial uploads)",
                        ));
                    }
                    (_, size) => (size.unwrap_or(0), etag),
                }
            }
        };
        let mut writer = self
            .operator
            .writer_with(&key)
            .chunk(PART_SIZE)
            .concurrent(PARTS_IN_FLIGHT)
            .await
            .map_err(storage_error)?;
        if keep > 0 {
            // Whole parts are copied server-side; the rest streams through us.
            // Copy from the very object measured: if another upload replaced it meanwhile, fail
            // rather than splice two objects.
            let options = ReadOptions {
                range: (0..keep).into(),
                if_match: etag,
                ..ReadOptions::default()
            };
            if let Err(e) = writer.copy_from_options(&key, options).await {
                let _ = writer.abort().await;
                return Err(storage_error(e));
            }
        }
        Ok(Upload {
            inner: UploadInner::S3(S3Upload {
                target,
                start: keep,
                writer: Some(writer),
                pending: None,
                _guard: guard,
            }),
        })
    }

    /// `path` if nothing has that name, else the first free `path.1`, `path.2`..., with the
    /// busy set's hold on it: a name that another upload on this node is writing is skipped.
    async fn unused_name(
        &self,
        path: &VirtualPath,
    ) -> Result<(VirtualPath, BusyGuard<VirtualPath>)> {
        let name = path.file_name().unwrap_or(b"file").to_vec();
        let parent = path.parent();
        for candidate in unique_candidates(&name) {
            let candidate = parent
                .join(&candidate)
                .map_err(|e| StorageError::new(ErrorKind::BadName, e.to_string()))?;
            if self.lookup(&candidate).await?.is_some() {
                continue;
            }
            // The only refusal is busy: another upload on this node is writing that name.
            if let Ok(guard) = BusyGuard::take(&self.busy, candidate.clone()) {
                return Ok((candidate, guard));
            }
        }
        Err(no_unused_name())
    }
}

type PendingWrite = Pin<Box<dyn Future<Output = (Writer, opendal::Result<()>)> + Send>>;

/// The S3 half of an [`Upload`]: an OpenDAL writer (a multipart upload once a part is full).
pub(crate) struct S3Upload {
    target: VirtualPath,
    start: u64,
    /// The writer when no write is running; `None` once committed or aborted.
    writer: Option<Writer>,
    /// A write accepted but not finished yet; it holds the writer meanwhile.
    pending: Option<PendingWrite>,
    _guard: BusyGuard<VirtualPath>,
}

impl fmt::Debug for S3Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Upload")
            .field("target", &self.target)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl S3Upload {
    pub(crate) fn target(&self) -> &VirtualPath {
        &self.target
    }

    pub(crate) fn start_offset(&self) -> u64 {
        self.start
    }

    /// Waits for the accepted write to finish.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(pending) = self.pending.as_mut() {
            let (writer, result) = ready!(pending.as_mut().poll(cx));
            self.pending = None;
            self.writer = Some(writer);
            result.map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }

    fn take_writer(&mut self) -> io::Result<Writer> {
        self.writer
            .take()
            .ok_or_else(|| io::Error::other("upload already finished"))
    }

    pub(crate) async fn commit(mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_pending(cx)).await?;
        let mut writer = self.take_writer()?;
        if let Err(e) = writer.close().await {
            let _ = writer.abort().await;
            return Err(storage_error(e));
        }
        Ok(())
    }

    pub(crate) async fn abort(mut self) -> Result<()> {
        let _ = std::future::poll_fn(|cx| self.poll_pending(cx)).await;
        let mut writer = self.take_writer()?;
        writer.abort().await.map_err(storage_error)
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        // Neither committed nor aborted: abort the multipart upload in the background.
        let pending = self.pending.take();
        let writer = self.writer.take();
        if pending.is_none() && writer.is_none() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let writer = match pending {
                    Some(pending) => Some(pending.await.0),
                    None => writer,
                };
                if let Some(mut writer) = writer {
                    let _ = writer.abort().await;
                }
            });
        }
    }
}

impl AsyncWrite for S3Upload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut writer = self.take_writer()?;
        let bytes = Bytes::copy_from_slice(buf);
        let mut pending: PendingWrite = Box::pin(async move {
            let result = writer.write(bytes).await;
            (writer, result)
        });
        // Usually done at once (the bytes join the current part); else it finishes behind us
        // and the next call waits for it.
        match pending.as_mut().poll(cx) {
            Poll::Ready((writer, result)) => {
                self.writer = Some(writer);
                result.map_err(io_error)?;
            }
            Poll::Pending => self.pending = Some(pending),
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_pending(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_pending(cx)
    }
}
