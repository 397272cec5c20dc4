//! Where ferryd keeps files: the storage contract and its backends.
//!
//! Every path is a [`VirtualPath`] below the backend's root; a backend never reads or writes
//! outside it. Listings stream ([`ListStream`]) rather than arrive whole. Uploads are atomic: an
//! [`Upload`] writes to a hidden partial file beside its target and only [`Upload::commit`] makes
//! the bytes visible under the target's name; an upload that is dropped or aborted keeps its
//! partial so that the client can resume it with REST+STOR or APPE.
//!
//! This crate does NOT speak FTP and does not know about users or permissions: the server maps
//! each [`ErrorKind`] to a reply and decides who may do what. Backends are chosen at start
//! ([`Storage`] is an enum: the local folder now, S3 later).

mod error;
mod local;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use error::{ErrorKind, StorageError};
pub use ferry_proto::VirtualPath;
pub use ferry_proto::listing::{Entry, EntryKind};
pub use local::{LocalStorage, PARTIAL_PREFIX};
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
}

impl Storage {
    /// Facts about one path.
    pub async fn stat(&self, path: &VirtualPath) -> Result<Entry> {
        match self {
            Storage::Local(local) => local.stat(path).await,
        }
    }

    /// The entries of a folder, as a stream.
    pub async fn list(&self, path: &VirtualPath) -> Result<ListStream> {
        match self {
            Storage::Local(local) => local.list(path).await,
        }
    }

    /// The size of an interrupted upload to `path` that can be resumed, if there is one.
    pub async fn partial_size(&self, path: &VirtualPath) -> Result<Option<u64>> {
        match self {
            Storage::Local(local) => local.partial_size(path).await,
        }
    }

    /// Opens a file for reading from `offset`.
    pub async fn read(&self, path: &VirtualPath, offset: u64) -> Result<Download> {
        match self {
            Storage::Local(local) => local.read(path, offset).await,
        }
    }

    /// Starts an upload to `path`.
    pub async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Upload> {
        match self {
            Storage::Local(local) => local.write(path, mode).await,
        }
    }

    /// Deletes a file.
    pub async fn remove_file(&self, path: &VirtualPath) -> Result<()> {
        match self {
            Storage::Local(local) => local.remove_file(path).await,
        }
    }

    /// Creates a folder (its parent must exist).
    pub async fn create_dir(&self, path: &VirtualPath) -> Result<()> {
        match self {
            Storage::Local(local) => local.create_dir(path).await,
        }
    }

    /// Removes an empty folder.
    pub async fn remove_dir(&self, path: &VirtualPath) -> Result<()> {
        match self {
            Storage::Local(local) => local.remove_dir(path).await,
        }
    }

    /// Renames a file or folder, replacing a file at `to`.
    pub async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<()> {
        match self {
            Storage::Local(local) => local.rename(from, to).await,
        }
    }

    /// Deletes partial uploads older than `max_age` (left by crashes or abandoned resumes);
    /// returns how many. Newer ones stay so that their clients can resume them.
    pub async fn remove_stale_partials(&self, max_age: std::time::Duration) -> Result<usize> {
        match self {
            Storage::Local(local) => local.remove_stale_partials(max_age).await,
        }
    }

    /// Sets a file's modification time (seconds since the Unix epoch).
    pub async fn set_modified(&self, path: &VirtualPath, secs: i64) -> Result<()> {
        match self {
            Storage::Local(local) => local.set_modified(path, secs).await,
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
    inner: DownloadInner,
}

#[derive(Debug)]
enum DownloadInner {
    Local(tokio::fs::File),
}

impl Download {
    /// The local file behind this download, for zero-copy sends; `None` for remote backends.
    pub fn local_file(&mut self) -> Option<&mut tokio::fs::File> {
        match &mut self.inner {
            DownloadInner::Local(file) => Some(file),
        }
    }
}

impl AsyncRead for Download {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.inner {
            DownloadInner::Local(file) => Pin::new(file).poll_read(cx, buf),
        }
    }
}

/// An upload in progress. Bytes written here are invisible under the target's name until
/// [`Upload::commit`]. Dropping it without committing keeps the partial for a later resume.
#[derive(Debug)]
pub struct Upload {
    inner: local::LocalUpload,
}

impl Upload {
    /// The path the bytes will appear under after commit (for STOU, the chosen unique name).
    pub fn path(&self) -> &VirtualPath {
        self.inner.target()
    }

    /// The offset the first written byte lands at.
    pub fn start_offset(&self) -> u64 {
        self.inner.start_offset()
    }

    /// Flushes the bytes and makes them visible under the target's name.
    pub async fn commit(self) -> Result<()> {
        self.inner.commit().await
    }

    /// Ends the upload without publishing it; the partial stays for a later resume.
    pub async fn abort(self) -> Result<()> {
        self.inner.abort().await
    }
}

impl AsyncWrite for Upload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
