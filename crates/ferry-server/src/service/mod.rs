//! The file service: the one door through which a front end touches files for a logged-in
//! user. It owns the user's identity and root, turns a path in the user's view (`/` is the
//! user's home) into a storage path, enforces what the account may do, and calls
//! `ferry-storage`. One function per operation, each returning a [`FileError`].
//!
//! This is where rules that hold for every protocol go (rights per folder, quotas, rates,
//! events): a front end that calls it gets them without code of its own.
//!
//! This module does NOT know any protocol: no reply codes, no current folder (a front end
//! resolves its client's relative paths into the user's view first), no data connections.

use std::sync::Arc;

use ferry_proto::listing::Entry;
use ferry_proto::{PathError, VirtualPath};
use ferry_storage::{Download, ListStream, Storage, StorageError, Upload, WriteMode};

/// A logged-in user.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// The name the user logged in with (`anonymous` for any anonymous name).
    pub(crate) name: String,
    /// The user's root, below the served root.
    pub(crate) home: VirtualPath,
    /// The user may read but change nothing.
    pub(crate) read_only: bool,
}

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// The path, joined to the user's home, cannot name a file (too long).
    #[error("path: {0}")]
    Path(PathError),
    /// The account may not change anything.
    #[error("read-only access")]
    ReadOnly,
    /// The storage refused or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl FileError {
    /// The storage error's kind, when the storage refused or failed.
    pub(crate) fn storage_kind(&self) -> Option<ferry_storage::ErrorKind> {
        match self {
            FileError::Storage(error) => Some(error.kind()),
            FileError::Path(_) | FileError::ReadOnly => None,
        }
    }
}

/// The files of one logged-in user. Cheap to share: sessions hold it in an [`Arc`].
#[derive(Debug)]
pub(crate) struct FileService {
    account: Account,
    storage: Storage,
}

impl FileService {
    /// `account`'s view of `storage`.
    pub(crate) fn new(account: Account, storage: Storage) -> Arc<FileService> {
        Arc::new(FileService { account, storage })
    }

    /// Who is logged in.
    pub(crate) fn account(&self) -> &Account {
        &self.account
    }

    /// True when the account may change files.
    pub(crate) fn may_write(&self) -> bool {
        !self.account.read_only
    }

    /// The storage path of `view`.
    fn full(&self, view: &VirtualPath) -> Result<VirtualPath, FileError> {
        self.account
            .home
            .resolve(&view.relative_bytes())
            .map_err(FileError::Path)
    }

    /// `Err(ReadOnly)` unless the account may change files.
    fn check_write(&self) -> Result<(), FileError> {
        if self.may_write() {
            Ok(())
        } else {
            Err(FileError::ReadOnly)
        }
    }

    /// A stored path (as an upload names it) in the user's view, without the leading `/`.
    pub(crate) fn view_name(&self, stored: &VirtualPath) -> String {
        let stored = stored.relative_bytes();
        let home_len = self.account.home.relative_bytes().len();
        String::from_utf8_lossy(stored.get(home_len..).unwrap_or(&stored))
            .trim_start_matches('/')
            .to_string()
    }

    /// A file's or folder's entry.
    pub(crate) async fn stat(&self, view: &VirtualPath) -> Result<Entry, FileError> {
        Ok(self.storage.stat(&self.full(view)?).await?)
    }

    /// A folder's entries, as they are read.
    pub(crate) async fn list(&self, view: &VirtualPath) -> Result<ListStream, FileError> {
        Ok(self.storage.list(&self.full(view)?).await?)
    }

    /// The bytes an interrupted upload to `view` kept, if there is one.
    pub(crate) async fn partial_size(&self, view: &VirtualPath) -> Result<Option<u64>, FileError> {
        Ok(self.storage.partial_size(&self.full(view)?).await?)
    }

    /// A file opened for reading from `offset` on.
    pub(crate) async fn read(
        &self,
        view: &VirtualPath,
        offset: u64,
    ) -> Result<Download, FileError> {
        Ok(self.storage.read(&self.full(view)?, offset).await?)
    }

    /// An upload to `view` in `mode`, visible only once committed.
    pub(crate) async fn write(
        &self,
        view: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Upload, FileError> {
        self.check_write()?;
        Ok(self.storage.write(&self.full(view)?, mode).await?)
    }

    /// Deletes a file (or the kept partial of an interrupted upload to that name).
    pub(crate) async fn remove_file(&self, view: &VirtualPath) -> Result<(), FileError> {
        self.check_write()?;
        Ok(self.storage.remove_file(&self.full(view)?).await?)
    }

    /// Makes a folder.
    pub(crate) async fn create_dir(&self, view: &VirtualPath) -> Result<(), FileError> {
        self.check_write()?;
        Ok(self.storage.create_dir(&self.full(view)?).await?)
    }

    /// Removes an empty folder.
    pub(crate) async fn remove_dir(&self, view: &VirtualPath) -> Result<(), FileError> {
        self.check_write()?;
        Ok(self.storage.remove_dir(&self.full(view)?).await?)
    }

    /// Renames `from` to `to`.
    pub(crate) async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
    ) -> Result<(), FileError> {
        self.check_write()?;
        let (from, to) = (self.full(from)?, self.full(to)?);
        Ok(self.storage.rename(&from, &to).await?)
    }

    /// Sets a file's modification time (seconds since the epoch).
    pub(crate) async fn set_modified(
        &self,
        view: &VirtualPath,
        secs: i64,
    ) -> Result<(), FileError> {
        self.check_write()?;
        Ok(self.storage.set_modified(&self.full(view)?, secs).await?)
    }
}

#[cfg(test)]
mod tests;
