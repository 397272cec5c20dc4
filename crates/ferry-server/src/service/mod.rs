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

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_proto::listing::{self, Entry, EntryKind};
use ferry_proto::{PathError, VirtualPath};
use ferry_storage::{Download, ErrorKind, ListStream, Storage, StorageError, Upload, WriteMode};

use crate::observe::Observer;
use crate::observe::events::{Event, EventKind};

pub(crate) mod accounts;
pub(crate) mod digest;
mod meter;
pub(crate) mod quota;
pub(crate) mod rate;
pub(crate) mod rules;

pub(crate) use accounts::{Accounts, Member, Rules, Seat, SeatRefused};
pub(crate) use digest::{DigestLimit, Span};
pub(crate) use meter::Meter;
use quota::Ticket;
use rules::{Right, Rights};

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// The path, joined to the user's home, cannot name a file (too long).
    #[error("path: {0}")]
    Path(PathError),
    /// The account lacks `right` in `folder` (a path in the user's view).
    #[error("no {} right in {folder}", right.name())]
    Denied { right: Right, folder: String },
    /// The operation would go past the user's quota; says which limit.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// The storage refused or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl FileError {
    /// True when the server is at fault rather than the client: the storage failed (an S3
    /// error, an I/O error, a full disk, a store's quota, a busy file) or refused what the
    /// account's rights allow (EACCES on the served folder). A missing file, a name taken, a
    /// right the account lacks or its own quota are the client's business.
    pub(crate) fn is_server_side(&self) -> bool {
        self.storage_kind().is_some_and(is_server_side)
    }

    /// The storage error's kind, when the storage refused or failed.
    pub(crate) fn storage_kind(&self) -> Option<ErrorKind> {
        match self {
            FileError::Storage(error) => Some(error.kind()),
            FileError::Path(_) | FileError::Denied { .. } | FileError::Quota(_) => None,
        }
    }
}

/// True for the storage error kinds that say the server failed (451, 452, 552, 450, and a
/// storage's own refusal): see [`FileError::is_server_side`].
pub(crate) fn is_server_side(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Other
            | ErrorKind::NoSpace
            | ErrorKind::QuotaExceeded
            | ErrorKind::Busy
            | ErrorKind::PermissionDenied
    )
}

/// Which front end a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    /// FTP and FTPS.
    Ftp,
    /// SFTP over SSH.
    Sftp,
    /// HTTP and HTTPS.
    Http,
}

impl Protocol {
    /// The protocol's name in logs, events and metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Ftp => "ftp",
            Protocol::Sftp => "sftp",
            Protocol::Http => "http",
        }
    }
}

/// Who is on the other end of a session: its protocol and the client's address (after any
/// PROXY header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Client {
    pub(crate) protocol: Protocol,
    pub(crate) peer: SocketAddr,
}

/// Which way a transfer's bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the client: an upload.
    Up,
    /// To the client: a download.
    Down,
}

impl Direction {
    /// `up` or `down`, as metrics label it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// A file transfer that ended, as a front end reports it.
#[derive(Debug)]
pub(crate) struct Transferred<'a> {
    pub(crate) direction: Direction,
    /// The file, in the user's view.
    pub(crate) path: &'a str,
    /// Bytes moved by this transfer.
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
    /// Why it failed; `None` when it completed (an upload: committed under its final name).
    pub(crate) failure: Option<&'a str>,
}

/// The files of one logged-in user. Cheap to share: sessions hold it in an [`Arc`].
#[derive(Debug)]
pub(crate) struct FileService {
    seat: Seat,
    accounts: Arc<Accounts>,
    storage: Storage,
    /// The session's client, for log lines and events.
    client: Client,
    /// Where events go.
    observer: Arc<Observer>,
    /// The server-wide bound on digests computed at once.
    digests: DigestLimit,
}

impl FileService {
    /// The files `seat`'s account sees in `storage`, for a session of `client`, reporting to
    /// `observer`, computing digests within `digests`.
    pub(crate) fn new(
        seat: Seat,
        accounts: Arc<Accounts>,
        storage: Storage,
        client: Client,
        observer: Arc<Observer>,
        digests: DigestLimit,
    ) -> Arc<FileService> {
        Arc::new(FileService {
            seat,
            accounts,
            storage,
            client,
            observer,
            digests,
        })
    }

    /// An event of `kind` by this user, about `view`.
    fn event(&self, kind: EventKind, view: &VirtualPath) -> Event {
        Event::new(kind, self.name(), self.client).path(view.to_string())
    }

    /// A front end's report of a file transfer that ended: an upload event once the file is
    /// committed, a download event once it was sent to its end.
    pub(crate) fn transferred(&self, transfer: &Transferred<'_>) {
        let anonymous = self.name() == accounts::ANONYMOUS;
        self.observer
            .transferred(self.name(), anonymous, self.client, transfer);
        if transfer.failure.is_some() {
            return;
        }
        let kind = match transfer.direction {
            Direction::Up => EventKind::Upload,
            Direction::Down => EventKind::Download,
        };
        if !self.observer.events.wanted(kind) {
            return;
        }
        let path = if transfer.path.starts_with('/') {
            transfer.path.to_string()
        } else {
            format!("/{}", transfer.path)
        };
        self.observer.emit(
            Event::new(kind, self.name(), self.client)
                .path(path)
                .size(Some(transfer.bytes)),
        );
    }

    /// The session's client.
    pub(crate) fn client(&self) -> Client {
        self.client
    }

    /// Passes `result` through, logging a failure once: at WARN with its cause when the
    /// server is at fault ([`FileError::is_server_side`]), at DEBUG when the client is.
    /// Also times the operation (from `started`) for the metrics.
    fn logged<T>(
        &self,
        operation: &'static str,
        view: &VirtualPath,
        started: std::time::Instant,
        result: Result<T, FileError>,
    ) -> Result<T, FileError> {
        self.observer
            .metrics
            .storage_operation(operation)
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = &result {
            let (peer, protocol) = (self.client.peer, self.client.protocol.name());
            let (user, path) = (self.name(), view.to_string());
            if error.is_server_side() {
                tracing::warn!(%peer, user, protocol, operation, path, cause = %error, "storage failed");
            } else {
                tracing::debug!(%peer, user, protocol, operation, path, %error, "refused");
            }
        }
        result
    }

    /// Counts the user's usage when a quota applies, so that the first upload need not. A
    /// storage that fails here is tried again at the first upload.
    pub(crate) async fn prepare(&self) {
        let rules = self.rules();
        if rules.quota.any()
            && let Err(error) = self.member().usage.count(&self.storage, &rules.home).await
        {
            tracing::warn!(user = self.name(), %error, "could not count the user's files for the quota");
        }
    }

    /// The account's shared state.
    pub(crate) fn member(&self) -> &Arc<Member> {
        self.seat.member()
    }

    /// Who is logged in.
    pub(crate) fn name(&self) -> &str {
        self.member().name()
    }

    /// The account's rules as they are now.
    pub(crate) fn rules(&self) -> Arc<Rules> {
        self.member().rules()
    }

    /// What the user stores and may store: (bytes, files) used, once counted, and the limits.
    pub(crate) async fn usage(&self) -> Result<(quota::Counts, quota::Limits), FileError> {
        let rules = self.rules();
        self.member()
            .usage
            .count(&self.storage, &rules.home)
            .await?;
        let used = self.member().usage.used().unwrap_or_default();
        Ok((used, rules.quota))
    }

    /// The rights in `folder` (a path in the user's view).
    pub(crate) fn rights_in(&self, folder: &VirtualPath) -> Rights {
        self.rules().permissions.in_folder(folder)
    }

    /// The storage path of `view` under `rules`' home.
    fn full(rules: &Rules, view: &VirtualPath) -> Result<VirtualPath, FileError> {
        view.below(&rules.home).map_err(FileError::Path)
    }

    /// The storage path of `view` for an operation on something that exists. A last name
    /// holding U+FFFD that names nothing is looked up among its folder's names as listings show
    /// them ([`listing::shown_name`]): a file whose stored name is not UTF-8 is listed with
    /// U+FFFD, and that name, sent back, reaches it (when it is the only one that looks so).
    async fn locate(&self, full: VirtualPath) -> Result<VirtualPath, FileError> {
        const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();
        let Some(name) = full.file_name() else {
            return Ok(full);
        };
        if !name.windows(REPLACEMENT.len()).any(|w| w == REPLACEMENT) {
            return Ok(full);
        }
        match self.storage.stat(&full).await {
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            _ => return Ok(full),
        }
        let Ok(mut entries) = self.storage.list(&full.parent()).await else {
            return Ok(full);
        };
        let mut found = None;
        while let Some(entry) = entries.next().await {
            let Ok(entry) = entry else { continue };
            if *listing::shown_name(&entry.name) == *name {
                if found.is_some() {
                    // Two names look the same: neither is picked.
                    return Ok(full);
                }
                found = Some(entry.name);
            }
        }
        match found {
            Some(real) => full.parent().join(&real).map_err(FileError::Path),
            None => Ok(full),
        }
    }

    /// `Err(Denied)` unless `rights` (those of `folder`) hold `right`.
    fn require(rights: Rights, right: Right, folder: &VirtualPath) -> Result<(), FileError> {
        if rights.allows(right) {
            Ok(())
        } else {
            Err(FileError::Denied {
                right,
                folder: folder.to_string(),
            })
        }
    }

    /// Checks that the user has `right` for an entry at `view` (in its folder); the rules and
    /// the storage path to use.
    fn allowed(
        &self,
        right: Right,
        view: &VirtualPath,
    ) -> Result<(Arc<Rules>, VirtualPath), FileError> {
        let rules = self.rules();
        let rights = rules.permissions.in_folder_of(view);
        if !rights.allows(right) {
            FileService::require(rights, right, &view.parent())?;
        }
        let full = FileService::full(&rules, view)?;
        Ok((rules, full))
    }

    /// Checks that the user may rename the entry at `view` (RNFR asks before RNTO names the
    /// target).
    pub(crate) fn may_rename(&self, view: &VirtualPath) -> Result<(), FileError> {
        self.allowed(Right::Rename, view).map(drop)
    }

    /// A stored path (as an upload names it) in the user's view, without the leading `/`.
    pub(crate) fn view_name(&self, stored: &VirtualPath) -> String {
        let stored = stored.relative_bytes();
        let home_len = self.rules().home.relative_bytes().len();
        String::from_utf8_lossy(stored.get(home_len..).unwrap_or(&stored))
            .trim_start_matches('/')
            .to_string()
    }

    /// A file's or folder's entry. Needs no right: a name is not a secret (the parent's
    /// listing shows it), and clients look before they act.
    pub(crate) async fn stat(&self, view: &VirtualPath) -> Result<Entry, FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let full = self.locate(FileService::full(&self.rules(), view)?).await?;
            Ok(self.storage.stat(&full).await?)
        }
        .await;
        self.logged("stat", view, started, result)
    }

    /// A folder's entries, as they are read.
    pub(crate) async fn list(&self, view: &VirtualPath) -> Result<ListStream, FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let rules = self.rules();
            FileService::require(rules.permissions.in_folder(view), Right::List, view)?;
            let full = self.locate(FileService::full(&rules, view)?).await?;
            Ok(self.storage.list(&full).await?)
        }
        .await;
        self.logged("list", view, started, result)
    }

    /// The bytes an interrupted upload to `view` kept, if there is one.
    pub(crate) async fn partial_size(&self, view: &VirtualPath) -> Result<Option<u64>, FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let full = FileService::full(&self.rules(), view)?;
            Ok(self.storage.partial_size(&full).await?)
        }
        .await;
        self.logged("partial_size", view, started, result)
    }

    /// Checks that the user may read the file at `view` (a `HEAD` or a conditional `GET` that
    /// sends no bytes still needs the right to download them).
    pub(crate) fn may_read(&self, view: &VirtualPath) -> Result<(), FileError> {
        self.allowed(Right::Download, view).map(drop)
    }

    /// Checks that the user may change the dead properties (WebDAV `PROPPATCH`) of the entry at
    /// `view`: they are said of the entry, so the `overwrite` right in its folder.
    pub(crate) fn may_annotate(&self, view: &VirtualPath) -> Result<(), FileError> {
        self.allowed(Right::Overwrite, view).map(drop)
    }

    /// The storage path of `view`, as bytes: one key for one entry whichever account names it
    /// (WebDAV's dead properties are kept under it).
    pub(crate) fn storage_key(&self, view: &VirtualPath) -> Result<Vec<u8>, FileError> {
        Ok(FileService::full(&self.rules(), view)?.to_bytes())
    }

    /// A file opened for reading from `offset` on, and the limits its bytes go through.
    pub(crate) async fn read(
        &self,
        view: &VirtualPath,
        offset: u64,
    ) -> Result<(Download, Meter), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let (_, full) = self.allowed(Right::Download, view)?;
            let full = self.locate(full).await?;
            let download = self.storage.read(&full, offset).await?;
            let meter = Meter::new(&[&self.member().download, &self.accounts.download], None);
            Ok((download, meter))
        }
        .await;
        self.logged("read", view, started, result)
    }

    /// An upload to `view` in `mode`, visible only once committed, and the limits its bytes
    /// go through. Replacing or appending to a file needs `overwrite`, a new file `upload`.
    pub(crate) async fn write(
        &self,
        view: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(Upload, Meter), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let rules = self.rules();
            let folder = view.parent();
            let rights = rules.permissions.in_folder(&folder);
            let full = FileService::full(&rules, view)?;
            let quota = rules.quota.any();
            // Whether a file is there matters only when it changes the right needed or the usage.
            let look = mode != WriteMode::Unique
                && (quota || rights.allows(Right::Upload) != rights.allows(Right::Overwrite));
            let existing = if look {
                self.file_size(&full).await?
            } else {
                None
            };
            let right = if existing.is_some() {
                Right::Overwrite
            } else {
                Right::Upload
            };
            FileService::require(rights, right, &folder)?;
            let mut ticket = None;
            if quota {
                self.member()
                    .usage
                    .count(&self.storage, &rules.home)
                    .await?;
                let claim = Ticket::open(Arc::clone(self.member()), existing);
                ticket = Some(claim.map_err(FileError::Quota)?);
            }
            let upload = self.storage.write(&full, mode).await?;
            if let Some(ticket) = &mut ticket
                && let Err(limit) = ticket.begin(upload.start_offset())
            {
                // The bytes kept from an earlier attempt no longer fit: they can never be
                // committed.
                let _ = upload.discard().await;
                return Err(FileError::Quota(limit));
            }
            let meter = Meter::new(&[&self.member().upload, &self.accounts.upload], ticket);
            Ok((upload, meter))
        }
        .await;
        self.logged("write", view, started, result)
    }

    /// The size of the plain file at `full`; `None` when nothing (or a folder) is there.
    async fn file_size(&self, full: &VirtualPath) -> Result<Option<u64>, FileError> {
        match self.storage.stat(full).await {
            Ok(entry) if entry.kind == EntryKind::File => Ok(Some(entry.size)),
            Ok(_) => Ok(None),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The size of the file at `full` when a quota needs it for the usage.
    async fn counted_size(
        &self,
        rules: &Rules,
        full: &VirtualPath,
    ) -> Result<Option<u64>, FileError> {
        if rules.quota.any() || self.member().usage.used().is_some() {
            self.file_size(full).await
        } else {
            Ok(None)
        }
    }

    /// Deletes a file (or the kept partial of an interrupted upload to that name).
    pub(crate) async fn remove_file(&self, view: &VirtualPath) -> Result<(), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let (rules, full) = self.allowed(Right::Delete, view)?;
            let full = self.locate(full).await?;
            let size = self.counted_size(&rules, &full).await?;
            self.storage.remove_file(&full).await?;
            if let Some(size) = size {
                self.member().usage.add(-(size as i64), -1);
            }
            self.observer
                .emit(self.event(EventKind::Delete, view).size(size));
            Ok(())
        }
        .await;
        self.logged("delete", view, started, result)
    }

    /// Makes a folder.
    pub(crate) async fn create_dir(&self, view: &VirtualPath) -> Result<(), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let (_, full) = self.allowed(Right::Mkdir, view)?;
            self.storage.create_dir(&full).await?;
            self.observer.emit(self.event(EventKind::Mkdir, view));
            Ok(())
        }
        .await;
        self.logged("mkdir", view, started, result)
    }

    /// Removes an empty folder.
    pub(crate) async fn remove_dir(&self, view: &VirtualPath) -> Result<(), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let (_, full) = self.allowed(Right::Rmdir, view)?;
            let full = self.locate(full).await?;
            self.storage.remove_dir(&full).await?;
            self.observer.emit(self.event(EventKind::Rmdir, view));
            Ok(())
        }
        .await;
        self.logged("rmdir", view, started, result)
    }

    /// Renames `from` to `to`: `rename` is needed in both folders, and `overwrite` in the
    /// target's when a file is replaced.
    pub(crate) async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
    ) -> Result<(), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let (_, from_full) = self.allowed(Right::Rename, from)?;
            let from_full = self.locate(from_full).await?;
            let (rules, to_full) = self.allowed(Right::Rename, to)?;
            let to_folder = to.parent();
            let rights = rules.permissions.in_folder(&to_folder);
            let replaced = if rules.quota.any()
                || self.member().usage.used().is_some()
                || !rights.allows(Right::Overwrite)
            {
                self.file_size(&to_full).await?
            } else {
                None
            };
            if replaced.is_some() {
                FileService::require(rights, Right::Overwrite, &to_folder)?;
            }
            self.storage.rename(&from_full, &to_full).await?;
            if let Some(size) = replaced {
                self.member().usage.add(-(size as i64), -1);
            }
            self.observer
                .emit(self.event(EventKind::Rename, from).target(to.to_string()));
            Ok(())
        }
        .await;
        self.logged("rename", from, started, result)
    }

    /// Sets a file's modification time (seconds since the epoch).
    pub(crate) async fn set_modified(
        &self,
        view: &VirtualPath,
        secs: i64,
    ) -> Result<(), FileError> {
        let started = std::time::Instant::now();
        let result: Result<_, FileError> = async {
            let (_, full) = self.allowed(Right::Chtimes, view)?;
            let full = self.locate(full).await?;
            Ok(self.storage.set_modified(&full, secs).await?)
        }
        .await;
        self.logged("set_modified", view, started, result)
    }
}

#[cfg(test)]
mod tests;
