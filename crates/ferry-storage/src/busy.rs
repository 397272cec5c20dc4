//! The busy set: which targets have an upload running in this process, so that two uploads
//! never write one file at once, and DELE and STOU leave such a target alone.
//!
//! This module does NOT know what a key is (a local file's folder inode and name, an S3
//! object's path: each backend picks its own) and does NOT reach other processes (a folder's
//! partial is also `flock`ed for that; S3 has nothing shared between nodes).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crate::{ErrorKind, Result, StorageError};

/// The targets with an upload running: a local file's `FileKey`, an S3 object's path.
pub(crate) type BusySet<K> = Arc<Mutex<HashSet<K>>>;

/// Marks a target busy while its upload runs; unmarks it on drop.
#[derive(Debug)]
pub(crate) struct BusyGuard<K: Eq + Hash> {
    busy: BusySet<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> BusyGuard<K> {
    /// Marks `key` busy; [`ErrorKind::Busy`] (and nothing else) when it is already.
    pub(crate) fn take(busy: &BusySet<K>, key: K) -> Result<BusyGuard<K>> {
        let mut set = busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !set.insert(key.clone()) {
            return Err(StorageError::new(
                ErrorKind::Busy,
                "another upload to this file is running",
            ));
        }
        Ok(BusyGuard {
            busy: Arc::clone(busy),
            key,
        })
    }
}

impl<K: Eq + Hash> Drop for BusyGuard<K> {
    fn drop(&mut self) {
        let mut set = self
            .busy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        set.remove(&self.key);
    }
}

/// Whether an upload to `key` runs in this process.
pub(crate) fn is_busy<K: Eq + Hash>(busy: &BusySet<K>, key: &K) -> bool {
    busy.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .contains(key)
}
