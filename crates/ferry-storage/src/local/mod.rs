//! The local backend: a folder on disk, opened once as a capability (cap-std) so that every
//! operation resolves beneath it. `..`, absolute paths and symlinks that lead outside the folder
//! fail (cap-std uses `openat2(RESOLVE_BENEATH)` where the kernel has it), whatever the client
//! sends. Short file system calls run on the calling thread (see [`LocalStorage::call`]),
//! long ones (folder walks, copies for a resume) on tokio's blocking pool.
//!
//! Uploads write to `.ferry-partial.NAME` beside the target (shortened with a hash for long
//! names: `partial::partial_name`) and rename it over the target on commit. Names starting with
//! [`PARTIAL_PREFIX`] are reserved: hidden from listings and refused as client paths.
//!
//! One upload at a time per file, whatever path led to it: the busy set is keyed on the target's
//! folder as the file system knows it (device and inode) and its name, so `alias/x` and `real/x`
//! through a symlinked folder are one file. The partial is opened only through its folder's
//! descriptor, never following a symlink, created exclusively, and held under an exclusive
//! `flock` while the upload runs, which also keeps uploads of two ferryd processes on one folder
//! apart (see `partial::take_partial`).
//!
//! This module holds the backend and its short operations (stat, list, read, delete, folders,
//! rename, times); `upload.rs` starts and ends uploads, `partial.rs` owns the partial files.
//! It does NOT know about users or permissions, and never reaches outside its root.

mod partial;
mod upload;

use std::ffi::{OsStr, OsString};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use rustix::fs::{AtFlags, OFlags};
use rustix::io::Errno;
use tokio::sync::mpsc;

use crate::busy::{BusySet, is_busy};
use crate::names::{check_name, check_new_name, is_reserved};
use crate::{
    Download, DownloadInner, Entry, EntryKind, ErrorKind, ListStream, Result, StorageError,
    VirtualPath,
};

use partial::{busy, lock_existing, partial_name, partial_of};
pub(crate) use upload::LocalUpload;

/// How many entries a listing reads ahead of the client.
const LIST_AHEAD: usize = 64;

/// Replacing or deleting a file this large frees its pages inline, which takes milliseconds (54 ms
/// for 1 GiB on tmpfs): such calls go to the blocking pool instead of stalling the session's
/// thread.
const BIG_FILE: u64 = 64 * 1024 * 1024;

/// A folder on the local disk.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: Arc<Dir>,
    /// Files with an upload running in this process, so that two uploads never share one partial
    /// file. The partial's `flock` does the same across processes.
    busy: BusySet<FileKey>,
}

/// A file as the busy set knows it: its folder's device and inode, whatever path (or symlinked
/// folder) led there, and its name in that folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileKey {
    dev: u64,
    ino: u64,
    name: Vec<u8>,
}

/// A folder opened beneath the root, and its identity.
#[derive(Debug)]
struct Folder {
    dir: Arc<Dir>,
    dev: u64,
    ino: u64,
}

impl Folder {
    fn key(&self, name: &[u8]) -> FileKey {
        FileKey {
            dev: self.dev,
            ino: self.ino,
            name: name.to_vec(),
        }
    }
}

/// The relative path cap-std expects: `.` for the root.
fn rel(path: &VirtualPath) -> PathBuf {
    if path.is_root() {
        PathBuf::from(".")
    } else {
        // The rendered bytes become the path as they are (no second copy).
        PathBuf::from(OsString::from_vec(path.relative_bytes()))
    }
}

fn entry_from(name: Vec<u8>, meta: &cap_std::fs::Metadata, kind: EntryKind) -> Entry {
    Entry {
        name,
        kind,
        size: meta.len(),
        modified: Some(meta.mtime()),
        mode: Some(meta.mode() & 0o7777),
        unique: Some(format!("{:x}g{:x}", meta.dev(), meta.ino())),
    }
}

/// The next entry of a folder listing, reserved names (partial uploads) left out; `None` at the
/// end. Symlinks that stay inside are followed; the others are shown as links.
fn next_entry(folder: &Dir, entries: &mut cap_std::fs::ReadDir) -> Option<Result<Entry>> {
    for entry in entries.by_ref() {
        let item = entry.map_err(StorageError::from).and_then(|entry| {
            let name = entry.file_name();
            let entry = match folder.metadata(&name) {
                Ok(meta) => entry_from(name.as_bytes().to_vec(), &meta, kind_of(&meta)),
                Err(_) => {
                    let meta = folder.symlink_metadata(&name)?;
                    entry_from(name.as_bytes().to_vec(), &meta, EntryKind::Link)
                }
            };
            Ok(entry)
        });
        if let Ok(entry) = &item
            && is_reserved(&entry.name)
        {
            continue;
        }
        return Some(item);
    }
    None
}

fn kind_of(meta: &cap_std::fs::Metadata) -> EntryKind {
    if meta.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::File
    }
}

/// Opens the file at `path` for reading without ever waiting in open(2). A FIFO opened for
/// reading waits there for a writer, and so would the worker thread that runs the session (see
/// [`LocalStorage::call`]) with every session on it; with `O_NONBLOCK` the open returns at once,
/// and anything but a plain file (a FIFO, socket or device; a folder unless `folder_ok`) is then
/// refused as [`ErrorKind::WrongKind`]. The file is returned with its metadata, and with
/// `O_NONBLOCK` cleared where it would matter (not on Linux, see below).
fn open_plain(
    dir: &Dir,
    path: &Path,
    folder_ok: bool,
) -> io::Result<(std::fs::File, std::fs::Metadata)> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32);
    let file = dir.open_with(path, &options)?.into_std();
    let meta = file.metadata()?;
    if !(meta.is_file() || folder_ok && meta.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "not a plain file (a folder, FIFO, socket or device)",
        ));
    }
    // Back to ordinary blocking reads (F_SETFL changes only O_NONBLOCK and the like). On
    // Linux O_NONBLOCK has no effect on a plain file's read(2), sendfile(2) or splice(2) (nor
    // on a folder's getdents), so the fcntl, one syscall per download, is left out there.
    #[cfg(not(target_os = "linux"))]
    rustix::fs::fcntl_setfl(&file, OFlags::empty())?;
    Ok((file, meta))
}

fn size_if_file(dir: &Dir, path: &Path) -> io::Result<Option<u64>> {
    match dir.metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
        Ok(_) => Err(io::Error::from(io::ErrorKind::IsADirectory)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl LocalStorage {
    /// Opens `root` as the backend's folder.
    pub fn open(root: &Path) -> io::Result<LocalStorage> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())?;
        Ok(LocalStorage {
            root: Arc::new(dir),
            busy: Arc::default(),
        })
    }

    /// Runs a file system call on the calling thread. On the page cache an open, stat, rename or
    /// 256 KiB write takes microseconds, less than a hop to tokio's blocking pool and back (two
    /// thread wake-ups); the benchmark's small-file rows are made of such calls. nginx makes the
    /// same choice. Work that may take long (copying a file for a resume, walking a folder)
    /// still goes to the blocking pool through [`LocalStorage::blocking`].
    fn call<T>(&self, work: impl FnOnce(&Dir) -> io::Result<T>) -> Result<T> {
        work(&self.root).map_err(StorageError::from)
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Dir) -> io::Result<T> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        on_pool(move || work(&root)).await
    }

    /// Opens the folder `path` (following symlinks that stay beneath the root) and learns its
    /// identity.
    fn folder(&self, path: &VirtualPath) -> Result<Folder> {
        let rel = rel(path);
        self.call(|root| {
            let dir = root.open_dir(&rel)?;
            let meta = dir.dir_metadata()?;
            Ok(Folder {
                dir: Arc::new(dir),
                dev: meta.dev(),
                ino: meta.ino(),
            })
        })
    }

    pub(crate) async fn stat(&self, path: &VirtualPath) -> Result<Entry> {
        check_name(path)?;
        let name = path.file_name().unwrap_or(b"/").to_vec();
        let rel = rel(path);
        self.call(move |dir| {
            let meta = dir.metadata(&rel)?;
            Ok(entry_from(name, &meta, kind_of(&meta)))
        })
    }

    /// A folder's entries. The first [`LIST_AHEAD`] are read on the session's thread (on the
    /// page cache that takes microseconds, as the other short calls do); only a folder with
    /// more goes on on the blocking pool. A thread per listing cost a thread start whenever
    /// many sessions listed at once (200 at once started up to 200 threads).
    pub(crate) async fn list(&self, path: &VirtualPath) -> Result<ListStream> {
        check_name(path)?;
        let rel = rel(path);
        let folder = self.call(move |dir| dir.open_dir(&rel))?;
        let (sender, receiver) = mpsc::channel(LIST_AHEAD);
        let mut entries = match folder.entries() {
            Ok(entries) => entries,
            Err(e) => {
                let _ = sender.try_send(Err(e.into()));
                return Ok(ListStream { receiver });
            }
        };
        for _ in 0..LIST_AHEAD {
            match next_entry(&folder, &mut entries) {
                // The sender is dropped: the stream ends after what it holds.
                None => return Ok(ListStream { receiver }),
                Some(item) => {
                    // Cannot be full: the channel holds LIST_AHEAD and nobody reads yet.
                    let _ = sender.try_send(item);
                }
            }
        }
        tokio::task::spawn_blocking(move || {
            while let Some(item) = next_entry(&folder, &mut entries) {
                if sender.blocking_send(item).is_err() {
                    return; // The reader went away.
                }
            }
        });
        Ok(ListStream { receiver })
    }

    pub(crate) async fn partial_size(&self, path: &VirtualPath) -> Result<Option<u64>> {
        check_name(path)?;
        let partial = rel(&partial_of(path)?);
        // Only a plain file is an interrupted upload; a link in its place is not followed.
        self.call(move |dir| match dir.symlink_metadata(&partial) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
    }

    pub(crate) async fn read(&self, path: &VirtualPath, offset: u64) -> Result<Download> {
        check_name(path)?;
        let rel = rel(path);
        let (file, size, modified) = self.call(move |dir| {
            let (mut file, meta) = open_plain(dir, &rel, false)?;
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))?;
            }
            Ok((
                file,
                meta.len(),
                std::os::unix::fs::MetadataExt::mtime(&meta),
            ))
        })?;
        if offset > size {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "offset beyond end of file",
            ));
        }
        Ok(Download::new(size, offset, DownloadInner::Local(file)).modified(Some(modified)))
    }

    /// Whether an upload to `path` runs in this process (by whatever path reaches the file).
    pub(crate) fn uploading(&self, path: &VirtualPath) -> Result<bool> {
        check_name(path)?;
        let Some(name) = path.file_name() else {
            return Ok(false);
        };
        let folder = self.folder(&path.parent())?;
        Ok(is_busy(&self.busy, &folder.key(name)))
    }

    /// Deletes a file, or the partial of an interrupted upload to a name that has no file. A
    /// name with an upload running is busy and left as it is: deleting its partial would lose
    /// the upload, and deleting the old file would race its commit.
    pub(crate) async fn remove_file(&self, path: &VirtualPath) -> Result<()> {
        check_name(path)?;
        let name = path
            .file_name()
            .ok_or_else(|| StorageError::new(ErrorKind::WrongKind, "the root"))?;
        let folder = self.folder(&path.parent())?;
        if is_busy(&self.busy, &folder.key(name)) {
            return Err(busy().into());
        }
        let partial = partial_name(name);
        let dir = Arc::clone(&folder.dir);
        let (victim, size, held) = self.call(|_| {
            // An upload in another process holds its partial's lock (kept until the unlink).
            let held = lock_existing(&dir, OsStr::from_bytes(&partial))?;
            let stat = |name: &[u8]| {
                rustix::fs::statat(&*dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
            };
            match stat(name) {
                Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => {
                    Err(io::Error::from(io::ErrorKind::IsADirectory))
                }
                Ok(st) => Ok((name.to_vec(), st.st_size, held)),
                // DELE of an interrupted upload that never completed discards it.
                Err(Errno::NOENT) => Ok((partial.clone(), stat(&partial)?.st_size, held)),
                Err(e) => Err(e.into()),
            }
        })?;
        let remove = move |dir: &Dir| -> io::Result<()> {
            rustix::fs::unlinkat(dir, OsStr::from_bytes(&victim), AtFlags::empty())?;
            drop(held);
            Ok(())
        };
        if u64::try_from(size).is_ok_and(|size| size >= BIG_FILE) {
            on_pool(move || remove(&dir)).await
        } else {
            remove(&dir).map_err(StorageError::from)
        }
    }

    pub(crate) async fn create_dir(&self, path: &VirtualPath) -> Result<()> {
        check_new_name(path)?;
        let rel = rel(path);
        self.call(move |dir| dir.create_dir(&rel))
    }

    pub(crate) async fn remove_dir(&self, path: &VirtualPath) -> Result<()> {
        check_name(path)?;
        let rel = rel(path);
        self.call(move |dir| dir.remove_dir(&rel))
    }

    pub(crate) async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<()> {
        check_name(from)?;
        check_new_name(to)?;
        let (from, to) = (rel(from), rel(to));
        self.call(move |dir| dir.rename(&from, dir, &to))
    }

    pub(crate) async fn remove_stale_partials(&self, max_age: Duration) -> Result<usize> {
        self.blocking(move |dir| partial::remove_stale_partials(dir, max_age))
            .await
    }

    pub(crate) async fn set_modified(&self, path: &VirtualPath, secs: i64) -> Result<()> {
        check_name(path)?;
        let rel = rel(path);
        let when = if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        };
        self.call(move |dir| {
            let (file, meta) = open_plain(dir, &rel, true)?;
            // A hard link shares its time with every other name of the file, which may lie
            // outside the root: refuse rather than reach through it.
            if !meta.is_dir() && std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the file has other hard links, whose time would change too",
                ));
            }
            file.set_times(std::fs::FileTimes::new().set_modified(when))
        })
    }
}

/// Runs `work` on tokio's blocking pool.
async fn on_pool<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(StorageError::from),
        Err(join) => Err(StorageError::new(ErrorKind::Other, join.to_string())),
    }
}
