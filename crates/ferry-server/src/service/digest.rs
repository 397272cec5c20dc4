//! Digests of files (FTP HASH and its X* kin, SFTP `check-file`, HTTP `Repr-Digest`): read
//! through the file service with the `download` right, from any backend as a stream, and
//! hashed on the blocking pool one chunk at a time so that the runtime's threads keep serving.
//!
//! Bounded twice: the server-wide [`DigestLimit`] (`--max-hashing`) caps how many digests run
//! at once, and each front end runs at most one per session. A digest stops at the next chunk
//! once its cancellation token fires (ABOR, the session's end, shutdown).
//!
//! This module does NOT know any protocol: the caller turns the bytes into hex, base64 or a
//! packet.

use std::sync::Arc;

use ferry_proto::VirtualPath;
use ferry_proto::digest::Algorithm;
use ferry_storage::{ErrorKind, StorageError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::rules::Right;
use super::{FileError, FileService};

/// Bytes read and hashed at a time: large enough that the hand-over to the blocking pool costs
/// nothing measurable, small enough that a cancelled digest stops within milliseconds.
const CHUNK: usize = 1024 * 1024;

/// Reads up to this many bytes are hashed on the session's task (tens of microseconds at most);
/// larger ones on a blocking thread.
const INLINE_HASH: usize = 16 * 1024;

/// How many digests the whole server computes at once; the rest wait their turn.
#[derive(Debug, Clone)]
pub(crate) struct DigestLimit(Arc<Semaphore>);

impl DigestLimit {
    /// At most `max` digests at once (at least one).
    pub(crate) fn new(max: usize) -> DigestLimit {
        DigestLimit(Arc::new(Semaphore::new(max.max(1))))
    }
}

/// The most digest bytes one request may ask for in blocks (SFTP's check-file with a small
/// block size): the answer must fit in one SFTP packet (256 KiB).
const MAX_BLOCK_DIGESTS: u64 = 192 * 1024;

/// What to hash: `length` bytes from `start`, or to the end of the file; one digest, or one
/// per `block` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u64,
    pub(crate) length: Option<u64>,
    /// 0: one digest for the whole span; else one per this many bytes (the last may be
    /// shorter).
    pub(crate) block: u64,
}

impl Span {
    /// The whole file.
    pub(crate) const WHOLE: Span = Span {
        start: 0,
        length: None,
        block: 0,
    };
}

/// A computed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digest {
    pub(crate) algorithm: Algorithm,
    /// The digest, or the blocks' digests one after another.
    pub(crate) bytes: Vec<u8>,
    /// Where hashing started.
    pub(crate) start: u64,
    /// Bytes hashed.
    pub(crate) length: u64,
    /// The file's size when it was opened.
    pub(crate) size: u64,
}

impl FileService {
    /// The `algorithm` digest of `span` of the file at `view`; `Ok(None)` when `cancel` fired
    /// first. Needs the `download` right. A file with an upload running is busy (450 in FTP)
    /// rather than hashed as it was before; a span past the end of the file is refused
    /// ([`ErrorKind::Unsupported`]).
    pub(crate) async fn digest(
        &self,
        view: &VirtualPath,
        algorithm: Algorithm,
        span: Span,
        cancel: &CancellationToken,
    ) -> Result<Option<Digest>, FileError> {
        let started = std::time::Instant::now();
        let result = self.digest_inner(view, algorithm, span, cancel).await;
        if let Ok(Some(digest)) = &result {
            tracing::info!(
                peer = %self.client.peer, user = self.name(), protocol = self.client.protocol.name(),
                path = %view, algorithm = algorithm.name(), bytes = digest.length,
                seconds = started.elapsed().as_secs_f64(), "digest computed"
            );
        }
        self.logged("digest", view, started, result)
    }

    async fn digest_inner(
        &self,
        view: &VirtualPath,
        algorithm: Algorithm,
        span: Span,
        cancel: &CancellationToken,
    ) -> Result<Option<Digest>, FileError> {
        let (_, full) = self.allowed(Right::Download, view)?;
        let full = self.locate(full).await?;
        if self.storage.uploading(&full)? {
            return Err(
                StorageError::new(ErrorKind::Busy, "an upload to this file is running").into(),
            );
        }
        let permit = tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            permit = Arc::clone(&self.digests.0).acquire_owned() => permit,
        };
        // Closed only if the semaphore were closed, which nothing does.
        let Ok(_permit) = permit else {
            return Err(StorageError::new(ErrorKind::Other, "digest limit closed").into());
        };
        let mut download = self.storage.read(&full, span.start).await?;
        let size = download.size;
        let available = size.saturating_sub(span.start);
        let wanted = match span.length {
            Some(length) if length > available => {
                return Err(StorageError::new(
                    ErrorKind::Unsupported,
                    "range beyond the end of the file",
                )
                .into());
            }
            Some(length) => length,
            None => available,
        };
        // Per block: its size, and bytes of it still to hash.
        let block = if span.block == 0 {
            wanted.max(1)
        } else {
            span.block
        };
        let digest_len = algorithm.hasher().finish().len() as u64;
        if wanted.div_ceil(block).saturating_mul(digest_len) > MAX_BLOCK_DIGESTS {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "too many blocks: their digests would not fit one reply",
            )
            .into());
        }
        let mut bytes = Vec::new();
        let mut hasher = algorithm.hasher();
        let mut left = wanted;
        let mut block_left = block;
        let mut buffer = Vec::with_capacity(CHUNK);
        while left > 0 {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let max = usize::try_from(left.min(block_left)).map_or(CHUNK, |left| left.min(CHUNK));
            buffer.clear();
            let read = tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(None),
                read = download.read_append(&mut buffer, max) => read,
            };
            let read = read.map_err(StorageError::from)?;
            if read == 0 {
                // The file shrank since it was opened.
                return Err(StorageError::new(
                    ErrorKind::Other,
                    "the file changed while it was hashed",
                )
                .into());
            }
            left -= read as u64;
            block_left -= read as u64;
            if buffer.len() <= INLINE_HASH {
                // A small read (a small file's whole): hashing it costs less than the hop to a
                // blocking thread and back, which on a busy machine waits for a time slice.
                hasher.update(&buffer);
            } else {
                let hashed = tokio::task::spawn_blocking(move || {
                    hasher.update(&buffer);
                    (hasher, buffer)
                })
                .await;
                (hasher, buffer) = hashed
                    .map_err(|error| StorageError::new(ErrorKind::Other, error.to_string()))?;
            }
            if block_left == 0 && left > 0 {
                bytes.extend(std::mem::replace(&mut hasher, algorithm.hasher()).finish());
                block_left = block;
            }
        }
        bytes.extend(hasher.finish());
        Ok(Some(Digest {
            algorithm,
            bytes,
            start: span.start,
            length: wanted,
            size,
        }))
    }
}
