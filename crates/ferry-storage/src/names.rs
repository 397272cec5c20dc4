//! Which names a client may use, for every backend: the reserved prefix of partial uploads
//! ([`PARTIAL_PREFIX`]), control characters in new names, and the candidates STOU tries.
//!
//! This module does NOT touch storage: it only looks at a [`VirtualPath`]. Rules that belong to
//! one backend stay there (S3 keys must be UTF-8 and keep no whitespace at their ends; a
//! folder's partial names are shortened for long names: `local/partial.rs`).

use crate::{ErrorKind, Result, StorageError, VirtualPath};

/// The prefix of the hidden files that hold uploads in progress.
pub const PARTIAL_PREFIX: &str = ".ferry-partial.";

/// How many `NAME.N` candidates STOU tries before giving up.
pub(crate) const UNIQUE_TRIES: u32 = 1000;

/// True for a name that only ferryd may use (a partial upload's).
pub(crate) fn is_reserved(name: &[u8]) -> bool {
    name.starts_with(PARTIAL_PREFIX.as_bytes())
}

/// Refuses a path with a reserved name in it ([`ErrorKind::BadName`]).
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

/// The names STOU tries for `name`, in order: `name`, `name.1`, `name.2`... ([`UNIQUE_TRIES`]
/// of them).
pub(crate) fn unique_candidates(name: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..UNIQUE_TRIES).map(move |n| {
        let mut candidate = name.to_vec();
        if n > 0 {
            candidate.extend_from_slice(format!(".{n}").as_bytes());
        }
        candidate
    })
}

/// STOU's answer when every candidate is taken.
pub(crate) fn no_unused_name() -> StorageError {
    StorageError::new(ErrorKind::AlreadyExists, "no unused name")
}
