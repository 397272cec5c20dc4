//! Where ferryd keeps files: the storage contract and its backends.
//!
//! Every path is a [`VirtualPath`] below the backend's root; a backend never reads or writes
//! outside it. Listings stream ([`ListStream`]) rather than arrive whole. Uploads are atomic: an
//! [`Upload`] writes to a hidden partial file beside its target and only [`Upload::commit`] makes
//! the bytes visible under the target's name; an upload that is dropped or aborted keeps its
//! partial so that the client can resume it with REST+STOR or APPE.
//!
//! With the cargo feature `s3`, [`S3Storage`] serves a bucket (or a prefix of one) through
//! Apache OpenDAL. Its differences from a folder are written on [`S3Storage`]: folders are
//! prefixes, rename is copy then delete, an interrupted upload is discarded rather than kept.
//!
//! This crate does NOT speak FTP and does not know about users or permissions: the server maps
//! each [`ErrorKind`] to a reply and decides who may do what. Backends are chosen at start
//! ([`Storage`] is an enum: a local folder, or S3 with the `s3` feature).

mod busy;
mod error;
mod local;
mod names;
#[cfg(feature = "s3")]
mod s3;
mod s3_config;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use error::{ErrorKind, StorageError};
pub use ferry_proto::VirtualPath;
pub use ferry_proto::listing::{Entry, EntryKind};
pub use local::LocalStorage;
pub use names::PARTIAL_PREFIX;
#[cfg(feature = "s3")]
pub use s3::S3Storage;
pub use s3_config::S3Config;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A result with a [`StorageError`].
pub type Result<T> = std::result::Result<T, StorageError>;

/// How [`Storage::write`] treats what is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR: the new bytes replace the file when the upload commits.
    Create,
    /// APPE: the new bytes go after the file's current bytes (or after an interrupted upload's).
    Append,
    /// REST n + STOR: keep the first n bytes of the interrupted upload (or of the file) and write
    /// from there.
    Resume(u64),
    /// STOU: like `Create`, but the committed name must not exist yet; `path` is a hint.
    Unique,
}

/// The storage backend chosen at start.
#[derive(Debug, Clone)]
pub enum Storage {
    /// A folder on the local disk.
    Local(LocalStorage),
    /// A bucket (or a prefix of one) on an S3-compatible object store.
    #[cfg(feature = "s3")]
    S3(S3Storage),
}

impl Storage {
    /// Checks that the backend answers (a request to the bucket on S3; nothing for a folder,
    /// which was opened already).
    pub async fn check(&self) -> Result<()> {
        match self {
            Storage::Local(_) => Ok(()),
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.check().await,
        }
    }

    /// Facts about one path.
    pub async fn stat(&self, path: &VirtualPath) -> Result<Entry> {
        match self {
            Storage::Local(local) => local.stat(path).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.stat(path).await,
        }
    }

    /// The entries of a folder, as a stream.
    pub async fn list(&self, path: &VirtualPath) -> Result<ListStream> {
        match self {
            Storage::Local(local) => local.list(path).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.list(path).await,
        }
    }

    /// The size of an interrupted upload to `path` that can be resumed, if there is one (always
    /// `None` on S3, which discards interrupted uploads).
    pub async fn partial_size(&self, path: &VirtualPath) -> Result<Option<u64>> {
        match self {
            Storage::Local(local) => local.partial_size(path).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.partial_size(path).await,
        }
    }

    /// Opens a file for reading from `offset` (on S3, ranged reads from there).
    pub async fn read(&self, path: &VirtualPath, offset: u64) -> Result<Download> {
        match self {
            Storage::Local(local) => local.read(path, offset).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.read(path, offset).await,
        }
    }

    /// Whether an upload to `path` is running (in this process: another node's upload to S3
    /// is not seen), so that a reader can answer "busy" rather than read the old bytes or
    /// find nothing.
    pub fn uploading(&self, path: &VirtualPath) -> Result<bool> {
        match self {
            Storage::Local(local) => local.uploading(path),
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.uploading(path),
        }
    }

    /// Starts an upload to `path`; refused (`WrongKind`) when `path` is a folder, and
    /// [`ErrorKind::Busy`] while another upload to the same file runs (by whatever path, and on
    /// a folder also from another process).
    pub async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Upload> {
        match self {
            Storage::Local(local) => local.write(path, mode).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.write(path, mode).await,
        }
    }

    /// Deletes a file; [`ErrorKind::Busy`] while an upload to it runs.
    pub async fn remove_file(&self, path: &VirtualPath) -> Result<()> {
        match self {
            Storage::Local(local) => local.remove_file(path).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.remove_file(path).await,
        }
    }

    /// Creates a folder (its parent must exist).
    pub async fn create_dir(&self, path: &VirtualPath) -> Result<()> {
        match self {
            Storage::Local(local) => local.create_dir(path).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.create_dir(path).await,
        }
    }

    /// Removes an empty folder.
    pub async fn remove_dir(&self, path: &VirtualPath) -> Result<()> {
        if path.is_root() {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                "cannot remove the root",
            ));
        }
        match self {
            Storage::Local(local) => local.remove_dir(path).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.remove_dir(path).await,
        }
    }

    /// Renames a file or folder, replacing a file at `to`. On S3 this is copy then delete: not
    /// atomic, and a folder is copied key by key.
    pub async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<()> {
        if from.is_root() || to.is_root() || to.starts_with(from) && to != from {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                "cannot move into itself",
            ));
        }
        match self {
            Storage::Local(local) => local.rename(from, to).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.rename(from, to).await,
        }
    }

    /// Deletes partial uploads older than `max_age` (left by crashes or abandoned resumes);
    /// returns how many. Newer ones stay so that their clients can resume them. S3 keeps no
    /// partial objects (0); a bucket lifecycle rule aborts stale multipart uploads.
    pub async fn remove_stale_partials(&self, max_age: std::time::Duration) -> Result<usize> {
        match self {
            Storage::Local(local) => local.remove_stale_partials(max_age).await,
            #[cfg(feature = "s3")]
            Storage::S3(_) => Ok(0),
        }
    }

    /// Sets a file's modification time (seconds since the Unix epoch). S3 answers
    /// [`ErrorKind::Unsupported`]: an object's time is when it was written.
    pub async fn set_modified(&self, path: &VirtualPath, secs: i64) -> Result<()> {
        match self {
            Storage::Local(local) => local.set_modified(path, secs).await,
            #[cfg(feature = "s3")]
            Storage::S3(s3) => s3.set_modified(path, secs).await,
        }
    }
}

/// The entries of a folder, produced as they are read.
#[derive(Debug)]
pub struct ListStream {
    receiver: tokio::sync::mpsc::Receiver<Result<Entry>>,
}

impl ListStream {
    /// The next entry; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Entry>> {
        self.receiver.recv().await
    }
}

/// An open file being read.
#[derive(Debug)]
pub struct Download {
    /// The file's total size (not counting the offset).
    pub size: u64,
    /// Where reading starts (REST).
    pub offset: u64,
    /// The file's modification time (seconds since the epoch) as the opened file says it
    /// (fstat of the very file read, locally), when the backend knows it: HTTP's validators
    /// come from here, with no second look-up of the path.
    pub modified: Option<i64>,
    /// Bytes that may still be read: no limit until [`Download::end_at`].
    left: u64,
    inner: DownloadInner,
}

#[derive(Debug)]
enum DownloadInner {
    Local(std::fs::File),
    #[cfg(feature = "s3")]
    S3(Box<s3::S3Download>),
}

impl Download {
    /// A download of `size` bytes read from `offset` on.
    pub(crate) fn new(size: u64, offset: u64, inner: DownloadInner) -> Download {
        Download {
            size,
            offset,
            modified: None,
            left: u64::MAX,
            inner,
        }
    }

    /// The same download, with the file's modification time.
    pub(crate) fn modified(mut self, modified: Option<i64>) -> Download {
        self.modified = modified;
        self
    }

    /// Ends the download at `end` (a position in the file, not read): reads stop there, and
    /// `size` becomes `end` when that is smaller (FTP's RANG). An end past the file changes
    /// nothing.
    pub fn end_at(&mut self, end: u64) {
        self.size = self.size.min(end);
        self.left = self.size.saturating_sub(self.offset);
    }

    /// Moves a download that has read nothing yet to start at `offset` (at most the size), on
    /// the same open file; `false` when the backend cannot (S3's ranged reads are fixed when
    /// opened: open again with the offset).
    pub fn start_at(&mut self, offset: u64) -> io::Result<bool> {
        match &mut self.inner {
            DownloadInner::Local(file) => {
                if offset > self.size {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "offset beyond end of file",
                    ));
                }
                if offset != self.offset {
                    io::Seek::seek(file, io::SeekFrom::Start(offset))?;
                    self.offset = offset;
                }
                Ok(true)
            }
            #[cfg(feature = "s3")]
            DownloadInner::S3(_) => Ok(false),
        }
    }

    /// The local file behind this download, for zero-copy sends; `None` for remote backends.
    pub fn local_file(&self) -> Option<&std::fs::File> {
        match &self.inner {
            DownloadInner::Local(file) => Some(file),
            #[cfg(feature = "s3")]
            DownloadInner::S3(_) => None,
        }
    }

    /// The local file behind this download, taken out of it for a zero-copy send that may
    /// outlive it (HTTP's sendfile pieces); the download back for remote backends. Reads at
    /// [`Download::offset`] on are the download's; what [`Download::end_at`] set is the
    /// caller's to respect.
    pub fn into_local_file(self) -> std::result::Result<std::fs::File, Download> {
        match self.inner {
            DownloadInner::Local(file) => Ok(file),
            #[cfg(feature = "s3")]
            DownloadInner::S3(_) => Err(self),
        }
    }

    /// Reads at most `max` bytes onto the end of `buf`; 0 at the end of the file. From the
    /// local backend the bytes go straight into `buf`'s spare capacity when it has exactly
    /// `max` bytes to spare (a buffer made for the read): nothing is zeroed first.
    pub async fn read_append(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let max = usize::try_from(self.left).map_or(max, |left| left.min(max));
        if max == 0 {
            return Ok(0);
        }
        let read = self.read_append_unlimited(buf, max).await;
        if let Ok(read) = read {
            self.left = self.left.saturating_sub(read as u64);
        }
        read
    }

    async fn read_append_unlimited(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        match &mut self.inner {
            // A read from the page cache, on this thread (see `LocalStorage::call`).
            DownloadInner::Local(file) => {
                buf.reserve(max);
                if buf.capacity() - buf.len() == max {
                    return Ok(rustix::io::read(
                        &*file,
                        rustix::buffer::spare_capacity(buf),
                    )?);
                }
                let start = buf.len();
                buf.resize(start + max, 0);
                let read = io::Read::read(file, &mut buf[start..]);
                buf.truncate(start + *read.as_ref().unwrap_or(&0));
                read
            }
            #[cfg(feature = "s3")]
            DownloadInner::S3(download) => {
                use tokio::io::AsyncReadExt as _;
                let mut limited = download.as_mut().take(max as u64);
                limited.read_buf(buf).await
            }
        }
    }
}

impl AsyncRead for Download {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        #[cfg(not(feature = "s3"))]
        let _ = cx;
        if self.left == 0 {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = self.as_mut().poll_read_unlimited(cx, buf);
        // A read past the end set by `end_at` is cut back to it.
        let read = (buf.filled().len() - before) as u64;
        if read > self.left {
            let end = before + usize::try_from(self.left).unwrap_or(0);
            buf.set_filled(end);
        }
        self.left = self.left.saturating_sub(read);
        polled
    }
}

impl Download {
    fn poll_read_unlimited(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        #[cfg(not(feature = "s3"))]
        let _ = cx;
        match &mut self.inner {
            // A read from the page cache, on this thread (see `LocalStorage::call`).
            DownloadInner::Local(file) => {
                let read = io::Read::read(file, buf.initialize_unfilled())?;
                buf.advance(read);
                Poll::Ready(Ok(()))
            }
            #[cfg(feature = "s3")]
            DownloadInner::S3(download) => Pin::new(download.as_mut()).poll_read(cx, buf),
        }
    }
}

/// An upload in progress. Bytes written here are invisible under the target's name until
/// [`Upload::commit`]. Dropping it without committing keeps the partial for a later resume
/// (local), or aborts the multipart upload (S3).
#[derive(Debug)]
pub struct Upload {
    inner: UploadInner,
}

#[derive(Debug)]
enum UploadInner {
    Local(local::LocalUpload),
    #[cfg(feature = "s3")]
    S3(s3::S3Upload),
}

/// Calls `$method` on whichever backend's upload `$inner` holds.
macro_rules! on_upload {
    ($inner:expr, $upload:ident => $call:expr) => {
        match $inner {
            UploadInner::Local($upload) => $call,
            #[cfg(feature = "s3")]
            UploadInner::S3($upload) => $call,
        }
    };
}

impl Upload {
    /// The local file the bytes go to (positioned where the next byte lands), for zero-copy
    /// receives; `None` for remote backends.
    pub fn local_file(&self) -> Option<&std::fs::File> {
        match &self.inner {
            UploadInner::Local(upload) => Some(upload.file()),
            #[cfg(feature = "s3")]
            UploadInner::S3(_) => None,
        }
    }

    /// The path the bytes will appear under after commit (for STOU, the chosen unique name).
    pub fn path(&self) -> &VirtualPath {
        on_upload!(&self.inner, upload => upload.target())
    }

    /// The offset the first written byte lands at.
    pub fn start_offset(&self) -> u64 {
        on_upload!(&self.inner, upload => upload.start_offset())
    }

    /// Flushes the bytes and makes them visible under the target's name.
    pub async fn commit(self) -> Result<()> {
        on_upload!(self.inner, upload => upload.commit().await)
    }

    /// Ends the upload without publishing it; the partial stays for a later resume (local), or
    /// the multipart upload is aborted (S3).
    pub async fn abort(self) -> Result<()> {
        on_upload!(self.inner, upload => upload.abort().await)
    }

    /// Ends the upload without publishing it and without keeping what was written (an upload
    /// refused by a quota: its bytes can never be committed).
    pub async fn discard(self) -> Result<()> {
        match self.inner {
            UploadInner::Local(upload) => upload.discard().await,
            // An aborted multipart upload keeps nothing.
            #[cfg(feature = "s3")]
            UploadInner::S3(upload) => upload.abort().await,
        }
    }
}

impl AsyncWrite for Upload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        on_upload!(&mut self.inner, upload => Pin::new(upload).poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_upload!(&mut self.inner, upload => Pin::new(upload).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_upload!(&mut self.inner, upload => Pin::new(upload).poll_shutdown(cx))
    }
}
