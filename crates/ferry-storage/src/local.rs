//! The local backend: a folder on disk, opened once as a capability (cap-std) so that every
//! operation resolves beneath it. `..`, absolute paths and symlinks that lead outside the folder
//! fail (cap-std uses `openat2(RESOLVE_BENEATH)` where the kernel has it), whatever the client
//! sends. Short file system calls run on the calling thread (see [`LocalStorage::call`]),
//! long ones (folder walks, copies for a resume) on tokio's blocking pool.
//!
//! Uploads write to `.ferry-partial.NAME` beside the target (shortened with a hash for long
//! names: [`partial_name`]) and rename it over the target on commit. Names starting with
//! [`PARTIAL_PREFIX`] are reserved: hidden from listings and refused as client paths.
//!
//! One upload at a time per file, whatever path led to it: the busy set is keyed on the target's
//! folder as the file system knows it (device and inode) and its name, so `alias/x` and `real/x`
//! through a symlinked folder are one file. The partial is opened only through its folder's
//! descriptor, never following a symlink, created exclusively, and held under an exclusive
//! `flock` while the upload runs, which also keeps uploads of two ferryd processes on one folder
//! apart (see [`take_partial`]).

use std::ffi::OsStr;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use crate::busy::{BusyGuard, BusySet, is_busy};
use crate::names::{
    PARTIAL_PREFIX, check_name, check_new_name, is_reserved, no_unused_name, unique_candidates,
};
use crate::{
    Download, DownloadInner, Entry, EntryKind, ErrorKind, ListStream, Result, StorageError, Upload,
    UploadInner, VirtualPath, WriteMode,
};

/// How many entries a listing reads ahead of the client.
const LIST_AHEAD: usize = 64;

/// Replacing or deleting a file this large frees its pages inline, which takes milliseconds (54 ms
/// for 1 GiB on tmpfs): such calls go to the blocking pool instead of stalling the session's
/// thread.
const BIG_FILE: u64 = 64 * 1024 * 1024;

/// How many times an upload looks for its partial again when another upload or process removed
/// or replaced it between two calls, before it answers busy.
const PARTIAL_TRIES: usize = 8;

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
        PathBuf::from(OsStr::from_bytes(&path.relative_bytes()))
    }
}

/// The longest name a folder entry may have (Linux NAME_MAX).
const NAME_MAX: usize = 255;

/// Hex digits of the hash that ends the partial name of a long name.
const HASH_DIGITS: usize = 16;

/// The name of the partial file that holds an upload to `name`. Usually [`PARTIAL_PREFIX`] +
/// `name`; for a name of 240 bytes or more, for which that would not fit in [`NAME_MAX`], it is
/// the prefix, the first bytes of the name, `~` and the FNV-1a 64 hash of the whole name in hex,
/// exactly `NAME_MAX` bytes. The same name always gives the same partial (SIZE, REST, APPE and
/// DELE find it again, across restarts and versions), and since the short form is at most
/// `NAME_MAX - 1` bytes the two forms never meet.
pub(crate) fn partial_name(name: &[u8]) -> Vec<u8> {
    let mut partial = PARTIAL_PREFIX.as_bytes().to_vec();
    if partial.len() + name.len() < NAME_MAX {
        partial.extend_from_slice(name);
    } else {
        let keep = NAME_MAX - partial.len() - 1 - HASH_DIGITS;
        partial.extend_from_slice(name.get(..keep).unwrap_or(name));
        partial.extend_from_slice(format!("~{:016x}", fnv1a_64(name)).as_bytes());
    }
    partial
}

/// FNV-1a, 64 bits: small, and fixed by its definition (unlike std's `DefaultHasher`), so a
/// partial's name stays the same across processes and versions.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn partial_of(path: &VirtualPath) -> Result<VirtualPath> {
    let name = path
        .file_name()
        .ok_or_else(|| StorageError::new(ErrorKind::WrongKind, "root"))?;
    path.parent()
        .join(&partial_name(name))
        .map_err(|e| StorageError::new(ErrorKind::BadName, e.to_string()))
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
/// refused as [`ErrorKind::WrongKind`]. The file is returned with `O_NONBLOCK` cleared, and its
/// metadata.
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
    // Back to ordinary blocking reads (F_SETFL changes only O_NONBLOCK and the like).
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
        let (file, size) = self.call(move |dir| {
            let (mut file, meta) = open_plain(dir, &rel, false)?;
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))?;
            }
            Ok((file, meta.len()))
        })?;
        if offset > size {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "offset beyond end of file",
            ));
        }
        Ok(Download {
            size,
            offset,
            inner: DownloadInner::Local(file),
        })
    }

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
        self.blocking(move |dir| remove_stale_partials(dir, max_age))
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

/// The error of an upload that another upload (or process) holds.
fn busy() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "another upload to this file is running",
    )
}

/// Takes the exclusive lock of an open partial without waiting: busy if another upload, in this
/// process or another, holds it. A file system without `flock` leaves only the busy set.
fn lock(file: &std::fs::File) -> io::Result<()> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(Errno::WOULDBLOCK) => Err(busy()),
        Err(_) => Ok(()),
    }
}

/// Whether `name` in `dir` is still the file `file` (not removed or replaced since it was
/// opened).
fn still_named(dir: &Dir, name: &OsStr, file: &std::fs::File) -> io::Result<bool> {
    let open = rustix::fs::fstat(file)?;
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(named) => Ok(named.st_dev == open.st_dev && named.st_ino == open.st_ino),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Opens the partial `name` in `dir`, if it is there and not a link, and takes its lock: busy if
/// an upload (here or in another process) holds it.
fn lock_existing(dir: &Dir, name: &OsStr) -> io::Result<Option<std::fs::File>> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => {
            let file = std::fs::File::from(fd);
            lock(&file)?;
            Ok(Some(file))
        }
        Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` from `dir` (the name only: a link is not followed); gone already is fine.
fn unlink(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens the partial `name` in `dir` for an upload and takes its lock, so that no other upload
/// writes to it while this one runs. With `keep`, an interrupted upload's partial is reused (for
/// a resume); without, or when what has the name is not a plain file with one link (a planted
/// symlink, FIFO or hard link), the name is removed and a new file created exclusively
/// (`O_CREAT|O_EXCL`). Every open is relative to the folder's descriptor with `O_NOFOLLOW` and
/// `O_NONBLOCK`, so a link there is never followed and a FIFO never waits. A partial is removed
/// only while its lock is held: a running upload's partial is never taken over, and an upload
/// that finds its partial gone or replaced after locking looks again.
fn take_partial(dir: &Dir, name: &OsStr, keep: bool) -> io::Result<std::fs::File> {
    let open =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    for _ in 0..PARTIAL_TRIES {
        match rustix::fs::openat(dir, name, open, Mode::empty()) {
            Ok(fd) => {
                let file = std::fs::File::from(fd);
                lock(&file)?;
                if !still_named(dir, name, &file)? {
                    continue;
                }
                let meta = file.metadata()?;
                if keep && meta.is_file() && std::os::unix::fs::MetadataExt::nlink(&meta) == 1 {
                    rustix::fs::fcntl_setfl(&file, OFlags::empty())?;
                    return Ok(file);
                }
                unlink(dir, name)?;
            }
            Err(Errno::NOENT) => {}
            // A symlink (O_NOFOLLOW) or a socket: not ours to open; remove the name.
            Err(Errno::LOOP | Errno::NXIO) => unlink(dir, name)?,
            Err(e) => return Err(e.into()),
        }
        // A new file is a plain one: no O_NONBLOCK to clear afterwards.
        let create = (open - OFlags::NONBLOCK) | OFlags::CREATE | OFlags::EXCL;
        match rustix::fs::openat(dir, name, create, Mode::from_raw_mode(0o666)) {
            Ok(fd) => {
                let file = std::fs::File::from(fd);
                lock(&file)?;
                if still_named(dir, name, &file)? {
                    return Ok(file);
                }
            }
            // Another upload created it first: look again (its lock then says busy).
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy())
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

/// Removes the partial at `path` unless an upload holds its lock: one running in another
/// process, or one here that has been idle for longer than the cleanup's age limit.
fn remove_unlocked(root: &Dir, path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32);
    let file = root.open_with(path, &options)?.into_std();
    lock(&file)?;
    root.remove_file(path)
}

/// Deletes `.ferry-partial.*` files older than `max_age` anywhere below `root`, but for those
/// an upload holds; returns how many. Folders are walked with an explicit stack (no recursion),
/// symlinks are not followed.
pub(crate) fn remove_stale_partials(root: &Dir, max_age: Duration) -> io::Result<usize> {
    let now = SystemTime::now();
    let mut removed = 0;
    let mut folders = vec![PathBuf::from(".")];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = root.read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let path = folder.join(&name);
            let Ok(meta) = root.symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                folders.push(path);
            } else if is_reserved(name.as_bytes()) && meta.is_file() {
                let modified = UNIX_EPOCH + Duration::from_secs(meta.mtime().max(0).unsigned_abs());
                if now.duration_since(modified).is_ok_and(|age| age > max_age)
                    && remove_unlocked(root, &path).is_ok()
                {
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_matches_the_reference_values() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn partial_names_fit_and_stay_apart() {
        let prefix = PARTIAL_PREFIX.len();
        for len in 1..=NAME_MAX {
            let name = vec![b'n'; len];
            let partial = partial_name(&name);
            assert!(partial.len() <= NAME_MAX, "{len}");
            assert!(is_reserved(&partial));
            if prefix + len < NAME_MAX {
                assert_eq!(partial.len(), prefix + len);
            } else {
                // Hashed: always NAME_MAX long, and a different last byte is a different partial.
                assert_eq!(partial.len(), NAME_MAX);
                let mut other = name.clone();
                other[len - 1] = b'm';
                assert_ne!(partial_name(&other), partial);
            }
        }
        // Deterministic, byte for byte.
        let long = vec![b'x'; 250];
        let mut expected = PARTIAL_PREFIX.as_bytes().to_vec();
        expected.extend_from_slice(&long[..NAME_MAX - prefix - 17]);
        expected.extend_from_slice(format!("~{:016x}", fnv1a_64(&long)).as_bytes());
        assert_eq!(partial_name(&long), expected);
    }
}
