//! The local backend: a folder on disk, opened once as a capability (cap-std) so that every
//! operation resolves beneath it. `..`, absolute paths and symlinks that lead outside the folder
//! fail (cap-std uses `openat2(RESOLVE_BENEATH)` where the kernel has it), whatever the client
//! sends. Short file system calls run on the calling thread (see [`LocalStorage::call`]),
//! long ones (folder walks, copies for a resume) on tokio's blocking pool.
//!
//! Uploads write to `.ferry-partial.NAME` beside the target (shortened with a hash for long
//! names: [`partial_name`]) and rename it over the target on commit. Names starting with [`PARTIAL_PREFIX`] are reserved: hidden from listings and refused
//! as client paths.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use rustix::fs::OFlags;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use crate::{
    Download, DownloadInner, Entry, EntryKind, ErrorKind, ListStream, Result, StorageError, Upload,
    UploadInner, VirtualPath, WriteMode,
};

/// The prefix of the hidden files that hold uploads in progress.
pub const PARTIAL_PREFIX: &str = ".ferry-partial.";

/// How many entries a listing reads ahead of the client.
const LIST_AHEAD: usize = 64;

/// Replacing or deleting a file this large frees its pages inline, which takes milliseconds (54 ms
/// for 1 GiB on tmpfs): such calls go to the blocking pool instead of stalling the session's
/// thread.
const BIG_FILE: u64 = 64 * 1024 * 1024;

/// How many `NAME.N` candidates STOU tries before giving up.
pub(crate) const UNIQUE_TRIES: u32 = 1000;

/// A folder on the local disk.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: Arc<Dir>,
    /// Targets with an upload running, so that two uploads never share one partial file.
    busy: Arc<Mutex<HashSet<VirtualPath>>>,
}

/// The relative path cap-std expects: `.` for the root.
fn rel(path: &VirtualPath) -> PathBuf {
    if path.is_root() {
        PathBuf::from(".")
    } else {
        PathBuf::from(OsStr::from_bytes(&path.relative_bytes()))
    }
}

pub(crate) fn is_reserved(name: &[u8]) -> bool {
    name.starts_with(PARTIAL_PREFIX.as_bytes())
}

pub(crate) fn check_name(path: &VirtualPath) -> Result<()> {
    if path.names().any(is_reserved) {
        return Err(StorageError::new(ErrorKind::BadName, "reserved name"));
    }
    Ok(())
}

/// True for a byte that is a control character: below 0x20 (TAB, CR, LF, ESC...) or DEL.
fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// [`check_name`] for a path a client is about to create (STOR, APPE and STOU targets, MKD,
/// RNTO), which also refuses control characters in any of its names: listings show them as `?`
/// and no client can type them back, so such a file could never be fetched or deleted. Files
/// that already have such names (made outside ferryd) can still be read and deleted.
pub(crate) fn check_new_name(path: &VirtualPath) -> Result<()> {
    check_name(path)?;
    if path
        .names()
        .any(|name| name.iter().copied().any(is_control))
    {
        return Err(StorageError::new(
            ErrorKind::BadName,
            "control character in a new name",
        ));
    }
    Ok(())
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
        match tokio::task::spawn_blocking(move || work(&root)).await {
            Ok(result) => result.map_err(StorageError::from),
            Err(join) => Err(StorageError::new(ErrorKind::Other, join.to_string())),
        }
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
        self.call(move |dir| size_if_file(dir, &partial))
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
        let unique = mode == WriteMode::Unique;
        let target = if unique {
            self.unused_name(path).await?
        } else {
            path.clone()
        };
        let guard = BusyGuard::take(&self.busy, &target)?;
        let partial = if unique {
            unique_partial(&target)?
        } else {
            partial_of(&target)?
        };
        let (rel_target, rel_partial) = (rel(&target), rel(&partial));
        let (file, start, replaced) = match mode {
            // A fresh partial: one open, on this thread.
            WriteMode::Create | WriteMode::Unique | WriteMode::Resume(0) => {
                self.call(|dir| open_partial(dir, &rel_target, &rel_partial, mode))?
            }
            // May copy the whole visible file first: the blocking pool.
            WriteMode::Append | WriteMode::Resume(_) => {
                self.blocking(move |dir| open_partial(dir, &rel_target, &rel_partial, mode))
                    .await?
            }
        };
        Ok(Upload {
            inner: UploadInner::Local(LocalUpload {
                file,
                replaces_big: replaced.is_some_and(|size| size >= BIG_FILE),
                storage: self.clone(),
                target,
                partial,
                unique,
                start,
                _guard: guard,
            }),
        })
    }

    /// `path` if nothing has that name, else the first free `path.1`, `path.2`...
    async fn unused_name(&self, path: &VirtualPath) -> Result<VirtualPath> {
        let name = path.file_name().unwrap_or(b"file").to_vec();
        let parent = path.parent();
        let rel_parent = rel(&parent);
        let chosen = self.call(move |dir| {
            for n in 0..UNIQUE_TRIES {
                let mut candidate = name.clone();
                if n > 0 {
                    candidate.extend_from_slice(format!(".{n}").as_bytes());
                }
                let full = rel_parent.join(OsStr::from_bytes(&candidate));
                match dir.symlink_metadata(&full) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(candidate),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        })?;
        parent
            .join(&chosen)
            .map_err(|e| StorageError::new(ErrorKind::BadName, e.to_string()))
    }

    pub(crate) async fn remove_file(&self, path: &VirtualPath) -> Result<()> {
        check_name(path)?;
        let rel_target = rel(path);
        let rel_partial = rel(&partial_of(path)?);
        let (victim, size) = self.call(|dir| match dir.symlink_metadata(&rel_target) {
            Ok(meta) if meta.is_dir() => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Ok(meta) => Ok((rel_target, meta.len())),
            // DELE of an interrupted upload that never completed discards it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let meta = dir.symlink_metadata(&rel_partial)?;
                Ok((rel_partial, meta.len()))
            }
            Err(e) => Err(e),
        })?;
        if size >= BIG_FILE {
            self.blocking(move |dir| dir.remove_file(&victim)).await
        } else {
            self.call(|dir| dir.remove_file(&victim))
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

/// A partial name no other upload uses, for STOU.
fn unique_partial(path: &VirtualPath) -> Result<VirtualPath> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        "{PARTIAL_PREFIX}stou-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    path.parent()
        .join(name.as_bytes())
        .map_err(|e| StorageError::new(ErrorKind::BadName, e.to_string()))
}

/// Opens the partial file for `mode` and returns it positioned at the first byte to write, with
/// that byte's offset and the size of the file the upload will replace, if there is one.
///
/// The base of a resume or append is the visible file when it exists, else the partial of an
/// interrupted upload (SIZE reports the same, so clients resume from what they were told).
fn open_partial(
    dir: &Dir,
    target: &Path,
    partial: &Path,
    mode: WriteMode,
) -> io::Result<(std::fs::File, u64, Option<u64>)> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    // Fails for a folder: an upload never replaces one.
    let target_size = size_if_file(dir, target)?;
    let wanted = match mode {
        WriteMode::Create | WriteMode::Unique | WriteMode::Resume(0) => {
            options.truncate(true);
            return Ok((dir.open_with(partial, &options)?.into_std(), 0, target_size));
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
        options.truncate(true);
        let mut partial_file = dir.open_with(partial, &options)?.into_std();
        let (mut source, _) = open_plain(dir, target, false)?;
        io::copy(
            &mut io::Read::take(&mut source, wanted.unwrap_or(size)),
            &mut partial_file,
        )?;
        partial_file
    } else {
        dir.open_with(partial, &options)?.into_std()
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

/// Marks a target busy while its upload runs; unmarks it on drop.
#[derive(Debug)]
pub(crate) struct BusyGuard {
    busy: Arc<Mutex<HashSet<VirtualPath>>>,
    path: VirtualPath,
}

impl BusyGuard {
    pub(crate) fn take(
        busy: &Arc<Mutex<HashSet<VirtualPath>>>,
        path: &VirtualPath,
    ) -> Result<BusyGuard> {
        let mut set = busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !set.insert(path.clone()) {
            return Err(StorageError::new(
                ErrorKind::Busy,
                "another upload to this file is running",
            ));
        }
        Ok(BusyGuard {
            busy: Arc::clone(busy),
            path: path.clone(),
        })
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut set = self
            .busy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        set.remove(&self.path);
    }
}

/// The local half of an [`Upload`].
#[derive(Debug)]
pub(crate) struct LocalUpload {
    file: std::fs::File,
    /// Commit replaces a file of at least [`BIG_FILE`] bytes.
    replaces_big: bool,
    storage: LocalStorage,
    target: VirtualPath,
    partial: VirtualPath,
    unique: bool,
    start: u64,
    _guard: BusyGuard,
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

    pub(crate) async fn commit(self) -> Result<()> {
        let (partial, target) = (rel(&self.partial), rel(&self.target));
        if self.replaces_big {
            return self
                .storage
                .blocking(move |dir| dir.rename(&partial, dir, &target))
                .await;
        }
        if !self.unique {
            return self.storage.call(|dir| dir.rename(&partial, dir, &target));
        }
        // STOU: publish under the chosen name without ever replacing a file.
        self.storage.call(|dir| {
            let linked = dir.hard_link(&partial, dir, &target);
            dir.remove_file(&partial)?;
            linked
        })
    }

    pub(crate) async fn abort(self) -> Result<()> {
        if self.unique {
            let partial = rel(&self.partial);
            self.storage.call(|dir| dir.remove_file(&partial))?;
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

/// Deletes `.ferry-partial.*` files older than `max_age` anywhere below `root`; returns how many.
/// Folders are walked with an explicit stack (no recursion), symlinks are not followed.
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
                    && root.remove_file(&path).is_ok()
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
