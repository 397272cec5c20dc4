//! Quotas: what a user stores (bytes and files under the home), counted from the storage once
//! and kept up to date by every commit, delete and rename of this server.
//!
//! An upload reserves its bytes as they arrive, so two uploads of one user cannot both use the
//! last free megabyte; a new file reserves its place in the file count before it starts.
//! Partials of interrupted uploads are not counted: they are not files yet.

use std::sync::{Arc, Mutex};

use ferry_proto::VirtualPath;
use ferry_proto::listing::EntryKind;
use ferry_storage::{Storage, StorageError};

use super::accounts::Member;

/// Bytes and files under a home.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) bytes: u64,
    pub(crate) files: u64,
}

/// Limits; 0 is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) bytes: u64,
    pub(crate) files: u64,
}

impl Limits {
    /// True when there is a limit of either kind.
    pub(crate) fn any(self) -> bool {
        self.bytes != 0 || self.files != 0
    }
}

/// A user's usage: unknown until counted.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    state: Mutex<Option<State>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    used: Counts,
    /// Held by uploads in progress.
    reserved: Counts,
}

impl Usage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What is used, once counted.
    pub(crate) fn used(&self) -> Option<Counts> {
        self.lock().map(|state| state.used)
    }

    /// Counts `home` from the storage unless that is done already.
    pub(crate) async fn count(
        &self,
        storage: &Storage,
        home: &VirtualPath,
    ) -> Result<(), StorageError> {
        if self.lock().is_some() {
            return Ok(());
        }
        let counted = count_tree(storage, home).await?;
        let mut state = self.lock();
        if state.is_none() {
            *state = Some(State {
                used: counted,
                reserved: Counts::default(),
            });
        }
        Ok(())
    }

    /// Forgets the count (the home changed); the next use counts again.
    pub(crate) fn forget(&self) {
        *self.lock() = None;
    }

    /// Applies a change that happened (a delete, a rename over a file), when counted.
    pub(crate) fn add(&self, bytes: i64, files: i64) {
        if let Some(state) = self.lock().as_mut() {
            state.used.bytes = state.used.bytes.saturating_add_signed(bytes);
            state.used.files = state.used.files.saturating_add_signed(files);
        }
    }

    /// Reserves room for one more file; false when `limits` has none left. Unknown usage
    /// (not counted) reserves nothing and refuses nothing.
    fn reserve_file(&self, limits: Limits) -> bool {
        let mut state = self.lock();
        let Some(state) = state.as_mut() else {
            return true;
        };
        if limits.files != 0 && state.used.files + state.reserved.files >= limits.files {
            return false;
        }
        state.reserved.files += 1;
        true
    }

    /// Reserves up to `bytes`; how many it could.
    fn reserve_bytes(&self, bytes: u64, limits: Limits) -> u64 {
        let mut state = self.lock();
        let Some(state) = state.as_mut() else {
            return bytes;
        };
        let granted = if limits.bytes == 0 {
            bytes
        } else {
            let taken = state.used.bytes + state.reserved.bytes;
            bytes.min(limits.bytes.saturating_sub(taken))
        };
        state.reserved.bytes += granted;
        granted
    }

    /// Gives back reservations and applies what was committed.
    fn settle(&self, reserved: Counts, used_bytes: i64, used_files: i64) {
        if let Some(state) = self.lock().as_mut() {
            state.reserved.bytes = state.reserved.bytes.saturating_sub(reserved.bytes);
            state.reserved.files = state.reserved.files.saturating_sub(reserved.files);
            state.used.bytes = state.used.bytes.saturating_add_signed(used_bytes);
            state.used.files = state.used.files.saturating_add_signed(used_files);
        }
    }
}

/// One upload's claim on its user's quota. Dropped without [`Ticket::commit`], it gives its
/// reservations back and changes nothing.
#[derive(Debug)]
pub(crate) struct Ticket {
    usage: Arc<Member>,
    /// How much the committed file would change the bytes used: its size so far minus the
    /// size of the file it replaces.
    delta: i64,
    /// Whether the commit adds a file.
    new_file: bool,
    reserved: Counts,
}

impl Ticket {
    /// A claim for an upload that replaces a file of `replaced` bytes (`None`: a new file).
    /// Refused (`Err` with the limit that is reached) when a new file has no room in the file
    /// count.
    pub(super) fn open(member: Arc<Member>, replaced: Option<u64>) -> Result<Ticket, String> {
        let limits = member.limits();
        let mut ticket = Ticket {
            delta: -(replaced.unwrap_or(0) as i64),
            new_file: replaced.is_none(),
            reserved: Counts::default(),
            usage: member,
        };
        if ticket.new_file {
            if !ticket.usage.usage.reserve_file(limits) {
                return Err(format!("{} files allowed", limits.files));
            }
            ticket.reserved.files = 1;
        }
        Ok(ticket)
    }

    /// The upload writes from `start` on (after the bytes kept by an earlier attempt, or after
    /// the file it appends to): claims those bytes. Refused when they no longer fit.
    pub(super) fn begin(&mut self, start: u64) -> Result<(), String> {
        if self.grant(start) < start {
            return Err(format!("{} bytes allowed", self.usage.limits().bytes));
        }
        Ok(())
    }

    /// How many of the next `bytes` the upload may write; fewer than asked means the quota is
    /// reached.
    pub(crate) fn grant(&mut self, bytes: u64) -> u64 {
        let before = self.delta.max(0) as u64;
        let after = (self.delta + bytes as i64).max(0) as u64;
        let needed = after - before;
        let granted = self.usage.usage.reserve_bytes(needed, self.usage.limits());
        self.reserved.bytes += granted;
        let written = bytes - (needed - granted);
        self.delta += written as i64;
        written
    }

    /// The bytes-used limit, for messages.
    pub(crate) fn byte_limit(&self) -> u64 {
        self.usage.limits().bytes
    }

    /// The upload committed: its change becomes usage.
    pub(crate) fn commit(mut self) {
        let reserved = std::mem::take(&mut self.reserved);
        self.usage
            .usage
            .settle(reserved, self.delta, i64::from(self.new_file));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let reserved = std::mem::take(&mut self.reserved);
        if reserved != Counts::default() {
            self.usage.usage.settle(reserved, 0, 0);
        }
    }
}

/// The bytes and files under `home`, listed folder by folder.
async fn count_tree(storage: &Storage, home: &VirtualPath) -> Result<Counts, StorageError> {
    let mut counts = Counts::default();
    let mut folders = vec![home.clone()];
    while let Some(folder) = folders.pop() {
        let mut entries = match storage.list(&folder).await {
            Ok(entries) => entries,
            // A home that does not exist yet holds nothing.
            Err(error) if error.kind() == ferry_storage::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        while let Some(entry) = entries.next().await {
            // An entry that vanished while listing is skipped, as a listing skips it.
            let Ok(entry) = entry else { continue };
            match entry.kind {
                EntryKind::Dir => {
                    if let Ok(path) = folder.join(&entry.name) {
                        folders.push(path);
                    }
                }
                EntryKind::File => {
                    counts.bytes += entry.size;
                    counts.files += 1;
                }
                // A link is not followed: what it points to is counted where it lives.
                EntryKind::Link => {}
            }
        }
    }
    Ok(counts)
}
