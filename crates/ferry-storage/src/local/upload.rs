//! Uploads to a folder: [`LocalStorage::write`] picks the target (STOU's unused name), takes the
//! busy set's hold and the partial, and positions it for the mode (a copy of the visible file for
//! APPE and REST over it); [`LocalUpload`] writes, then renames the partial over the target on
//! commit (links it, for STOU, so nothing is replaced) or keeps it on abort for a resume.
//!
//! This module does NOT open partial files itself (`partial.rs` does, locked and never through
//! a link) and does NOT read or list.

use std::ffi::OsStr;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::Dir;
use rustix::fs::AtFlags;
use rustix::io::Errno;
use tokio::io::AsyncWrite;

use crate::busy::{BusyGuard, BusySet};
use crate::names::{PARTIAL_PREFIX, check_new_name, no_unused_name, unique_candidates};
use crate::{ErrorKind, Result, StorageError, Upload, UploadInner, VirtualPath, WriteMode};

use super::partial::{partial_name, take_partial, unlink};
use super::{BIG_FILE, FileKey, Folder, LocalStorage, on_pool, open_plain, rel, size_if_file};

impl LocalStorage {
    pub(crate) async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Upload> {
        check_new_name(path)?;
        let name = path
            .file_name()
            .ok_or_else(|| StorageError::new(ErrorKind::WrongKind, "the root"))?;
        let parent = path.parent();
        let folder = self.folder(&parent)?;
        let unique = mode == WriteMode::Unique;
        let (name, guard) = if unique {
            unused_name(&self.busy, &folder, name)?
        } else {
            (
                name.to_vec(),
                BusyGuard::take(&self.busy, folder.key(name))?,
            )
        };
        let target = parent
            .join(&name)
            .map_err(|e| StorageError::new(ErrorKind::BadName, e.to_string()))?;
        let partial = if unique {
            unique_partial()
        } else {
            partial_name(&name)
        };
        let rel_target = rel(&target);
        let dir = Arc::clone(&folder.dir);
        let (file, start, replaced) = match mode {
            // A fresh partial: a few calls, on this thread.
            WriteMode::Create | WriteMode::Unique | WriteMode::Resume(0) => self.call(|root| {
                open_partial(root, &rel_target, &dir, OsStr::from_bytes(&partial), mode)
            })?,
            // May copy the whole visible file first: the blocking pool.
            WriteMode::Append | WriteMode::Resume(_) => {
                let partial = partial.clone();
                self.blocking(move |root| {
                    open_partial(root, &rel_target, &dir, OsStr::from_bytes(&partial), mode)
                })
                .await?
            }
        };
        Ok(Upload {
            inner: UploadInner::Local(LocalUpload {
                file,
                replaces_big: replaced.is_some_and(|size| size >= BIG_FILE),
                folder: folder.dir,
                name,
                target,
                partial,
                unique,
                start,
                _guard: guard,
            }),
        })
    }
}

/// For STOU: `name` if nothing has that name, else the first free `name.1`, `name.2`... with
/// the busy set's hold on it. A name is taken if a file, folder or link has it, if an upload to
/// it runs, or if an interrupted upload to it waits to be resumed.
fn unused_name(
    busy: &BusySet<FileKey>,
    folder: &Folder,
    name: &[u8],
) -> Result<(Vec<u8>, BusyGuard<FileKey>)> {
    let exists = |name: &[u8]| match rustix::fs::statat(
        &*folder.dir,
        OsStr::from_bytes(name),
        AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(_) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(StorageError::from(io::Error::from(e))),
    };
    for candidate in unique_candidates(name) {
        if exists(&candidate)? || exists(&partial_name(&candidate))? {
            continue;
        }
        // The only refusal is busy: another upload is writing that name.
        if let Ok(guard) = BusyGuard::take(busy, folder.key(&candidate)) {
            return Ok((candidate, guard));
        }
    }
    Err(no_unused_name())
}

/// A partial name no other upload uses, for STOU.
fn unique_partial() -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{PARTIAL_PREFIX}stou-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
    .into_bytes()
}

/// Opens the partial file for `mode` and returns it positioned at the first byte to write, with
/// that byte's offset and the size of the file the upload will replace, if there is one.
///
/// The base of a resume or append is the visible file when it exists, else the partial of an
/// interrupted upload (SIZE reports the same, so clients resume from what they were told).
fn open_partial(
    root: &Dir,
    target: &Path,
    folder: &Dir,
    partial: &OsStr,
    mode: WriteMode,
) -> io::Result<(std::fs::File, u64, Option<u64>)> {
    // Fails for a folder: an upload never replaces one.
    let target_size = size_if_file(root, target)?;
    let wanted = match mode {
        WriteMode::Create | WriteMode::Unique | WriteMode::Resume(0) => {
            return Ok((take_partial(folder, partial, false)?, 0, target_size));
        }
        WriteMode::Append => None,
        WriteMode::Resume(offset) => Some(offset),
    };
    let mut file = if let Some(size) = target_size {
        // Copy the visible file into a fresh partial (copy_file_range under the hood).
        if wanted.is_some_and(|offset| offset > size) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "restart point beyond file",
            ));
        }
        let (mut source, _) = open_plain(root, target, false)?;
        let mut partial_file = take_partial(folder, partial, false)?;
        io::copy(
            &mut io::Read::take(&mut source, wanted.unwrap_or(size)),
            &mut partial_file,
        )?;
        partial_file
    } else {
        take_partial(folder, partial, true)?
    };
    let have = file.metadata()?.len();
    let start = match wanted {
        Some(offset) if offset > have => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "restart point beyond data",
            ));
        }
        Some(offset) => offset,
        None => have,
    };
    file.set_len(start)?;
    file.seek(SeekFrom::Start(start))?;
    Ok((file, start, target_size))
}

/// The local half of an [`Upload`]. Its file holds the partial's lock until the upload ends.
#[derive(Debug)]
pub(crate) struct LocalUpload {
    file: std::fs::File,
    /// Commit replaces a file of at least [`BIG_FILE`] bytes.
    replaces_big: bool,
    /// The target's folder: the partial lives there and is renamed there.
    folder: Arc<Dir>,
    /// The target's name in `folder`.
    name: Vec<u8>,
    target: VirtualPath,
    /// The partial's name in `folder`.
    partial: Vec<u8>,
    unique: bool,
    start: u64,
    _guard: BusyGuard<FileKey>,
}

impl LocalUpload {
    pub(crate) fn target(&self) -> &VirtualPath {
        &self.target
    }

    pub(crate) fn start_offset(&self) -> u64 {
        self.start
    }

    pub(crate) fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// Renames the partial over the target (the lock goes with the file, dropped after).
    pub(crate) async fn commit(self) -> Result<()> {
        let rename = |dir: &Dir, partial: &[u8], name: &[u8]| -> io::Result<()> {
            let (partial, name) = (OsStr::from_bytes(partial), OsStr::from_bytes(name));
            Ok(rustix::fs::renameat(dir, partial, dir, name)?)
        };
        if self.replaces_big {
            let (dir, partial, name) = (
                Arc::clone(&self.folder),
                self.partial.clone(),
                self.name.clone(),
            );
            return on_pool(move || rename(&dir, &partial, &name)).await;
        }
        if !self.unique {
            return rename(&self.folder, &self.partial, &self.name).map_err(StorageError::from);
        }
        // STOU: publish under the chosen name without ever replacing a file.
        let (partial, name) = (
            OsStr::from_bytes(&self.partial),
            OsStr::from_bytes(&self.name),
        );
        let linked = rustix::fs::linkat(
            &*self.folder,
            partial,
            &*self.folder,
            name,
            AtFlags::empty(),
        );
        unlink(&self.folder, partial)?;
        Ok(linked.map_err(io::Error::from)?)
    }

    pub(crate) async fn abort(self) -> Result<()> {
        if self.unique {
            unlink(&self.folder, OsStr::from_bytes(&self.partial))?;
        }
        Ok(())
    }

    /// Ends the upload and removes its partial: nothing of it is kept.
    pub(crate) async fn discard(self) -> Result<()> {
        unlink(&self.folder, OsStr::from_bytes(&self.partial))?;
        Ok(())
    }
}

/// Writes go straight to the file (the page cache) on the calling thread; see
/// [`LocalStorage::call`]. Nothing is buffered here, so there is nothing to flush.
impl AsyncWrite for LocalUpload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Write::write(&mut self.file, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
