//! The partial files that hold uploads in progress: their names (`.ferry-partial.NAME`, hashed
//! for long names), opening one for an upload under an exclusive `flock` without following a
//! link or waiting on a FIFO, finding one that another process holds, and removing stale ones.
//!
//! This module does NOT decide where an upload starts (`upload.rs` does, from the mode) and does
//! NOT know the busy set (the lock is what keeps two processes apart; the busy set keeps two
//! uploads of this process apart).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::names::{PARTIAL_PREFIX, is_reserved};
use crate::{ErrorKind, Result, StorageError, VirtualPath};

/// How many times an upload looks for its partial again when another upload or process removed
/// or replaced it between two calls, before it answers busy.
const PARTIAL_TRIES: usize = 8;

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
pub(super) fn partial_name(name: &[u8]) -> Vec<u8> {
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

pub(super) fn partial_of(path: &VirtualPath) -> Result<VirtualPath> {
    let name = path
        .file_name()
        .ok_or_else(|| StorageError::new(ErrorKind::WrongKind, "root"))?;
    path.parent()
        .join(&partial_name(name))
        .map_err(|e| StorageError::new(ErrorKind::BadName, e.to_string()))
}

/// The error of an upload that another upload (or process) holds.
pub(super) fn busy() -> io::Error {
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
pub(super) fn lock_existing(dir: &Dir, name: &OsStr) -> io::Result<Option<std::fs::File>> {
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
pub(super) fn unlink(dir: &Dir, name: &OsStr) -> io::Result<()> {
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
pub(super) fn take_partial(dir: &Dir, name: &OsStr, keep: bool) -> io::Result<std::fs::File> {
    let open =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    for _ in 0..PARTIAL_TRIES {
        // A fresh upload nearly always finds no partial: one open instead of a failed lookup
        // and then the create.
        if !keep && let Some(file) = create_partial(dir, name, open)? {
            return Ok(file);
        }
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
                if !keep {
                    continue;
                }
            }
            Err(Errno::NOENT) => {}
            // A symlink (O_NOFOLLOW) or a socket: not ours to open; remove the name.
            Err(Errno::LOOP | Errno::NXIO) => unlink(dir, name)?,
            Err(e) => return Err(e.into()),
        }
        if let Some(file) = create_partial(dir, name, open)? {
            return Ok(file);
        }
    }
    Err(busy())
}

/// Creates the partial `name` exclusively (`O_CREAT|O_EXCL`) and takes its lock; `None` when
/// something has the name already, or took it away before the lock: look again.
fn create_partial(dir: &Dir, name: &OsStr, open: OFlags) -> io::Result<Option<std::fs::File>> {
    // A new file is a plain one: no O_NONBLOCK to clear afterwards.
    let create = (open - OFlags::NONBLOCK) | OFlags::CREATE | OFlags::EXCL;
    match rustix::fs::openat(dir, name, create, Mode::from_raw_mode(0o666)) {
        Ok(fd) => {
            let file = std::fs::File::from(fd);
            lock(&file)?;
            Ok(still_named(dir, name, &file)?.then_some(file))
        }
        // Another upload created it first: look again (its lock then says busy).
        Err(Errno::EXIST) => Ok(None),
        Err(e) => Err(e.into()),
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
pub(super) fn remove_stale_partials(root: &Dir, max_age: Duration) -> io::Result<usize> {
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
